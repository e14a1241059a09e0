-- Inbox: one row per (source, event id) ever processed. Inserting first, in the same
-- transaction as the effect, is what makes redelivery and sender retries harmless.
CREATE TABLE inbox (
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    inserted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- The employee's current state; its row is the per-employee lock that orders events.
CREATE TABLE employees (
    source            text        NOT NULL,
    employee_id       text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('active', 'terminated')),
    last_occurred_at  timestamptz,
    terminated_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, employee_id)
);

-- The directory target: provisiond's own accounts.
CREATE TABLE accounts (
    target          text        NOT NULL,
    source          text        NOT NULL,
    employee_id     text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'deactivated')),
    email           text,
    given_name      text,
    family_name     text,
    display_name    text,
    department      text,
    title           text,
    manager_id      text,
    role            text,
    groups          text[]      NOT NULL DEFAULT '{}',
    entitlements    jsonb       NOT NULL DEFAULT '{}',
    attributes      jsonb       NOT NULL DEFAULT '{}',
    activated_at    timestamptz,
    deactivated_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, source, employee_id)
);

-- Every processed delivery with its outcome and the time of each stage (the audit's input).
CREATE TABLE events (
    id            bigserial   PRIMARY KEY,
    source        text        NOT NULL,
    event_id      text        NOT NULL,
    employee_id   text,
    kind          text        CHECK (kind IN ('created', 'updated', 'terminated')),
    sender_event  text,
    outcome       text        NOT NULL CHECK (outcome IN ('applied', 'duplicate', 'stale', 'ignored')),
    reason        text,
    trigger       text        NOT NULL DEFAULT 'webhook',
    attempt       integer     NOT NULL DEFAULT 1,
    occurred_at   timestamptz,
    effective_at  timestamptz,
    received_at   timestamptz NOT NULL,
    published_at  timestamptz,
    processed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX events_by_employee ON events (source, employee_id, id);
CREATE INDEX events_by_event ON events (source, event_id);
CREATE INDEX events_terminations ON events (processed_at) WHERE kind = 'terminated' AND outcome = 'applied';
