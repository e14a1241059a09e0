//! Bulk replay of the current filter as a background job, and its progress: a page
//! that refreshes itself without JavaScript, and a JSON endpoint the script polls.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::Serialize;
use serde_json::json;

use super::dead_letters::{ops_error, publisher, FilterParams};
use super::error::{render, ConsoleError};
use super::page::{time, time_opt, Page};
use super::session::Session;
use crate::http::AppState;
use crate::services::dead_letters as ops;
use crate::store::jobs::{self, Job};

#[derive(Template)]
#[template(path = "console/bulk_confirm.html")]
struct ConfirmPage {
    page: Page,
    count: usize,
    source: String,
    reason: String,
    since: String,
    described: String,
}

/// What a filter selects, in words.
fn describe(params: &FilterParams) -> String {
    let mut parts = Vec::new();
    for (name, value) in [
        ("source", &params.source),
        ("reason", &params.reason),
        ("dead-lettered since", &params.since),
    ] {
        if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            parts.push(format!("{name} {value}"));
        }
    }
    if parts.is_empty() {
        "every dead letter".into()
    } else {
        format!("dead letters with {}", parts.join(", "))
    }
}

pub async fn confirm(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(params): Query<FilterParams>,
) -> Result<Response, ConsoleError> {
    if !session.is_operator() {
        let message = "Your token has the auditor role, which may only read.";
        return Err(ConsoleError::forbidden(message));
    }
    let filter = params.filter(false)?;
    let ids = ops::dead_ids(&state.pool, &filter).await?;
    let page = ConfirmPage {
        page: Page::new("Replay dead letters?", "dead-letters", &session),
        count: ids.len(),
        source: FilterParams::value(&params.source),
        reason: FilterParams::value(&params.reason),
        since: FilterParams::value(&params.since),
        described: describe(&params),
    };
    Ok(render(&page))
}

/// Start the job over the `dead` rows of the filter and show its progress page.
pub async fn start(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(params): Form<FilterParams>,
) -> Result<Response, ConsoleError> {
    let filter = params.filter(false)?;
    let publisher = publisher(&state)?.clone();
    let ids = ops::distinct(&ops::dead_ids(&state.pool, &filter).await?);
    if ids.is_empty() {
        return Err(ConsoleError::bad_request(
            "No dead letter matches this filter now.",
        ));
    }
    let actor = session.actor();
    let request = json!({
        "source": params.source, "reason": params.reason, "since": params.since,
        "via": "console",
    });
    let job = jobs::create(
        &state.pool,
        jobs::DEAD_LETTER_REPLAY,
        &actor,
        &request,
        ids.len(),
    )
    .await?;
    let pool = state.pool.clone();
    tokio::spawn(async move {
        let mut quiet = |_| {};
        let run = ops::run_replay_job(&pool, &publisher, job, &ids, true, &actor, &mut quiet);
        if let Err(error) = run.await {
            tracing::warn!(job, error = %ops_error(error).message, "console: bulk replay job stopped");
        }
    });
    Ok(Redirect::to(&format!("/console/jobs/{job}")).into_response())
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct JobPage {
    page: Page,
    job: Job,
    progress: Progress,
    created: String,
    finished: String,
}

/// What the progress bar shows (also the JSON the script polls).
#[derive(Debug, Serialize)]
pub struct Progress {
    pub id: i64,
    pub status: String,
    pub running: bool,
    pub total: i32,
    pub done: i32,
    pub percent: i32,
    pub replayed: usize,
    pub skipped: i32,
    pub error: Option<String>,
}

impl Progress {
    fn of(job: &Job) -> Progress {
        let percent = if job.total <= 0 {
            100
        } else {
            (i64::from(job.done) * 100 / i64::from(job.total)) as i32
        };
        Progress {
            id: job.id,
            status: job.status.clone(),
            running: job.status == "running",
            total: job.total,
            done: job.done,
            percent,
            replayed: job.replayed.len(),
            skipped: job.skipped,
            error: job.error.clone(),
        }
    }
}

async fn load(state: &AppState, id: &str) -> Result<Job, ConsoleError> {
    let unknown = || ConsoleError::not_found(format!("There is no job `{id}`."));
    let id: i64 = id.parse().map_err(|_| unknown())?;
    jobs::get(&state.pool, id).await?.ok_or_else(unknown)
}

pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let job = load(&state, &id).await?;
    let page = JobPage {
        page: Page::new(format!("Bulk replay {}", job.id), "dead-letters", &session),
        progress: Progress::of(&job),
        created: time(&job.created_at),
        finished: time_opt(job.finished_at.as_ref()),
        job,
    };
    Ok(render(&page))
}

pub async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Progress>, ConsoleError> {
    let job = load(&state, &id).await?;
    Ok(Json(Progress::of(&job)))
}
