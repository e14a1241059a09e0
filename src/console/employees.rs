//! Employees: search by source and id or by email, and one employee's timeline (events
//! with outcomes, each target's state, actions with attempts and errors, scheduled and
//! held changes), from `services::employees::load` as `employee show` reads it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

use super::error::{render, ConsoleError};
use super::page::{encode, given, time, time_opt, Page};
use super::session::Session;
use crate::http::AppState;
use crate::services::employees::{load, EmployeeView};
use crate::store::lookup::{self, Match};

/// Matches shown for an email at most.
const MATCH_LIMIT: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    source: Option<String>,
    id: Option<String>,
    email: Option<String>,
}

#[derive(Template)]
#[template(path = "console/employees.html")]
struct SearchPage {
    page: Page,
    sources: Vec<String>,
    source: String,
    id: String,
    email: String,
    searched: bool,
    matches: Vec<Match>,
}

pub async fn search(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(params): Query<SearchParams>,
) -> Result<Response, ConsoleError> {
    let source = given(params.source.as_deref());
    let id = given(params.id.as_deref());
    let email = given(params.email.as_deref());
    if let Some(id) = &id {
        let Some(source) = &source else {
            return Err(ConsoleError::bad_request(
                "Choose the source of the employee id.",
            ));
        };
        let to = format!("/console/employees/{}/{}", encode(source), encode(id));
        return Ok(Redirect::to(&to).into_response());
    }
    let matches = match &email {
        Some(email) => lookup::by_email(&state.pool, email, MATCH_LIMIT).await?,
        None => Vec::new(),
    };
    let mut sources: Vec<String> = state.sources.keys().cloned().collect();
    sources.sort();
    let page = SearchPage {
        page: Page::new("Employees", "employees", &session),
        sources,
        source: source.unwrap_or_default(),
        id: String::new(),
        searched: email.is_some(),
        email: email.unwrap_or_default(),
        matches,
    };
    Ok(render(&page))
}

struct EventRow {
    event_id: String,
    kind: String,
    outcome: String,
    reason: String,
    received: String,
    processed: String,
    clock_skew: bool,
}

struct TargetRow {
    target: String,
    status: String,
    updated: String,
    deactivated: String,
    error: String,
    role: String,
    groups: String,
}

struct ActionRow {
    event_id: String,
    target: String,
    action: String,
    status: String,
    attempts: i32,
    error: String,
    started: String,
    finished: String,
}

struct Change {
    what: &'static str,
    event_id: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/employee.html")]
struct EmployeePage {
    page: Page,
    source: String,
    employee_id: String,
    status: String,
    changes: Vec<Change>,
    targets: Vec<TargetRow>,
    events: Vec<EventRow>,
    actions: Vec<ActionRow>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path((source, employee_id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let Some(view) = load(&state.pool, &source, &employee_id).await? else {
        let message = format!("provisiond has never seen employee `{employee_id}` of `{source}`.");
        return Err(ConsoleError::not_found(message));
    };
    let title = format!("{source} / {employee_id}");
    let page = EmployeePage {
        page: Page::new(title, "employees", &session),
        changes: changes(&view),
        targets: view.targets.iter().map(target_row).collect(),
        events: view.events.iter().map(event_row).collect(),
        actions: view.actions.iter().map(action_row).collect(),
        source: view.source,
        employee_id: view.employee_id,
        status: view.status,
    };
    Ok(render(&page))
}

fn changes(view: &EmployeeView) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(s) = &view.scheduled_termination {
        changes.push(Change {
            what: "Scheduled termination",
            event_id: s.event_id.clone(),
            detail: format!(
                "effective {}, due {}",
                time(&s.effective_at),
                time(&s.due_at)
            ),
        });
    }
    if let Some(s) = &view.scheduled_activation {
        changes.push(Change {
            what: "Scheduled activation",
            event_id: s.event_id.clone(),
            detail: format!(
                "effective {}, due {}",
                time(&s.effective_at),
                time(&s.due_at)
            ),
        });
    }
    if let Some(h) = &view.held_termination {
        changes.push(Change {
            what: "Held termination",
            event_id: h.event_id.clone(),
            detail: format!("held {} ({}): {}", time(&h.held_at), h.status, h.reason),
        });
    }
    changes
}

fn event_row(e: &crate::store::events::EventView) -> EventRow {
    EventRow {
        event_id: e.event_id.clone(),
        kind: e.kind.clone().unwrap_or_default(),
        outcome: e.outcome.clone(),
        reason: e.reason.clone().unwrap_or_default(),
        received: time(&e.received_at),
        processed: time(&e.processed_at),
        clock_skew: e.clock_skew,
    }
}

fn target_row(t: &crate::store::employees::TargetView) -> TargetRow {
    TargetRow {
        target: t.target.clone(),
        status: t.status.clone(),
        updated: time(&t.updated_at),
        deactivated: time_opt(t.deactivated_at.as_ref()),
        error: t.last_error.clone().unwrap_or_default(),
        role: t.role.clone().unwrap_or_default(),
        groups: t.groups.clone().unwrap_or_default().join(", "),
    }
}

fn action_row(a: &crate::store::actions::ActionView) -> ActionRow {
    ActionRow {
        event_id: a.event_id.clone(),
        target: a.target.clone(),
        action: a.action.clone(),
        status: a.status.clone(),
        attempts: a.attempts,
        error: a.error.clone().unwrap_or_default(),
        started: time_opt(a.started_at.as_ref()),
        finished: time_opt(a.finished_at.as_ref()),
    }
}
