//! Every sender end to end: a hire, then a leaver, each sent as the sender would (its
//! payload shape, its signature made by `tests/sign.py`, not by provisiond), through
//! RabbitMQ and PostgreSQL to every kind of target at once: the directory, a real SCIM 2.0
//! app (scim2-server) and a product's HTTP endpoint. Thin senders are enriched from a
//! local server speaking their APIs (`sender_api/`).

mod hr_systems;
mod unified_apis;

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::scim::{scim_target, ScimServer};
use crate::sender_api::{sources, SenderApi, BAMBOO_KEY, BOB_SECRET, DEEL_KEY, GUSTO_TOKEN};
use crate::target_server::TargetServer;

/// The targets every employee is provisioned to: provisiond's own directory, the SCIM app
/// (`scim_target` names it `apps`) and the product's HTTP endpoint.
const TARGETS: [&str; 3] = ["directory", "apps", "product"];

/// A source of the rig and how its sender signs (`tests/sign.py`'s name for it).
struct Sender {
    source: &'static str,
    kind: &'static str,
    secret: &'static str,
}

const HRIS: Sender = Sender::new("hris", "standard-webhooks", HRIS_SECRET);
const MERGE: Sender = Sender::new("merge", "merge", MERGE_SECRET);
const WORKOS: Sender = Sender::new("workos", "workos", WORKOS_SECRET);
const FINCH: Sender = Sender::new("finch_api", "finch", FINCH_SECRET);
const BAMBOO: Sender = Sender::new("bamboo", "bamboohr", BAMBOO_KEY);
const GUSTO: Sender = Sender::new("gusto_api", "gusto", GUSTO_TOKEN);
const BOB: Sender = Sender::new("bob", "hibob", BOB_SECRET);
const DEEL: Sender = Sender::new("deel", "deel", DEEL_KEY);

impl Sender {
    const fn new(source: &'static str, kind: &'static str, secret: &'static str) -> Sender {
        Sender {
            source,
            kind,
            secret,
        }
    }
}

/// One app with every source of `test_config` and `sources()`, a SCIM target and an HTTP
/// target, plus the sender API server the thin sources fetch records from.
struct Rig {
    app: TestApp,
    api: SenderApi,
    scim: ScimServer,
    product: TargetServer,
}

impl Rig {
    async fn start() -> Rig {
        let api = SenderApi::start().await;
        let scim = ScimServer::start().await;
        let product = TargetServer::start(&[], 200).await;
        let scim_base = format!("http://127.0.0.1:{}", scim.port);
        let extra = format!(
            "{}\n{}\n{}",
            sources(&api),
            scim_target(&scim_base, "deactivate"),
            product.config("product")
        );
        let iso = Isolation::new();
        let config = test_config_with(&iso, &amqp_url(), &extra);
        let app = spawn_with(config, iso, Role::All).await;
        Rig {
            app,
            api,
            scim,
            product,
        }
    }

    /// POST `body` to the sender's source, signed by `tests/sign.py` as the sender would.
    async fn send(&self, sender: &Sender, body: &Value) {
        let Sender {
            source,
            kind,
            secret,
        } = sender;
        let body = body.to_string().into_bytes();
        let headers = python_sign(kind, secret, now_secs(), &unique("msg"), &body);
        let response = self.app.post(source, &headers, &body).await;
        assert_eq!(
            response.status(),
            202,
            "{source}: {}",
            response.text().await.unwrap()
        );
    }

    /// Wait until the employee is `status` on every target; the employee view then.
    async fn wait_all(&self, source: &str, id: &str, status: &str) -> Value {
        let what = format!("{source}/{id} to be {status} on {TARGETS:?}");
        wait_for(&what, || async {
            let view = self.app.employee(source, id).await?;
            let targets = view["targets"].as_array()?;
            let on = |name: &str| {
                let entry = targets.iter().find(|t| t["target"] == name);
                entry.is_some_and(|t| t["status"] == status)
            };
            TARGETS.iter().all(|name| on(name)).then_some(view)
        })
        .await
    }

