//! `provisiond bench`: provisiond measured against the limits of its own machine, in one
//! run, as ratios.
//!
//! Against the configured RabbitMQ and PostgreSQL, in a database and a queue prefix of its
//! own (both removed at the end), the bench measures three ceilings (raw confirmed
//! publishes, a do-nothing HTTP 202 endpoint, raw PostgreSQL transactions of the worker's
//! shape), then runs provisiond as separate processes (this executable with `serve`):
//! a receiver for ingest, a worker draining the backlog the receiver queued, and a
//! `--role all` process for deprovision latency under open-loop terminations. Peak RSS is
//! read from each process's `/proc/<pid>/status`.

mod ceilings;
mod child;
mod cpu;
mod isolation;
mod load;
mod payload;
mod report;
mod scenarios;
mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::{Config, ENV_PREFIX};
pub use report::Report;

/// `provisiond.example.toml`, built in: the bench's configuration when none is given.
pub const EXAMPLE_CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/provisiond.example.toml"
));

/// Where the bench's configuration came from; the provisiond processes read the same.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    /// The built-in copy of `provisiond.example.toml`.
    Example,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent requests (ingest, HTTP ceiling) and publishing tasks (publish ceiling).
    pub concurrency: usize,
    /// Length of each measuring window (ceilings and ingest).
    pub duration: Duration,
    /// Unmeasured run-in before each window (connections, caches).
    pub warmup: Duration,
    pub quick: bool,
    /// Termination arrival rates for the deprovision latency test, per second.
    pub rates: Vec<u32>,
    /// How long terminations arrive at each rate.
    pub deprovision_duration: Duration,
    /// Longest wait for the worker to drain the ingest backlog.
    pub processing_deadline: Duration,
    /// The provisiond executable to run (default: this one).
    pub exe: Option<PathBuf>,
    /// `serve --role receiver` processes of the ingest phase (at least 1).
    pub receivers: usize,
    /// `serve --role worker` processes of the processing phase (at least 1).
    pub workers: usize,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        if quick {
            Options {
                concurrency: 64,
                duration: Duration::from_secs(2),
                warmup: Duration::from_millis(500),
                quick,
                rates: vec![200],
                deprovision_duration: Duration::from_secs(3),
                processing_deadline: Duration::from_secs(20),
                exe: None,
                receivers: 1,
                workers: 1,
            }
        } else {
            Options {
                concurrency: 64,
                duration: Duration::from_secs(15),
                warmup: Duration::from_secs(1),
                quick,
                rates: vec![200, 1000],
                deprovision_duration: Duration::from_secs(10),
                processing_deadline: Duration::from_secs(180),
                exe: None,
                receivers: 1,
                workers: 1,
            }
        }
    }
}

/// The file's configuration, else the example's defaults; `PROVISIOND__…` variables
/// overlay either, as for every command.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<(Config, ConfigSource)> {
    if let Some(path) = path {
        let config = Config::load(Some(path))?;
        let absolute = std::fs::canonicalize(path)
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        return Ok((config, ConfigSource::File(absolute)));
    }
    let figment =
        Figment::from(Toml::string(EXAMPLE_CONFIG)).merge(Env::prefixed(ENV_PREFIX).split("__"));
    Ok((Config::from_figment(figment)?, ConfigSource::Example))
}

fn progress(step: &str) {
    eprintln!("bench: {step}");
}

