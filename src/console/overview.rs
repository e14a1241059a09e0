//! The overview page.

use askama::Template;
use axum::response::Response;
use axum::Extension;

use super::error::{render, ConsoleError};
use super::page::Page;
use super::session::Session;

#[derive(Template)]
#[template(path = "console/overview.html")]
pub struct Stub {
    page: Page,
}

pub async fn page(Extension(session): Extension<Session>) -> Result<Response, ConsoleError> {
    Ok(render(&Stub {
        page: Page::new("Overview", "overview", &session),
    }))
}
