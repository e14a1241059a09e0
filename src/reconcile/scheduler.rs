//! Scheduled reconciliation: each source with `reconcile_every` is reconciled when its last
//! run (manual or scheduled, not a dry run) is that old. A session advisory lock per source
//! keeps two worker processes from running the same source at once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::Reconciler;
use crate::config::{Config, SourceConfig};
use crate::provision::runtime::Runtime;
use crate::queue::Publisher;
use crate::store::reconcile as store;

/// How often the schedule is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(30);

pub async fn run(
    pool: PgPool,
    publisher: Publisher,
    config: Arc<Config>,
    runtime: Arc<Runtime>,
    shutdown: CancellationToken,
) {
    if config.sources.iter().all(|s| s.reconcile_every.is_none()) {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
        tick(&pool, &publisher, &config, &runtime).await;
    }
}

/// Run every source whose schedule is due (a failure is logged, the others still run);
/// the runs made.
pub async fn tick(
    pool: &PgPool,
    publisher: &Publisher,
    config: &Config,
    runtime: &Runtime,
) -> Vec<super::RunReport> {
    let mut runs = Vec::new();
    for source in config
        .sources
        .iter()
        .filter(|s| s.reconcile_every.is_some())
    {
        match due(pool, publisher, runtime, source).await {
            Ok(run) => runs.extend(run),
            Err(error) => {
                let error = format!("{error:#}");
                tracing::warn!(source = %source.name, %error, "scheduled reconcile failed");
            }
        }
    }
    runs
}

async fn due(
    pool: &PgPool,
    publisher: &Publisher,
    runtime: &Runtime,
    source: &SourceConfig,
) -> anyhow::Result<Option<super::RunReport>> {
    let Some(every) = source.reconcile_every else {
        return Ok(None);
    };
    let last = store::last_started(pool, &source.name).await?;
    let every = chrono::Duration::from_std(every)?;
    if last.is_some_and(|last| chrono::Utc::now() - last < every) {
        return Ok(None);
    }
    let mut lock = pool.acquire().await?;
    let key = format!("reconcile:{}", source.name);
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(&key)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(None);
    }
    let publisher = Some(publisher);
    let result = run_with(pool, publisher, runtime, source, "scheduled", &mut |_| {}).await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(&key)
        .execute(&mut *lock)
        .await?;
    result.map(Some)
}

/// One run, handing each difference to `each`.
pub async fn run_with(
    pool: &PgPool,
    publisher: Option<&Publisher>,
    runtime: &Runtime,
    source: &SourceConfig,
    trigger: &str,
    each: &mut (dyn FnMut(&super::Difference) + Send),
) -> anyhow::Result<super::RunReport> {
    source.check_reconcile().map_err(anyhow::Error::msg)?;
    let (Some(api), Some(enricher)) = (&source.api, runtime.enrichers.get(&source.name)) else {
        anyhow::bail!("`{}` has no API client", source.kind);
    };
    let reconciler = Reconciler {
        pool,
        publisher,
        source: &source.name,
        kind: source.kind,
        enricher,
        api,
        rules: &runtime.rules,
        directory: &runtime.directory,
        trigger,
    };
    reconciler.run(each).await
}
