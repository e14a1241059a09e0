//! The load client: one shared HTTP client driven by N tasks (closed loop, each sending its
//! next request when the previous one is answered) or by a clock (open loop, requests
//! sent at fixed times whatever the answers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use tokio::time::Instant;

use super::payload::SignedRequest;
use super::stats::{self, Latency};

/// Requests are answered well within this, or the bench counts an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct LoadClient {
    client: reqwest::Client,
    /// `http://127.0.0.1:port`
    base: String,
}

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
    /// Sequence numbers answered 202 (fixed-count runs only).
    pub succeeded: Vec<u64>,
}

impl ClosedLoop {
    pub fn per_sec(&self) -> f64 {
        stats::rate(self.accepted, self.window)
    }
}

/// One open-loop request: when it was sent and how it was answered.
#[derive(Debug, Clone)]
pub struct Sent {
    pub sent_at: DateTime<Utc>,
    pub accepted: bool,
}

#[derive(Default)]
struct TaskTally {
    latencies_ms: Vec<f64>,
    accepted: u64,
    accepted_total: u64,
    errors: u64,
    first_error: Option<String>,
    succeeded: Vec<u64>,
}

impl LoadClient {
    pub fn new(base: String, concurrency: usize) -> anyhow::Result<LoadClient> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency.max(1) * 2)
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .build()?;
        Ok(LoadClient { client, base })
    }

    /// Send one webhook; `Ok` on 202, else what came back.
    pub async fn send(&self, request: &SignedRequest) -> Result<(), String> {
        let url = format!("{}/webhooks/{}", self.base, request.source);
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
        if status == reqwest::StatusCode::ACCEPTED {
            Ok(())
        } else {
            let text = String::from_utf8_lossy(&text);
            Err(format!(
                "HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            ))
        }
    }

    /// `concurrency` tasks send `make(seq)` back to back for `warmup + duration`; only
    /// answers completed within the last `duration` are counted and timed.
    pub async fn closed_loop<F>(
        &self,
        concurrency: usize,
        warmup: Duration,
        duration: Duration,
        make: F,
    ) -> ClosedLoop
    where
        F: Fn(u64) -> SignedRequest + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let next = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let (from, until) = (start + warmup, start + warmup + duration);
        let mut tasks = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let (client, make, next) = (self.clone(), make.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut tally = TaskTally::default();
                while Instant::now() < until {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let request = make(seq);
                    let sent = Instant::now();
                    let result = client.send(&request).await;
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
                Sent { sent_at, accepted }
            }));
        }
        let mut sent = Vec::with_capacity(tasks.len());
        for task in tasks {
            sent.push(task.await.unwrap_or(Sent {
                sent_at: Utc::now(),
                accepted: false,
            }));
        }
        sent
    }
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
