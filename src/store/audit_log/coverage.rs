//! Coverage: whether every applied termination has its deactivation in the chain.

use sqlx::PgPool;

/// An applied termination (an `events` row the deprovision report counts as revoking
/// access) with no directory deactivation in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = AuditLogUncovered)]
pub struct Uncovered {
    /// The `events` row.
    pub id: i64,
    pub source: String,
    pub event_id: String,
    pub employee_id: Option<String>,
}

/// Whether the events the deprovision report is built from are backed by the chain.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AuditLogCoverage)]
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
