//! A console error is an HTML page with the status, what went wrong and what to do.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::page::Page;

#[derive(Debug)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    page: Page,
    status: u16,
    message: &'a str,
}

impl ConsoleError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ConsoleError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage {
            page: Page::anonymous(title),
            status: self.status.as_u16(),
            message: &self.message,
        };
        (self.status, render(&page)).into_response()
    }
}

impl From<sqlx::Error> for ConsoleError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "console: database error");
        let message = "The database could not answer. Try again in a moment.";
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// A template as an HTML answer; a template that fails to render is a 500.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "console: a template did not render");
            let text = "The page could not be rendered.";
            (StatusCode::INTERNAL_SERVER_ERROR, text).into_response()
        }
    }
}

/// Any path under `/console` that is not a page.
pub async fn not_found() -> ConsoleError {
    ConsoleError::not_found("There is no such page in the console.")
}
