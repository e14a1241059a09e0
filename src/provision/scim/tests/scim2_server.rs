//! `scim2-server` as a child process, and its state read back with plain requests.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::{scim_target, TOKEN};
use crate::provision::scim::ScimTarget;

/// A `scim2-server` child on a free local port, killed when dropped.
pub(super) struct ScimServer {
    _child: Child,
    pub(super) url: String,
    http: reqwest::Client,
}

impl ScimServer {
    pub(super) async fn start() -> ScimServer {
        // Picking a port and handing it over can race with another test: try a few ports.
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn_scim2_server(port);
            let url = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            if wait_until_answering(&http, &url, &mut child).await {
                return ScimServer {
                    _child: child,
                    url,
                    http,
                };
            }
        }
        panic!("scim2-server did not start on any of 5 ports");
    }

    pub(super) fn options(&self) -> Value {
        json!({"base_url": self.url, "token": TOKEN})
    }

    pub(super) fn target(&self) -> ScimTarget {
        scim_target(self.options())
    }

    pub(super) fn target_with(&self, key: &str, value: &str) -> ScimTarget {
        let mut options = self.options();
        options[key] = value.into();
        scim_target(options)
    }

    pub(super) async fn get(&self, path: &str, filter: Option<String>) -> Value {
        let mut request = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(filter) = filter {
            request = request.query(&[("filter", filter)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "POST {path}");
        response.json().await.unwrap()
    }

    pub(super) async fn users(&self) -> Vec<Value> {
        let list = self.get("/Users", None).await;
        list["Resources"].as_array().cloned().unwrap_or_default()
    }

    /// Every user with this externalId (one, if all went well).
    pub(super) async fn users_with_external_id(&self, external_id: &str) -> Vec<Value> {
        let filter = format!("externalId eq {}", json!(external_id));
        let list = self.get("/Users", Some(filter)).await;
        list["Resources"].as_array().cloned().unwrap_or_default()
    }

    pub(super) async fn user(&self, external_id: &str) -> Value {
        let mut users = self.users_with_external_id(external_id).await;
        assert_eq!(
            users.len(),
            1,
            "users with externalId {external_id}: {users:?}"
        );
        users.remove(0)
    }

    pub(super) async fn group(&self, name: &str) -> Option<Value> {
        let filter = format!("displayName eq {}", json!(name));
        let list = self.get("/Groups", Some(filter)).await;
        let mut groups = list["Resources"].as_array().cloned().unwrap_or_default();
        assert!(groups.len() <= 1, "groups named {name}: {groups:?}");
        groups.pop()
    }

    /// Member ids of a group (none when the group does not exist).
    pub(super) async fn members(&self, name: &str) -> Vec<String> {
        let Some(group) = self.group(name).await else {
            return Vec::new();
        };
        let members = group["members"].as_array().cloned().unwrap_or_default();
        members
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect()
    }

    /// The names of the groups that list `user_id` as a member.
    pub(super) async fn groups_of(&self, user_id: &str) -> Vec<String> {
        let list = self.get("/Groups", None).await;
        let mut names: Vec<String> = list["Resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|g| {
                let members = g["members"].as_array().cloned().unwrap_or_default();
                members.iter().any(|m| m["value"] == user_id)
            })
            .map(|g| g["displayName"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }
}

pub(super) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `scim2-server` from PATH, else the same program through `python3 -m`.
fn spawn_scim2_server(port: u16) -> Child {
    let args = [
        "--hostname".to_string(),
        "127.0.0.1".to_string(),
        "--port".to_string(),
        port.to_string(),
        "--bearer-token".to_string(),
        TOKEN.to_string(),
    ];
    let spawn = |program: &str, prefix: &[&str]| {
        Command::new(program)
            .args(prefix)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    };
    match spawn("scim2-server", &[]) {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            spawn("python3", &["-m", "scim2_server.testserver.cli"]).expect(
                "neither scim2-server nor python3 could be started (pip install scim2-server)",
            )
        }
        Err(e) => panic!("cannot start scim2-server: {e}"),
    }
}

/// Poll until the server answers an authenticated request; false if it exited (its port was
/// taken) or did not answer within 30 s.
async fn wait_until_answering(http: &reqwest::Client, url: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = format!("{url}/ServiceProviderConfig");
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let answer = http.get(&probe).bearer_auth(TOKEN).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill().await;
    false
}
