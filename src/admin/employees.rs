//! An employee's current state per target and the trail of events that led there.

use axum::extract::{Path, State};
use axum::Json;

use crate::http::{ApiError, AppState};
use crate::services::employees::{load, EmployeeView};

#[utoipa::path(
    get,
    path = "/admin/employees/{source}/{employee_id}",
    operation_id = "show_employee",
    tag = "admin",
    params(
        ("source" = String, Path, description = "The source name", example = "hris"),
        ("employee_id" = String, Path, description = "The sender's employee id", example = "emp_1"),
    ),
    responses(
        (status = 200, description = "The employee's status, targets, events and actions", body = EmployeeView),
        (status = 404, description = "`unknown_employee`: provisiond has never seen this employee", body = ref("#/components/schemas/ErrorBody")),
    )
)]
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
