//! The audit log as the deprovision report states it: the check `audit verify` runs (the
//! hash chain walked from its first row, and every applied termination covered by it),
//! at the time the report is generated, with the chain's head.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::store::audit_log::{self, Coverage, Verification};

/// `audit verify`'s result. `intact` only when the chain is unbroken and every applied
/// termination is covered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditLogCheck)]
pub struct LogCheck {
    pub checked_at: DateTime<Utc>,
    pub intact: bool,
    pub chain: ChainState,
    pub coverage: Coverage,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditLogChain)]
pub struct ChainState {
    /// Sealed rows verified (up to the first broken one).
    pub rows: u64,
    /// The last row verified: record its hash elsewhere to detect a truncated tail.
    pub head: Option<Head>,
    /// Rows not sealed yet, not covered by the check.
    pub unsealed: i64,
    pub broken: Option<BrokenRow>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditLogHead)]
pub struct Head {
    pub id: i64,
    pub seq: i64,
    /// SHA-256, hex.
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditLogBrokenRow)]
pub struct BrokenRow {
    pub id: i64,
    pub seq: i64,
    pub message: String,
}

impl LogCheck {
    pub fn new(chain: &Verification, coverage: Coverage, checked_at: DateTime<Utc>) -> Self {
        let head = chain.head.map(|(id, seq, hash)| Head {
            id,
            seq,
            hash: hex::encode(hash),
        });
        let broken = chain.broken.as_ref().map(|b| BrokenRow {
            id: b.id,
            seq: b.seq,
            message: b.message.clone(),
        });
        LogCheck {
            checked_at,
            intact: broken.is_none() && coverage.uncovered_total == 0,
            chain: ChainState {
                rows: chain.rows,
                head,
                unsealed: chain.unsealed,
                broken,
            },
            coverage,
        }
    }

    /// One sentence: intact (with the head) or what is wrong.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match (&self.chain.broken, &self.chain.head) {
            (Some(b), _) => parts.push(format!(
                "BROKEN: {} ({} row(s) before it verified)",
                b.message, self.chain.rows
            )),
            (None, Some(h)) => parts.push(format!(
                "chain intact: {} row(s) verified, head row {} at position {}",
                self.chain.rows, h.id, h.seq
            )),
            (None, None) => parts.push("chain intact: 0 rows".to_owned()),
        }
        if self.chain.unsealed > 0 {
            parts.push(format!("{} row(s) not sealed yet", self.chain.unsealed));
        }
        let c = &self.coverage;
        if c.uncovered_total == 0 {
            parts.push(format!(
                "every applied termination covered ({} sealed, {} waiting to be sealed)",
                c.covered, c.pending
            ));
        } else {
            parts.push(format!(
                "NOT COVERED: {} applied termination(s) without a directory deactivation in the log",
                c.uncovered_total
            ));
        }
        parts.join("; ")
    }
}

/// Walk the chain and check coverage now, without sealing (read-only).
pub async fn check(pool: &PgPool, now: DateTime<Utc>) -> Result<LogCheck, sqlx::Error> {
    let chain = audit_log::verify(pool).await?;
    let coverage = audit_log::coverage(pool).await?;
    Ok(LogCheck::new(&chain, coverage, now))
}
