//! Keeping two calls for one employee on one target apart: the advisory lock and the lease.

use sqlx::{PgConnection, PgPool};

/// Serialize every action of one employee on one target until the transaction ends, so
/// they never overlap at the target. Waits for another worker's call to finish.
pub async fn lock_employee_target(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
) -> Result<(), sqlx::Error> {
    // Lengths make the key unambiguous; a hash collision only serializes two employees.
    let key = format!(
        "provisiond/action/{}:{target}/{}:{source}/{employee_id}",
        target.len(),
        source.len()
    );
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Take the lease on (employee, target) for `action_id` until `limit` from now, unless
/// another call holds a live one (`None`). Call with [`lock_employee_target`] held. The
/// lease, not a lock, keeps two calls for one employee on one target apart while they run:
/// no transaction or row lock is held across the call.
pub async fn take_lease(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
    action_id: i64,
    limit: std::time::Duration,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO target_leases (target, source, employee_id, action_id, token, leased_until) \
         VALUES ($1, $2, $3, $4, $5, clock_timestamp() + make_interval(secs => $6)) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET action_id = EXCLUDED.action_id, \
             token = EXCLUDED.token, leased_until = EXCLUDED.leased_until \
         WHERE target_leases.leased_until IS NULL \
             OR target_leases.leased_until < clock_timestamp() \
         RETURNING token",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .bind(action_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(limit.as_secs_f64())
    .fetch_optional(conn)
    .await
}

/// When the live lease on (employee, target) ends, if one is held.
pub async fn lease_ends(
    pool: &PgPool,
    target: &str,
    source: &str,
    employee_id: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error> {
    let ends: Option<Option<chrono::DateTime<chrono::Utc>>> = sqlx::query_scalar(
        "SELECT leased_until FROM target_leases WHERE target = $1 AND source = $2 \
         AND employee_id = $3 AND leased_until >= clock_timestamp()",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .fetch_optional(pool)
    .await?;
    Ok(ends.flatten())
}

/// Give the lease back (the row stays: the runtime deletes nothing). `false` when it was
/// no longer ours: it ran out and another call took it.
pub async fn release_lease(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
    token: &str,
) -> Result<bool, sqlx::Error> {
    let released = sqlx::query(
        "UPDATE target_leases SET leased_until = NULL, token = NULL, action_id = NULL \
         WHERE target = $1 AND source = $2 AND employee_id = $3 AND token = $4",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .bind(token)
    .execute(conn)
    .await?;
    Ok(released.rows_affected() == 1)
}
