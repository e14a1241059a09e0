-- Pre-hires (Merge `employment_status: PENDING`, Finch `prehire`): the employee and the
-- directory account exist but are `pending` (no role, groups or entitlements) until the
-- start date, when the scheduler enqueues the activation. A termination before the start
-- cancels it.
ALTER TABLE employees DROP CONSTRAINT employees_status_check;
ALTER TABLE employees ADD CONSTRAINT employees_status_check
    CHECK (status IN ('active', 'pending', 'terminated'));

ALTER TABLE accounts DROP CONSTRAINT accounts_status_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_status_check
    CHECK (status IN ('active', 'pending', 'deactivated'));

-- Same shape as scheduled_terminations: `effective_at` is the start of the start date in
-- `audit.time_zone`, which is also `due_at`.
CREATE TABLE scheduled_activations (
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

CREATE INDEX scheduled_activations_due ON scheduled_activations (due_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_activations_employee ON scheduled_activations (source, employee_id) WHERE status = 'scheduled';
