//! Scheduled reconciliation: each source with `reconcile_every` is reconciled when its last
//! run (manual or scheduled, not a dry run) is that old. A session advisory lock per source
//! keeps two worker processes from running the same source at once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::Reconciler;
use crate::config::Config;
use crate::enrich::Enricher;
use crate::provision::rules::Rules;
use crate::queue::Publisher;
use crate::store::reconcile as store;

/// How often the schedule is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(30);

pub async fn run(
    pool: PgPool,
    publisher: Publisher,
    config: Arc<Config>,
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
        tick(&pool, &publisher, &config).await;
    }
}

/// Run every source whose schedule is due (a failure is logged, the others still run);
/// the runs made.
pub async fn tick(pool: &PgPool, publisher: &Publisher, config: &Config) -> Vec<super::RunReport> {
    let mut runs = Vec::new();
    for source in config
        .sources
        .iter()
        .filter(|s| s.reconcile_every.is_some())
    {
        match due(pool, publisher, config, source).await {
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
    config: &Config,
    source: &crate::config::SourceConfig,
) -> anyhow::Result<Option<super::RunReport>> {
    let (Some(every), Some(api)) = (source.reconcile_every, &source.api) else {
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
    let result = run_with(
        pool,
        publisher,
        config,
        source,
        api,
        "scheduled",
        &mut |_| {},
    )
    .await;
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
    config: &Config,
    source: &crate::config::SourceConfig,
    api: &crate::config::ApiConfig,
    trigger: &str,
    each: &mut (dyn FnMut(&super::Difference) + Send),
) -> anyhow::Result<super::RunReport> {
    source.check_reconcile().map_err(anyhow::Error::msg)?;
    let enricher = Enricher::new(source.kind, api)
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("`{}` has no API client", source.kind))?;
    let rules = Rules::new(&config.rules, config.default.as_ref());
    let directory = config.directory_target();
    let reconciler = Reconciler {
        pool,
        publisher,
        source: &source.name,
        kind: source.kind,
        enricher: &enricher,
        api,
        rules: &rules,
        directory: &directory,
        trigger,
    };
    reconciler.run(each).await
}
