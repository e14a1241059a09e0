//! Starting and stopping the application under test, and talking to its HTTP API.

use provisiond::{Application, Config, Role};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;

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

/// An app of every role whose configuration adds `extra` TOML (targets, sources, rules).
pub async fn spawn_extra(extra: &str) -> TestApp {
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), extra);
    spawn_with(config, iso, Role::All).await
}

/// An app whose one target besides the directory is `target`, named `product`.
pub async fn spawn_with_target(target: &crate::target_server::TargetServer) -> TestApp {
    spawn_extra(&target.config("product")).await
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
        self.admin_send(ADMIN_TOKEN, path, Some(body), actor).await
    }

    /// POST to the admin API with `token`, a JSON body when given, as `actor` when given.
    pub async fn admin_send(
        &self,
        token: &str,
        path: &str,
        body: Option<Value>,
        actor: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(actor) = actor {
            request = request.header("x-provisiond-actor", actor);
        }
        request.send().await.expect("request sent")
    }

    /// Replay one dead letter through the admin API; it must be accepted.
    pub async fn replay(&self, letter: impl std::fmt::Display) {
        let path = format!("/admin/dead-letters/{letter}/replay");
        let response = self.admin_send(ADMIN_TOKEN, &path, None, None).await;
        assert_eq!(response.status(), 200, "replay of dead letter {letter}");
    }

    /// GET `path` without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.address);
        self.client.get(url).send().await.expect("request sent")
    }

    /// The JSON an admin GET answers, which must be 200.
    pub async fn admin_json(&self, path: &str) -> Value {
        json_of(self.admin_get(path).await, 200).await
    }

    /// Post a canonical envelope of `kind` for `employee` to `hris`; returns its event id.
    pub async fn send_event(&self, kind: &str, employee: &str) -> String {
        self.send_hris(&hris_body(kind, employee, "2026-03-02T09:15:00Z"))
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

    /// The `/metrics` page must show `line`.
    pub async fn assert_metric(&self, line: &str) {
        let metrics = self.metrics().await;
        assert!(metrics.contains(line), "{metrics}");
    }

    /// Stop the app and delete this test's queues and exchanges.
    pub async fn cleanup(mut self) {
        let _ = self.stop().await;
        delete_topology(&self.iso.prefix).await;
    }
}

/// Named admin tokens of the role-based tests: `ann`, an auditor, and `olga`, an operator.
pub const AUDITOR_TOKEN: &str = "auditor-token-for-ann-0123";
pub const OPERATOR_TOKEN: &str = "operator-token-for-olga-0123";

/// An app whose admin tokens are [`AUDITOR_TOKEN`] (`ann`) and [`OPERATOR_TOKEN`] (`olga`).
pub async fn spawn_with_tokens(role: Role) -> TestApp {
    let iso = Isolation::new();
    let tokens = format!(
        "[[server.tokens]]\nname = \"ann\"\nrole = \"auditor\"\ntoken = \"{AUDITOR_TOKEN}\"\n\
         [[server.tokens]]\nname = \"olga\"\nrole = \"operator\"\ntoken = \"{OPERATOR_TOKEN}\"\n"
    );
    let config = test_config_with(&iso, &amqp_url(), &tokens);
    spawn_with(config, iso, role).await
}
