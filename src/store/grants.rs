//! The least privileges of the runtime role (`provisiond db grants`).
//!
//! The runtime (`serve` and the operator commands) never deletes or truncates anything:
//! `events` and `inbox` are insert-only (the timeline the deprovision report is built from,
//! and the replay protection of senders without timestamps), `audit_log` may only have its
//! four sealing columns set once (its triggers check that too), and the other tables get
//! `SELECT`, `INSERT` and, where a row's state changes, `UPDATE`. [`TABLES`] is the whole
//! list; a table that a migration adds must be added here (the least-privilege test fails
//! until it is).

use std::fmt::Write;

/// The schema the migrations create their tables in.
pub const SCHEMA: &str = "public";

/// The longest role name PostgreSQL keeps (`NAMEDATALEN - 1` bytes).
const MAX_ROLE_BYTES: usize = 63;

/// Names that `GRANT … TO` reads as something other than one role.
const RESERVED_ROLES: [&str; 5] = [
    "public",
    "none",
    "current_user",
    "current_role",
    "session_user",
];

/// What the runtime may do with one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableGrant {
    pub table: &'static str,
    /// Privilege list as written after `GRANT`.
    pub privileges: &'static str,
    /// The table's `bigserial` sequence, if any (`USAGE`: `nextval`).
    pub sequence: Option<&'static str>,
}

const INSERT_ONLY: &str = "SELECT, INSERT";
const MUTABLE: &str = "SELECT, INSERT, UPDATE";

const fn table(
    table: &'static str,
    privileges: &'static str,
    sequence: Option<&'static str>,
) -> TableGrant {
    TableGrant {
        table,
        privileges,
        sequence,
    }
}

/// Every table of the schema but `_sqlx_migrations` (the owner's), with the runtime's
/// privileges on it.
pub const TABLES: &[TableGrant] = &[
    table("inbox", INSERT_ONLY, None),
    table("events", INSERT_ONLY, Some("events_id_seq")),
    table("employees", MUTABLE, None),
    table("accounts", MUTABLE, None),
    table("target_states", MUTABLE, None),
    table(
        "provisioning_actions",
        MUTABLE,
        Some("provisioning_actions_id_seq"),
    ),
    table("dead_letters", MUTABLE, Some("dead_letters_id_seq")),
    table("jobs", MUTABLE, Some("jobs_id_seq")),
    table("target_leases", MUTABLE, None),
    table(
        "dead_letter_actions",
        INSERT_ONLY,
        Some("dead_letter_actions_id_seq"),
    ),
    table(
        "audit_log",
        "SELECT, INSERT, UPDATE (seq, prev_hash, hash, sealed_at)",
        Some("audit_log_id_seq"),
    ),
    table(
        "scheduled_terminations",
        MUTABLE,
        Some("scheduled_terminations_id_seq"),
    ),
    table(
        "scheduled_activations",
        MUTABLE,
        Some("scheduled_activations_id_seq"),
    ),
    table(
        "held_terminations",
        MUTABLE,
        Some("held_terminations_id_seq"),
    ),
    table("source_handshakes", MUTABLE, None),
    table("deleted_directories", INSERT_ONLY, None),
    table("contract_workers", MUTABLE, None),
    table("reconcile_runs", MUTABLE, Some("reconcile_runs_id_seq")),
    table("reconcile_seen", INSERT_ONLY, None),
    table("reconcile_events", INSERT_ONLY, None),
];

/// A role name that cannot be used in a `GRANT`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--role: {0}")]
pub struct InvalidRole(String);

