//! Finding employees by what an operator knows of them (the console's search).

use serde::Serialize;
use sqlx::PgPool;

/// One employee whose directory account carries the email searched for.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Match {
    pub source: String,
    pub employee_id: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub status: String,
}

/// Employees whose account's email is `email` (case-insensitive), at most `limit`.
pub async fn by_email(pool: &PgPool, email: &str, limit: i64) -> Result<Vec<Match>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (a.source, a.employee_id) a.source, a.employee_id, a.email, \
         a.display_name, COALESCE(e.status, a.status) AS status FROM accounts a \
         LEFT JOIN employees e ON e.source = a.source AND e.employee_id = a.employee_id \
         WHERE lower(a.email) = lower($1) ORDER BY a.source, a.employee_id LIMIT $2",
    )
    .bind(email.trim())
    .bind(limit)
    .fetch_all(pool)
    .await
}
