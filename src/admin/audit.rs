//! `/admin/audit/deprovision` (JSON), `.html`, `.csv` and `.pdf`: the deprovision report.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;

use crate::config::AuditConfig;
use crate::http::auth::Caller;
use crate::http::query::Query;
use crate::http::{ApiError, AppState};
use crate::services::audit::{pdf, render, report};

/// The configured audit settings, given to the router as an `axum::Extension`; without
/// it the defaults of `[audit]` apply (an `sla` query parameter always wins).
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub deprovision_sla: Duration,
    pub organisation: Option<String>,
    pub time_zone: chrono_tz::Tz,
    /// `audit.chromium`, for the PDF.
    pub chromium: Option<std::path::PathBuf>,
}

impl AuditSettings {
    pub fn from_config(audit: &AuditConfig) -> Self {
        AuditSettings {
            deprovision_sla: audit.deprovision_sla,
            organisation: audit.organisation.clone(),
            time_zone: audit.time_zone,
            chromium: audit.chromium.clone(),
        }
    }
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings::from_config(&AuditConfig::default())
    }
}

/// `?since=&until=&source=&sla=`; empty values mean the defaults.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    since: Option<String>,
    until: Option<String>,
    source: Option<String>,
    sla: Option<String>,
}

async fn build(
    state: &AppState,
    params: &ReportParams,
    settings: Option<Extension<AuditSettings>>,
    caller: &Caller,
) -> Result<report::Report, ApiError> {
    let settings = settings.map(|Extension(s)| s).unwrap_or_default();
    let params = report::Params::parse(
        params.since.as_deref(),
        params.until.as_deref(),
        params.source.as_deref(),
        params.sla.as_deref(),
        settings.deprovision_sla,
        Utc::now(),
    )
    .map_err(ApiError::BadRequest)?
    .organisation(settings.organisation.as_deref())
    .prepared_by(Some(&caller.name))
    .time_zone(settings.time_zone);
    Ok(report::build(&state.pool, &params).await?)
}

#[utoipa::path(
    get,
    path = "/admin/audit/deprovision",
    operation_id = "deprovision_report",
    tag = "admin",
    params(ReportParams),
    responses(
        (status = 200, description = "The deprovision report", body = report::Report),
        (status = 400, description = "`bad_request`: a bad `since`, `until` or `sla`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn report_handler(
    State(state): State<AppState>,
    Query(params): Query<ReportParams>,
    settings: Option<Extension<AuditSettings>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<report::Report>, ApiError> {
    Ok(Json(build(&state, &params, settings, &caller).await?))
}

#[utoipa::path(
    get,
    path = "/admin/audit/deprovision.html",
    operation_id = "deprovision_report_html",
    tag = "admin",
    params(ReportParams),
    responses(
        (status = 200, description = "The report as a self-contained page (no scripts)", content_type = "text/html; charset=utf-8", body = String),
        (status = 400, description = "`bad_request`: a bad `since`, `until` or `sla`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn html_handler(
    State(state): State<AppState>,
    Query(params): Query<ReportParams>,
    settings: Option<Extension<AuditSettings>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let report = build(&state, &params, settings, &caller).await?;
    // The page needs nothing from anywhere: no scripts, no fetches.
    let policy = "default-src 'none'; style-src 'unsafe-inline'";
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, policy),
    ];
    Ok((headers, render::html(&report)).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/audit/deprovision.csv",
    operation_id = "deprovision_report_csv",
    tag = "admin",
    params(ReportParams),
    responses(
        (status = 200, description = "One row per termination, as a download", content_type = "text/csv; charset=utf-8", body = String),
        (status = 400, description = "`bad_request`: a bad `since`, `until` or `sla`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn csv_handler(
    State(state): State<AppState>,
    Query(params): Query<ReportParams>,
    settings: Option<Extension<AuditSettings>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let report = build(&state, &params, settings, &caller).await?;
    // A download, never rendered inline (its cells come from senders).
    let disposition = "attachment; filename=\"deprovision.csv\"";
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, render::csv(&report)).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/audit/deprovision.pdf",
    operation_id = "deprovision_report_pdf",
    tag = "admin",
    params(ReportParams),
    responses(
        (status = 200, description = "The report printed to PDF by headless Chromium, as a download", content_type = "application/pdf", body = Vec<u8>),
        (status = 400, description = "`bad_request`: a bad `since`, `until` or `sla`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn pdf_handler(
    State(state): State<AppState>,
    Query(params): Query<ReportParams>,
    settings: Option<Extension<AuditSettings>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let chromium = settings
        .as_ref()
        .and_then(|Extension(s)| s.chromium.clone());
    let report = build(&state, &params, settings, &caller).await?;
    let browser = pdf::find_chromium(chromium.as_deref()).map_err(anyhow::Error::from)?;
    let bytes = pdf::print(&render::html(&report), &browser, pdf::PRINT_TIMEOUT)
        .await
        .map_err(anyhow::Error::from)?;
    let disposition = "attachment; filename=\"deprovision.pdf\"";
    let headers = [
        (header::CONTENT_TYPE, "application/pdf"),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, bytes).into_response())
}