/// A validated role name, quoted as an SQL identifier when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    /// Accept any name PostgreSQL can keep as one role, except the ones `GRANT` reads as
    /// something else (`PUBLIC`, `CURRENT_USER`, …) and the reserved `pg_` prefix.
    pub fn parse(name: &str) -> Result<RoleName, InvalidRole> {
        if name.is_empty() {
            return Err(InvalidRole("a role name is required".into()));
        }
        if name.len() > MAX_ROLE_BYTES {
            return Err(InvalidRole(format!(
                "a role name has at most {MAX_ROLE_BYTES} bytes, this one has {}",
                name.len()
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidRole(
                "a role name cannot contain control characters".into(),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_ROLES.contains(&lower.as_str()) {
            return Err(InvalidRole(format!(
                "`{name}` is not a role GRANT can name (it means more than one role)"
            )));
        }
        if lower.starts_with("pg_") {
            return Err(InvalidRole(format!(
                "`{name}`: names starting with pg_ are reserved for PostgreSQL's own roles"
            )));
        }
        Ok(RoleName(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an SQL identifier: in double quotes, each double quote doubled.
    pub fn ident(&self) -> String {
        quote_ident(&self.0)
    }
}

/// `name` as an SQL identifier: in double quotes, each double quote doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal (`standard_conforming_strings`, on since PostgreSQL 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A dollar-quote tag that does not occur in `body`.
fn dollar_tag(body: &str) -> String {
    (0..)
        .map(|n| {
            if n == 0 {
                "$grants$".to_owned()
            } else {
                format!("$grants{n}$")
            }
        })
        .find(|tag| !body.contains(tag.as_str()))
        .unwrap_or_default()
}

/// The script that gives `role` exactly the runtime's privileges, in one transaction:
/// everything it had on the schema's tables and sequences is revoked first, so applying
/// it to a role set up with broader grants narrows them. It refuses a role that owns one
/// of the tables (an owner can grant itself anything back).
pub fn script(role: &RoleName) -> String {
    let ident = role.ident();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- provisiond {}: the least privileges of the runtime role {ident}.",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(
        "-- Run as the owner of the schema (the role that runs `provisiond migrate`), after\n\
         -- every migrate. No DELETE or TRUNCATE anywhere; events and inbox are insert-only;\n\
         -- audit_log rows are only ever sealed (its triggers check that too).\n\
         BEGIN;\n",
    );
    let check = format!(
        "\nDECLARE\n    app text := {role};\nBEGIN\n    \
         IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = {schema} AND tableowner = app) THEN\n        \
         RAISE EXCEPTION 'role % owns tables of schema %: run provisiond as a role that owns nothing', app, {schema};\n    \
         END IF;\n    \
         EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), app);\n\
         END\n",
        role = quote_literal(role.as_str()),
        schema = quote_literal(SCHEMA),
    );
    let tag = dollar_tag(&check);
    let _ = writeln!(out, "DO {tag}{check}{tag};");
    let _ = writeln!(
        out,
        "REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM {ident};"
    );
    let _ = writeln!(
        out,
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {SCHEMA} FROM {ident};"
    );
    let _ = writeln!(out, "GRANT USAGE ON SCHEMA {SCHEMA} TO {ident};");
    for grant in TABLES {
        let _ = writeln!(
            out,
            "GRANT {} ON TABLE {SCHEMA}.{} TO {ident};",
            grant.privileges, grant.table
        );
    }
    for sequence in TABLES.iter().filter_map(|t| t.sequence) {
        let _ = writeln!(
            out,
            "GRANT USAGE ON SEQUENCE {SCHEMA}.{sequence} TO {ident};"
        );
    }
    out.push_str("COMMIT;\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_quote_a_hostile_role_name_as_one_identifier() {
        let role = RoleName::parse("app\"; DROP TABLE events; --").unwrap();
        assert_eq!(role.ident(), "\"app\"\"; DROP TABLE events; --\"");
        let sql = script(&role);
        assert!(
            sql.contains("TO \"app\"\"; DROP TABLE events; --\";\n"),
            "{sql}"
        );
        let literal = RoleName::parse("o'brien $grants$").unwrap();
        let sql = script(&literal);
        assert!(sql.contains("app text := 'o''brien $grants$';"), "{sql}");
        assert!(sql.contains("DO $grants1$"), "{sql}");
    }

    #[test]
    fn grants_reject_names_that_are_not_one_role() {
        for name in [
            "",
            "PUBLIC",
            "public",
            "Current_User",
            "session_user",
            "none",
        ] {
            let error = RoleName::parse(name).unwrap_err().to_string();
            assert!(error.starts_with("--role: "), "{name}: {error}");
        }
        assert!(RoleName::parse("pg_read_all_data").is_err());
        assert!(RoleName::parse("app\nrole").is_err());
        assert!(RoleName::parse(&"a".repeat(64)).is_err());
        assert!(RoleName::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn grants_give_no_delete_and_keep_events_and_inbox_insert_only() {
        let sql = script(&RoleName::parse("provisiond_app").unwrap());
        assert!(
            !sql.contains("DELETE ON") && !sql.contains("TRUNCATE ON"),
            "{sql}"
        );
        assert!(sql.contains("GRANT SELECT, INSERT ON TABLE public.events TO \"provisiond_app\";"));
        assert!(sql.contains("GRANT SELECT, INSERT ON TABLE public.inbox TO \"provisiond_app\";"));
        assert!(sql.starts_with("-- provisiond "));
        assert!(sql.trim_end().ends_with("COMMIT;"));
    }
}
