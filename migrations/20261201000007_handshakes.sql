-- The last subscription handshake each source received (Gusto posts its verification
-- token, unsigned, before the operator can know the key): one row per source, so an
-- unauthenticated sender can only ever overwrite it, never grow the table.
CREATE TABLE source_handshakes (
    source       text        PRIMARY KEY,
    kind         text        NOT NULL,
    token        text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
