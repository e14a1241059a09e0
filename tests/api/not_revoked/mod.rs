//! The deprovision report never loses a termination: whatever stopped it (stale, ignored,
//! superseded, dead-lettered, even discarded), it is under `not_revoked` with its reason,
//! in the JSON, the CSV and the HTML, and the gauge counts it once past the SLA. One flow
//! through webhooks, a real HTTP target and the dead-letter log; one over fixture rows
//! for the kinds a flow cannot produce on demand.

mod reasons;
mod renderings;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use provisiond::services::audit::report::pending_past_sla;
use provisiond::Role;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;
use crate::target_server::TargetServer;

async fn rendering(app: &TestApp, extension: &str, query: &str) -> String {
    let response = app
        .admin_get(&format!("/admin/audit/deprovision.{extension}?{query}"))
        .await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// `not_revoked` by event id.
fn not_revoked(report: &Value) -> HashMap<String, Value> {
    let items = report["not_revoked"].as_array().expect("not_revoked array");
    items
        .iter()
        .map(|n| (n["event_id"].as_str().unwrap().to_owned(), n.clone()))
        .collect()
}

/// The CSV's rows as header name → cell, keyed by event id.
fn csv_rows(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut rows = parse_csv(text).into_iter();
    let header = rows.next().expect("a header");
    rows.map(|row| {
        let cells: HashMap<String, String> = header.iter().cloned().zip(row).collect();
        (cells["event_id"].clone(), cells)
    })
    .collect()
}

/// The HTML page's `<table id="…">` element.
fn html_table<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<table id="{id}">"#))
        .unwrap_or_else(|| panic!("no table {id}"));
    let end = start + page[start..].find("</table>").unwrap();
    &page[start..end]
}

async fn post_hris(app: &TestApp, kind: &str, employee: &str, at: &str) -> String {
    app.send_hris(&hris_body(kind, employee, at)).await
}

async fn dead_letter_id(app: &TestApp, event_id: &str) -> i64 {
    let letter = app.dead_letter(event_id).await;
    letter["id"].as_i64().expect("a dead letter has an id")
}
