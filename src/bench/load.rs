//! The load client: N tasks, each on a keep-alive connection of its own, sending their
//! next request when the previous one is answered (closed loop), or one shared pooled
//! client driven by a clock (open loop, requests sent at fixed times whatever the answers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use tokio::time::Instant;

use super::payload::SignedRequest;
use super::stats::{self, Latency};

/// Requests are answered well within this, or the bench counts an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct LoadClient {
    client: reqwest::Client,
    /// `http://127.0.0.1:port` of each server; closed-loop connections are spread over
    /// them round-robin (connection *i* to server *i mod n*), everything else goes to the
    /// first.
    bases: Arc<[String]>,
}

/// CPU time of what is measured so far, in nanoseconds (see `super::cpu`).
pub type CpuProbe = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What a closed-loop run measured.
#[derive(Debug, Clone, Default)]
pub struct ClosedLoop {
    /// 202s completed inside the measuring window.
    pub accepted: u64,
    /// 202s completed in all (warm-up included): what reached the queue.
    pub accepted_total: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    /// Response latency of the 202s inside the window.
    pub latency: Latency,
    /// 202s completed inside the window, by server (closed loop only).
    pub accepted_by_server: Vec<u64>,
    /// CPU time the probe measured over the window (closed loop with a probe only).
    pub window_cpu_ns: Option<u64>,
    /// Sequence numbers answered 202 (fixed-count runs only).
    pub succeeded: Vec<u64>,
}

impl ClosedLoop {
    pub fn per_sec(&self) -> f64 {
        stats::rate(self.accepted, self.window)
    }

    /// Accepted per second inside the window, by server.
    pub fn per_sec_by_server(&self) -> Vec<f64> {
        let window = self.window;
        let counts = self.accepted_by_server.iter();
        counts.map(|&n| stats::rate(n, window)).collect()
    }

    /// CPU microseconds per 202 inside the window (0 without a probe).
    pub fn cpu_us_per_request(&self) -> f64 {
        super::cpu::us_per(self.window_cpu_ns.unwrap_or(0), self.accepted)
    }
}

/// One open-loop request: when it was sent and how it was answered.
#[derive(Debug, Clone)]
pub struct Sent {
    pub sent_at: DateTime<Utc>,
    /// When the answer (202 or not) came back.
    pub answered_at: DateTime<Utc>,
    pub accepted: bool,
}

#[derive(Default)]
struct TaskTally {
    /// Which server the task's connection went to.
    server: usize,
    latencies_ms: Vec<f64>,
    accepted: u64,
    accepted_total: u64,
    errors: u64,
    first_error: Option<String>,
    succeeded: Vec<u64>,
}

impl LoadClient {
    pub fn new(base: String, concurrency: usize) -> anyhow::Result<LoadClient> {
        LoadClient::spread(vec![base], concurrency)
    }

    /// A client for several servers (at least one).
    pub fn spread(bases: Vec<String>, concurrency: usize) -> anyhow::Result<LoadClient> {
        anyhow::ensure!(!bases.is_empty(), "the load client needs a server");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency.max(1) * 2)
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .build()?;
        Ok(LoadClient {
            client,
            bases: bases.into(),
        })
    }

    /// Send one webhook; `Ok` on 202, else what came back.
    pub async fn send(&self, request: &SignedRequest) -> Result<(), String> {
        let url = format!("{}/webhooks/{}", self.bases[0], request.source);
        let mut builder = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &request.headers {
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            builder = builder.header(HeaderName::from_static(name), value);
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        // Read the (small) answer so the connection is reused.
        let text = response.bytes().await.map_err(|e| e.to_string())?;
        answer(status.as_u16(), &text)
    }

    /// `concurrency` tasks send `make(seq)` back to back for `warmup + duration`, task *i*
    /// on a connection to server *i mod n*; only answers completed within the last
    /// `duration` are counted and timed. `cpu`, if given, is read when the window opens
    /// and when it closes.
    pub async fn closed_loop<F>(
        &self,
        concurrency: usize,
        warmup: Duration,
        duration: Duration,
        make: F,
        cpu: Option<CpuProbe>,
    ) -> ClosedLoop
    where
        F: Fn(u64) -> SignedRequest + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let next = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let (from, until) = (start + warmup, start + warmup + duration);
        let sampler = cpu.map(|probe| {
            tokio::spawn(async move {
                tokio::time::sleep_until(from).await;
                let opened = probe();
                tokio::time::sleep_until(until).await;
                probe().saturating_sub(opened)
            })
        });
        let mut tasks = Vec::with_capacity(concurrency);
        for i in 0..concurrency {
            let server = i % self.bases.len();
            let base = self.bases[server].clone();
            let (make, next) = (make.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut tally = TaskTally {
                    server,
                    ..TaskTally::default()
                };
                let mut connection: Option<Connection> = None;
                while Instant::now() < until {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let request = make(seq);
                    let sent = Instant::now();
                    let result = send_on(&mut connection, &base, &request).await;
                    let done = Instant::now();
                    let ok = tally.record(result, seq, false);
                    if ok && done >= from && done <= until {
                        tally.accepted += 1;
                        tally.latencies_ms.push(ms(done - sent));
                    }
                }
                tally
            }));
        }
        let mut result = merge(tasks).await;
        result.window = duration;
        if let Some(sampler) = sampler {
            result.window_cpu_ns = sampler.await.ok();
        }
        result.accepted_by_server.resize(self.bases.len(), 0);
        result
    }

    /// `concurrency` tasks send `make(0..count)` as fast as they are answered.
    pub async fn fixed_count<F>(&self, concurrency: usize, count: u64, make: F) -> ClosedLoop
    where
        F: Fn(u64) -> SignedRequest + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let next = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let (client, make, next) = (self.clone(), make.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut tally = TaskTally::default();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= count {
                        break tally;
                    }
                    let request = make(seq);
                    let sent = Instant::now();
                    let result = client.send(&request).await;
                    let elapsed = sent.elapsed();
                    if tally.record(result, seq, true) {
                        tally.accepted += 1;
                        tally.latencies_ms.push(ms(elapsed));
                    }
                }
            }));
        }
        let mut result = merge(tasks).await;
        result.window = start.elapsed();
        result
    }

    /// Send `requests[i]` at `start + i / rate` (open loop: a slow answer never delays the
    /// next request); each is timed from the moment it is handed to the client.
    pub async fn open_loop(&self, rate: u32, requests: Vec<SignedRequest>) -> Vec<Sent> {
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let start = Instant::now() + Duration::from_millis(20);
        let mut tasks = Vec::with_capacity(requests.len());
        for (i, request) in requests.into_iter().enumerate() {
            tokio::time::sleep_until(start + interval * i as u32).await;
            let client = self.clone();
            tasks.push(tokio::spawn(async move {
                let sent_at = Utc::now();
                let accepted = client.send(&request).await.is_ok();
                let answered_at = Utc::now();
                Sent {
                    sent_at,
                    answered_at,
                    accepted,
                }
            }));
        }
        let mut sent = Vec::with_capacity(tasks.len());
        for task in tasks {
            sent.push(task.await.unwrap_or_else(|_| Sent {
                sent_at: Utc::now(),
                answered_at: Utc::now(),
                accepted: false,
            }));
        }
        sent
    }
}

