//! Health, readiness, metrics, the admin API's auth, and the CLI.

use std::process::Command;

use provisiond::Role;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app(Role::All).await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["broker"], "ok");

    let employee = unique("metrics");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    app.post("hris", &hris_headers(&body, &unique("m")), &body)
        .await;
    app.post("hris", &serde_json::json!({}), &body).await;
    app.employee_after("hris", &employee, 1).await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for name in [
        "provisiond_webhooks_received_total",
        "provisiond_webhooks_rejected_total",
        "provisiond_events_published_total",
        "provisiond_events_processed_total",
        "provisiond_processing_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "metrics lack {name}");
    }
    assert!(text.contains(r#"reason="missing_signature""#));
    app.cleanup().await;
}

#[tokio::test]
async fn admin_api_requires_the_bearer_token() {
    let app = spawn_app(Role::Receiver).await;
    let url = format!("{}/admin/employees/hris/nobody", app.address);
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        app.admin_get("/admin/employees/hris/nobody").await.status(),
        404
    );
    assert!(app
        .admin_get("/admin/employees/hris/nobody")
        .await
        .headers()
        .contains_key("x-request-id"));
    app.cleanup().await;
}

fn config_file(app: &TestApp) -> tempfile::NamedTempFile {
    let text = format!(
        "[database]\nurl = \"{}\"\n[rabbitmq]\nmessage_key = \"{MESSAGE_KEY}\"\nprefix = \"{}\"\n\
         [[sources]]\nname = \"hris\"\nkind = \"standard-webhooks\"\nsecrets = [\"{HRIS_SECRET}\"]\n",
        app.iso.database_url, app.iso.prefix
    );
    temp_file(&text)
}

fn provisiond(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("provisiond runs")
}

#[tokio::test]
async fn cli_sign_headers_are_accepted_and_employee_show_prints_json() {
    let app = spawn_app(Role::All).await;
    let config = config_file(&app);
    let employee = unique("cli");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let body_file = temp_file(&body);
    let path = body_file.path().to_str().unwrap();
    let signed = provisiond(
        config.path(),
        &["sign", "hris", "--body", path, "--id", "msg_cli_1"],
    );
    assert!(signed.status.success());
    let mut headers = serde_json::Map::new();
    for line in String::from_utf8(signed.stdout).unwrap().lines() {
        let (name, value) = line.split_once(": ").expect("Name: value");
        headers.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    assert_eq!(
        app.post("hris", &Value::Object(headers), &body)
            .await
            .status(),
        202
    );
    app.employee_after("hris", &employee, 1).await;

    let shown = provisiond(
        config.path(),
        &["employee", "show", "hris", &employee, "--format", "json"],
    );
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let view: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(view["source"], "hris");
    assert_eq!(view["employee_id"], employee.as_str());
    assert_eq!(view["status"], "active");
    assert_eq!(view["targets"][0]["status"], "active");
    let event = &view["events"][0];
    assert_eq!(event["event_id"], "msg_cli_1");
    for key in [
        "kind",
        "outcome",
        "occurred_at",
        "received_at",
        "processed_at",
    ] {
        assert!(!event[key].is_null(), "event lacks {key}");
    }
    app.cleanup().await;
}

#[test]
fn invalid_configuration_names_the_bad_key() {
    let file = temp_file("[rabbitmq]\nprefetch = \"many\"\n");
    let out = provisiond(file.path(), &["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rabbitmq.prefetch"), "stderr: {stderr}");

    std::fs::write(
        file.path(),
        "[[sources]]\nname = \"m\"\nkind = \"merge\"\nsecrets = []\n",
    )
    .unwrap();
    let out = provisiond(file.path(), &["migrate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sources[0].secrets"), "stderr: {stderr}");
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let iso = Isolation::new();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\nurl = \"{}\"\n[rabbitmq]\nmessage_key = \"{MESSAGE_KEY}\"\nprefix = \"{}\"\n",
        iso.database_url, iso.prefix
    );
    let config = temp_file(&text);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("--config")
        .arg(config.path())
        .arg("serve")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    wait_for("serve to be ready", || async {
        let response = client.get(&ready).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Duration::from_secs(30);
    let status = tokio::time::timeout(deadline, child.wait())
        .await
        .expect("serve exits within the shutdown bound")
        .unwrap();
    assert!(status.success(), "serve exited with {status}");
    delete_topology(&iso.prefix).await;
}

/// Receivers and workers started together on a new database (a fresh deployment): one
/// creates it, the others find it created and start too.
#[tokio::test]
async fn processes_starting_together_on_a_new_database_all_start() {
    let iso = Isolation::new();
    let config = test_config(&iso, &amqp_url());
    let connects = (0..4).map(|_| provisiond::store::connect(&config.database));
    for pool in futures::future::join_all(connects).await {
        let pool = pool.expect("every process starts");
        pool.close().await;
    }
}
