//! Directories deleted at the sender (WorkOS `dsync.deleted`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

pub struct Deleted<'a> {
    pub source: &'a str,
    pub directory_id: &'a str,
    pub event_id: &'a str,
    pub occurred_at: DateTime<Utc>,
}

/// Remember a deleted directory (the first deletion is kept).
pub async fn record_deleted(
    conn: &mut PgConnection,
    deleted: &Deleted<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deleted_directories (source, directory_id, event_id, occurred_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(deleted.source)
    .bind(deleted.directory_id)
    .bind(deleted.event_id)
    .bind(deleted.occurred_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which of these `(source, directory_id)` pairs are deleted directories.
pub async fn deleted_among(
    conn: &mut PgConnection,
    keys: &[(&str, &str)],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let (sources, directories): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.source, d.directory_id FROM deleted_directories d \
         JOIN UNNEST($1::text[], $2::text[]) AS k(source, directory_id) \
              ON d.source = k.source AND d.directory_id = k.directory_id",
    )
    .bind(&sources)
    .bind(&directories)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}
