//! Failover, as it would happen in production: receivers and workers as separate
//! `provisiond serve` processes against a three-node RabbitMQ cluster (`scripts/cluster`),
//! a steady stream of signed hires and terminations, and then
//! - the node that leads the work queue killed with `kill -9` mid-stream, and restarted;
//! - PostgreSQL (a private instance of this test's own) restarted mid-stream.
//!
//! Every webhook answered 202 must be applied exactly once, every termination must leave
//! the account deactivated, and a webhook that could not be published must be answered
//! 503 with `Retry-After` (the sender retries it). Each test prints how long recovery took.
//!
//! These need the cluster and take a minute or two each, so they are `#[ignore]`d in the
//! main run; `scripts/test` starts the cluster and runs them on their own afterwards:
//! `cargo nextest run --test api --run-ignored only cluster::`.

use std::path::PathBuf;
use std::process::{Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use provisiond::domain::SourceKind;
use provisiond::signing::{self, SigningKey};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::helpers::*;

/// Events of the stream sent per second (hires, then terminations of those hired).
const RATE: u64 = 40;
/// Concurrent senders, as a sender's delivery workers would be.
const SENDERS: usize = 8;
/// How long everything accepted may take to be applied once the stream has ended.
const SETTLE: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/cluster ARGS`: its stdout, trimmed; panics with its output when it fails.
/// Asynchronous, so that the stream's senders go on while it runs (a node takes 20 s
/// to start).
async fn cluster(args: &[&str]) -> String {
    let output = Command::new(repo().join("scripts/cluster"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("scripts/cluster runs");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success(),
        "scripts/cluster {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// One `provisiond serve --role ROLE` process with its log.
struct Process {
    role: &'static str,
    address: String,
    child: Child,
    log: PathBuf,
}

/// Receivers and workers of one test, sharing a configuration file.
struct Fleet {
    config: tempfile::NamedTempFile,
    logs: tempfile::TempDir,
    processes: Vec<Process>,
    http: reqwest::Client,
}

impl Fleet {
    fn new(config_text: &str) -> Fleet {
        Fleet {
            config: temp_file(config_text),
            logs: tempfile::tempdir().expect("a log folder"),
            processes: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// The cluster (started if it is not), two receivers and two workers, all ready.
    async fn start(iso: &Isolation, urls: &str) -> Fleet {
        cluster(&["start"]).await;
        let mut fleet = Fleet::new(&config_text(iso, urls));
        for role in ["receiver", "receiver", "worker", "worker"] {
            fleet.spawn(role);
        }
        fleet.wait_ready().await;
        fleet
    }

    fn spawn(&mut self, role: &'static str) {
        let port = free_port();
        let n = self.processes.len();
        let log = self.logs.path().join(format!("{n}-{role}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_provisiond"))
            .arg("--config")
            .arg(self.config.path())
            .args(["serve", "--role", role])
            .env_remove("PROVISIOND_CONFIG")
            .env("PROVISIOND__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("provisiond starts");
        self.processes.push(Process {
            role,
            address: format!("http://127.0.0.1:{port}"),
            child,
            log,
        });
    }

    /// Every process answers `/readyz` with 200 (within 60 s).
    async fn wait_ready(&self) {
        for process in &self.processes {
            let url = format!("{}/readyz", process.address);
            let ready = wait_until(Duration::from_secs(60), || async {
                let response = self.http.get(&url).send().await.ok()?;
                (response.status() == 200).then_some(())
            })
            .await;
            if ready.is_none() {
                self.dump_logs();
                panic!("{} at {} never became ready", process.role, process.address);
            }
        }
    }

    fn receivers(&self) -> Vec<String> {
        let receivers = self.processes.iter().filter(|p| p.role == "receiver");
        receivers.map(|p| p.address.clone()).collect()
    }

    fn dump_logs(&self) {
        for process in &self.processes {
            let text = std::fs::read_to_string(&process.log).unwrap_or_default();
            let lines = text
                .lines()
                .filter(|l| !l.contains("/readyz") && !l.contains("NOT_FOUND"));
            let tail: Vec<&str> = lines.rev().take(60).collect();
            eprintln!(
                "--- {} ({}), last lines:",
                process.role,
                process.log.display()
            );
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }

    /// SIGTERM each process and wait for it (graceful drain), then kill what is left.
    async fn stop(mut self) {
        for process in &mut self.processes {
            if let Some(pid) = process.child.id() {
                let _ = StdCommand::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for process in &mut self.processes {
            let wait = tokio::time::timeout(Duration::from_secs(40), process.child.wait());
            if wait.await.is_err() {
                let _ = process.child.kill().await;
            }
        }
    }
}

/// Poll `check` until it yields a value or `deadline` passes.
async fn wait_until<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One webhook of the stream.
#[derive(Clone)]
struct Event {
    employee: String,
    kind: &'static str,
    id: String,
}

/// What the senders saw, timed from the stream's start.
#[derive(Default)]
struct Seen {
    /// Events answered 202, with when.
    accepted: Vec<(Event, Duration)>,
    /// 503 answers (each retried), with when; `retry_after` missing is a failure.
    unavailable: Vec<Duration>,
    missing_retry_after: usize,
    /// Anything else (transport errors, other statuses): none expected.
    other: Vec<String>,
}

/// Signed hires of `count` employees, each followed (later in the stream) by the
/// termination of every other one; sent at [`RATE`] per second by [`SENDERS`] senders
/// that retry a 503 after its `Retry-After`, round-robin over `receivers`, until `stop`.
struct Stream {
    seen: Arc<Mutex<Seen>>,
    started: Instant,
    task: tokio::task::JoinHandle<()>,
}

impl Stream {
    fn start(receivers: Vec<String>, tag: &str, count: usize) -> Stream {
        let mut events = Vec::new();
        for i in 0..count {
            let employee = format!("{tag}-{i}");
            events.push(Event {
                employee: employee.clone(),
                kind: "created",
                id: unique("msg"),
            });
            // The termination of employee i - 20 (hired well before, so in order).
            if i >= 20 && i % 2 == 0 {
                events.push(Event {
                    employee: format!("{tag}-{}", i - 20),
                    kind: "terminated",
                    id: unique("msg"),
                });
            }
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        let started = Instant::now();
        let task = tokio::spawn(send_all(receivers, events, seen.clone(), started));
        Stream {
            seen,
            started,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.seen.lock().unwrap().accepted.len()
    }

    /// Wait until `n` webhooks are accepted; on failure, show the fleet's logs and what
    /// the senders saw.
    async fn wait_accepted(&self, n: usize, fleet: &Fleet) {
        let reached = wait_until(Duration::from_secs(120), || async {
            (self.accepted() >= n).then_some(())
        })
        .await;
        if reached.is_none() {
            fleet.dump_logs();
            let seen = self.seen.lock().unwrap();
            panic!(
                "the stream never reached {n} accepted: {} accepted, {} answered 503, other \
                 answers: {:?}",
                seen.accepted.len(),
                seen.unavailable.len(),
                seen.other
            );
        }
    }

    /// Wait for every event to be sent and answered 202.
    async fn finish(self) -> (Seen, Duration) {
        let within = tokio::time::timeout(Duration::from_secs(300), self.task).await;
        within
            .expect("the stream ends within 5 minutes")
            .expect("no sender panicked");
        let seen = Arc::try_unwrap(self.seen)
            .ok()
            .expect("senders are done")
            .into_inner()
            .unwrap();
        (seen, self.started.elapsed())
    }
}

async fn send_all(
    receivers: Vec<String>,
    events: Vec<Event>,
    seen: Arc<Mutex<Seen>>,
    started: Instant,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let key = SigningKey::from_secret(SourceKind::StandardWebhooks, HRIS_SECRET).unwrap();
    let key = Arc::new(key);
    let queue = Arc::new(Mutex::new(events.into_iter().enumerate()));
    let interval = Duration::from_micros(1_000_000 / RATE);
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (http, key, queue, seen) = (http.clone(), key.clone(), queue.clone(), seen.clone());
        let receivers = receivers.clone();
        senders.push(tokio::spawn(async move {
            loop {
                let Some((n, event)) = queue.lock().unwrap().next() else {
                    return;
                };
                // Open loop: event n is due at n / RATE.
                let due = started + interval * u32::try_from(n).unwrap();
                tokio::time::sleep_until(due.into()).await;
                let receiver = &receivers[n % receivers.len()];
                send_one(&http, receiver, &key, &event, &seen, started).await;
            }
        }));
    }
    for sender in senders {
        sender.await.expect("a sender panicked");
    }
}

/// Send until 202, as a sender does; record every answer.
async fn send_one(
    http: &reqwest::Client,
    receiver: &str,
    key: &SigningKey,
    event: &Event,
    seen: &Mutex<Seen>,
    started: Instant,
) {
    // The hire at a fixed time; the termination an hour later, effective at once.
    let at = match event.kind {
        "created" => "2026-03-02T09:00:00Z",
        _ => "2026-03-02T10:00:00Z",
    };
    let body = hris_body(event.kind, &event.employee, at);
    let url = format!("{receiver}/webhooks/hris");
    loop {
        let headers = signing::sign(
            SourceKind::StandardWebhooks,
            key,
            &body,
            SystemTime::now(),
            &event.id,
        );
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = request.send().await;
        let at = started.elapsed();
        match answer {
            Ok(response) if response.status() == 202 => {
                seen.lock().unwrap().accepted.push((event.clone(), at));
                return;
            }
            Ok(response) if response.status() == 503 => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                {
                    let mut seen = seen.lock().unwrap();
                    seen.unavailable.push(at);
                    if retry_after.is_none() {
                        seen.missing_retry_after += 1;
                    }
                }
                let wait = Duration::from_secs(retry_after.unwrap_or(1));
                tokio::time::sleep(wait).await;
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let what = format!("{} {status}: {text}", event.employee);
                seen.lock().unwrap().other.push(what);
                return;
            }
            Err(error) => {
                let what = format!("{} at {at:?}: {error:?}", event.employee);
                seen.lock().unwrap().other.push(what);
                return;
            }
        }
    }
}

/// The test's configuration: its own database and queue prefix, the cluster's nodes,
/// `Retry-After: 1` so that the stream's senders come back quickly.
fn config_text(iso: &Isolation, urls: &str) -> String {
    let text = test_config_text(iso, &amqp_url(), "");
    let list: Vec<String> = urls.split(',').map(|u| format!("\"{u}\"")).collect();
    let text = text.replace(
        &format!("url = \"{}\"", amqp_url()),
        &format!("urls = [{}]", list.join(", ")),
    );
    assert!(
        text.contains("urls = ["),
        "the test config names the broker"
    );
    text.replace("retry_after_secs = 7", "retry_after_secs = 1")
}

/// Everything accepted is applied exactly once and every terminated account is
/// deactivated; nothing is in the dead-letter log.
async fn check_applied(pool: &PgPool, seen: &Seen) {
    let accepted = seen.accepted.len();
    let applied = wait_until(SETTLE, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE source = 'hris'")
            .fetch_one(pool)
            .await
            .ok()?;
        (usize::try_from(n).unwrap() >= accepted).then_some(())
    })
    .await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT employee_id, kind, outcome FROM events WHERE source = 'hris'")
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(
        applied.is_some(),
        "{accepted} webhooks accepted but only {} recorded after {SETTLE:?}",
        rows.len()
    );
    // Exactly one outcome per accepted event: `applied`, or `stale` when the same
    // employee's later event was applied first (a hire delayed by a retry behind its
    // termination must not bring the leader back). Redeliveries are `duplicate` rows.
    for (event, _) in &seen.accepted {
        let recorded: Vec<_> = rows
            .iter()
            .filter(|(e, k, o)| *e == event.employee && k == event.kind && o != "duplicate")
            .collect();
        let once = recorded.len() == 1 && matches!(recorded[0].2.as_str(), "applied" | "stale");
        assert!(
            once,
            "{} {} accepted: recorded exactly once (events: {:?})",
            event.kind,
            event.employee,
            rows.iter()
                .filter(|(e, ..)| *e == event.employee)
                .collect::<Vec<_>>()
        );
    }
    let count = |outcome: &str| rows.iter().filter(|(.., o)| o == outcome).count();
    println!(
        "recorded: {} applied, {} stale (older than an event already applied), {} duplicate",
        count("applied"),
        count("stale"),
        count("duplicate")
    );
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(dead, 0, "nothing dead-lettered");
    let terminated = seen.accepted.iter().filter(|(e, _)| e.kind == "terminated");
    for (event, _) in terminated {
        let active: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM accounts WHERE source = 'hris' AND employee_id = $1 \
             AND status <> 'deactivated'",
        )
        .bind(&event.employee)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(active, 0, "{} keeps no access", event.employee);
    }
}

/// How the stream went around a failure at `failed_at` (from the stream's start).
fn report(what: &str, seen: &Seen, failed_at: Duration, total: Duration) {
    let mut times: Vec<Duration> = seen.accepted.iter().map(|(_, at)| *at).collect();
    times.sort();
    let longest_gap = times
        .windows(2)
        .filter(|w| w[1] >= failed_at)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let last_503 = seen
        .unavailable
        .iter()
        .filter(|at| **at >= failed_at)
        .max()
        .map(|at| *at - failed_at);
    let first_after = times
        .iter()
        .find(|at| **at > failed_at)
        .map(|at| *at - failed_at);
    println!(
        "{what}: {} webhooks accepted in {:.1} s; {} answered 503 + Retry-After first \
         (retried); after the failure: first 202 after {:?}, last 503 after {:?}, longest \
         gap between two 202s {:?} (recovery time)",
        seen.accepted.len(),
        total.as_secs_f64(),
        seen.unavailable.len(),
        first_after.unwrap_or_default(),
        last_503.unwrap_or_default(),
        longest_gap,
    );
}

fn assert_clean_answers(seen: &Seen) {
    assert!(
        seen.other.is_empty(),
        "only 202 and 503 are acceptable answers: {:?}",
        seen.other
    );
    assert_eq!(seen.missing_retry_after, 0, "every 503 has Retry-After");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the three-node RabbitMQ cluster of scripts/cluster; scripts/test runs it"]
async fn the_work_queue_leader_killed_mid_stream_loses_no_accepted_webhook() {
    let urls = cluster(&["urls"]).await;
    let iso = Isolation::new();
    let fleet = Fleet::start(&iso, &urls).await;
    let work_queue = format!("{}.work", iso.prefix);
    let members = cluster(&["members", &work_queue]).await;
    assert_eq!(
        members.split_whitespace().count(),
        3,
        "the work queue is replicated on all three nodes: {members}"
    );

    let stream = Stream::start(fleet.receivers(), &unique("leader"), 360);
    stream.wait_accepted(80, &fleet).await;
    let leader = cluster(&["leader", &work_queue]).await;
    let killed_at = stream.started.elapsed();
    let kill = Instant::now();
    cluster(&["kill", &leader]).await;
    let elected = wait_until(Duration::from_secs(60), || async {
        let output = Command::new(repo().join("scripts/cluster"))
            .args(["leader", &work_queue])
            .output()
            .await
            .ok()?;
        let now = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        (output.status.success() && !now.is_empty() && now != leader).then_some(now)
    })
    .await
    .expect("another node leads the work queue");
    println!(
        "leader {leader} killed; {elected} leads the work queue after {:?}",
        kill.elapsed()
    );
    let before_restart = stream.accepted();
    stream.wait_accepted(before_restart + 60, &fleet).await;
    cluster(&["start"]).await;
    let members = cluster(&["members", &work_queue]).await;
    println!("node {leader} restarted; work queue members: {members}");

    finish("leader killed", stream, killed_at, fleet, &iso, &urls).await;
}

/// End the stream, report the recovery after `failed_at`, check every answer and that
/// everything accepted was recorded once; stop the fleet and delete its queues.
async fn finish(
    what: &str,
    stream: Stream,
    failed_at: Duration,
    fleet: Fleet,
    iso: &Isolation,
    urls: &str,
) {
    let (seen, total) = stream.finish().await;
    report(what, &seen, failed_at, total);
    if !seen.other.is_empty() {
        fleet.dump_logs();
    }
    assert_clean_answers(&seen);
    let pool = PgPool::connect(&iso.database_url).await.unwrap();
    check_applied(&pool, &seen).await;
    fleet.stop().await;
    pool.close().await;
    let first = urls.split(',').next().expect("a node");
    delete_topology_at(first, &iso.prefix).await;
}

/// A PostgreSQL server of the test's own (initdb in a temporary folder, its own port),
/// so that restarting it disturbs nothing else.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin(tool: &str) -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL installed");
    let mut dirs: Vec<PathBuf> = versions.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    dirs.last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(tool)
}

/// Run a PostgreSQL tool as `postgres` when we are root (it refuses to run as root).
fn as_postgres(tool: &str, args: &[&str]) {
    let is_root = nix_is_root();
    let mut command = if is_root {
        let mut c = StdCommand::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(pg_bin(tool));
        c
    } else {
        StdCommand::new(pg_bin(tool))
    };
    let output = command.args(args).output().expect("PostgreSQL tool runs");
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn nix_is_root() -> bool {
    let output = StdCommand::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().expect("a folder for PostgreSQL");
        if nix_is_root() {
            let status = StdCommand::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let data = data.to_str().unwrap();
        as_postgres(
            "initdb",
            &["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        );
        let server = PrivatePostgres {
            port: free_port(),
            dir,
        };
        server.pg_ctl("start");
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_owned()
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = format!("{}/server.log", self.dir.path().display());
        let data = self.data();
        let mut args = vec!["-D", &data, "-w", "-l", &log, "-o", &options];
        if action == "stop" {
            // As a crash would: no shutdown checkpoint, clients cut off.
            args.extend(["-m", "immediate"]);
        }
        args.push(action);
        as_postgres("pg_ctl", &args);
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = StdCommand::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the three-node RabbitMQ cluster of scripts/cluster; scripts/test runs it"]
async fn postgresql_restarted_mid_stream_loses_no_accepted_webhook() {
    let urls = cluster(&["urls"]).await;
    let postgres = PrivatePostgres::start();
    let mut iso = Isolation::new();
    iso.database_url = postgres.url("provisiond_failover");
    let fleet = Fleet::start(&iso, &urls).await;

    let stream = Stream::start(fleet.receivers(), &unique("pg"), 240);
    stream.wait_accepted(80, &fleet).await;
    let stopped_at = stream.started.elapsed();
    let stopped = Instant::now();
    tokio::task::block_in_place(|| postgres.pg_ctl("stop"));
    // Down for a moment, as a failover or a restart would be.
    let down_until = stream.accepted() + 20;
    stream.wait_accepted(down_until, &fleet).await;
    tokio::task::block_in_place(|| postgres.pg_ctl("start"));
    println!("PostgreSQL down for {:?}", stopped.elapsed());
    finish(
        "PostgreSQL restarted",
        stream,
        stopped_at,
        fleet,
        &iso,
        &urls,
    )
    .await;
    drop(postgres);
}
