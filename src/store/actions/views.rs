//! The actions of one employee as `employee show` reports them.

use sqlx::PgConnection;

/// An action as `employee show` reports it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ActionView {
    pub event_id: String,
    pub target: String,
    pub action: String,
    pub status: String,
    pub attempts: i32,
    pub error: Option<String>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn for_employee(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Vec<ActionView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, target, action, status, attempts, error, started_at, finished_at \
         FROM provisioning_actions WHERE source = $1 AND employee_id = $2 ORDER BY id",
    )
    .bind(source)
    .bind(employee_id)
    .fetch_all(conn)
    .await
}
