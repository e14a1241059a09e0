use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::*;
use crate::domain::event::{Attributes, EventKind, Normalized};
use crate::normalize::normalize;
use crate::provision::test_support::{at, options, permanent, scripted, transient, Scripted};

const KEY_BYTES: &[u8] = b"a signing key only these tests know";
const EVENT_ID: &str = "msg_2vQk8Hq1";

fn secret() -> String {
    format!("whsec_{}", BASE64.encode(KEY_BYTES))
}

fn hire() -> CanonicalEvent {
    CanonicalEvent {
        kind: EventKind::Created,
        employee_id: "emp_123".into(),
        occurred_at: at("2026-03-02T09:15:00Z"),
        effective_at: None,
        attributes: Attributes {
            email: Some("ada@example.com".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: Some("Ada Lovelace".into()),
            department: Some("Sales".into()),
            title: Some("Analyst".into()),
            manager_id: Some("emp_7".into()),
            location: Some("London".into()),
            start_date: Some("2026-03-02".into()),
            employment_status: Some("active".into()),
            data: json!({"id": "emp_123", "raw": true}),
        },
    }
}

fn termination() -> CanonicalEvent {
    CanonicalEvent {
        kind: EventKind::Terminated,
        effective_at: Some(at("2026-03-31T00:00:00Z")),
        ..hire()
    }
}

fn target_with(config: Value) -> HttpTarget {
    HttpTarget::new("product", &options(config)).unwrap()
}

fn target(url: &str, timeout: &str) -> HttpTarget {
    target_with(json!({"url": url, "secret": secret(), "timeout": timeout}))
}

/// What the scripted server answers.
#[derive(Clone, Default)]
struct Script {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn answer(status: u16) -> Script {
    Script {
        status,
        ..Script::default()
    }
}

/// A server at `/hooks/provisiond` that answers every request with `script`.
async fn serve(script: Script) -> Scripted {
    let answer = move |_: &_| (script.status, script.headers.clone(), script.body.clone());
    scripted("/hooks/provisiond", answer).await
}

fn expected_signature(id: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY_BYTES).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn apply_against(script: Script) -> (Result<(), TargetError>, Scripted) {
    let server = serve(script).await;
    let result = target(&server.url, "5s")
        .apply("hris", EVENT_ID, &hire())
        .await;
    (result, server)
}

#[tokio::test]
async fn a_2xx_answer_is_success_and_the_request_carries_the_envelope_once() {
    let (result, server) = apply_against(answer(200)).await;
    result.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target, "/hooks/provisiond");
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body, envelope("hris", &hire()));
}

