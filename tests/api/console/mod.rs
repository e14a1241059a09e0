//! The operator console under `/console`: sign-in and its cookie, roles, CSRF and
//! cross-origin refusal, sign-out; `browser` drives the pages in a real Chromium.

mod browser;

use chrono::Utc;
use provisiond::store::dead_letters::{self, NewDeadLetter, Reason};
use provisiond::Role;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::*;

/// A browser-like client that does not follow redirects (the tests look at them).
fn client() -> reqwest::Client {
    let builder = reqwest::Client::builder().redirect(Policy::none());
    builder.build().unwrap()
}

/// A dead-lettered hire of a new employee on `hris`, with a real canonical body.
async fn dead_hire(app: &TestApp) -> (i64, String) {
    let employee = unique("console");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let event_id = unique("msg");
    let chain = ["target `directory` refused the event".to_owned()];
    let received = Utc::now() - chrono::Duration::minutes(5);
    let letter = NewDeadLetter {
        source: "hris",
        source_kind: "standard-webhooks",
        event_id: &event_id,
        employee_id: Some(&employee),
        kind: Some("created"),
        reason: Reason::AttemptsExhausted,
        body: &body,
        headers: json!({"source": "hris", "event_id": event_id, "trigger": "webhook"}),
        last_error: "target `directory` refused the event",
        error_chain: &chain,
        attempts: 3,
        first_received_at: received,
        first_failed_at: Some(received),
    };
    (
        dead_letters::record(&app.pool, &letter).await.unwrap(),
        employee,
    )
}

/// Post the sign-in form with `token`.
async fn sign_in_response(app: &TestApp, token: &str, https: bool) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}/console/sign-in", app.address))
        .form(&[("token", token)]);
    if https {
        request = request.header("x-forwarded-proto", "https");
    }
    request.send().await.expect("request sent")
}

/// The `name=value` of the session cookie a good sign-in sets.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let response = sign_in_response(app, token, false).await;
    assert_eq!(response.status(), 303);
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{}{path}", app.address));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.expect("request sent")
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let response = get(app, path, Some(cookie)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The CSRF token of the forms of a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a csrf field") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}{path}", app.address))
        .header(COOKIE, cookie)
        .form(form);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.expect("request sent")
}

async fn status_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_good_token_signs_in_with_a_strict_http_only_console_cookie() {
    let app = spawn_with_tokens(Role::Receiver).await;
    let response = sign_in_response(&app, OPERATOR_TOKEN, false).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/console");
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(
        !set.contains(OPERATOR_TOKEN),
        "the token never goes in the cookie"
    );
    let behind_tls = sign_in_response(&app, OPERATOR_TOKEN, true).await;
    let set_tls = behind_tls.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set_tls.contains("Secure"), "{set_tls}");

    let cookie = set.split(';').next().unwrap();
    let response = get(&app, "/console", Some(cookie)).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let html = response.text().await.unwrap();
    assert!(html.contains("olga") && html.contains("operator"), "{html}");
    // The overview charts what only this process knows too, over the same 24 hours.
    for chart in [
        "chart-rejected",
        "chart-retries",
        "chart-depth",
        "chart-breaches",
    ] {
        assert!(html.contains(&format!("id=\"{chart}\"")), "{chart}: {html}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_bad_token_or_a_forged_cookie_gets_no_session() {
    let app = spawn_with_tokens(Role::Receiver).await;
    let response = sign_in_response(&app, "not-a-configured-token-0000", false).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let html = response.text().await.unwrap();
    assert!(
        html.contains("not one of the configured admin tokens"),
        "{html}"
    );

    let anonymous = get(&app, "/console/dead-letters", None).await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()[LOCATION], "/console/sign-in");
    let (id, _) = dead_hire(&app).await;
    let path = format!("/console/dead-letters/{id}/replay");
    let unsigned = post(
        &app,
        &path,
        "provisiond_console=forged",
        &[("csrf", "00")],
        None,
    )
    .await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(status_of(&app, id).await, "dead");
    // A cookie of the auditor rewritten to say operator no longer verifies.
    let cookie = sign_in(&app, AUDITOR_TOKEN).await;
    let forged = cookie.replace(".auditor.", ".operator.");
    let response = get(&app, "/console/dead-letters", Some(&forged)).await;
    assert_eq!(response.status(), 303);
    app.cleanup().await;
}

#[tokio::test]
async fn an_auditor_sees_no_actions_or_raw_body_and_a_forged_post_is_forbidden() {
    let app = spawn_with_tokens(Role::Receiver).await;
    let (id, _) = dead_hire(&app).await;
    let cookie = sign_in(&app, AUDITOR_TOKEN).await;
    let html = page(&app, &format!("/console/dead-letters/{id}"), &cookie).await;
    assert!(!html.contains("id=\"replay\""), "{html}");
    assert!(!html.contains("id=\"raw-body\"") && html.contains("id=\"body-withheld\""));
    let csrf = csrf_of(&html);
    let path = format!("/console/dead-letters/{id}/replay");
    let response = post(&app, &path, &cookie, &[("csrf", &csrf)], None).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("auditor"));
    let confirm = get(&app, &path, Some(&cookie)).await;
    assert_eq!(confirm.status(), 403);
    assert_eq!(status_of(&app, id).await, "dead");
    app.cleanup().await;
}

