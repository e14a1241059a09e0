//! Who may see a console page and who may post a form.
//!
//! Every page needs a valid session (else the sign-in page). Every POST must come from
//! the console itself (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to the host),
//! from an operator (an auditor gets `403`; signing out is the one POST an auditor makes),
//! and carry the session's CSRF token in its `csrf` field.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;

use super::error::ConsoleError;
use super::session::{Keys, COOKIE};
use crate::http::AppState;

/// The largest form body the console reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn guard(
    State(state): State<AppState>,
    Extension(keys): Extension<Keys>,
    jar: CookieJar,
    request: Request,
    next: Next,
) -> Response {
    let cookie = jar.get(COOKIE).map(|c| c.value().to_owned());
    let session = cookie
        .as_deref()
        .and_then(|value| keys.verify(value, &state.admin_tokens, Utc::now()));
    let (Some(session), Some(cookie)) = (session, cookie) else {
        if request.method() == Method::GET || request.method() == Method::HEAD {
            return Redirect::to("/console/sign-in").into_response();
        }
        let message = "You are not signed in (or your session ended). Sign in again.";
        return ConsoleError::new(StatusCode::UNAUTHORIZED, message).into_response();
    };
    let mut request = request;
    if request.method() == Method::POST {
        if !same_origin(request.headers()) {
            let message = "This form was posted from another site; it was refused.";
            return ConsoleError::forbidden(message).into_response();
        }
        // The router is nested under /console, which axum strips from the path here.
        let path = request.uri().path();
        let signing_out = path == "/sign-out" || path == "/console/sign-out";
        if !signing_out && !session.is_operator() {
            let message = format!(
                "You are signed in as `{}` with the {} role, which may only read; \
                 replaying or discarding needs an operator token.",
                session.name,
                session.role.as_str()
            );
            return ConsoleError::forbidden(message).into_response();
        }
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return ConsoleError::bad_request("The form is too large.").into_response();
        };
        let presented = form_field(&bytes, "csrf").unwrap_or_default();
        if !keys.csrf_matches(&cookie, &presented) {
            let message = "The form's security token is missing or does not belong to your \
                           session. Reload the page and try again.";
            return ConsoleError::forbidden(message).into_response();
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// Whether a POST comes from a page of this console: the browser's `Sec-Fetch-Site`
/// says `same-origin`, and `Origin` (when sent) names this host. Clients that send
/// neither (scripts) still need the session cookie and its CSRF token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return false;
        }
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

/// The first value of `name` in an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key)? == name).then(|| decode(value)).flatten()
    })
}

fn decode(text: &str) -> Option<String> {
    let text = text.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&text)
        .decode_utf8()
        .ok()?;
    Some(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn form_fields_are_decoded() {
        let body = b"reason=not+wanted%21&csrf=ab12&csrf=zz";
        assert_eq!(form_field(body, "csrf").as_deref(), Some("ab12"));
        assert_eq!(form_field(body, "reason").as_deref(), Some("not wanted!"));
        assert_eq!(form_field(body, "other"), None);
    }

    #[test]
    fn only_posts_from_this_host_are_same_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("console.example:8080"));
        assert!(same_origin(&headers));
        headers.insert(
            ORIGIN,
            HeaderValue::from_static("http://console.example:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers));
        headers.remove("sec-fetch-site");
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers));
        headers.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
    }
}
