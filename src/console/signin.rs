//! Sign-in with an admin token, and sign-out.
//!
//! The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/console`, and `Secure` when the
//! request reached provisiond through HTTPS: provisiond itself listens in plain HTTP, so
//! that is a TLS-terminating proxy saying `X-Forwarded-Proto: https`.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Utc;
use serde::Deserialize;

use super::error::{render, ConsoleError};
use super::guard::same_origin;
use super::page::Page;
use super::session::{Keys, Session, COOKIE, LIFETIME};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage {
    page: Page,
    error: Option<String>,
}

pub async fn form() -> Response {
    let page = SignInPage {
        page: Page::anonymous("Sign in"),
        error: None,
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    token: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(keys): Extension<Keys>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        let message = "This sign-in form was posted from another site; it was refused.";
        return ConsoleError::forbidden(message).into_response();
    }
    let again = |status: StatusCode, error: &str| {
        let page = SignInPage {
            page: Page::anonymous("Sign in"),
            error: Some(error.to_owned()),
        };
        (status, render(&page)).into_response()
    };
    if state.admin_tokens.is_empty() {
        let message = "The console is disabled: no admin token is configured \
                       ([[server.tokens]] or server.admin_token).";
        return again(StatusCode::FORBIDDEN, message);
    }
    let token = form.token.trim();
    if token.is_empty() {
        return again(StatusCode::BAD_REQUEST, "Enter your admin token.");
    }
    let found = state.admin_tokens.find(token);
    let digest = found
        .as_ref()
        .and_then(|caller| state.admin_tokens.named(&caller.name));
    let (Some(caller), Some((role, digest))) = (found, digest) else {
        tracing::warn!("console: sign-in with an unknown token");
        let message = "That token is not one of the configured admin tokens.";
        return again(StatusCode::UNAUTHORIZED, message);
    };
    let lifetime = chrono::Duration::from_std(LIFETIME).expect("8 hours fit");
    let value = keys.issue(&caller.name, role, &digest, Utc::now() + lifetime);
    tracing::info!(name = %caller.name, role = role.as_str(), "console: signed in");
    let cookie = Cookie::build((COOKIE, value))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_https(&headers));
    (jar.add(cookie), Redirect::to("/console")).into_response()
}

pub async fn sign_out(Extension(session): Extension<Session>, jar: CookieJar) -> Response {
    tracing::info!(name = %session.name, "console: signed out");
    let cookie = Cookie::build((COOKIE, "")).path("/console");
    (jar.remove(cookie), Redirect::to("/console/sign-in")).into_response()
}

/// Whether the browser talks HTTPS to the proxy in front of provisiond.
fn over_https(headers: &HeaderMap) -> bool {
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok());
    let first = proto.and_then(|p| p.split(',').next()).map(str::trim);
    first.is_some_and(|p| p.eq_ignore_ascii_case("https"))
}