/// Run everything and return the report; the bench's database and queues are removed
/// whether it succeeds or not.
pub async fn run(
    config: &Config,
    source: ConfigSource,
    options: &Options,
) -> anyhow::Result<Report> {
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(!options.duration.is_zero(), "--duration must be positive");
    anyhow::ensure!(options.receivers > 0, "--receivers must be at least 1");
    anyhow::ensure!(options.workers > 0, "--workers must be at least 1");
    anyhow::ensure!(
        options.concurrency >= options.receivers,
        "--concurrency ({}) must be at least --receivers ({}): each receiver needs a connection",
        options.concurrency,
        options.receivers
    );
    let iso = isolation::Isolation::new(config)?;
    let dir = std::env::temp_dir().join(format!("provisiond-bench-{}", iso.id));
    std::fs::create_dir_all(&dir)?;
    let config_file = match &source {
        ConfigSource::File(path) => path.clone(),
        ConfigSource::Example => {
            let path = dir.join("provisiond.toml");
            std::fs::write(&path, EXAMPLE_CONFIG)?;
            path
        }
    };
    let exe = match &options.exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe().context("cannot find the provisiond executable")?,
    };
    let launch = child::Launch {
        exe,
        config_file,
        overrides: vec![
            ("PROVISIOND__DATABASE__URL".into(), iso.database_url.clone()),
            ("PROVISIOND__RABBITMQ__PREFIX".into(), iso.prefix.clone()),
            // The benchmark terminates thousands of employees of one source on purpose:
            // the mass-change guard would hold all but the first of them.
            ("PROVISIOND__GUARD__ENABLED".into(), "false".into()),
        ],
        log_dir: dir.clone(),
    };
    progress(&format!(
        "database {}, queue prefix {}",
        iso.database, iso.prefix
    ));
    iso.create_database().await?;
    // Ctrl-C stops the run (the provisiond processes are killed when dropped) but still
    // removes the database and the queues.
    let result = tokio::select! {
        result = phases(config, &iso, &launch, options) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    progress("cleaning up");
    for problem in iso.cleanup().await {
        eprintln!("bench: warning: {problem}");
    }
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("bench: provisiond logs kept in {}", dir.display());
    }
    result
}

