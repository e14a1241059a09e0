//! Verifying: walking the chain from its first row and recomputing every hash.

use sqlx::PgPool;

use super::{canonical_content, chain_hash, Row, COLUMNS, GENESIS};

/// Rows read per query while verifying.
const VERIFY_BATCH: i64 = 1000;

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

/// Why `row`, expected at position `expected` after a row hashing to `prev`, breaks the
/// chain; `None` when it fits.
pub(super) fn check_row(
    row: &Row,
    expected: i64,
    prev: &[u8],
    prev_id: Option<i64>,
) -> Option<Broken> {
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
