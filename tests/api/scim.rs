//! The SCIM target end to end: provisiond, RabbitMQ, PostgreSQL and a real SCIM 2.0
//! server (scim2-server), with the rules from `provisioning.rs`.

use std::process::Stdio;

use provisiond::{Config, Role};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::helpers::*;
use crate::provisioning::{body, RULES};
use crate::target_server::TargetServer;

const TOKEN: &str = "scim-test-token";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A scim2-server child process on a fixed port, so it can be stopped and started again.
pub(crate) struct ScimServer {
    pub(crate) port: u16,
    child: Option<Child>,
    http: reqwest::Client,
}

impl ScimServer {
    pub(crate) async fn start() -> ScimServer {
        let mut server = ScimServer {
            port: free_port(),
            child: None,
            http: reqwest::Client::new(),
        };
        // The port is free when picked but another process (an outgoing connection of a
        // test running in parallel) may take it before the server binds: pick another.
        for _ in 0..5 {
            if server.try_start().await.is_ok() {
                return server;
            }
            server.port = free_port();
        }
        server.restart().await;
        server
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Start the server again on the same port (retried while the old one lets go of it).
    async fn restart(&mut self) {
        let mut last = String::new();
        for _ in 0..5 {
            match self.try_start().await {
                Ok(()) => return,
                Err(output) => last = output,
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("scim2-server did not start on port {}: {last}", self.port);
    }

    /// Spawn the server and wait until it answers; `Err(its stderr)` when it exits first.
    async fn try_start(&mut self) -> Result<(), String> {
        let log = tempfile::NamedTempFile::new().expect("temp file for scim2-server's stderr");
        let port = self.port.to_string();
        let args = [
            "--hostname",
            "127.0.0.1",
            "--port",
            &port,
            "--bearer-token",
            TOKEN,
        ];
        let spawn = |program: &str, prefix: &[&str]| {
            let stderr = log.reopen().expect("reopen scim2-server's stderr file");
            Command::new(program)
                .args(prefix)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .kill_on_drop(true)
                .spawn()
        };
        let mut child = spawn("scim2-server", &[])
            .or_else(|_| spawn("python3", &["-m", "scim2_server.testserver.cli"]))
            .expect("scim2-server runs (pip install scim2-server)");
        let probe = format!("{}/ServiceProviderConfig", self.base_url());
        let http = self.http.clone();
        let started = wait_for("scim2-server to answer or exit", || {
            let exited = child.try_wait().expect("scim2-server's status").is_some();
            let http = http.clone();
            let probe = probe.clone();
            async move {
                if exited {
                    return Some(false);
                }
                let response = http.get(&probe).bearer_auth(TOKEN).send().await.ok()?;
                response.status().is_success().then_some(true)
            }
        })
        .await;
        if started {
            self.child = Some(child);
            Ok(())
        } else {
            Err(std::fs::read_to_string(log.path()).unwrap_or_default())
        }
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    async fn get(&self, path: &str, filter: &str) -> Value {
        let url = format!("{}{path}", self.base_url());
        let request = self
            .http
            .get(url)
            .bearer_auth(TOKEN)
            .query(&[("filter", filter)]);
        request.send().await.unwrap().json().await.unwrap()
    }

    pub(crate) async fn users(&self, employee: &str) -> Vec<Value> {
        self.users_of("hris", employee).await
    }

    /// The SCIM users provisiond created for `employee` of `source` (`externalId`).
    pub(crate) async fn users_of(&self, source: &str, employee: &str) -> Vec<Value> {
        let filter = format!("externalId eq \"{source}:{employee}\"");
        let found = self.get("/Users", &filter).await;
        found["Resources"].as_array().cloned().unwrap_or_default()
    }

    pub(crate) async fn user(&self, employee: &str) -> Value {
        let mut users = self.users(employee).await;
        assert_eq!(users.len(), 1, "exactly one SCIM user for {employee}");
        users.remove(0)
    }

    async fn members(&self, group: &str) -> Vec<String> {
        let found = self
            .get("/Groups", &format!("displayName eq \"{group}\""))
            .await;
        let groups = found["Resources"].as_array().cloned().unwrap_or_default();
        let members = groups
            .first()
            .and_then(|g| g["members"].as_array().cloned());
        let values = members.unwrap_or_default().into_iter();
        values
            .filter_map(|m| m["value"].as_str().map(str::to_owned))
            .collect()
    }
}

pub(crate) fn scim_target(base_url: &str, deprovision: &str) -> String {
    format!(
        "[[targets]]\nname = \"apps\"\nkind = \"scim\"\nbase_url = \"{base_url}\"\n\
         token = \"{TOKEN}\"\ndeprovision = \"{deprovision}\"\ntimeout = \"2s\"\n"
    )
}

fn config(iso: &Isolation, base_url: &str, deprovision: &str, max_attempts: u32) -> Config {
    let extra = format!("{RULES}\n{}", scim_target(base_url, deprovision));
    let text = test_config_text(iso, &amqp_url(), &extra);
    let text = text.replace(
        &format!("max_attempts = {MAX_ATTEMPTS}"),
        &format!("max_attempts = {max_attempts}"),
    );
    Config::from_toml(&text).expect("valid config")
}

/// An app whose `apps` target is `scim`.
async fn spawn_scim(scim: &ScimServer, deprovision: &str, max_attempts: u32) -> TestApp {
    let iso = Isolation::new();
    let config = config(&iso, &scim.base_url(), deprovision, max_attempts);
    spawn_with(config, iso, Role::All).await
}

#[tokio::test]
async fn a_hire_in_sales_creates_an_active_scim_user_in_the_sales_group() {
    let scim = ScimServer::start().await;
    let app = spawn_scim(&scim, "deactivate", 4).await;
    let employee = unique("sales");
    app.send_hris(&body("created", &employee, "Sales", "2026-03-02T09:00:00Z"))
        .await;
    app.wait_target(&employee, "apps", "active").await;
    let user = scim.user(&employee).await;
    assert_eq!(user["externalId"], format!("hris:{employee}"));
    assert_eq!(user["userName"], format!("{employee}@example.com"));
    assert_eq!(user["active"], true);
    let enterprise = &user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(enterprise["department"], "Sales");
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(scim.members("sales").await, vec![id]);
    let view = app.employee("hris", &employee).await.unwrap();
    let directory = view["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "directory")
        .unwrap()
        .clone();
    assert_eq!(directory["role"], "sales");
    assert_eq!(directory["entitlements"]["card_limit_usd"], 500);
    app.cleanup().await;
}

#[tokio::test]
async fn the_same_hire_sent_three_times_makes_one_scim_user() {
    let scim = ScimServer::start().await;
    let app = spawn_scim(&scim, "deactivate", 4).await;
    let employee = unique("thrice");
    let hire = body("created", &employee, "Sales", "2026-03-02T09:00:00Z");
    for _ in 0..3 {
        app.send_hris(&hire).await;
    }
    app.employee_after("hris", &employee, 3).await;
    // Each hire's action supersedes the older ones still open: every action ends sent or
    // superseded, and at least the newest was sent.
    wait_for("the three SCIM actions to settle", || async {
        let (sent, settled): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), \
             count(*) FILTER (WHERE status IN ('succeeded', 'superseded')) \
             FROM provisioning_actions WHERE employee_id = $1",
        )
        .bind(&employee)
        .fetch_one(&app.pool)
        .await
        .ok()?;
        (sent >= 1 && settled == 3).then_some(())
    })
    .await;
    assert_eq!(scim.users(&employee).await.len(), 1);
    assert_eq!(scim.members("sales").await.len(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_department_change_moves_scim_groups_and_a_termination_deactivates() {
    let scim = ScimServer::start().await;
    let app = spawn_scim(&scim, "deactivate", 4).await;
    let employee = unique("mover");
    app.send_hris(&body("created", &employee, "Sales", "2026-03-02T09:00:00Z"))
        .await;
    app.wait_target(&employee, "apps", "active").await;
    let id = scim.user(&employee).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send_hris(&body(
        "updated",
        &employee,
        "Engineering",
        "2026-04-02T09:00:00Z",
    ))
    .await;
    // Groups are added before old ones are removed: wait for the whole move.
    wait_for("the move to engineering", || async {
        let joined = scim.members("engineering").await.contains(&id);
        let left = scim.members("sales").await.is_empty();
        (joined && left).then_some(())
    })
    .await;
    assert_eq!(scim.members("github").await, vec![id.clone()]);
    let view = app.employee("hris", &employee).await.unwrap();
    let directory = view["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "directory")
        .unwrap()
        .clone();
    assert_eq!(directory["entitlements"]["card_limit_usd"], 100);

    app.send_hris(&body(
        "terminated",
        &employee,
        "Engineering",
        "2026-05-02T09:00:00Z",
    ))
    .await;
    app.wait_target(&employee, "apps", "deactivated").await;
    assert_eq!(scim.user(&employee).await["active"], false);
    app.cleanup().await;
}

#[tokio::test]
async fn with_deprovision_delete_a_termination_removes_the_scim_user() {
    let scim = ScimServer::start().await;
    let app = spawn_scim(&scim, "delete", 4).await;
    let employee = unique("deleted");
    app.send_hris(&body("created", &employee, "Sales", "2026-03-02T09:00:00Z"))
        .await;
    app.wait_target(&employee, "apps", "active").await;
    app.send_hris(&body(
        "terminated",
        &employee,
        "Sales",
        "2026-05-02T09:00:00Z",
    ))
    .await;
    app.wait_target(&employee, "apps", "deactivated").await;
    assert!(scim.users(&employee).await.is_empty());
    app.cleanup().await;
}

#[tokio::test]
async fn a_scim_server_that_is_down_is_retried_until_it_comes_back() {
    let mut scim = ScimServer::start().await;
    scim.stop().await;
    let app = spawn_scim(&scim, "deactivate", 1000).await;
    let employee = unique("patient");
    let event_id = app
        .send_hris(&body("created", &employee, "Sales", "2026-03-02T09:00:00Z"))
        .await;
    wait_for("a failed attempt", || async {
        let attempts: i32 =
            sqlx::query_scalar("SELECT attempts FROM provisioning_actions WHERE event_id = $1")
                .bind(&event_id)
                .fetch_optional(&app.pool)
                .await
                .ok()??;
        (attempts >= 2).then_some(())
    })
    .await;
    scim.restart().await;
    app.wait_target(&employee, "apps", "active").await;
    assert_eq!(scim.user(&employee).await["active"], true);
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(dead, 0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_scim_400_is_dead_lettered_and_replay_does_not_redo_the_directory() {
    let broken = TargetServer::start(&[], 400).await;
    let iso = Isolation::new();
    let mut first = spawn_with(
        config(&iso, &broken.base, "deactivate", 4),
        iso.clone(),
        Role::All,
    )
    .await;
    let employee = unique("refused");
    let event_id = first
        .send_hris(&body("created", &employee, "Sales", "2026-03-02T09:00:00Z"))
        .await;
    let id: i64 = wait_for("the dead letter", || async {
        sqlx::query_scalar(
            "SELECT id FROM dead_letters WHERE event_id = $1 AND reason = 'permanent_error'",
        )
        .bind(&event_id)
        .fetch_optional(&first.pool)
        .await
        .ok()?
    })
    .await;
    let directory_at = first.account_updated_at(&employee).await;
    first.stop().await.unwrap();

    // The operator points the target at the right server, restarts, and replays.
    let scim = ScimServer::start().await;
    let app = spawn_with(
        config(&iso, &scim.base_url(), "deactivate", 4),
        iso,
        Role::All,
    )
    .await;
    app.replay(id).await;
    app.wait_target(&employee, "apps", "active").await;
    assert_eq!(scim.users(&employee).await.len(), 1);
    let after = app.account_updated_at(&employee).await;
    assert_eq!(directory_at, after, "the directory's success is not redone");
    app.cleanup().await;
}

#[tokio::test]
async fn a_rehire_reactivates_the_scim_user_with_the_rules_applied_afresh() {
    let scim = ScimServer::start().await;
    let app = spawn_scim(&scim, "deactivate", 4).await;
    let employee = unique("boomerang");
    app.send_hris(&body("created", &employee, "Sales", "2026-01-02T09:00:00Z"))
        .await;
    app.wait_target(&employee, "apps", "active").await;
    app.send_hris(&body(
        "terminated",
        &employee,
        "Sales",
        "2026-02-02T09:00:00Z",
    ))
    .await;
    app.wait_target(&employee, "apps", "deactivated").await;
    app.send_hris(&body(
        "created",
        &employee,
        "Engineering",
        "2026-06-02T09:00:00Z",
    ))
    .await;
    let view = app.employee_after("hris", &employee, 3).await;
    assert_eq!(view["events"][2]["reason"], "rehire");
    app.wait_target(&employee, "apps", "active").await;
    let user = scim.user(&employee).await;
    assert_eq!(user["active"], true);
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(scim.members("engineering").await, vec![id]);
    app.cleanup().await;
}
