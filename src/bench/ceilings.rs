//! The machine's own limits, measured in the same run with the same concurrency and
//! payloads as provisiond: (a) raw confirmed publishes to a quorum queue, (b) an HTTP
//! endpoint that only reads the body and answers 202, (c) raw PostgreSQL transactions of
//! the worker's shape (inbox insert + account upsert).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::Confirmation;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use tokio::time::Instant;

use super::cpu;
use super::load::{ClosedLoop, CpuProbe, LoadClient};
use super::payload::Senders;
use super::stats::{self, Latency};
use crate::domain::message::QueueMessage;
use crate::domain::Secret;
use crate::domain::Trigger;
use crate::queue::MessageKey;

/// A measured ceiling: completed operations per second in the window, and their latency.
#[derive(Debug, Clone, Default)]
pub struct Ceiling {
    pub per_sec: f64,
    pub latency: Latency,
    /// CPU microseconds per operation of what is measured: (a)'s publishing process, (b)'s
    /// HTTP server threads; 0 for (c).
    pub cpu_us_per_op: f64,
}

/// (a) `concurrency` tasks publish ~1 KB persistent, mandatory messages with provisiond's
/// headers on one shared confirm-mode channel, each awaiting its own confirm, into a
/// quorum queue of their own (deleted afterwards). Its CPU per publish is this whole
/// process's over the window (nothing else runs in it then): building and signing each
/// message, lapin's frames and I/O thread, and the kernel's work for them.
pub async fn publish_confirm(
    amqp_url: &str,
    queue: &str,
    senders: Arc<Senders>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Ceiling> {
    let connection = crate::queue::connect(amqp_url, "provisiond-bench-ceiling").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut args = FieldTable::default();
    let quorum = AMQPValue::LongString(LongString::from(b"quorum".to_vec()));
    args.insert("x-queue-type".into(), quorum);
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel.queue_declare(queue.into(), options, args).await?;

    // Signed like the receiver's messages, so the ceiling pays the same per-message work.
    let key = MessageKey::new(&Secret::new("provisiond bench ceiling message key"));
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (from, until) = (start + warmup, start + warmup + duration);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (channel, senders, next) = (channel.clone(), senders.clone(), next.clone());
        let key = key.clone();
        let queue = queue.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                let employee = senders.employee("pub", seq);
                let request = senders.hire(&employee, seq);
                let message = QueueMessage {
                    source: request.source,
                    source_kind: request.kind,
                    event_id: format!("bench-publish-{seq}"),
                    received_at: Utc::now(),
                    published_at: None,
                    attempt: 0,
                    first_failed_at: None,
                    trigger: Trigger::Webhook,
                    body: request.body,
                };
                let options = BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                };
                let sent = Instant::now();
                let properties = message.properties(Utc::now(), &key);
                let pending = channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        options,
                        &message.body,
                        properties,
                    )
                    .await?;
                let confirmation = pending.await?;
                let done = Instant::now();
                if !matches!(confirmation, Confirmation::Ack(None)) {
                    anyhow::bail!("the broker did not ack a publish: {confirmation:?}");
                }
                if done >= from && done <= until {
                    latencies.push((done - sent).as_secs_f64() * 1000.0);
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let window = tokio::spawn(async move {
        tokio::time::sleep_until(from).await;
        let before = cpu::process_ns(std::process::id());
        tokio::time::sleep_until(until).await;
        let after = cpu::process_ns(std::process::id());
        before.zip(after).map(|(b, a)| a.saturating_sub(b))
    });
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let cpu_ns = window.await.ok().flatten().unwrap_or(0);
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "bye".into()).await;
    let count = latencies.len() as u64;
    Ok(Ceiling {
        per_sec: stats::rate(count, duration),
        latency: Latency::from_ms(latencies),
        cpu_us_per_op: cpu::us_per(cpu_ns, count),
    })
}

/// The name of (b)'s server threads; `/proc` shows its first 15 bytes.
const CEILING_THREADS: &str = "bench-http-ceiling";