#[tokio::test]
async fn the_request_is_signed_with_standard_webhooks_headers_that_verify_independently() {
    let (result, server) = apply_against(answer(204)).await;
    result.unwrap();
    let requests = server.requests();
    let (request, body) = (&requests[0], &requests[0].body);
    assert_eq!(request.header("webhook-id"), EVENT_ID);
    let ts = request.header("webhook-timestamp");
    assert!(ts.parse::<u64>().unwrap().abs_diff(unix_now()) <= 5, "{ts}");
    assert_eq!(
        request.header("webhook-signature"),
        expected_signature(EVENT_ID, ts, body)
    );
    assert_eq!(request.header("content-type"), "application/json");
    let agent = request.header("user-agent");
    assert_eq!(agent, format!("provisiond/{}", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn a_400_answer_is_permanent_and_the_error_names_target_status_and_body() {
    let script = Script {
        body: r#"{"error": "unknown department"}"#.into(),
        ..answer(400)
    };
    let message = permanent(apply_against(script).await.0);
    assert!(message.contains("`product`"), "{message}");
    assert!(message.contains("400 Bad Request"), "{message}");
    assert!(message.contains("unknown department"), "{message}");
}

#[tokio::test]
async fn a_long_error_body_is_cut_to_a_short_excerpt_and_the_secret_never_appears() {
    let script = Script {
        body: "x".repeat(10_000),
        ..answer(422)
    };
    let message = permanent(apply_against(script).await.0);
    let excerpt = message.rsplit(": ").next().unwrap();
    assert!(excerpt.chars().count() <= 200, "{}", excerpt.len());
    assert!(excerpt.ends_with('…'));
    assert!(!message.contains(&secret()));
    assert!(!message.contains(&BASE64.encode(KEY_BYTES)));
}

#[tokio::test]
async fn a_503_answer_is_transient() {
    let (message, retry_after) = transient(apply_against(answer(503)).await.0);
    assert!(message.contains("503 Service Unavailable"), "{message}");
    assert!(message.contains("(empty body)"), "{message}");
    assert_eq!(retry_after, None);
}

#[tokio::test]
async fn a_429_answer_with_retry_after_seconds_is_transient_with_that_delay() {
    let script = Script {
        headers: vec![("retry-after", "7".into())],
        ..answer(429)
    };
    let (_, retry_after) = transient(apply_against(script).await.0);
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_503_answer_with_retry_after_as_an_http_date_is_transient_with_a_delay() {
    let later = Utc::now() + chrono::Duration::seconds(120);
    let date = later.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let script = Script {
        headers: vec![("retry-after", date)],
        ..answer(503)
    };
    let (_, retry_after) = transient(apply_against(script).await.0);
    let secs = retry_after.unwrap().as_secs();
    assert!((100..=120).contains(&secs), "{secs}");
}

#[tokio::test]
async fn a_409_answer_is_transient() {
    let (message, _) = transient(apply_against(answer(409)).await.0);
    assert!(message.contains("409 Conflict"), "{message}");
}

#[tokio::test]
async fn a_302_answer_is_permanent_and_the_redirect_is_not_followed() {
    let script = Script {
        headers: vec![("location", "/somewhere-else".into())],
        ..answer(302)
    };
    let (result, server) = apply_against(script).await;
    let message = permanent(result);
    assert!(message.contains("302 Found"), "{message}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target, "/hooks/provisiond");
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/hooks");
    let result = target(&url, "5s").apply("hris", EVENT_ID, &hire()).await;
    let (message, retry_after) = transient(result);
    assert!(message.contains("`product`"), "{message}");
    assert_eq!(retry_after, None);
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    // Accepts connections (the kernel's backlog) but never answers.
    let result = target(&url, "200ms").apply("hris", EVENT_ID, &hire()).await;
    let (message, _) = transient(result);
    assert!(message.contains("no answer within 200ms"), "{message}");
    drop(listener);
}

#[tokio::test]
async fn an_event_id_that_is_no_valid_header_value_is_permanent() {
    let server = serve(answer(200)).await;
    let result = target(&server.url, "5s")
        .apply("hris", "msg\nbroken", &hire())
        .await;
    permanent(result);
    assert!(server.requests().is_empty());
}

#[test]
fn the_envelope_has_the_type_timestamp_and_every_attribute() {
    let body = envelope("hris", &hire());
    assert_eq!(
        body,
        json!({
            "type": "employee.created",
            "timestamp": "2026-03-02T09:15:00Z",
            "data": {
                "source": "hris", "id": "emp_123", "email": "ada@example.com",
                "given_name": "Ada", "family_name": "Lovelace", "display_name": "Ada Lovelace",
                "department": "Sales", "title": "Analyst", "manager_id": "emp_7",
                "location": "London", "start_date": "2026-03-02", "status": "active",
                "effective_at": null,
                "termination_date": null
            }
        })
    );
}

#[test]
fn a_terminated_envelope_says_terminated_and_carries_its_effective_time() {
    let body = envelope("hris", &termination());
    assert_eq!(body["type"], "employee.terminated");
    assert_eq!(body["data"]["status"], "terminated");
    assert_eq!(body["data"]["effective_at"], "2026-03-31T00:00:00Z");
}

#[test]
fn provisiond_reads_its_own_envelope_back_as_the_same_event() {
    for event in [hire(), termination()] {
        let bytes = serde_json::to_vec(&envelope("hris", &event)).unwrap();
        let Normalized::Employee(read) =
            normalize(SourceKind::StandardWebhooks, &bytes, Utc::now()).unwrap()
        else {
            panic!("expected an employee event");
        };
        assert_eq!(read.kind, event.kind);
        assert_eq!(read.employee_id, event.employee_id);
        assert_eq!(read.occurred_at, event.occurred_at);
        assert_eq!(read.attributes.email, event.attributes.email);
        assert_eq!(read.attributes.department, event.attributes.department);
    }
}

#[test]
fn new_reads_url_secret_and_timeout_with_a_10s_default() {
    let target =
        target_with(json!({"url": "https://product.example.com/hooks", "secret": secret()}));
    assert_eq!(target.name(), "product");
    assert_eq!(target.timeout, Duration::from_secs(10));
    assert_eq!(target.url.as_str(), "https://product.example.com/hooks");
    let options = json!({"url": "http://127.0.0.1:9/h", "secret": secret(), "timeout": "1m 30s"});
    assert_eq!(target_with(options).timeout, Duration::from_secs(90));
}

#[test]
fn a_secret_can_be_read_from_a_file() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{}\n", secret())).unwrap();
    let reference = format!("file:{}", file.path().display());
    target_with(json!({"url": "https://x.example", "secret": reference}));
}

#[test]
fn debug_shows_neither_the_secret_nor_url_credentials() {
    let options = json!({"url": "https://user:hunter2@x.example/h", "secret": secret()});
    let shown = format!("{:?}", target_with(options));
    assert!(shown.contains("product"), "{shown}");
    assert!(!shown.contains(&BASE64.encode(KEY_BYTES)), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
