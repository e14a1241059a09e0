//! The console's stylesheet and script, built into the binary.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::error::ConsoleError;

const CSS: &str = include_str!("../../assets/console/console.css");
const JS: &str = include_str!("../../assets/console/console.js");
const ICON: &str = include_str!("../../assets/console/favicon.svg");

pub async fn serve(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "console.css" => ("text/css; charset=utf-8", CSS),
        "console.js" => ("text/javascript; charset=utf-8", JS),
        "favicon.svg" => ("image/svg+xml", ICON),
        _ => return ConsoleError::not_found("There is no such asset.").into_response(),
    };
    let headers = [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "max-age=300")];
    (headers, body).into_response()
}
