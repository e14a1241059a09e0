//! Building and running the service. Tests call the same `Application` on port 0.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SourceConfig};
use crate::domain::clock::SharedClock;
use crate::http::serve::{serve, ConnectionLimits};
use crate::http::{self, AppState};
use crate::provision::runtime::{self, Runtime};
use crate::queue::{Endpoints, MessageKey, Publisher, Topology};
use crate::store;
use crate::worker::schedule::SchedulePolicy;
use crate::worker::{self, Processor, WorkerPool, WorkerSettings};

/// Which halves of provisiond this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    All,
    Receiver,
    Worker,
}

impl Role {
    fn receives(self) -> bool {
        matches!(self, Role::All | Role::Receiver)
    }

    fn works(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }
}

/// Connections open at once on the ops listener (`server.ops_listen`): probes and scrapers.
const OPS_MAX_CONNECTIONS: usize = 64;

pub struct Application {
    config: Config,
    role: Role,
    listener: TcpListener,
    /// `server.ops_listen`, bound when configured.
    ops_listener: Option<TcpListener>,
    pool: sqlx::PgPool,
    clock: SharedClock,
    hook: Option<worker::handler::ProcessingHook>,
    fault: Option<worker::handler::FaultHook>,
}

impl Application {
    /// Bind `server.listen` (and `server.ops_listen`), create and migrate the database.
    pub async fn build(config: Config, role: Role) -> anyhow::Result<Application> {
        let address = config.server.listen;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} (server.listen)"))?;
        Self::with_listener(config, role, listener).await
    }

    /// As [`Application::build`] on an already bound main listener (tests bind port 0).
    pub async fn with_listener(
        config: Config,
        role: Role,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        // Every role publishes or consumes signed messages: no key, no start.
        config.message_key()?;
        let ops_listener = match config.server.ops_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address} (server.ops_listen)"))?,
            ),
            None => None,
        };
        let pool = if config.database.migrate {
            // Its error names host, port, database and user, and why.
            let pool = store::connect(&config.database).await?;
            store::migrate(&pool)
                .await
                .context("cannot apply database migrations")?;
            pool
        } else {
            // Starts anyway (and reports unready) while the database is down, but says so.
            if let Err(error) = store::check(&config.database).await {
                tracing::warn!("{error}; starting anyway, /readyz answers 503 until it answers");
            }
            store::pool(&config.database).context("invalid database.url")?
        };
        warn_about(&config, role);
        Ok(Application {
            config,
            role,
            listener,
            ops_listener,
            pool,
            clock: crate::domain::clock::system(),
            hook: None,
            fault: None,
        })
    }

    /// Run `hook` before processing each message (fault injection in tests).
    pub fn with_processing_hook(mut self, hook: worker::handler::ProcessingHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Run `fault` at named points of settling a message (fault injection in tests).
    pub fn with_fault_hook(mut self, fault: worker::handler::FaultHook) -> Self {
        self.fault = Some(fault);
        self
    }

    /// Use another clock (tests drive scheduled terminations with a manual one).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The ops listener's port, when `server.ops_listen` is set.
    pub fn ops_port(&self) -> Option<u16> {
        let listener = self.ops_listener.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// Serve until `shutdown` resolves, then stop accepting, finish in-flight requests and
    /// messages, and close the broker connections.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let config = &self.config;
        let topology = Topology::for_config(config);
        let endpoints = Endpoints::new(config.rabbitmq.broker_urls());
        let stopping = CancellationToken::new();
        // The publisher outlives the HTTP server so in-flight requests can still publish.
        let publisher_stop = CancellationToken::new();
        let mut tasks = Vec::new();
        // Every role publishes: receivers their webhooks, workers their retries, the admin
        // API its replays.
        let message_key = MessageKey::for_config(config)?;
        let (publisher, task) = Publisher::start(
            endpoints.fresh(),
            topology.clone(),
            config.rabbitmq.confirm_timeout,
            message_key.clone(),
            publisher_stop.clone(),
        );
        tasks.push(task);
        // Every role seals the audit log's new rows and refreshes the SLA gauge.
        let seal_every = Duration::from_secs(5);
        let sealer = crate::services::audit::sealer::run(
            self.pool.clone(),
            seal_every,
            publisher_stop.clone(),
        );
        tasks.push(tokio::spawn(sealer));
        // The queues' depth, sampled each minute for the console's 24-hour chart.
        let sampler = crate::queue::sample_depths(
            publisher.clone(),
            Duration::from_secs(60),
            publisher_stop.clone(),
        );
        tasks.push(tokio::spawn(sampler));
        let sla = config.audit.deprovision_sla;
        let gauges = crate::services::audit::metrics::run_gauges(
            self.pool.clone(),
            sla,
            Duration::from_secs(30),
            stopping.clone(),
        );
        tasks.push(tokio::spawn(gauges));
        let workers = if self.role.works() {
            let settings = WorkerSettings {
                endpoints: endpoints.fresh(),
                topology: topology.clone(),
                prefetch: config.rabbitmq.prefetch,
                concurrency: config.worker.concurrency,
                batch_size: config.worker.batch_size,
                drain_timeout: config.server.shutdown_timeout,
                stall_timeout: config.worker.stall_timeout,
            };
            let scheduler = worker::scheduler::run(
                self.pool.clone(),
                publisher.clone(),
                self.clock.clone(),
                config.worker.scheduler_interval,
                stopping.clone(),
            );
            tasks.push(tokio::spawn(scheduler));
            let runtime = Runtime::build(config)?;
            let reconciles = crate::reconcile::scheduler::run(
                self.pool.clone(),
                publisher.clone(),
                Arc::new(config.clone()),
                Arc::new(runtime.clone()),
                stopping.clone(),
            );
            tasks.push(tokio::spawn(reconciles));
            let context = worker::Context {
                hook: self.hook.clone(),
                fault: self.fault.clone(),
                processor: processor(config, &runtime, &self.pool, &self.clock)?
                    .with_publisher(publisher.clone()),
                pool: self.pool.clone(),
                publisher: publisher.clone(),
                topology: topology.clone(),
                message_key: message_key.clone(),
                max_attempts: config.worker.max_attempts,
                quick_retries: config.worker.quick_retries,
                termination_retry_for: config.worker.termination_retry_for,
            };
            let (workers, task) = WorkerPool::start(settings, context, stopping.clone());
            tasks.push(task);
            Some(workers)
        } else {
            None
        };
        let state = AppState {
            sources: Arc::new(sources(config)),
            receives: self.role.receives(),
            publisher: Some(publisher),
            workers,
            pool: self.pool.clone(),
            admin_tokens: Arc::new(crate::http::auth::AdminTokens::from_config(config)),
            max_body_bytes: config.server.max_body_bytes,
            body_budget: crate::http::budget::BodyBudget::new(config.server.max_inflight_bytes),
            retry_after_secs: config.rabbitmq.retry_after_secs,
            metrics: crate::telemetry::metrics_handle(),
        };
        let settings = crate::admin::audit::AuditSettings::from_config(&config.audit);
        let metrics_on_main = self.ops_listener.is_none();
        let app = http::router(
            routes(state.clone(), config),
            state.clone(),
            config.server.request_timeout,
            metrics_on_main,
        )
        .layer(axum::Extension(settings));
        let signal = stopping.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: no new requests or messages");
            signal.cancel();
        });
        tracing::info!(address = %self.listener.local_addr()?, role = ?self.role, "provisiond listening");
        let limits = ConnectionLimits {
            max_connections: config.server.max_connections,
            header_timeout: config.server.header_timeout,
            drain_timeout: config.server.shutdown_timeout,
        };
        let main = serve("main", self.listener, app, limits, stopping.clone());
        let ops = async {
            let Some(listener) = self.ops_listener else {
                return;
            };
            if let Ok(address) = listener.local_addr() {
                tracing::info!(%address, "ops listener: /healthz, /readyz, /metrics");
            }
            let limits = ConnectionLimits {
                max_connections: OPS_MAX_CONNECTIONS,
                ..limits
            };
            let app = http::ops_router(state);
            serve("ops", listener, app, limits, stopping.clone()).await;
        };
        futures::future::join(main, ops).await;
        publisher_stop.cancel();
        let grace = config.server.shutdown_timeout + Duration::from_secs(5);
        let joined = tokio::time::timeout(grace, futures::future::join_all(tasks)).await;
        if joined.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
        self.pool.close().await;
        tracing::info!("provisiond stopped");
        Ok(())
    }
}

