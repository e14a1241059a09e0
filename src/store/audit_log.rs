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

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

/// `category` of a directory or external-target action.
pub const PROVISIONING: &str = "provisioning";
/// `category` of a dead letter and of an operator's replay or discard.
pub const DEAD_LETTER: &str = "dead_letter";

/// The advisory lock that lets one sealer at a time extend the chain ("provisiond audit").
const SEAL_LOCK: i64 = 0x7072_6f76_6175_6474;
/// Rows sealed per transaction.
const SEAL_BATCH: i64 = 500;
/// Rows read per query while verifying.
const VERIFY_BATCH: i64 = 1000;
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

/// The bytes a row's hash covers (besides the previous hash): a JSON object with sorted
/// keys, no whitespace, times in RFC 3339 UTC with microseconds (PostgreSQL's precision).
pub fn canonical_content(row: &Row, seq: i64, sealed_at: DateTime<Utc>) -> Vec<u8> {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let value = json!({
        "v": 1,
        "id": row.id,
        "seq": seq,
        "recorded_at": time(row.recorded_at),
        "category": row.category,
        "action": row.action,
        "actor": row.actor,
        "source": row.source,
        "event_id": row.event_id,
        "employee_id": row.employee_id,
        "target": row.target,
        "outcome": row.outcome,
        "detail": row.detail,
        "sealed_at": time(sealed_at),
    });
    let mut out = String::new();
    write_canonical(&value, &mut out);
    out.into_bytes()
}

/// JSON with object keys sorted (by bytes) at every level and no insignificant whitespace.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `SHA-256(prev_hash || content)`.
pub fn chain_hash(prev_hash: &[u8], content: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(prev_hash);
    digest.update(content);
    digest.finalize().into()
}

/// Chain every row committed so far and not yet sealed; returns how many were sealed.
/// Safe to run from several processes at once: sealers take turns.
pub async fn seal_pending(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    loop {
        let sealed = seal_batch(pool).await?;
        total += sealed;
        if sealed < SEAL_BATCH as usize {
            return Ok(total);
        }
    }
}

async fn seal_batch(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEAL_LOCK)
        .execute(&mut *tx)
        .await?;
    let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT $1"
    ))
    .bind(SEAL_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    // The transaction's own time: microsecond precision, as stored.
    let sealed_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let (mut seq, mut prev) = match head {
        Some((seq, hash)) => (seq, hash),
        None => (0, GENESIS.to_vec()),
    };
    let (mut ids, mut seqs, mut prevs, mut hashes) = (vec![], vec![], vec![], vec![]);
    for row in &rows {
        seq += 1;
        let hash = chain_hash(&prev, &canonical_content(row, seq, sealed_at)).to_vec();
        ids.push(row.id);
        seqs.push(seq);
        prevs.push(prev);
        hashes.push(hash.clone());
        prev = hash;
    }
    sqlx::query(
        "UPDATE audit_log AS a SET seq = u.seq, prev_hash = u.prev_hash, hash = u.hash, \
         sealed_at = $5 \
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) \
              AS u(id, seq, prev_hash, hash) \
         WHERE a.id = u.id AND a.seq IS NULL",
    )
    .bind(&ids)
    .bind(&seqs)
    .bind(&prevs)
    .bind(&hashes)
    .bind(sealed_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// The first row that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The row's `id`.
    pub id: i64,
    pub seq: i64,
    /// e.g. "audit log row 123 does not match its hash".
    pub message: String,
}

/// What walking the chain found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Sealed rows checked (up to the first broken one).
    pub rows: u64,
    /// The last row checked and its hash: record it elsewhere to detect a truncated tail.
    pub head: Option<(i64, i64, [u8; 32])>,
    /// Rows not sealed yet (not covered by this check).
    pub unsealed: i64,
    pub broken: Option<Broken>,
}

/// Walk the chain from its first row, recomputing every hash.
pub async fn verify(pool: &PgPool) -> Result<Verification, sqlx::Error> {
    let mut result = Verification {
        rows: 0,
        head: None,
        unsealed: 0,
        broken: None,
    };
    let mut prev: Vec<u8> = GENESIS.to_vec();
    let mut prev_id: Option<i64> = None;
    let mut expected = 1_i64;
    'walk: loop {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(expected)
        .bind(VERIFY_BATCH)
        .fetch_all(pool)
        .await?;
        let last_batch = rows.len() < VERIFY_BATCH as usize;
        for row in rows {
            if let Some(broken) = check_row(&row, expected, &prev, prev_id) {
                result.broken = Some(broken);
                break 'walk;
            }
            // check_row compared it with a 32-byte digest.
            let hash =
                <[u8; 32]>::try_from(row.hash.as_deref().unwrap_or_default()).unwrap_or_default();
            result.rows += 1;
            result.head = Some((row.id, expected, hash));
            prev = hash.to_vec();
            prev_id = Some(row.id);
            expected += 1;
        }
        if last_batch {
            break;
        }
    }
    result.unsealed = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE seq IS NULL")
        .fetch_one(pool)
        .await?;
    Ok(result)
}

/// An applied termination (an `events` row the deprovision report counts as revoking
/// access) with no directory deactivation in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Uncovered {
    /// The `events` row.
    pub id: i64,
    pub source: String,
    pub event_id: String,
    pub employee_id: Option<String>,
}

/// Whether the events the deprovision report is built from are backed by the chain.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Coverage {
    /// Applied terminations in `events` (any time, any source).
    pub terminations: i64,
    /// …whose directory deactivation is a sealed row of the chain.
    pub covered: i64,
    /// …whose audit row exists but is not sealed yet (committed after the sealing).
    pub pending: i64,
    /// How many have no audit row at all: written to `events` outside provisiond's
    /// processing (which inserts both in one transaction).
    pub uncovered_total: i64,
    /// The first [`UNCOVERED_LISTED`] of them, oldest first.
    pub uncovered: Vec<Uncovered>,
}

