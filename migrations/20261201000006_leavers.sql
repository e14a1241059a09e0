-- A leaver never keeps or regains access (see README "How a termination is guaranteed").

-- An event whose sender time was later than receipt + the source's tolerance: its
-- occurred_at was clamped to the receipt time.
ALTER TABLE events ADD COLUMN clock_skew boolean NOT NULL DEFAULT false;

-- Ordering state: when the last explicit activation signal (a hire, or a payload whose
-- status says active) and the applied termination happened at the sender. A termination
-- is stale only against a later activation signal; a rehire must be later than the
-- termination. Existing rows: the last event stands in for both.
ALTER TABLE employees ADD COLUMN activated_occurred_at timestamptz;
ALTER TABLE employees ADD COLUMN terminated_occurred_at timestamptz;
UPDATE employees SET activated_occurred_at = last_occurred_at WHERE status = 'active';
UPDATE employees SET terminated_occurred_at = last_occurred_at WHERE status = 'terminated';

-- What an action sends: the canonical event it was recorded for, so that any delivery
-- for the employee (a retry, a replay, a newer event) can drive the target to the latest
-- action instead of the one it carries.
ALTER TABLE provisioning_actions ADD COLUMN event jsonb;
CREATE INDEX provisioning_actions_by_employee
    ON provisioning_actions (source, employee_id, target, id);

-- The report's not_revoked and reactivations sections.
CREATE INDEX events_unrevoked ON events (received_at)
    WHERE kind = 'terminated' AND outcome IN ('stale', 'ignored');
CREATE INDEX events_rehires ON events (received_at) WHERE reason = 'rehire';
