//! The background task that chains new audit-log rows (see `store::audit_log`).

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::audit_log;

/// Seal pending rows every `interval` until `shutdown`, and once more on the way out so
/// that rows written during shutdown are chained too.
pub async fn run(pool: PgPool, interval: Duration, shutdown: CancellationToken) {
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(interval) => false,
        };
        match audit_log::seal_pending(&pool).await {
            Ok(0) => {}
            Ok(sealed) => tracing::debug!(sealed, "audit log rows sealed"),
            Err(error) => tracing::warn!(%error, "cannot seal audit log rows; will retry"),
        }
        if stopping {
            return;
        }
    }
}
