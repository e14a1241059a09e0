-- Whether a termination is waiting for this employee (a row of scheduled_terminations
-- with status 'scheduled'). Kept under the employee's row lock, so the worker reads it
-- with the lock and skips looking for a termination to cancel when there is none.
ALTER TABLE employees ADD COLUMN termination_scheduled boolean NOT NULL DEFAULT false;

UPDATE employees e SET termination_scheduled = true
WHERE EXISTS (
    SELECT 1 FROM scheduled_terminations s
    WHERE s.source = e.source AND s.employee_id = e.employee_id AND s.status = 'scheduled'
);