/// One keep-alive HTTP/1.1 connection owned by one closed-loop task: much lighter than a
/// pooled client, so more of the shared CPU goes to what is measured rather than to the
/// load client. Ceiling (b) and ingest both use it.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Connection {
    async fn open(base: &str) -> Result<Connection, String> {
        let authority = base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connect failed: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, driver) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("handshake failed: {e}"))?;
        tokio::spawn(driver);
        let host = HeaderValue::from_str(&authority).map_err(|e| e.to_string())?;
        Ok(Connection { sender, host })
    }

    async fn send(&mut self, request: &SignedRequest) -> Result<(), String> {
        let mut builder = hyper::Request::post(format!("/webhooks/{}", request.source))
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder
            .body(Full::new(request.body.clone()))
            .map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body = response.into_body().collect().await;
        let text = body.map_err(|e| e.to_string())?.to_bytes();
        answer(status.as_u16(), &text)
    }
}

/// Send on the task's connection, opening it first if there is none (or it broke).
async fn send_on(
    connection: &mut Option<Connection>,
    base: &str,
    request: &SignedRequest,
) -> Result<(), String> {
    if connection.is_none() {
        *connection = Some(Connection::open(base).await?);
    }
    let open = connection.as_mut().expect("connection just opened");
    let result = open.send(request).await;
    if result.is_err() && open.sender.is_closed() {
        *connection = None;
    }
    result
}

/// `Ok` for a 202, else the status and the start of the answer.
fn answer(status: u16, body: &[u8]) -> Result<(), String> {
    if status == 202 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body);
    Err(format!(
        "HTTP {status}: {}",
        text.chars().take(200).collect::<String>()
    ))
}

impl TaskTally {
    /// Count one answer; true when it was a 202.
    fn record(&mut self, result: Result<(), String>, seq: u64, keep_seq: bool) -> bool {
        match result {
            Ok(()) => {
                self.accepted_total += 1;
                if keep_seq {
                    self.succeeded.push(seq);
                }
                true
            }
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
                false
            }
        }
    }
}

async fn merge(tasks: Vec<tokio::task::JoinHandle<TaskTally>>) -> ClosedLoop {
    let mut all = ClosedLoop::default();
    let mut latencies = Vec::new();
    for task in tasks {
        let Ok(tally) = task.await else {
            all.errors += 1;
            continue;
        };
        all.accepted += tally.accepted;
        if all.accepted_by_server.len() <= tally.server {
            all.accepted_by_server.resize(tally.server + 1, 0);
        }
        all.accepted_by_server[tally.server] += tally.accepted;
        all.accepted_total += tally.accepted_total;
        all.errors += tally.errors;
        if all.first_error.is_none() {
            all.first_error = tally.first_error;
        }
        all.succeeded.extend(tally.succeeded);
        latencies.extend(tally.latencies_ms);
    }
    all.succeeded.sort_unstable();
    all.latency = Latency::from_ms(latencies);
    all
}

fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}
