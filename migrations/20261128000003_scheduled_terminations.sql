-- Terminations dated in the future wait here until due; a scheduler claims due rows
-- (FOR UPDATE SKIP LOCKED, so several processes can run it) and enqueues them.
CREATE TABLE scheduled_terminations (
    id            bigserial   PRIMARY KEY,
    source        text        NOT NULL,
    employee_id   text        NOT NULL,
    event_id      text        NOT NULL,
    source_kind   text        NOT NULL,
    body          bytea       NOT NULL,
    received_at   timestamptz NOT NULL,
    effective_at  timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'scheduled'
                  CHECK (status IN ('scheduled', 'enqueued', 'cancelled')),
    reason        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, event_id)
);

CREATE INDEX scheduled_terminations_due ON scheduled_terminations (due_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_terminations_employee ON scheduled_terminations (source, employee_id) WHERE status = 'scheduled';

ALTER TABLE events DROP CONSTRAINT events_outcome_check;
ALTER TABLE events ADD CONSTRAINT events_outcome_check
    CHECK (outcome IN ('applied', 'duplicate', 'stale', 'ignored', 'scheduled'));
