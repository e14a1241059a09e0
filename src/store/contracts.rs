//! Deel contracts and the worker each belongs to (`contract_workers`).

use sqlx::{PgConnection, PgPool};

/// Remember that `contracts` belong to `employee_id` (the latest event wins).
pub async fn record(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
    event_id: &str,
    contracts: &[String],
) -> Result<(), sqlx::Error> {
    if contracts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO contract_workers (source, contract_id, employee_id, event_id) \
         SELECT $1, contract_id, $2, $3 FROM unnest($4::text[]) AS c(contract_id) \
         ON CONFLICT (source, contract_id) DO UPDATE SET employee_id = EXCLUDED.employee_id, \
         event_id = EXCLUDED.event_id, recorded_at = now()",
    )
    .bind(source)
    .bind(employee_id)
    .bind(event_id)
    .bind(contracts)
    .execute(conn)
    .await?;
    Ok(())
}

/// The worker of `contract`: from the mapping, else an employee recorded under the
/// contract's id itself (a contractor's hire that named only its contract).
pub async fn worker_of(
    pool: &PgPool,
    source: &str,
    contract: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT employee_id FROM contract_workers WHERE source = $1 AND contract_id = $2 \
         UNION ALL \
         SELECT employee_id FROM employees WHERE source = $1 AND employee_id = $2 \
         LIMIT 1",
    )
    .bind(source)
    .bind(contract)
    .fetch_optional(pool)
    .await
}
