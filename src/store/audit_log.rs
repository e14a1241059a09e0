//! The tamper-evident audit log: append inside the caller's transaction, seal into a hash
//! chain afterwards, verify by recomputing every hash.
//!
//! Writers only `INSERT` (no lock shared between transactions). [`seal_pending`] then takes
//! the unsealed rows in the order their commits became visible and gives each a chain
//! position (`seq`), the previous row's hash and its own:
//!
//! ```text
//! hash(n) = SHA-256( hash(n-1) || canonical(row n) )      hash(0) = 32 zero bytes
//! ```
//!
//! `canonical` is a compact JSON object with sorted keys over every column but `hash`
//! and `prev_hash` (see [`canonical_content`]). Only one sealer runs at a time (a
//! transaction-level advisory lock); writers never wait for it.

mod coverage;
mod seal;
mod verify;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;

pub use coverage::{coverage, Coverage, Uncovered, UNCOVERED_LISTED};
pub use seal::{canonical_content, chain_hash, seal_pending, write_canonical};
pub use verify::{verify, Broken, Verification};

/// `category` of a directory or external-target action.
pub const PROVISIONING: &str = "provisioning";
/// `category` of a dead letter and of an operator's replay or discard.
pub const DEAD_LETTER: &str = "dead_letter";

/// The `prev_hash` of the first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// One thing that happened, as the caller knows it. `recorded_at` is the database's.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Entry<'a> {
    /// [`PROVISIONING`] or [`DEAD_LETTER`].
    pub category: &'a str,
    /// `activate` / `deactivate`; `dead_lettered` / `replayed` / `discarded`.
    pub action: &'a str,
    /// `provisiond` for the system, else the operator.
    pub actor: &'a str,
    pub source: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub employee_id: Option<&'a str>,
    pub target: Option<&'a str>,
    /// `succeeded` / `failed` for actions; the dead letter's reason or new status.
    pub outcome: Option<&'a str>,
    pub detail: Value,
}

/// Append `entry`, unsealed, on the caller's connection (inside its transaction, so the
/// entry commits or rolls back with the change it describes). Returns the row id.
pub async fn append(conn: &mut PgConnection, entry: &Entry<'_>) -> Result<i64, sqlx::Error> {
    let detail = if entry.detail.is_null() {
        json!({})
    } else {
        entry.detail.clone()
    };
    sqlx::query_scalar(
        "INSERT INTO audit_log (category, action, actor, source, event_id, employee_id, target, \
         outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(entry.category)
    .bind(entry.action)
    .bind(entry.actor)
    .bind(entry.source)
    .bind(entry.event_id)
    .bind(entry.employee_id)
    .bind(entry.target)
    .bind(entry.outcome)
    .bind(sqlx::types::Json(detail))
    .fetch_one(conn)
    .await
}

/// Append several entries, unsealed, in their order, in one statement (see [`append`]).
pub async fn append_many(
    conn: &mut PgConnection,
    entries: &[Entry<'_>],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO audit_log (category, action, actor, source, event_id, employee_id, target, \
         outcome, detail) \
         SELECT category, action, actor, source, event_id, employee_id, target, outcome, \
             COALESCE(NULLIF(detail, 'null'), '{}') \
         FROM jsonb_to_recordset($1) AS r(category text, action text, actor text, \
             source text, event_id text, employee_id text, target text, outcome text, \
             detail jsonb)",
    )
    .bind(sqlx::types::Json(entries))
    .execute(conn)
    .await?;
    Ok(())
}

/// A row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub recorded_at: DateTime<Utc>,
    pub category: String,
    pub action: String,
    pub actor: String,
    pub source: Option<String>,
    pub event_id: Option<String>,
    pub employee_id: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<String>,
    pub detail: Value,
    pub seq: Option<i64>,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Option<Vec<u8>>,
    pub sealed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, recorded_at, category, action, actor, source, event_id, employee_id, \
    target, outcome, detail, seq, prev_hash, hash, sealed_at";

#[cfg(test)]
mod tests;
