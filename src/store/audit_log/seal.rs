//! Sealing: each row's canonical bytes, the hash that chains it, and extending the chain.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::{Row, COLUMNS, GENESIS};

/// The advisory lock that lets one sealer at a time extend the chain ("provisiond audit").
const SEAL_LOCK: i64 = 0x7072_6f76_6175_6474;
/// Rows sealed per transaction.
const SEAL_BATCH: i64 = 500;

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