/// Start-up warnings: a configuration that runs but cannot do its job.
fn warn_about(config: &Config, role: Role) {
    if role.receives() && config.sources.is_empty() {
        tracing::warn!(
            "no [[sources]] configured: every webhook will answer 404 unknown_source; \
             add a [[sources]] section (name, kind, secrets) to the configuration"
        );
    }
    if role.receives() {
        for source in config.sources.iter().filter(|s| s.secrets.is_empty()) {
            tracing::warn!(
                source = %source.name,
                "source has no secrets: every webhook to it will answer 401 until one is \
                 added (only a sender's handshake is answered)"
            );
        }
    }
}

fn processor(
    config: &Config,
    runtime: &Runtime,
    pool: &sqlx::PgPool,
    clock: &SharedClock,
) -> anyhow::Result<Processor> {
    let targets = runtime::targets(config)?;
    let policy = SchedulePolicy {
        clock: clock.clone(),
        termination_time: config.audit.termination_time,
        time_zone: config.audit.time_zone,
    };
    let tolerances = config
        .sources
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.tolerance?)))
        .collect();
    let Runtime {
        rules,
        enrichers,
        directory,
    } = runtime.clone();
    let processor = Processor::with_targets(pool.clone(), directory, targets, rules, policy);
    Ok(processor
        .with_clock_tolerances(tolerances)
        .with_enrichers(enrichers)
        .with_guard(config.guard.clone()))
}

/// The routes behind the main listener: webhooks in, the admin API, the console.
fn routes(state: AppState, config: &Config) -> axum::Router<AppState> {
    let console = crate::console::Settings {
        deprovision_sla: config.audit.deprovision_sla,
        audit: config.audit.clone(),
    };
    axum::Router::new()
        .route(
            "/webhooks/{source}",
            axum::routing::post(crate::webhook::handler::receive),
        )
        .route(
            "/openapi.json",
            axum::routing::get(crate::openapi::document_handler),
        )
        .nest("/admin", crate::admin::router(state.clone()))
        .nest("/console", crate::console::router(state, console))
}

fn sources(config: &Config) -> HashMap<String, SourceConfig> {
    let named = config.sources.iter().map(|s| (s.name.clone(), s.clone()));
    named.collect()
}
