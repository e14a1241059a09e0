-- No row lock is held across a network call. The scheduler claims due rows for a short
-- while (claimed_until), publishes outside any transaction, then marks them enqueued.
ALTER TABLE scheduled_terminations ADD COLUMN claimed_until timestamptz;
ALTER TABLE scheduled_activations ADD COLUMN claimed_until timestamptz;

-- A call to an external target is leased, not locked: one lease per (employee, target),
-- taken in a short transaction before the call and released (never deleted) after it.
-- Another delivery for the same employee and target waits for the lease to end.
CREATE TABLE target_leases (
    target       text        NOT NULL,
    source       text        NOT NULL,
    employee_id  text        NOT NULL,
    action_id    bigint,
    token        text,
    leased_until timestamptz,
    PRIMARY KEY (target, source, employee_id)
);
