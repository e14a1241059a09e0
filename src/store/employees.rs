//! Employees (the per-employee lock and ordering state) and the directory's accounts.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::rows;

use crate::domain::access::Access;
use crate::domain::event::Attributes;

/// The ordering state of one employee, read under its row lock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EmployeeState {
    pub status: String,
    pub last_occurred_at: Option<DateTime<Utc>>,
    /// A termination is waiting for its effective date.
    pub termination_scheduled: bool,
    /// When (sender time) the last applied activation signal happened: a hire, or a status
    /// that says active.
    pub activated_occurred_at: Option<DateTime<Utc>>,
    /// When (sender time) the applied termination happened, while terminated.
    pub terminated_occurred_at: Option<DateTime<Utc>>,
}

impl EmployeeState {
    pub fn is_terminated(&self) -> bool {
        self.status == "terminated"
    }

    /// A pre-hire: known, not active before the start date.
    pub fn is_pending(&self) -> bool {
        self.status == "pending"
    }

    /// The status as a static string, for a state that is written back unchanged.
    pub fn status_str(&self) -> &'static str {
        match self.status.as_str() {
            "terminated" => "terminated",
            "active" => "active",
            "pending" => "pending",
            // Fail closed: the constraint allows no other status.
            _ => "terminated",
        }
    }
}

/// An employee, by `(source, employee_id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Key<'a> {
    pub source: &'a str,
    pub employee_id: &'a str,
}

#[derive(sqlx::FromRow)]
struct LockedRow {
    source: String,
    employee_id: String,
    #[sqlx(flatten)]
    state: EmployeeState,
}

/// Lock these employees' rows for this transaction, creating the rows of new employees
/// (status `active`, no event yet: what `decide` treats as new), and return their states.
/// The rows are taken in key order, so two transactions locking overlapping sets wait for
/// each other instead of deadlocking. Concurrent events for one employee serialize here;
/// other employees proceed in parallel. `keys` must not repeat.
pub async fn lock_many(
    conn: &mut PgConnection,
    keys: &[Key<'_>],
) -> Result<HashMap<(String, String), EmployeeState>, sqlx::Error> {
    let rows: Vec<LockedRow> = sqlx::query_as(
        "INSERT INTO employees (source, employee_id, status) \
         SELECT source, employee_id, 'active' \
         FROM jsonb_to_recordset($1) AS r(source text, employee_id text) \
         ORDER BY source, employee_id \
         ON CONFLICT (source, employee_id) DO UPDATE SET status = employees.status \
         RETURNING source, employee_id, status, last_occurred_at, termination_scheduled, \
             activated_occurred_at, terminated_occurred_at",
    )
    .bind(sqlx::types::Json(keys))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ((row.source, row.employee_id), row.state))
        .collect())
}

/// An employee's new state after an event.
#[derive(Debug, Clone, Serialize)]
pub struct Save<'a> {
    pub source: &'a str,
    pub employee_id: &'a str,
    /// `active`, `pending` (a pre-hire) or `terminated`.
    pub status: &'static str,
    #[serde(serialize_with = "rows::micros")]
    pub occurred_at: DateTime<Utc>,
    pub termination_scheduled: bool,
    #[serde(serialize_with = "rows::micros_opt")]
    pub activated_occurred_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rows::micros_opt")]
    pub terminated_occurred_at: Option<DateTime<Utc>>,
}