    /// The one SCIM user provisiond knows as `{source}:{id}`.
    async fn scim_user(&self, source: &str, id: &str) -> Value {
        let users = self.scim.users_of(source, id).await;
        assert_eq!(users.len(), 1, "one SCIM user for {source}:{id}: {users:?}");
        users[0].clone()
    }

    /// What the product was sent about the employee, in order: (envelope type, status).
    fn product_calls(&self, source: &str, id: &str) -> Vec<(String, String)> {
        let requests = self.product.requests().into_iter();
        let mine = requests.filter(|r| r.body["data"]["source"] == source);
        let mine = mine.filter(|r| r.body["data"]["id"] == id);
        let field = |v: &Value| v.as_str().unwrap_or("?").to_owned();
        mine.map(|r| (field(&r.body["type"]), field(&r.body["data"]["status"])))
            .collect()
    }

    /// The hire reached every target: an active directory account, an active SCIM user
    /// named `email` (the external id when the sender has no email), one activation sent
    /// to the product. Returns the employee view.
    async fn assert_hired(&self, source: &str, id: &str, email: Option<&str>) -> Value {
        let view = self.wait_all(source, id, "active").await;
        assert_eq!(view["status"], "active", "{view}");
        let user = self.scim_user(source, id).await;
        assert_eq!(user["active"], true, "{user}");
        let external_id = format!("{source}:{id}");
        assert_eq!(user["userName"], email.unwrap_or(&external_id), "{user}");
        let directory = target(&view, "directory");
        assert_eq!(directory["email"], json!(email), "{view}");
        let calls = self.product_calls(source, id);
        assert_eq!(calls.len(), 1, "one activation: {calls:?}");
        let (kind, status) = &calls[0];
        assert!(
            kind == "employee.created" || kind == "employee.updated",
            "{calls:?}"
        );
        assert_eq!(status, "active");
        view
    }

    /// The leaver reached every target: the directory account deactivated, the SCIM user
    /// inactive (still there: `deprovision = "deactivate"`), a deactivation sent to the
    /// product after the one activation. Returns the employee view.
    async fn assert_left(&self, source: &str, id: &str) -> Value {
        let view = self.wait_all(source, id, "deactivated").await;
        assert_eq!(view["status"], "terminated", "{view}");
        let events = view["events"].as_array().unwrap();
        assert_eq!(events.last().unwrap()["kind"], "terminated", "{view}");
        assert!(target(&view, "directory")["deactivated_at"].is_string());
        let user = self.scim_user(source, id).await;
        assert_eq!(user["active"], false, "{user}");
        let calls = self.product_calls(source, id);
        let statuses: Vec<&str> = calls.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(statuses, ["active", "terminated"], "{calls:?}");
        assert_eq!(calls[1].0, "employee.terminated");
        view
    }

    /// Send `body`, which makes a leaver of `id`; it must reach every target.
    async fn leave(&self, sender: &Sender, id: &str, body: &Value) -> Value {
        self.send(sender, body).await;
        self.assert_left(sender.source, id).await
    }

    async fn cleanup(self) {
        self.app.cleanup().await;
    }
}

fn target<'a>(view: &'a Value, name: &str) -> &'a Value {
    let targets = view["targets"].as_array().expect("targets");
    let found = targets.iter().find(|t| t["target"] == name);
    found.unwrap_or_else(|| panic!("{name} in {view}"))
}

/// `minutes` ago: hires are sent as 10 minutes old, leavers as 1 (the sender's clock may
/// not be ahead of ours).
fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - Span::minutes(minutes)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Yesterday's date, `YYYY-MM-DD`: a termination date that has passed.
fn yesterday() -> String {
    (Utc::now() - Span::days(1)).format("%Y-%m-%d").to_string()
}
