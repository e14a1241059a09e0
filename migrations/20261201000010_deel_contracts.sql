-- Deel terminates contracts, not people: `contract.terminated` may carry only the
-- contract id. The contracts a worker's events name (`contract_id`, `contract.id`,
-- `contracts[].id`, a contract event's own id next to its worker) are remembered here,
-- so such a termination lands on its worker even without `api`.
CREATE TABLE contract_workers (
    source       text        NOT NULL,
    contract_id  text        NOT NULL,
    employee_id  text        NOT NULL,
    event_id     text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, contract_id)
);
