-- Reconciliation: each run of `provisiond reconcile` (or of a source's schedule).
CREATE TABLE reconcile_runs (
    id            bigserial   PRIMARY KEY,
    source        text        NOT NULL,
    dry_run       boolean     NOT NULL,
    trigger       text        NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    status        text        NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed')),
    listed        bigint      NOT NULL DEFAULT 0,
    terminations  bigint      NOT NULL DEFAULT 0,
    hires         bigint      NOT NULL DEFAULT 0,
    updates       bigint      NOT NULL DEFAULT 0,
    published     bigint      NOT NULL DEFAULT 0,
    error         text
);
CREATE INDEX reconcile_runs_by_source ON reconcile_runs (source, started_at DESC);

-- The employee ids a run saw at the sender, so that those it did not see are found with
-- one query whatever the size of the list (a run's rows are deleted when it ends).
CREATE TABLE reconcile_seen (
    run_id       bigint NOT NULL REFERENCES reconcile_runs (id) ON DELETE CASCADE,
    employee_id  text   NOT NULL,
    PRIMARY KEY (run_id, employee_id)
);

-- Every synthetic event a run published: a rerun that finds the same difference (the
-- first run's event not applied yet) publishes nothing new.
CREATE TABLE reconcile_events (
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    run_id       bigint      NOT NULL,
    employee_id  text        NOT NULL,
    kind         text        NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- The mass-change guard: terminations held for an operator instead of being applied.
CREATE TABLE held_terminations (
    id           bigserial   PRIMARY KEY,
    source       text        NOT NULL,
    employee_id  text        NOT NULL,
    event_id     text        NOT NULL,
    source_kind  text        NOT NULL,
    trigger      text        NOT NULL,
    body         bytea       NOT NULL,
    received_at  timestamptz NOT NULL,
    held_at      timestamptz NOT NULL DEFAULT now(),
    reason       text        NOT NULL,
    status       text        NOT NULL DEFAULT 'held'
                 CHECK (status IN ('held', 'released', 'rejected')),
    decided_by   text,
    decided_at   timestamptz,
    decision_reason text,
    UNIQUE (source, event_id)
);
CREATE INDEX held_terminations_open ON held_terminations (source, held_at) WHERE status = 'held';
CREATE INDEX held_terminations_employee ON held_terminations (source, employee_id);

ALTER TABLE events DROP CONSTRAINT events_outcome_check;
ALTER TABLE events ADD CONSTRAINT events_outcome_check
    CHECK (outcome IN ('applied', 'duplicate', 'stale', 'ignored', 'scheduled', 'held'));
-- Applied terminations that took access away: what the guard counts.
ALTER TABLE events ADD COLUMN revoked boolean NOT NULL DEFAULT false;
CREATE INDEX events_revoked_by_source ON events (source, processed_at) WHERE revoked;

-- The guard's holds and the operators' decisions are audit-log entries of their own.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_category_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_category_check
    CHECK (category IN ('provisioning', 'dead_letter', 'guard'));