async fn phases(
    config: &Config,
    iso: &isolation::Isolation,
    launch: &child::Launch,
    options: &Options,
) -> anyhow::Result<Report> {
    let db = bench_pool(&iso.database_url).await?;
    crate::store::migrate(&db)
        .await
        .context("cannot migrate the bench database")?;
    let senders = Arc::new(payload::Senders::from_config(config, &iso.id)?);
    let http = reqwest::Client::new();
    let (n, warmup, duration) = (options.concurrency, options.warmup, options.duration);

    progress("ceiling (a): raw publish + confirm to a quorum queue");
    let publish = ceilings::publish_confirm(
        &iso.amqp_url,
        &iso.ceiling_queue,
        senders.clone(),
        n,
        warmup,
        duration,
    )
    .await
    .context("publish ceiling")?;
    progress("ceiling (b): HTTP endpoint that answers 202");
    let (http_ceiling, _) = ceilings::http_202(senders.clone(), n, warmup, duration)
        .await
        .context("HTTP ceiling")?;
    let connections = config.database.max_connections;
    progress(&format!(
        "ceiling (c): raw database transactions on {connections} connections"
    ));
    let db_ceiling = ceilings::db_transactions(
        &iso.database_url,
        connections,
        senders.clone(),
        warmup,
        duration,
    )
    .await
    .context("database ceiling")?;

    let (receivers, workers) = (options.receivers, options.workers);
    progress(&format!(
        "provisiond ingest ({receivers} × serve --role receiver)"
    ));
    let window = (warmup, duration);
    let (ingest, rss_receiver) =
        scenarios::ingest(launch, &http, senders.clone(), receivers, n, window).await?;
    progress(&format!(
        "provisiond processing ({workers} × serve --role worker) of {} events",
        ingest.accepted_total
    ));
    let (processing, rss_worker) = scenarios::processing(
        launch,
        &db,
        ingest.accepted_total,
        options.processing_deadline,
        workers,
    )
    .await?;
    // Small tables for the latency test (its queries must not load the database).
    sqlx::query("TRUNCATE inbox, employees, accounts, events CASCADE")
        .execute(&db)
        .await?;
    progress(&format!(
        "deprovision latency (serve --role all) at {:?} per second",
        options.rates
    ));
    let directory = config.directory_target();
    let plan = scenarios::DeprovisionPlan {
        directory: &directory,
        concurrency: n,
        rates: &options.rates,
        per_rate: options.deprovision_duration,
    };
    let (deprovisions, rss_all) =
        scenarios::deprovision(launch, &http, &db, senders.clone(), &plan).await?;
    db.close().await;

    let ratios = report::Ratios {
        ingest_vs_publish_ceiling: stats::ratio(ingest.per_sec(), publish.per_sec),
        ingest_vs_http_ceiling: stats::ratio(ingest.per_sec(), http_ceiling.per_sec),
        processing_vs_db_ceiling: stats::ratio(processing.per_sec, db_ceiling.per_sec),
        ingest_vs_publish_and_http_ceiling: stats::ratio(
            ingest.per_sec(),
            stats::combined(publish.per_sec, http_ceiling.per_sec),
        ),
    };
    let deprovision_latency: BTreeMap<String, report::DeprovisionLatency> = deprovisions
        .iter()
        .map(|d| {
            let latency = report::DeprovisionLatency::new(
                d.latency,
                d.hired,
                d.sent,
                d.accepted,
                d.missing,
                d.slowest.clone(),
            );
            (format!("{}_per_sec", d.rate), latency)
        })
        .collect();
    let by_role = BTreeMap::from([
        ("receiver".to_owned(), rss_receiver),
        ("worker".to_owned(), rss_worker),
        ("all".to_owned(), rss_all),
    ]);
    let rss_peak_bytes = by_role.values().copied().max().unwrap_or(0);
    let ingest_cpu = ingest.cpu_us_per_request();
    let goals = report::Goals::check(&ratios, &deprovision_latency, rss_peak_bytes, ingest_cpu);
    Ok(Report {
        config: report::RunConfig {
            concurrency: n,
            duration: humantime::format_duration(duration).to_string(),
            duration_secs: duration.as_secs_f64(),
            warmup_secs: warmup.as_secs_f64(),
            quick: options.quick,
            deprovision_secs_per_rate: options.deprovision_duration.as_secs_f64(),
            payload_bytes_avg: average_payload(&senders),
            sources: senders.names().into_iter().map(str::to_owned).collect(),
            database_max_connections: connections,
            worker_concurrency: config.worker.concurrency,
            worker_batch_size: config.worker.batch_size,
            rabbitmq_prefetch: config.rabbitmq.prefetch,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            receivers,
            workers,
        },
        ceilings: report::Ceilings {
            publish_confirm_per_sec: publish.per_sec,
            http_202_per_sec: http_ceiling.per_sec,
            db_tx_per_sec: db_ceiling.per_sec,
            publish_confirm_p50_ms: publish.latency.p50_ms,
            publish_confirm_p99_ms: publish.latency.p99_ms,
            http_202_p50_ms: http_ceiling.latency.p50_ms,
            http_202_p99_ms: http_ceiling.latency.p99_ms,
            db_tx_p50_ms: db_ceiling.latency.p50_ms,
            db_tx_p99_ms: db_ceiling.latency.p99_ms,
            publish_confirm_cpu_us_per_publish: publish.cpu_us_per_op,
            http_202_cpu_us_per_request: http_ceiling.cpu_us_per_op,
        },
        ingest: report::Ingest {
            accepted_per_sec: ingest.per_sec(),
            p50_ms: ingest.latency.p50_ms,
            p99_ms: ingest.latency.p99_ms,
            requests: ingest.accepted,
            errors: ingest.errors,
            accepted_total: ingest.accepted_total,
            accepted_per_sec_per_receiver: stats::round(ingest.per_sec() / receivers as f64),
            accepted_per_sec_by_receiver: ingest.per_sec_by_server(),
            cpu_us_per_request: ingest_cpu,
        },
        processing: report::Processing {
            applied_per_sec: processing.per_sec,
            backlog: ingest.accepted_total,
            events: processing.events,
            applied: processing.applied,
            span_secs: stats::round(processing.span.as_secs_f64()),
            complete: !processing.incomplete,
            applied_per_sec_per_worker: stats::round(processing.per_sec / workers as f64),
            cpu_us_per_event: processing.cpu_us_per_event,
        },
        deprovision_latency,
        rss_peak_bytes,
        rss_peak_bytes_by_role: by_role,
        ratios,
        goals,
    })
}

async fn bench_pool(url: &str) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .context("cannot connect to the bench database")?;
    Ok(pool)
}

fn average_payload(senders: &payload::Senders) -> usize {
    let samples: Vec<usize> = (0..8)
        .flat_map(|seq| {
            let employee = senders.employee("size", seq);
            [
                senders.hire(&employee, seq).body.len(),
                senders.terminate(&employee, seq).body.len(),
            ]
        })
        .collect();
    samples.iter().sum::<usize>() / samples.len().max(1)
}