/// Write the employees' new states (rows locked by [`lock_many`]). `terminated_at` is the
/// first time the employee was seen terminated since they were last active.
pub async fn save_many(conn: &mut PgConnection, saves: &[Save<'_>]) -> Result<(), sqlx::Error> {
    if saves.is_empty() {
        return Ok(());
    }
    // An upsert rather than `UPDATE … FROM`: each row goes straight to its primary key,
    // where a join against the function's rows may be planned as a scan of the table.
    sqlx::query(
        "INSERT INTO employees (source, employee_id, status, last_occurred_at, terminated_at, \
             termination_scheduled, activated_occurred_at, terminated_occurred_at) \
         SELECT source, employee_id, status, occurred_at, \
             CASE WHEN status = 'terminated' THEN now() END, termination_scheduled, \
             activated_occurred_at, terminated_occurred_at \
         FROM jsonb_to_recordset($1) AS r(source text, employee_id text, status text, \
             occurred_at timestamptz, termination_scheduled boolean, \
             activated_occurred_at timestamptz, terminated_occurred_at timestamptz) \
         ON CONFLICT (source, employee_id) DO UPDATE SET status = EXCLUDED.status, \
         last_occurred_at = EXCLUDED.last_occurred_at, \
         activated_occurred_at = EXCLUDED.activated_occurred_at, \
         terminated_occurred_at = EXCLUDED.terminated_occurred_at, \
         terminated_at = CASE WHEN EXCLUDED.status = 'terminated' \
             THEN COALESCE(employees.terminated_at, now()) END, \
         termination_scheduled = EXCLUDED.termination_scheduled, updated_at = now()",
    )
    .bind(sqlx::types::Json(saves))
    .execute(conn)
    .await?;
    Ok(())
}

/// Directory target: an account to create or reactivate with the latest attributes.
#[derive(Debug, Clone, Serialize)]
pub struct Activation<'a> {
    pub source: &'a str,
    pub employee_id: &'a str,
    pub email: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub department: Option<&'a str>,
    pub title: Option<&'a str>,
    pub manager_id: Option<&'a str>,
    /// The sender's raw `data`.
    pub attributes: &'a serde_json::Value,
    pub role: Option<&'a str>,
    pub groups: &'a [String],
    pub entitlements: &'a serde_json::Map<String, serde_json::Value>,
}

impl<'a> Activation<'a> {
    pub fn new(
        source: &'a str,
        employee_id: &'a str,
        attributes: &'a Attributes,
        decision: &'a Access,
    ) -> Self {
        Activation {
            source,
            employee_id,
            email: attributes.email.as_deref(),
            given_name: attributes.given_name.as_deref(),
            family_name: attributes.family_name.as_deref(),
            display_name: attributes.display_name.as_deref(),
            department: attributes.department.as_deref(),
            title: attributes.title.as_deref(),
            manager_id: attributes.manager_id.as_deref(),
            attributes: &attributes.data,
            role: decision.role.as_deref(),
            groups: &decision.groups,
            entitlements: &decision.entitlements,
        }
    }
}

/// The attribute columns every account write copies, in the records' order.
const ATTRIBUTES: &str =
    "email, given_name, family_name, display_name, department, title, manager_id";
/// An [`Activation`] record's columns, as `jsonb_to_recordset` types them.
const RECORD: &str = "source text, employee_id text, email text, given_name text, \
    family_name text, display_name text, department text, title text, manager_id text, \
    attributes jsonb";
/// On conflict, the account takes the latest attributes.
const LATEST: &str = "email = EXCLUDED.email, given_name = EXCLUDED.given_name, \
    family_name = EXCLUDED.family_name, display_name = EXCLUDED.display_name, \
    department = EXCLUDED.department, title = EXCLUDED.title, \
    manager_id = EXCLUDED.manager_id, attributes = EXCLUDED.attributes";

static ACTIVATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO accounts (target, source, employee_id, status, {ATTRIBUTES}, attributes, \
         activated_at, role, groups, entitlements) \
         SELECT $1, source, employee_id, 'active', {ATTRIBUTES}, COALESCE(attributes, 'null'), \
             now(), role, COALESCE(groups, '{{}}'), COALESCE(entitlements, '{{}}') \
         FROM jsonb_to_recordset($2) AS r({RECORD}, role text, groups text[], entitlements jsonb) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET status = 'active', {LATEST}, \
         role = EXCLUDED.role, groups = EXCLUDED.groups, entitlements = EXCLUDED.entitlements, \
         activated_at = CASE WHEN accounts.status = 'active' THEN accounts.activated_at \
             ELSE now() END, \
         deactivated_at = NULL, updated_at = now()"
    )
});