/// Uncovered events listed by [`coverage`] (all are counted).
pub const UNCOVERED_LISTED: i64 = 1000;

/// For every applied termination in `events`, whether the audit log has its directory
/// deactivation (`provisioning` / `deactivate`, same source and event id), sealed or not.
pub async fn coverage(pool: &PgPool) -> Result<Coverage, sqlx::Error> {
    const STATES: &str = "SELECT e.id, e.source, e.event_id, e.employee_id, \
         (SELECT bool_or(a.seq IS NOT NULL) FROM audit_log a WHERE a.source = e.source \
          AND a.event_id = e.event_id AND a.category = 'provisioning' \
          AND a.action = 'deactivate') AS sealed \
         FROM events e WHERE e.kind = 'terminated' AND e.outcome = 'applied'";
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (terminations, covered, pending): (i64, i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), count(*) FILTER (WHERE sealed), count(*) FILTER (WHERE NOT sealed) \
         FROM ({STATES}) t"
    ))
    .fetch_one(&mut *tx)
    .await?;
    let uncovered: Vec<Uncovered> = sqlx::query_as(&format!(
        "SELECT id, source, event_id, employee_id FROM ({STATES}) t WHERE sealed IS NULL \
         ORDER BY id LIMIT $1"
    ))
    .bind(UNCOVERED_LISTED)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Coverage {
        terminations,
        covered,
        pending,
        uncovered_total: terminations - covered - pending,
        uncovered,
    })
}

/// Why `row`, expected at position `expected` after a row hashing to `prev`, breaks the
/// chain; `None` when it fits.
fn check_row(row: &Row, expected: i64, prev: &[u8], prev_id: Option<i64>) -> Option<Broken> {
    let id = row.id;
    let seq = row.seq.unwrap_or_default();
    let broken = |message: String| Some(Broken { id, seq, message });
    if seq != expected {
        return broken(format!(
            "audit log row {id} is at chain position {seq} where {expected} was expected: \
             rows before it are missing"
        ));
    }
    if row.prev_hash.as_deref() != Some(prev) {
        let after = prev_id.map_or("the start of the chain".to_owned(), |p| format!("row {p}"));
        return broken(format!(
            "audit log row {id} does not link to {after}: its prev_hash is not that row's hash"
        ));
    }
    let (Some(hash), Some(sealed_at)) = (row.hash.as_deref(), row.sealed_at) else {
        return broken(format!("audit log row {id} does not match its hash"));
    };
    let computed = chain_hash(prev, &canonical_content(row, seq, sealed_at));
    if computed.as_slice() != hash {
        return broken(format!("audit log row {id} does not match its hash"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> Row {
        Row {
            id,
            recorded_at: DateTime::parse_from_rfc3339("2026-03-10T12:00:00.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            category: PROVISIONING.into(),
            action: "deactivate".into(),
            actor: "provisiond".into(),
            source: Some("hris".into()),
            event_id: Some("msg_1".into()),
            employee_id: Some("emp_1".into()),
            target: Some("directory".into()),
            outcome: Some("succeeded".into()),
            detail: json!({"z": [1, {"b": true, "a": null}], "a": "x\"y"}),
            seq: None,
            prev_hash: None,
            hash: None,
            sealed_at: None,
        }
    }

    fn seal(mut row: Row, seq: i64, prev: &[u8]) -> Row {
        let sealed_at = row.recorded_at;
        let hash = chain_hash(prev, &canonical_content(&row, seq, sealed_at));
        row.seq = Some(seq);
        row.prev_hash = Some(prev.to_vec());
        row.hash = Some(hash.to_vec());
        row.sealed_at = Some(sealed_at);
        row
    }

    #[test]
    fn audit_canonical_json_sorts_keys_at_every_level_without_whitespace() {
        let mut out = String::new();
        write_canonical(&json!({"b": 1, "a": {"d": [2, "x"], "c": null}}), &mut out);
        assert_eq!(out, r#"{"a":{"c":null,"d":[2,"x"]},"b":1}"#);
    }

    #[test]
    fn audit_canonical_content_covers_every_column_and_the_position() {
        let text = String::from_utf8(canonical_content(&row(7), 3, row(7).recorded_at)).unwrap();
        assert!(text.starts_with(r#"{"action":"deactivate","actor":"provisiond","category":"provisioning","detail":{"a":"x\"y","z":[1,{"a":null,"b":true}]},"employee_id":"emp_1","event_id":"msg_1","id":7,"outcome":"succeeded","recorded_at":"2026-03-10T12:00:00.123456Z","#), "{text}");
        assert!(text.contains(r#""seq":3"#));
    }

    #[test]
    fn audit_chain_detects_a_changed_row_and_a_broken_link() {
        let first = seal(row(1), 1, &GENESIS);
        let second = seal(row(2), 2, first.hash.as_deref().unwrap());
        assert_eq!(check_row(&first, 1, &GENESIS, None), None);
        assert_eq!(
            check_row(&second, 2, first.hash.as_deref().unwrap(), Some(1)),
            None
        );

        let mut changed = second.clone();
        changed.actor = "mallory".into();
        let broken = check_row(&changed, 2, first.hash.as_deref().unwrap(), Some(1)).unwrap();
        assert_eq!(broken.message, "audit log row 2 does not match its hash");

        let broken = check_row(&second, 2, &GENESIS, Some(1)).unwrap();
        assert!(broken.message.contains("does not link to row 1"));

        let broken = check_row(&second, 1, &GENESIS, None).unwrap();
        assert!(broken.message.contains("where 1 was expected"));
    }
}
