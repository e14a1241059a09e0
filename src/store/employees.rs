//! Employees (the per-employee lock and ordering state) and the directory's accounts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::event::Attributes;
use crate::provision::rules::Decision;

/// The ordering state of one employee, read under its row lock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EmployeeState {
    pub status: String,
    pub last_occurred_at: Option<DateTime<Utc>>,
}

impl EmployeeState {
    pub fn is_terminated(&self) -> bool {
        self.status == "terminated"
    }
}

/// Lock the employee's row for this transaction; `None` if the employee is new.
/// Concurrent events for one employee serialize here; others proceed in parallel.
pub async fn lock(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Option<EmployeeState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, last_occurred_at FROM employees \
         WHERE source = $1 AND employee_id = $2 FOR UPDATE",
    )
    .bind(source)
    .bind(employee_id)
    .fetch_optional(conn)
    .await
}

/// Write the employee's new status and the time of the event that set it. A first event
/// for two new employees at once cannot both insert: the loser waits on the conflict.
pub async fn save(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
    terminated: bool,
    occurred_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let status = if terminated { "terminated" } else { "active" };
    sqlx::query(
        "INSERT INTO employees (source, employee_id, status, last_occurred_at, terminated_at) \
         VALUES ($1, $2, $3, $4, CASE WHEN $3 = 'terminated' THEN now() END) \
         ON CONFLICT (source, employee_id) DO UPDATE SET status = EXCLUDED.status, \
         last_occurred_at = EXCLUDED.last_occurred_at, \
         terminated_at = CASE WHEN EXCLUDED.status = 'terminated' \
             THEN COALESCE(employees.terminated_at, now()) END, \
         updated_at = now()",
    )
    .bind(source)
    .bind(employee_id)
    .bind(status)
    .bind(occurred_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ensure the employee row exists so it can be locked (insert-first, then lock).
pub async fn ensure(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO employees (source, employee_id, status) VALUES ($1, $2, 'active') \
         ON CONFLICT DO NOTHING",
    )
    .bind(source)
    .bind(employee_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Directory target: create or reactivate the account with the latest attributes.
pub async fn activate_account(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
    attributes: &Attributes,
    decision: &Decision,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO accounts (target, source, employee_id, status, email, given_name, \
         family_name, display_name, department, title, manager_id, attributes, activated_at, \
         role, groups, entitlements) \
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $10, $11, now(), $12, $13, $14) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET status = 'active', \
         email = EXCLUDED.email, given_name = EXCLUDED.given_name, \
         family_name = EXCLUDED.family_name, display_name = EXCLUDED.display_name, \
         department = EXCLUDED.department, title = EXCLUDED.title, \
         manager_id = EXCLUDED.manager_id, attributes = EXCLUDED.attributes, \
         role = EXCLUDED.role, groups = EXCLUDED.groups, entitlements = EXCLUDED.entitlements, \
         activated_at = CASE WHEN accounts.status = 'active' THEN accounts.activated_at \
             ELSE now() END, \
         deactivated_at = NULL, updated_at = now()",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .bind(&attributes.email)
    .bind(&attributes.given_name)
    .bind(&attributes.family_name)
    .bind(&attributes.display_name)
    .bind(&attributes.department)
    .bind(&attributes.title)
    .bind(&attributes.manager_id)
    .bind(sqlx::types::Json(&attributes.data))
    .bind(&decision.role)
    .bind(&decision.groups)
    .bind(sqlx::types::Json(&decision.entitlements))
    .execute(conn)
    .await?;
    Ok(())
}

/// Directory target: deactivate (creating the row if the hire was never seen), clearing
/// entitlements. Deactivating twice keeps the first `deactivated_at`.
pub async fn deactivate_account(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO accounts (target, source, employee_id, status, deactivated_at) \
         VALUES ($1, $2, $3, 'deactivated', clock_timestamp()) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET status = 'deactivated', \
         entitlements = '{}', groups = '{}', role = NULL, \
         deactivated_at = COALESCE(accounts.deactivated_at, clock_timestamp()), \
         updated_at = clock_timestamp()",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TargetView {
    pub target: String,
    pub status: String,
    pub updated_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub role: Option<String>,
    pub groups: Option<Vec<String>>,
    pub entitlements: Option<sqlx::types::JsonValue>,
    pub email: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
}

pub async fn status(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM employees WHERE source = $1 AND employee_id = $2")
        .bind(source)
        .bind(employee_id)
        .fetch_optional(conn)
        .await
}

pub async fn targets(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Vec<TargetView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT target, status, updated_at, NULL::text AS last_error, deactivated_at, role, \
         groups, entitlements, email, department, title FROM accounts \
         WHERE source = $1 AND employee_id = $2 \
         UNION ALL \
         SELECT target, status, updated_at, last_error, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
         FROM target_states WHERE source = $1 AND employee_id = $2 ORDER BY target",
    )
    .bind(source)
    .bind(employee_id)
    .fetch_all(conn)
    .await
}
