//! Dead letters: the filtered list, one letter (error chain, raw body for operators,
//! what was done to it), and replay or discard after a confirmation page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::error::{render, ConsoleError};
use super::page::{encode, given, time, time_opt, Page};
use super::session::Session;
use crate::http::AppState;
use crate::services::dead_letters::{self as ops, Detail, Filter, OpsError, Status};
use crate::services::since::parse_since;

/// Rows the list shows at most.
const LIST_LIMIT: i64 = 200;

pub const REASONS: [&str; 5] = [
    "permanent_error",
    "attempts_exhausted",
    "delivery_limit",
    "unparseable",
    "unauthenticated",
];

/// `?source=&reason=&status=&since=`; empty values mean "any".
#[derive(Debug, Default, Deserialize)]
pub struct FilterParams {
    pub source: Option<String>,
    pub reason: Option<String>,
    pub status: Option<String>,
    pub since: Option<String>,
}

impl FilterParams {
    /// The filter these parameters ask for (status ignored when `with_status` is false).
    pub fn filter(&self, with_status: bool) -> Result<Filter, ConsoleError> {
        let reason = given(self.reason.as_deref()).map(|r| ops::parse_reason(&r));
        let since = given(self.since.as_deref()).map(|s| parse_since(&s, Utc::now()));
        let status = given(self.status.as_deref()).filter(|_| with_status);
        let status = status.map(|s| s.parse::<Status>());
        let bad = |e: String| ConsoleError::bad_request(e);
        Ok(Filter {
            source: given(self.source.as_deref()),
            reason: reason.transpose().map_err(bad)?,
            status: status.transpose().map_err(bad)?,
            since: since.transpose().map_err(bad)?,
            limit: Some(LIST_LIMIT),
        })
    }

    /// The query string of the filter without its status (what a bulk replay takes).
    pub fn query(&self) -> String {
        let fields = [
            ("source", &self.source),
            ("reason", &self.reason),
            ("since", &self.since),
        ];
        let given = fields
            .iter()
            .filter_map(|(name, value)| Some((name, given(value.as_deref())?)));
        let pairs: Vec<String> = given.map(|(n, v)| format!("{n}={}", encode(&v))).collect();
        pairs.join("&")
    }

    pub fn value(field: &Option<String>) -> String {
        field.clone().unwrap_or_default()
    }
}

pub struct Row {
    pub id: i64,
    pub source: String,
    pub employee: String,
    pub kind: String,
    pub reason: String,
    pub status: String,
    pub attempts: i32,
    pub at: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "console/dead_letters.html")]
struct ListPage {
    page: Page,
    sources: Vec<String>,
    reasons: Vec<String>,
    statuses: Vec<String>,
    source: String,
    reason: String,
    status: String,
    since: String,
    rows: Vec<Row>,
    limit: i64,
    truncated: bool,
    bulk_query: String,
    dead_shown: usize,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(params): Query<FilterParams>,
) -> Result<Response, ConsoleError> {
    let filter = params.filter(true)?;
    let found = ops::list(&state.pool, &filter).await?;
    let rows: Vec<Row> = found
        .into_iter()
        .map(|s| Row {
            id: s.id,
            source: s.source,
            employee: s.employee_id.unwrap_or_default(),
            kind: s.kind.unwrap_or_default(),
            reason: s.reason,
            status: s.status,
            attempts: s.attempts,
            at: time(&s.dead_lettered_at),
            error: s.last_error,
        })
        .collect();
    let mut sources: Vec<String> = state.sources.keys().cloned().collect();
    sources.sort();
    let page = ListPage {
        page: Page::new("Dead letters", "dead-letters", &session),
        sources,
        reasons: REASONS.map(String::from).to_vec(),
        statuses: Status::ALL.map(|s| s.as_str().to_owned()).to_vec(),
        source: FilterParams::value(&params.source),
        reason: FilterParams::value(&params.reason),
        status: FilterParams::value(&params.status),
        since: FilterParams::value(&params.since),
        dead_shown: rows.iter().filter(|r| r.status == "dead").count(),
        truncated: rows.len() as i64 == LIST_LIMIT,
        rows,
        limit: LIST_LIMIT,
        bulk_query: params.query(),
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "console/dead_letter.html")]
struct DetailPage {
    page: Page,
    letter: Detail,
    received: String,
    failed: String,
    dead_lettered: String,
    chain: Vec<String>,
    /// `None` for auditors: the raw body is personal data.
    body: Option<String>,
    actions: Vec<ActionRow>,
    done: Option<&'static str>,
    replayable: bool,
    discardable: bool,
}

