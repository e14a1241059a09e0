//! Black-box helpers: each test gets its own database, its own queue prefix and its own
//! port, and talks to the real RabbitMQ and PostgreSQL.

use std::future::Future;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use provisiond::{Application, Config, Role};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const HRIS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const HRIS_OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const MERGE_SECRET: &str = "merge-signature-key-current";
pub const MERGE_OLD_SECRET: &str = "merge-signature-key-previous";
pub const WORKOS_SECRET: &str = "workos-secret-current";
pub const WORKOS_OLD_SECRET: &str = "workos-secret-previous";
/// Finch shows a plain base64 secret (this one is its SDK's test secret).
pub const FINCH_SECRET: &str = "5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// `rabbitmq.message_key` in tests: signs every queue message.
pub const MESSAGE_KEY: &str = "test-message-key-0123456789abcdef0123";
/// `worker.max_attempts` in tests.
pub const MAX_ATTEMPTS: u32 = 4;

/// The role that tests connect as; `.ci/run` and `scripts/test` create it.
pub fn admin_database_url() -> String {
    std::env::var("PROVISIOND_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://provisiond:provisiond@127.0.0.1:5432/provisiond".into())
}

pub fn amqp_url() -> String {
    std::env::var("PROVISIOND_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Names unique to one test.
#[derive(Debug, Clone)]
pub struct Isolation {
    pub database_url: String,
    pub prefix: String,
}

impl Isolation {
    pub fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let base = admin_database_url();
        let (server, _) = base.rsplit_once('/').expect("database url has a path");
        Isolation {
            database_url: format!("{server}/provisiond_test_{}", &id[..16]),
            prefix: format!("test_{}", &id[..16]),
        }
    }
}

pub fn test_config(iso: &Isolation, amqp: &str) -> Config {
    test_config_with(iso, amqp, "")
}

/// The test configuration plus `extra` TOML (targets, rules).
pub fn test_config_with(iso: &Isolation, amqp: &str, extra: &str) -> Config {
    Config::from_toml(&test_config_text(iso, amqp, extra)).expect("test config is valid")
}

pub fn test_config_text(iso: &Isolation, amqp: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_token = "{ADMIN_TOKEN}"
max_body_bytes = 65536
shutdown_timeout = "20s"

[database]
url = "{db}"
max_connections = 8

[rabbitmq]
url = "{amqp}"
prefix = "{prefix}"
prefetch = 32
confirm_timeout = "3s"
retry_after_secs = 7
message_key = "{MESSAGE_KEY}"

# Tests terminate many employees of one source; the guard's own tests turn it on.
[guard]
enabled = false

[worker]
concurrency = 8
max_attempts = {max_attempts}
quick_retries = 1
retry_delays = ["100ms", "200ms"]
scheduler_interval = "50ms"
termination_retry_for = "0s"

[[sources]]
name = "hris"
kind = "standard-webhooks"
secrets = ["{HRIS_OLD_SECRET}", "{HRIS_SECRET}"]

[[sources]]
name = "merge"
kind = "merge"
secrets = ["{MERGE_OLD_SECRET}", "{MERGE_SECRET}"]

[[sources]]
name = "workos"
kind = "workos"
secrets = ["{WORKOS_OLD_SECRET}", "{WORKOS_SECRET}"]

[[sources]]
name = "finch"
kind = "finch"
secrets = ["{FINCH_SECRET}"]

# Gusto before its verification token is known.
[[sources]]
name = "gusto"
kind = "gusto"
secrets = []

[[sources]]
name = "hibob"
kind = "hibob"
secrets = ["hibob-secret"]

{extra}
"#,
        db = iso.database_url,
        prefix = iso.prefix,
        max_attempts = MAX_ATTEMPTS,
    )
}

