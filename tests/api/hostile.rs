//! The receiver under hostile traffic: slow and idle connections, many unverified bodies at
//! once, and the ops listener that keeps `/metrics` off the webhook port.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use provisiond::{Config, Role};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::helpers::*;

/// Connections that send a request's headers one byte at a time.
const TRICKLERS: usize = 40;
/// `server.max_connections` of the trickle test: well below `TRICKLERS`.
const MAX_CONNECTIONS: usize = 16;
/// Descriptors the server may open beyond those it holds once ready: room for
/// `MAX_CONNECTIONS` and its database pool, not for every trickler.
const FD_HEADROOM: usize = MAX_CONNECTIONS + 10;

/// Send a request's headers one byte per `every`, until the server
/// closes it (a read sees EOF or an answer, or a write fails); `closed` counts those.
async fn trickle(stream: TcpStream, every: Duration, closed: Arc<AtomicUsize>) {
    let (mut read, mut write) = stream.into_split();
    let head = b"POST /webhooks/hris HTTP/1.1\r\nHost: provisiond\r\nX-Slow: ";
    let writer = async move {
        let mut ticks = tokio::time::interval(every);
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            ticks.tick().await;
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        let mut buffer = [0u8; 512];
        let _ = read.read(&mut buffer).await;
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    closed.fetch_add(1, Ordering::SeqCst);
}

/// Descriptors open in process `pid`.
async fn open_descriptors(pid: u32) -> usize {
    let mut entries = tokio::fs::read_dir(format!("/proc/{pid}/fd"))
        .await
        .unwrap();
    let mut count = 0;
    while entries.next_entry().await.unwrap().is_some() {
        count += 1;
    }
    count
}

#[tokio::test]
async fn trickling_connections_neither_exhaust_descriptors_nor_stay_open() {
    let iso = Isolation::new();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let limits = format!(
        "listen = \"127.0.0.1:{port}\"\nmax_connections = {MAX_CONNECTIONS}\n\
         header_timeout = \"1s\"\nrequest_timeout = \"5s\""
    );
    let text = test_config_text(&iso, &amqp_url(), "");
    let text = text.replace("listen = \"127.0.0.1:0\"", &limits);
    let config = temp_file(&text);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("--config")
        .arg(config.path())
        .args(["serve", "--role", "receiver"])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let address = format!("127.0.0.1:{port}");
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    wait_for("serve to be ready", || async {
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    // The server may open FD_HEADROOM more descriptors: fewer than TRICKLERS.
    let pid = child.id().unwrap();
    let limit = open_descriptors(pid).await + FD_HEADROOM;
    let status = tokio::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "prlimit failed");

    let closed = Arc::new(AtomicUsize::new(0));
    let mut tricklers = JoinSet::new();
    // All connected (accepted or in the listener's backlog) before the valid webhook.
    for _ in 0..TRICKLERS {
        let stream = TcpStream::connect(&address).await.expect("connect");
        let every = Duration::from_millis(100);
        tricklers.spawn(trickle(stream, every, Arc::clone(&closed)));
    }
    let body = hris_body("created", &unique("emp"), "2026-03-02T09:15:00Z");
    let headers = hris_headers(&body, &unique("msg"));
    // A new client: not the readiness probe's kept-alive connection, a new one.
    let mut request = reqwest::Client::new()
        .post(format!("{base}/webhooks/hris"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers.as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let deadline = Duration::from_secs(30);
    let response = tokio::time::timeout(deadline, request.send())
        .await
        .expect("the valid webhook is answered while tricklers are connected")
        .expect("the valid webhook's connection is not refused");
    assert_eq!(response.status(), 202);
    wait_for("the server to close a trickling connection", || async {
        (closed.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    tricklers.abort_all();
    child.start_kill().unwrap();
    let _ = child.wait().await;
    delete_topology(&iso.prefix).await;
}

/// A request that announces `length` body bytes and sends only a few of them.
async fn hold_body(address: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /webhooks/hris HTTP/1.1\r\nHost: provisiond\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n{{\"type\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn unverified_bodies_beyond_the_inflight_budget_get_503_until_they_are_gone() {
    const MAX_BODY: usize = 256 * 1024;
    const HELD: usize = 4;
    let iso = Isolation::new();
    let mut config = test_config(&iso, &amqp_url());
    config.server.max_body_bytes = MAX_BODY;
    config.server.max_inflight_bytes = HELD * MAX_BODY;
    config.server.request_timeout = Duration::from_secs(60);
    let app = spawn_with(config, iso, Role::Receiver).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..HELD {
        held.push(hold_body(&address, MAX_BODY).await);
    }
    // Unsigned: 401 while the budget has room, 503 once the held bodies have taken it.
    let url = format!("{}/webhooks/hris", app.address);
    let refused = wait_for("a request beyond the budget to get 503", || async {
        let response = app.client.post(&url).body("{}").send().await.ok()?;
        (response.status() == 503).then_some(response)
    })
    .await;
    let retry_after = refused.headers().get("retry-after").cloned();
    assert_eq!(retry_after.unwrap(), "7");
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"], "unavailable", "{error}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    let metrics = app.metrics().await;
    let rejected = metrics.lines().any(|line| {
        line.starts_with("provisiond_webhooks_rejected_total")
            && line.contains("reason=\"inflight_bytes_exhausted\"")
    });
    assert!(rejected, "{metrics}");

    drop(held);
    let body = hris_body("created", &unique("emp"), "2026-03-02T09:15:00Z");
    let headers = hris_headers(&body, &unique("msg"));
    wait_for("a valid webhook to be accepted again", || async {
        let response = app.post("hris", &headers, &body).await;
        (response.status() == 202).then_some(())
    })
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn the_ops_listener_serves_metrics_and_readiness_and_the_main_one_no_metrics() {
    let iso = Isolation::new();
    let mut config = test_config(&iso, &amqp_url());
    config.server.ops_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = spawn_with(config, iso, Role::All).await;
    let ops = app.ops_address.clone().expect("the ops listener is bound");
    let get = |url: String| {
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    app.send_hris(&hris_body(
        "created",
        &unique("emp"),
        "2026-03-02T09:15:00Z",
    ))
    .await;
    let metrics = get(format!("{ops}/metrics")).await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("provisiond_webhooks_received_total"),
        "{text}"
    );
    assert_eq!(get(format!("{ops}/readyz")).await.status(), 200);
    assert_eq!(get(format!("{ops}/healthz")).await.status(), 200);
    assert_eq!(get(format!("{}/metrics", app.address)).await.status(), 404);
    assert_eq!(get(format!("{}/readyz", app.address)).await.status(), 200);
    assert_eq!(get(format!("{}/healthz", app.address)).await.status(), 200);
    app.cleanup().await;
}

#[test]
fn receiver_limits_have_bounded_defaults_and_bad_values_name_their_key() {
    let defaults = Config::from_toml("").unwrap().server;
    assert_eq!(defaults.max_body_bytes, 262_144);
    assert_eq!(defaults.max_connections, 1024);
    assert_eq!(defaults.max_inflight_bytes, 64 * 1024 * 1024);
    assert_eq!(defaults.header_timeout, Duration::from_secs(10));
    assert_eq!(defaults.ops_listen, None);
    let cases = [
        ("max_connections = 0", "server.max_connections"),
        ("max_inflight_bytes = 0", "server.max_inflight_bytes"),
        ("max_body_bytes = 0", "server.max_body_bytes"),
        ("header_timeout = \"0s\"", "server.header_timeout"),
        (
            "max_body_bytes = 1000\nmax_inflight_bytes = 999",
            "server.max_inflight_bytes",
        ),
        (
            "listen = \"127.0.0.1:8080\"\nops_listen = \"127.0.0.1:8080\"",
            "server.ops_listen",
        ),
    ];
    for (toml, key) in cases {
        let error = Config::from_toml(&format!("[server]\n{toml}\n")).unwrap_err();
        assert!(error.to_string().contains(key), "{toml}: {error}");
    }
    let ok = "[server]\nmax_body_bytes = 1000\nmax_inflight_bytes = 1000\n";
    Config::from_toml(ok).unwrap();
}
