-- Background jobs (a bulk replay of dead letters): progress lives here, so any process
-- answers GET /admin/jobs/{id} and the CLI shows the same numbers.
CREATE TABLE jobs (
    id               bigserial   PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('dead_letter_replay')),
    status           text        NOT NULL DEFAULT 'running'
                                 CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    actor            text        NOT NULL,
    on_behalf_of     text,
    request          jsonb       NOT NULL DEFAULT '{}',
    total            integer     NOT NULL,
    done             integer     NOT NULL DEFAULT 0,
    replayed         bigint[]    NOT NULL DEFAULT '{}',
    skipped          integer     NOT NULL DEFAULT 0,
    error            text,
    cancel_requested boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
