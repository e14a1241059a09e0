-- Every event that could not be applied, with all that is needed to replay it.
-- One row per (source, event id): dead-lettering the same event again (a replay that
-- failed, an at-least-once duplicate) updates the row back to 'dead'.
CREATE TABLE dead_letters (
    id                 bigserial   PRIMARY KEY,
    source             text        NOT NULL,
    source_kind        text        NOT NULL,
    event_id           text        NOT NULL,
    employee_id        text,
    kind               text,
    reason             text        NOT NULL CHECK (reason IN
                           ('permanent_error', 'attempts_exhausted', 'delivery_limit', 'unparseable')),
    status             text        NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'replayed', 'discarded')),
    body               bytea       NOT NULL,
    headers            jsonb       NOT NULL DEFAULT '{}',
    last_error         text        NOT NULL,
    error_chain        jsonb       NOT NULL DEFAULT '[]',
    attempts           integer     NOT NULL,
    first_received_at  timestamptz NOT NULL,
    first_failed_at    timestamptz,
    dead_lettered_at   timestamptz NOT NULL DEFAULT now(),
    replay_count       integer     NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, event_id)
);

CREATE INDEX dead_letters_by_status ON dead_letters (status, dead_lettered_at);

-- Who did what to a dead letter, when and why (and when the system dead-lettered it).
CREATE TABLE dead_letter_actions (
    id              bigserial   PRIMARY KEY,
    dead_letter_id  bigint      NOT NULL REFERENCES dead_letters (id),
    action          text        NOT NULL CHECK (action IN ('dead_lettered', 'replayed', 'discarded')),
    actor           text        NOT NULL,
    reason          text,
    detail          jsonb       NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dead_letter_actions_by_letter ON dead_letter_actions (dead_letter_id, id);

-- Per event, per external target: what was done, how it went, each attempt counted.
CREATE TABLE provisioning_actions (
    id           bigserial   PRIMARY KEY,
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    employee_id  text        NOT NULL,
    target       text        NOT NULL,
    action       text        NOT NULL CHECK (action IN ('activate', 'deactivate')),
    status       text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'superseded')),
    attempts     integer     NOT NULL DEFAULT 0,
    error        text,
    started_at   timestamptz,
    finished_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, event_id, target)
);

CREATE INDEX provisioning_actions_open ON provisioning_actions (source, event_id) WHERE status <> 'succeeded';

-- The current state of each employee on each external target (the directory's is `accounts`).
CREATE TABLE target_states (
    target       text        NOT NULL,
    source       text        NOT NULL,
    employee_id  text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('active', 'deactivated', 'failed', 'pending')),
    last_error   text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, source, employee_id)
);