/// (b) An axum server (on its own two-thread runtime, like a separate process) whose
/// webhook route only reads the body and answers 202, driven by the load client exactly
/// like provisiond's ingest. Its CPU per request is that of the server's threads (all
/// named [`CEILING_THREADS`]) over the window.
pub async fn http_202(
    senders: Arc<Senders>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(Ceiling, ClosedLoop)> {
    let server = CeilingServer::start()?;
    let client = LoadClient::new(server.base.clone(), concurrency)?;
    let make = move |seq| senders.hire(&senders.employee("http", seq), seq);
    let prefix = &CEILING_THREADS[..15];
    let probe: CpuProbe = Arc::new(move || cpu::own_threads_ns(prefix));
    let run = client
        .closed_loop(concurrency, warmup, duration, make, Some(probe))
        .await;
    drop(client);
    server.stop();
    if run.accepted == 0 {
        let error = run.first_error.clone().unwrap_or_default();
        anyhow::bail!("the HTTP ceiling server answered nothing: {error}");
    }
    let ceiling = Ceiling {
        per_sec: run.per_sec(),
        latency: run.latency,
        cpu_us_per_op: run.cpu_us_per_request(),
    };
    Ok((ceiling, run))
}

struct CeilingServer {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CeilingServer {
    fn start() -> anyhow::Result<CeilingServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(CEILING_THREADS)
            .enable_all()
            .build()?;
        // The accept loop runs on this thread (`block_on`): named like the workers so its
        // CPU is counted with theirs.
        let thread = std::thread::Builder::new()
            .name(CEILING_THREADS.into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = axum::Router::new().route("/webhooks/{source}", post(accept));
                    let serve = axum::serve(listener, app);
                    // Stopping drops the server and every connection with it.
                    tokio::select! {
                        _ = serve => {}
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(CeilingServer {
            base,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(body: bytes::Bytes) -> (StatusCode, &'static str) {
    std::hint::black_box(body.len());
    (StatusCode::ACCEPTED, r#"{"status":"accepted"}"#)
}

/// (c) `connections` tasks, each holding its own connection, commit transactions of the
/// worker's shape on scratch copies of `inbox` and `accounts`: an inbox insert `ON
/// CONFLICT DO NOTHING` and an account upsert with ~1 KB of attributes, every one for a
/// new employee.
pub async fn db_transactions(
    database_url: &str,
    connections: u32,
    senders: Arc<Senders>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Ceiling> {
    let options = PgConnectOptions::from_str(database_url)?;
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .connect_with(options)
        .await
        .context("cannot connect to the bench database")?;
    for sql in [
        "CREATE TABLE IF NOT EXISTS bench_inbox (LIKE inbox INCLUDING ALL)",
        "CREATE TABLE IF NOT EXISTS bench_accounts (LIKE accounts INCLUDING ALL)",
    ] {
        sqlx::query(sql).execute(&pool).await?;
    }
    // The attributes a Merge hire carries (the raw `data` object, ~900 bytes).
    let sample = senders.hire(&senders.employee("db", 0), 0);
    let payload: serde_json::Value = serde_json::from_slice(&sample.body)?;
    let attributes = Arc::new(payload.get("data").cloned().unwrap_or(payload));

    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (from, until) = (start + warmup, start + warmup + duration);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (pool, next, attributes) = (pool.clone(), next.clone(), attributes.clone());
        let source = sample.source.clone();
        tasks.push(tokio::spawn(async move {
            // A connection of its own for the whole run: nothing but the transactions.
            let mut conn = pool.acquire().await?;
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                one_transaction(&mut conn, &source, seq, &attributes).await?;
                let done = Instant::now();
                if done >= from && done <= until {
                    latencies.push((done - began).as_secs_f64() * 1000.0);
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    pool.close().await;
    let count = latencies.len() as u64;
    Ok(Ceiling {
        per_sec: stats::rate(count, duration),
        latency: Latency::from_ms(latencies),
        cpu_us_per_op: 0.0,
    })
}

async fn one_transaction(
    conn: &mut PgConnection,
    source: &str,
    seq: u64,
    attributes: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    let event_id = format!("bench-db-{seq}");
    let employee = format!("db-{seq:08}");
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO bench_inbox (source, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(source)
    .bind(&event_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO bench_accounts (target, source, employee_id, status, email, given_name, \
         family_name, display_name, department, title, manager_id, attributes, activated_at, \
         role, groups, entitlements) \
         VALUES ('directory', $1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, now(), $11, $12, $13) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET status = 'active', \
         email = EXCLUDED.email, given_name = EXCLUDED.given_name, \
         family_name = EXCLUDED.family_name, display_name = EXCLUDED.display_name, \
         department = EXCLUDED.department, title = EXCLUDED.title, \
         manager_id = EXCLUDED.manager_id, attributes = EXCLUDED.attributes, \
         role = EXCLUDED.role, groups = EXCLUDED.groups, entitlements = EXCLUDED.entitlements, \
         deactivated_at = NULL, updated_at = now()",
    )
    .bind(source)
    .bind(&employee)
    .bind(format!("{employee}@orbit.example"))
    .bind("Katherine")
    .bind("Johnson")
    .bind("Katherine Johnson")
    .bind("Engineering")
    .bind("Senior Software Engineer")
    .bind("mgr-0001")
    .bind(sqlx::types::Json(attributes))
    .bind(None::<String>)
    .bind(Vec::<String>::new())
    .bind(sqlx::types::Json(serde_json::json!({})))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