pub struct TestApp {
    pub address: String,
    /// The ops listener's base URL, when `server.ops_listen` is set.
    pub ops_address: Option<String>,
    pub pool: PgPool,
    pub iso: Isolation,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app(role: Role) -> TestApp {
    let iso = Isolation::new();
    spawn_with(test_config(&iso, &amqp_url()), iso, role).await
}

pub async fn spawn_with(config: Config, iso: Isolation, role: Role) -> TestApp {
    spawn_with_clock(config, iso, role, provisiond::domain::clock::system()).await
}

pub async fn spawn_with_clock(
    config: Config,
    iso: Isolation,
    role: Role,
    clock: provisiond::domain::clock::SharedClock,
) -> TestApp {
    spawn_custom(config, iso, role, clock, None).await
}

pub async fn spawn_custom(
    config: Config,
    iso: Isolation,
    role: Role,
    clock: provisiond::domain::clock::SharedClock,
    hook: Option<provisiond::worker::handler::ProcessingHook>,
) -> TestApp {
    let mut app = build_app(config, role, clock).await;
    if let Some(hook) = hook {
        app = app.with_processing_hook(hook);
    }
    run_app(app, iso).await
}

/// An app whose worker runs `fault` at named points of settling a message.
pub async fn spawn_with_fault(
    config: Config,
    iso: Isolation,
    role: Role,
    fault: provisiond::worker::handler::FaultHook,
) -> TestApp {
    let app = build_app(config, role, provisiond::domain::clock::system()).await;
    run_app(app.with_fault_hook(fault), iso).await
}

async fn build_app(
    config: Config,
    role: Role,
    clock: provisiond::domain::clock::SharedClock,
) -> Application {
    provisiond::telemetry::init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Application::with_listener(config, role, listener)
        .await
        .expect("app builds")
        .with_clock(clock)
}

/// Run `app` until the test stops it; wait until it is ready.
async fn run_app(app: Application, iso: Isolation) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    let ops_address = app.ops_port().map(|p| format!("http://127.0.0.1:{p}"));
    let pool = app.pool().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let test_app = TestApp {
        address,
        ops_address,
        pool,
        iso,
        client: reqwest::Client::new(),
        stop: Some(stop),
        handle: Some(handle),
    };
    test_app.wait_ready().await;
    test_app
}

impl TestApp {
    /// Wait until `/readyz` says 200 (connected to broker and database).
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.address);
        wait_for("the app to be ready", || async {
            let response = self.client.get(&url).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
    }

    /// Signal shutdown and wait for `run` to return.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.handle.take() {
            Some(handle) => handle.await.expect("app task did not panic"),
            None => Ok(()),
        }
    }

    pub async fn post(&self, source: &str, headers: &Value, body: &[u8]) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/{source}", self.address))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers.as_object().expect("headers object") {
            request = request.header(name, value.as_str().expect("header string"));
        }
        request.send().await.expect("request sent")
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request sent")
    }

    /// POST `body` to the admin API, as `actor` when given.
    pub async fn admin_post(
        &self,
        path: &str,
        body: Value,
        actor: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body);
        if let Some(actor) = actor {
            request = request.header("x-provisiond-actor", actor);
        }
        request.send().await.expect("request sent")
    }

    /// A background job once it has ended (`GET /admin/jobs/{id}`).
    pub async fn job_end(&self, id: i64) -> Value {
        wait_for(&format!("job {id} to end"), || async {
            let response = self.admin_get(&format!("/admin/jobs/{id}")).await;
            let job: Value = response.json().await.ok()?;
            (job["status"] != "running").then_some(job)
        })
        .await
    }

    /// `employee show` through the admin API; `None` while the employee is unknown.
    pub async fn employee(&self, source: &str, id: &str) -> Option<Value> {
        let response = self
            .admin_get(&format!("/admin/employees/{source}/{id}"))
            .await;
        if response.status() == 404 {
            return None;
        }
        assert_eq!(response.status(), 200);
        Some(response.json().await.expect("json body"))
    }

    /// Wait until the employee has at least `n` processed events, then return the view.
    pub async fn employee_after(&self, source: &str, id: &str, n: usize) -> Value {
        wait_for(&format!("{n} events for {source}/{id}"), || async {
            let view = self.employee(source, id).await?;
            let count = view["events"].as_array().map_or(0, Vec::len);
            (count >= n).then_some(view)
        })
        .await
    }

    /// Post a canonical envelope to the `hris` source, signed; returns its event id.
    pub async fn send_hris(&self, body: &[u8]) -> String {
        let msg_id = unique("msg");
        let response = self.post("hris", &hris_headers(body, &msg_id), body).await;
        assert_eq!(response.status(), 202);
        msg_id
    }

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.address);
        let response = self.client.get(url).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// An `hris` employee's state on `target`, as `employee show` reports it.
    pub async fn target_status(&self, employee: &str, target: &str) -> Option<String> {
        let view = self.employee("hris", employee).await?;
        let targets = view["targets"].as_array()?;
        let entry = targets.iter().find(|t| t["target"] == target)?;
        entry["status"].as_str().map(str::to_owned)
    }

    /// Wait until an `hris` employee is `status` on `target`.
    pub async fn wait_target(&self, employee: &str, target: &str, status: &str) {
        let what = format!("{target} to be {status} for {employee}");
        wait_for(&what, || async {
            let now = self.target_status(employee, target).await;
            (now.as_deref() == Some(status)).then_some(())
        })
        .await;
    }

    /// Wait for the event's dead letter with status `dead`, as the admin API lists it.
    pub async fn dead_letter(&self, event_id: &str) -> Value {
        wait_for(&format!("a dead letter for {event_id}"), || async {
            let response = self.admin_get("/admin/dead-letters").await;
            let list: Value = response.json().await.ok()?;
            let found = list
                .as_array()?
                .iter()
                .find(|d| d["event_id"] == event_id)?;
            (found["status"] == "dead").then(|| found.clone())
        })
        .await
    }

    /// Number of messages ready in this test's work queue.
    pub async fn queued_messages(&self) -> u32 {
        let connection = provisiond::queue::connect(&amqp_url(), "test")
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let options = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let queue = format!("{}.work", self.iso.prefix);
        let declared = channel
            .queue_declare(queue.as_str().into(), options, Default::default())
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
        declared.message_count()
    }

    pub async fn events_for_source(&self, source: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE source = $1")
            .bind(source)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Stop the app and delete this test's queues and exchanges.
    pub async fn cleanup(mut self) {
        let _ = self.stop().await;
        delete_topology(&self.iso.prefix).await;
    }
}