static UPDATE_DEACTIVATED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO accounts (target, source, employee_id, status, {ATTRIBUTES}, attributes, \
         deactivated_at) \
         SELECT $1, source, employee_id, 'deactivated', {ATTRIBUTES}, \
             COALESCE(attributes, 'null'), clock_timestamp() \
         FROM jsonb_to_recordset($2) AS r({RECORD}) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET {LATEST}, \
         updated_at = clock_timestamp()"
    )
});

static PREHIRE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO accounts (target, source, employee_id, status, {ATTRIBUTES}, attributes) \
         SELECT $1, source, employee_id, 'pending', {ATTRIBUTES}, COALESCE(attributes, 'null') \
         FROM jsonb_to_recordset($2) AS r({RECORD}) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET status = 'pending', {LATEST}, \
         role = NULL, groups = '{{}}', entitlements = '{{}}', \
         deactivated_at = CASE WHEN accounts.status = 'active' THEN clock_timestamp() \
             ELSE accounts.deactivated_at END, \
         updated_at = clock_timestamp()"
    )
});

/// Directory target: create or reactivate these accounts; an employee must not repeat.
pub async fn activate_accounts(
    conn: &mut PgConnection,
    target: &str,
    accounts: &[Activation<'_>],
) -> Result<(), sqlx::Error> {
    write_accounts(conn, &ACTIVATE, target, accounts).await
}

/// Directory target: a leaver's account takes the latest attributes and stays deactivated
/// (role, groups and entitlements stay cleared). An employee must not repeat.
pub async fn update_deactivated(
    conn: &mut PgConnection,
    target: &str,
    accounts: &[Activation<'_>],
) -> Result<(), sqlx::Error> {
    write_accounts(conn, &UPDATE_DEACTIVATED, target, accounts).await
}

/// Directory target: a pre-hire's account, created or updated with the latest attributes
/// but `pending`: no role, groups or entitlements until the start date. An employee must
/// not repeat.
pub async fn prehire_accounts(
    conn: &mut PgConnection,
    target: &str,
    accounts: &[Activation<'_>],
) -> Result<(), sqlx::Error> {
    write_accounts(conn, &PREHIRE, target, accounts).await
}

/// One statement for every account of a batch: the records travel as one JSON array.
async fn write_accounts(
    conn: &mut PgConnection,
    sql: &str,
    target: &str,
    accounts: &[Activation<'_>],
) -> Result<(), sqlx::Error> {
    if accounts.is_empty() {
        return Ok(());
    }
    sqlx::query(sql)
        .bind(target)
        .bind(sqlx::types::Json(accounts))
        .execute(conn)
        .await?;
    Ok(())
}

/// Directory target: deactivate (creating the row if the hire was never seen), clearing
/// entitlements. Deactivating twice keeps the first `deactivated_at`. `keys` must not repeat.
pub async fn deactivate_accounts(
    conn: &mut PgConnection,
    target: &str,
    keys: &[Key<'_>],
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO accounts (target, source, employee_id, status, deactivated_at) \
         SELECT $1, source, employee_id, 'deactivated', clock_timestamp() \
         FROM jsonb_to_recordset($2) AS r(source text, employee_id text) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET status = 'deactivated', \
         entitlements = '{}', groups = '{}', role = NULL, \
         deactivated_at = COALESCE(accounts.deactivated_at, clock_timestamp()), \
         updated_at = clock_timestamp()",
    )
    .bind(target)
    .bind(sqlx::types::Json(keys))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TargetView {
    pub target: String,
    pub status: String,
    pub updated_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub role: Option<String>,
    pub groups: Option<Vec<String>>,
    #[schema(value_type = Option<serde_json::Value>)]
    pub entitlements: Option<sqlx::types::JsonValue>,
    pub email: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
}

/// The employees of `source` whose directory account is active or pending and whose sender record
/// names `directory_id` (WorkOS directory users carry `directory_id`).
pub async fn active_in_directory(
    pool: &sqlx::PgPool,
    source: &str,
    directory_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT employee_id FROM accounts WHERE source = $1 AND status <> 'deactivated' \
         AND attributes->>'directory_id' = $2 ORDER BY employee_id",
    )
    .bind(source)
    .bind(directory_id)
    .fetch_all(pool)
    .await
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
