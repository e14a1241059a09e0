-- Directories deleted at the sender (WorkOS `dsync.deleted`). A user event for such a
-- directory that arrives later (a retry, out of order) terminates instead of keeping or
-- creating an active account: no further event would ever remove it.
CREATE TABLE deleted_directories (
    source        text        NOT NULL,
    directory_id  text        NOT NULL,
    event_id      text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, directory_id)
);
