//! An employee's current state per target and the trail of events that led there.

use axum::extract::{Path, State};
use axum::Json;

use crate::http::{ApiError, AppState};
use crate::services::employees::{load, EmployeeView};

pub async fn show_handler(
    State(state): State<AppState>,
    Path((source, employee_id)): Path<(String, String)>,
) -> Result<Json<EmployeeView>, ApiError> {
    match load(&state.pool, &source, &employee_id).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiError::not_found(
            "unknown_employee",
            format!("no employee `{employee_id}` from source `{source}`"),
        )),
    }
}
