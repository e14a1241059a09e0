//! Enrichment: when a sender's webhook is thin (ids only, no status), the worker fetches
//! the employee's current record from the sender's API (`[[sources]] api = {…}`) and
//! decides from that record. A fetch that fails transiently is retried like any other
//! transient failure; a record the sender does not know (404) leaves the event as its
//! payload allows (no sender here documents a 404 as a termination).

mod bamboohr;
mod deel;
mod finch;
mod gusto;
mod hibob;
mod merge;
mod workos;

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Client, StatusCode};

use crate::config::ApiConfig;
use crate::domain::event::{CanonicalEvent, EventKind};
use crate::domain::SourceKind;

/// The sender's current record of one employee, in provisiond's terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// The employee the record belongs to, when the event named something else (a Deel
    /// contract).
    pub employee_id: Option<String>,
    /// Whether the record says the person has left.
    pub left: bool,
    /// Whether the record says the person is active (an explicit signal).
    pub active: bool,
    pub termination_date: Option<DateTime<Utc>>,
    pub attributes: crate::domain::event::Attributes,
}

/// One page of a sender's employee list: each record with its employee id, and the
/// cursor of the next page (`None` on the last).
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<(String, Record)>,
    pub next: Option<String>,
}

/// How many records a list page asks for.
pub const PAGE_SIZE: usize = 100;

/// The records of a list answer's array, each with its id (the first of `id_keys` it
/// has). An answer without the array, or a listed person without an id, is an error: a
/// list read short would make the people it missed look gone. An id with control
/// characters (never an employee here) is skipped.
fn page_of(
    items: Option<&Vec<serde_json::Value>>,
    what: &str,
    id_keys: &[&str],
    parse: fn(&serde_json::Value) -> Record,
) -> Result<Vec<(String, Record)>, EnrichError> {
    let items =
        items.ok_or_else(|| EnrichError::Permanent(format!("{what}: no list in the answer")))?;
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let id = id_keys.iter().find_map(|key| text(item, key));
        let id =
            id.ok_or_else(|| EnrichError::Permanent(format!("{what}: a listed person has no id")))?;
        if !id.chars().any(char::is_control) {
            records.push((id, parse(item)));
        }
    }
    Ok(records)
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// Network errors, timeouts, 5xx, 429: worth retrying.
    #[error("{0}")]
    Transient(String),
    /// Refused (401, 403, other 4xx) or not understood: retrying will not help.
    #[error("{0}")]
    Permanent(String),
}

/// A client for one source's API.
#[derive(Clone)]
pub struct Enricher {
    kind: SourceKind,
    api: ApiConfig,
    client: Client,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("kind", &self.kind)
            .field("base_url", &self.api.base_url)
            .finish_non_exhaustive()
    }
}

impl Enricher {
    /// `None` for kinds whose webhooks carry the record already (or not supported yet).
    pub fn new(kind: SourceKind, api: &ApiConfig) -> Result<Option<Enricher>, String> {
        if !matches!(
            kind,
            SourceKind::Bamboohr
                | SourceKind::Finch
                | SourceKind::Gusto
                | SourceKind::Hibob
                | SourceKind::Deel
                | SourceKind::Merge
                | SourceKind::Workos
        ) {
            return Ok(None);
        }
        let timeout = api.timeout.unwrap_or(Duration::from_secs(10));
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("api: cannot build the HTTP client: {e}"))?;
        Ok(Some(Enricher {
            kind,
            api: api.clone(),
            client,
        }))
    }

    /// Whether this event needs the record: its payload says nothing about the status.
    pub fn needs(kind: SourceKind, event: &CanonicalEvent) -> bool {
        let thin = event.attributes.employment_status.is_none();
        match kind {
            SourceKind::Bamboohr => thin && event.attributes.data.get("fields").is_none(),
            SourceKind::Finch | SourceKind::Gusto | SourceKind::Hibob => {
                event.kind != EventKind::Terminated
            }
            // A contract event that names no worker: only the contract says who.
            SourceKind::Deel => event
                .employee_id
                .starts_with(crate::normalize::deel::CONTRACT_PREFIX),
            // Full payloads: only one without a status (`employment_status`, `state`).
            SourceKind::Merge | SourceKind::Workos => thin && event.kind != EventKind::Terminated,
            SourceKind::StandardWebhooks => false,
        }
    }

    /// One page of the sender's full employee list, from `cursor` (`None`: the first page).
    pub async fn list_page(&self, cursor: Option<&str>) -> Result<Page, EnrichError> {
        match self.kind {
            SourceKind::Merge => merge::list(self, cursor).await,
            SourceKind::Workos => workos::list(self, cursor).await,
            SourceKind::Bamboohr => bamboohr::list(self).await,
            SourceKind::Hibob => hibob::list(self).await,
            SourceKind::Gusto => gusto::list(self, cursor).await,
            SourceKind::Deel => deel::list(self, cursor).await,
            SourceKind::Finch | SourceKind::StandardWebhooks => Err(EnrichError::Permanent(
                format!("{} has no employee list provisiond reads", self.kind),
            )),
        }
    }

    /// The employee's record; `None` when the sender does not know the id.
    pub async fn fetch(&self, employee_id: &str) -> Result<Option<Record>, EnrichError> {
        match self.kind {
            SourceKind::Bamboohr => bamboohr::fetch(self, employee_id).await,
            SourceKind::Finch => finch::fetch(self, employee_id).await,
            SourceKind::Gusto => gusto::fetch(self, employee_id).await,
            SourceKind::Hibob => hibob::fetch(self, employee_id).await,
            SourceKind::Deel => deel::fetch(self, employee_id).await,
            SourceKind::Merge => merge::fetch(self, employee_id).await,
            SourceKind::Workos => workos::fetch(self, employee_id).await,
            SourceKind::StandardWebhooks => Ok(None),
        }
    }
}