struct ActionRow {
    action: String,
    actor: String,
    reason: String,
    at: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let letter = load(&state, &id).await?;
    let chain = match &letter.error_chain {
        Value::Array(items) => items.iter().map(text_of).collect(),
        Value::Null => Vec::new(),
        other => vec![text_of(other)],
    };
    let actions = letter.actions.iter().map(|a| ActionRow {
        action: a.action.clone(),
        actor: a.actor.clone(),
        reason: a.reason.clone().unwrap_or_default(),
        at: time(&a.at),
    });
    let done = match done.done.as_deref() {
        Some("replayed") => {
            Some("Replayed: the event was published again and is applied once a worker takes it.")
        }
        Some("discarded") => Some("Discarded: it will not be replayed."),
        _ => None,
    };
    let status = letter.summary.status.as_str();
    let page = DetailPage {
        page: Page::new(
            format!("Dead letter {}", letter.summary.id),
            "dead-letters",
            &session,
        ),
        received: time(&letter.summary.first_received_at),
        failed: time_opt(letter.first_failed_at.as_ref()),
        dead_lettered: time(&letter.summary.dead_lettered_at),
        chain,
        body: session.is_operator().then(|| letter.body.clone()),
        actions: actions.collect(),
        done,
        replayable: status != "discarded" && letter.summary.reason != "unauthenticated",
        discardable: status == "dead",
        letter,
    };
    Ok(render(&page))
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage {
    page: Page,
    letter: Detail,
    action: &'static str,
    /// Discarding asks why.
    ask_reason: bool,
}

pub async fn confirm_replay(
    state: State<AppState>,
    session: Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    confirm(state, session, &id, "replay").await
}

pub async fn confirm_discard(
    state: State<AppState>,
    session: Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    confirm(state, session, &id, "discard").await
}

async fn confirm(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    id: &str,
    action: &'static str,
) -> Result<Response, ConsoleError> {
    if !session.is_operator() {
        let message = "Your token has the auditor role, which may only read.";
        return Err(ConsoleError::forbidden(message));
    }
    let letter = load(&state, id).await?;
    let title = format!("{} dead letter {}?", capitalized(action), letter.summary.id);
    let page = ConfirmPage {
        page: Page::new(title, "dead-letters", &session),
        ask_reason: action == "discard",
        action,
        letter,
    };
    Ok(render(&page))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    first.into_iter().chain(chars).collect()
}

pub async fn replay(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let publisher = publisher(&state)?;
    let actor = session.actor();
    ops::replay(&state.pool, publisher, &[id], &actor)
        .await
        .map_err(ops_error)?;
    let to = format!("/console/dead-letters/{id}?done=replayed");
    Ok(Redirect::to(&to).into_response())
}

#[derive(Debug, Deserialize)]
pub struct DiscardForm {
    #[serde(default)]
    reason: String,
}

pub async fn discard(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<DiscardForm>,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        let message = "Say why the dead letter is discarded (the reason is recorded).";
        return Err(ConsoleError::bad_request(message));
    }
    ops::discard(&state.pool, id, &session.actor(), reason)
        .await
        .map_err(ops_error)?;
    let to = format!("/console/dead-letters/{id}?done=discarded");
    Ok(Redirect::to(&to).into_response())
}

async fn load(state: &AppState, id: &str) -> Result<Detail, ConsoleError> {
    let id = parse_id(id)?;
    let detail = ops::get(&state.pool, id).await?;
    detail.ok_or_else(|| ConsoleError::not_found(format!("There is no dead letter {id}.")))
}

fn parse_id(text: &str) -> Result<i64, ConsoleError> {
    let unknown = || ConsoleError::not_found(format!("There is no dead letter `{text}`."));
    text.parse().map_err(|_| unknown())
}

pub fn publisher(state: &AppState) -> Result<&crate::queue::Publisher, ConsoleError> {
    let message = "This process does not publish, so it cannot replay (run the receiver role).";
    let unavailable = || ConsoleError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, message);
    state.publisher.as_ref().ok_or_else(unavailable)
}

pub fn ops_error(error: OpsError) -> ConsoleError {
    use axum::http::StatusCode;
    match error {
        OpsError::NotFound(id) => ConsoleError::not_found(format!("There is no dead letter {id}.")),
        OpsError::Conflict(message) => ConsoleError::new(StatusCode::CONFLICT, message),
        OpsError::Invalid(message) => ConsoleError::bad_request(message),
        OpsError::Publish { .. } => {
            tracing::warn!(%error, "console: replay not confirmed by the broker");
            let message = format!("{error}. Nothing was changed; try again in a moment.");
            ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
        OpsError::Db(error) => error.into(),
    }
}