/// A confirmed publisher on the app's queues, for what a test runs by hand (a scheduler
/// pass, a reconcile run); `stop` closes it.
pub struct TestPublisher {
    pub publisher: provisiond::queue::Publisher,
    stop: tokio_util::sync::CancellationToken,
    task: JoinHandle<()>,
}

impl TestPublisher {
    pub async fn start(app: &TestApp) -> TestPublisher {
        let stop = tokio_util::sync::CancellationToken::new();
        let topology = provisiond::queue::Topology::new(&app.iso.prefix, 10);
        let url = provisiond::domain::Secret::new(&amqp_url());
        let timeout = std::time::Duration::from_secs(3);
        let key = provisiond::queue::MessageKey::new(&provisiond::domain::Secret::new(MESSAGE_KEY));
        let (publisher, task) =
            provisiond::queue::Publisher::start(url, topology, timeout, key, stop.clone());
        let wait = std::time::Duration::from_secs(10);
        publisher.wait_connected(wait).await.unwrap();
        TestPublisher {
            publisher,
            stop,
            task,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

pub async fn delete_topology(prefix: &str) {
    let Ok(connection) = provisiond::queue::connect(&amqp_url(), "test-cleanup").await else {
        return;
    };
    let channel = connection.create_channel().await.unwrap();
    let delays = [100, 200].map(Duration::from_millis);
    let topology = provisiond::queue::Topology::new(prefix, 10).with_retry_delays(&delays);
    for name in topology.queues() {
        let _ = channel
            .queue_delete(name.as_str().into(), Default::default())
            .await;
    }
    for name in topology.exchanges() {
        let _ = channel
            .exchange_delete(name.as_str().into(), Default::default())
            .await;
    }
    let _ = connection.close(200, "bye".into()).await;
}

/// Poll `check` until it yields a value; panic with `what` after 30 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The outcome of each of an employee view's events, in order.
pub fn outcomes(view: &Value) -> Vec<&str> {
    let events = view["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    events
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect()
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Headers signed by Python's `hmac` (tests/sign.py), not by provisiond.
pub fn python_sign(kind: &str, secret: &str, ts: i64, msg_id: &str, body: &[u8]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sign.py");
    let mut child = Command::new("python3")
        .args([script, kind, secret, &ts.to_string(), msg_id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sign.py failed");
    serde_json::from_slice(&output.stdout).expect("sign.py prints JSON")
}

/// A canonical-envelope body for the `hris` (standard-webhooks) source.
pub fn hris_body(kind: &str, employee: &str, at: &str) -> Vec<u8> {
    serde_json::json!({
        "type": format!("employee.{kind}"),
        "timestamp": at,
        "data": {"id": employee, "email": format!("{employee}@example.com"),
                 "given_name": "Ada", "family_name": "Lovelace", "department": "Sales"}
    })
    .to_string()
    .into_bytes()
}

pub fn hris_headers(body: &[u8], msg_id: &str) -> Value {
    python_sign("standard-webhooks", HRIS_SECRET, now_secs(), msg_id, body)
}

/// CSV records (RFC 4180) as a spreadsheet would read them, the header row included.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let records = reader.records().map(|r| r.expect("valid CSV"));
    records
        .map(|r| r.iter().map(str::to_owned).collect())
        .collect()
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