#[tokio::test]
async fn a_post_without_its_sessions_csrf_token_or_from_another_origin_is_refused() {
    let app = spawn_with_tokens(Role::Receiver).await;
    let (id, _) = dead_hire(&app).await;
    let cookie = sign_in(&app, OPERATOR_TOKEN).await;
    let other = sign_in(&app, OPERATOR_TOKEN).await;
    let html = page(&app, &format!("/console/dead-letters/{id}/replay"), &cookie).await;
    let csrf = csrf_of(&html);
    let others_csrf = csrf_of(&page(&app, "/console", &other).await);
    assert_ne!(csrf, others_csrf);
    let path = format!("/console/dead-letters/{id}/replay");
    for form in [
        vec![],
        vec![("csrf", "00ff")],
        vec![("csrf", others_csrf.as_str())],
    ] {
        let response = post(&app, &path, &cookie, &form, None).await;
        assert_eq!(response.status(), 403, "{form:?}");
    }
    let form = [("csrf", csrf.as_str())];
    let cross = post(&app, &path, &cookie, &form, Some("https://evil.example")).await;
    assert_eq!(cross.status(), 403);
    assert_eq!(status_of(&app, id).await, "dead", "nothing replayed yet");

    let own_origin = app.address.clone();
    let response = post(&app, &path, &cookie, &form, Some(&own_origin)).await;
    assert_eq!(response.status(), 303);
    let location = format!("/console/dead-letters/{id}?done=replayed");
    assert_eq!(response.headers()[LOCATION], location.as_str());
    assert_eq!(status_of(&app, id).await, "replayed");
    let detail = app.admin_json(&format!("/admin/dead-letters/{id}")).await;
    assert_eq!(last_action(&detail)["actor"], "olga");
    app.cleanup().await;
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let app = spawn_with_tokens(Role::Receiver).await;
    let cookie = sign_in(&app, AUDITOR_TOKEN).await;
    let csrf = csrf_of(&page(&app, "/console", &cookie).await);
    let without = post(&app, "/console/sign-out", &cookie, &[], None).await;
    assert_eq!(without.status(), 403, "sign-out needs the CSRF token too");
    let response = post(&app, "/console/sign-out", &cookie, &[("csrf", &csrf)], None).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/console/sign-in");
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("provisiond_console=;"), "{set}");
    assert!(
        set.contains("Max-Age=0") && set.contains("Path=/console"),
        "{set}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn an_employee_is_found_by_email_and_the_report_links_each_termination_to_them() {
    let app = spawn_with_tokens(Role::All).await;
    let employee = unique("Leaver");
    app.send_event("created", &employee).await;
    app.send_event("terminated", &employee).await;
    let path = format!("/admin/employees/hris/{employee}");
    wait_for("the leaver to be terminated", || async {
        let view: serde_json::Value = app.admin_get(&path).await.json().await.ok()?;
        (view["status"] == "terminated").then_some(())
    })
    .await;
    let cookie = sign_in(&app, AUDITOR_TOKEN).await;
    let timeline = format!("/console/employees/hris/{employee}");
    let email = format!("{}@EXAMPLE.com", employee.to_lowercase());
    let found = page(&app, &format!("/console/employees?email={email}"), &cookie).await;
    assert!(found.contains(&format!("href=\"{timeline}\"")), "{found}");
    let by_id = get(
        &app,
        &format!("/console/employees?source=hris&id={employee}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(by_id.status(), 303);
    assert_eq!(by_id.headers()[LOCATION], timeline.as_str());

    let shown = page(&app, &timeline, &cookie).await;
    assert!(
        shown.contains("id=\"employee-status\">terminated"),
        "{shown}"
    );
    assert_eq!(
        shown.matches("status-applied").count(),
        2,
        "hire and termination applied"
    );
    let report = page(&app, "/console/report", &cookie).await;
    assert_eq!(report.matches("<svg class=\"chart\"").count(), 2);
    assert!(report.contains(&format!("href=\"{timeline}\"")), "{report}");
    // The evidence: who prepared it (the signed-in token), the audit log's verdict.
    assert!(
        report.contains("data-fact=\"prepared-by\">ann<"),
        "{report}"
    );
    assert!(
        report.contains("data-fact=\"audit-log\" data-intact=\"true\""),
        "{report}"
    );
    let csv = get(
        &app,
        "/console/report/deprovision.csv?since=1d",
        Some(&cookie),
    )
    .await;
    assert_eq!(csv.status(), 200);
    let disposition = csv.headers()["content-disposition"].to_str().unwrap();
    assert_eq!(disposition, "attachment; filename=\"deprovision.csv\"");
    assert!(csv.text().await.unwrap().contains(&employee));
    let html = page(&app, "/console/report/deprovision.html", &cookie).await;
    assert!(html.contains(&employee) && html.contains("ann"), "{html}");
    let other = get(&app, "/console/report/passwords.txt", Some(&cookie)).await;
    assert_eq!(other.status(), 404);
    let unknown = get(&app, "/console/employees/hris/nobody-at-all", Some(&cookie)).await;
    assert_eq!(unknown.status(), 404);
    let bad = get(&app, "/console/report?since=yesterday-ish", Some(&cookie)).await;
    assert_eq!(bad.status(), 400);
    app.cleanup().await;
}
