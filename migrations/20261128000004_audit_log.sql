-- The tamper-evident audit log: one row per provisioning action, dead letter, replay and
-- discard, hash-chained.
--
-- Writers only INSERT, inside their own transactions, with the chain columns empty: no
-- global lock is taken on the write path, so concurrent transactions never queue behind
-- each other here. A sealer (one at a time, under a transaction-level advisory lock) then
-- takes the rows in the order their commits became visible, and gives each its chain
-- position `seq`, the previous row's hash and its own hash:
--     hash = SHA-256(prev_hash || canonical content of the row)
-- (the first row's prev_hash is 32 zero bytes). `provisiond audit verify` recomputes it.
--
-- Append-only is enforced twice: privileges (UPDATE / DELETE / TRUNCATE revoked; only the
-- four sealing columns may be updated) and triggers that reject DELETE, TRUNCATE, a second
-- sealing and any change of a row's content. The owner of a table can always grant itself
-- privileges back and disable triggers, so run provisiond as a role that does not own
-- the schema (README: "Least privilege").
CREATE TABLE audit_log (
    id           bigserial   PRIMARY KEY,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- 'provisioning' (directory or external target action) or 'dead_letter'.
    category     text        NOT NULL CHECK (category IN ('provisioning', 'dead_letter')),
    -- provisioning: 'activate' | 'deactivate'; dead_letter: 'dead_lettered' | 'replayed' | 'discarded'.
    action       text        NOT NULL,
    actor        text        NOT NULL,
    source       text,
    event_id     text,
    employee_id  text,
    target       text,
    outcome      text,
    detail       jsonb       NOT NULL DEFAULT '{}',
    -- Set once, by the sealer.
    seq          bigint      UNIQUE,
    prev_hash    bytea,
    hash         bytea,
    sealed_at    timestamptz,
    CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL)
           AND (seq IS NULL) = (sealed_at IS NULL))
);

CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;
CREATE INDEX audit_log_by_event ON audit_log (source, event_id);

-- The directory account of an employee whatever the directory's name: the audit entry of
-- each applied event and the deprovision report look it up this way.
CREATE INDEX accounts_by_employee ON accounts (source, employee_id);

CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit_log is append-only: TRUNCATE is not allowed'
            USING ERRCODE = 'insufficient_privilege';
    ELSIF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_log is append-only: row % cannot be deleted', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL
           OR NEW.sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'audit_log rows are inserted unsealed; the sealer chains them'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- The time of the write is the database's, not the writer's.
        NEW.recorded_at := clock_timestamp();
        RETURN NEW;
    END IF;
    -- UPDATE: only the one-time sealing of an unsealed row, content unchanged.
    IF OLD.seq IS NOT NULL THEN
        RAISE EXCEPTION 'audit_log row % is sealed and cannot be changed', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.seq IS NULL THEN
        RAISE EXCEPTION 'audit_log row %: the only allowed update seals it', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.recorded_at, NEW.category, NEW.action, NEW.actor, NEW.source, NEW.event_id,
        NEW.employee_id, NEW.target, NEW.outcome, NEW.detail)
       IS DISTINCT FROM
       (OLD.id, OLD.recorded_at, OLD.category, OLD.action, OLD.actor, OLD.source, OLD.event_id,
        OLD.employee_id, OLD.target, OLD.outcome, OLD.detail) THEN
        RAISE EXCEPTION 'audit_log row %: sealing cannot change the row''s content', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard();

-- Nobody else gets anything by default; the role running the migrations (the owner, or in
-- the single-role setup the application itself) keeps SELECT and INSERT and may update the
-- sealing columns only. An owner can grant itself the rest back, which is why the
-- triggers above exist and why the README recommends a separate owner role.
REVOKE ALL ON audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;
GRANT UPDATE (seq, prev_hash, hash, sealed_at) ON audit_log TO CURRENT_USER;