/// The event as the record says: a record that says the person left makes it a
/// termination (dated by the record where it has a date); one that says active makes it
/// an explicit active signal.
pub fn apply(event: &mut CanonicalEvent, mut record: Record, now: DateTime<Utc>) {
    if let Some(employee_id) = record.employee_id.take() {
        event.employee_id = employee_id;
    }
    let webhook = std::mem::take(&mut event.attributes.data);
    event.attributes = record.attributes;
    event.attributes.data = merged_data(std::mem::take(&mut event.attributes.data), webhook);
    let date_passed = record.termination_date.is_some_and(|d| d <= now);
    if record.left || date_passed {
        event.kind = EventKind::Terminated;
        event.effective_at = record.termination_date.filter(|d| *d <= now);
        event.attributes.employment_status = Some("terminated".into());
    } else {
        // A termination still ahead is scheduled from its date.
        event.effective_at = record.termination_date;
        if record.active {
            event.attributes.employment_status = Some("active".into());
        }
    }
}

/// The record's fields at the top (where `directory_id` and the like are looked up), the
/// webhook's payload under `webhook`; keys the record lacks (a WorkOS user's
/// `directory_id`) are taken from the webhook.
fn merged_data(record: serde_json::Value, webhook: serde_json::Value) -> serde_json::Value {
    let serde_json::Value::Object(mut fields) = record else {
        return serde_json::json!({ "webhook": webhook, "record": record });
    };
    if let serde_json::Value::Object(sent) = &webhook {
        for (key, value) in sent {
            fields.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    fields.insert("webhook".into(), webhook);
    serde_json::Value::Object(fields)
}

impl Enricher {
    /// The API's base URL followed by `path`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.base_url.trim_end_matches('/'))
    }
}

/// Send a request to the sender's API and read its JSON answer; `None` for 404.
async fn send_json(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<Option<serde_json::Value>, EnrichError> {
    let response = request
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|err| transport(what, err))?;
    if check(response.status(), what)?.is_none() {
        return Ok(None);
    }
    let body = response.json().await.map_err(|err| transport(what, err))?;
    Ok(Some(body))
}

/// A non-empty string (or number) field, trimmed.
fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `YYYY-MM-DD` date field (a longer timestamp is cut to its date) at midnight UTC;
/// BambooHR's empty date `0000-00-00` is none.
fn date(v: &serde_json::Value, key: &str) -> Option<DateTime<Utc>> {
    let text = text(v, key)?;
    let day = chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Classify an API answer's status; `Ok(None)` for 404.
fn check(status: StatusCode, what: &str) -> Result<Option<()>, EnrichError> {
    if status.is_success() {
        return Ok(Some(()));
    }
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let message = format!("{what} answered {status}");
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(EnrichError::Transient(message));
    }
    Err(EnrichError::Permanent(message))
}

fn transport(what: &str, error: reqwest::Error) -> EnrichError {
    // The error text of reqwest names the URL, never the token.
    EnrichError::Transient(format!("{what}: {error}"))
}
