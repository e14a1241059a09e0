//! The last subscription handshake token each source received (see `webhook::handshake`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// Keep `token` as the source's latest handshake (one row per source).
pub async fn record(
    pool: &PgPool,
    source: &str,
    kind: &str,
    token: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO source_handshakes (source, kind, token) VALUES ($1, $2, $3) \
         ON CONFLICT (source) DO UPDATE SET kind = EXCLUDED.kind, token = EXCLUDED.token, \
         received_at = now()",
    )
    .bind(source)
    .bind(kind)
    .bind(token)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HandshakeView {
    pub source: String,
    pub token: String,
    pub received_at: DateTime<Utc>,
}

pub async fn all(pool: &PgPool) -> Result<Vec<HandshakeView>, sqlx::Error> {
    sqlx::query_as("SELECT source, token, received_at FROM source_handshakes ORDER BY source")
        .fetch_all(pool)
        .await
}
