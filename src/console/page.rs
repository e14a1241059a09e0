//! What every console page shows around its content: the title, the navigation, who is
//! signed in and the CSRF token of the sign-out form. And how times are written.

use chrono::{DateTime, Utc};

use super::session::Session;

/// The frame of one page (see `templates/console/base.html`).
#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    /// Which navigation entry is the current page: `overview`, `dead-letters`,
    /// `employees`, `report`, or empty.
    pub nav: &'static str,
    pub user: Option<User>,
    pub csrf: String,
    /// Whether the signed-in token may act (replay, discard): its role is `operator`.
    pub operator: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: &'static str,
}

impl Page {
    pub fn new(title: impl Into<String>, nav: &'static str, session: &Session) -> Page {
        Page {
            title: title.into(),
            nav,
            user: Some(User {
                name: session.name.clone(),
                role: session.role.as_str(),
            }),
            csrf: session.csrf.clone(),
            operator: session.is_operator(),
        }
    }

    /// A page shown before sign-in (or for an error without a session).
    pub fn anonymous(title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            nav: "",
            user: None,
            csrf: String::new(),
            operator: false,
        }
    }
}

/// `2026-03-02 09:15:00 UTC`.
pub fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// [`time`], or a dash.
pub fn time_opt(at: Option<&DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "—".into())
}

/// A duration in seconds as people read it: `42 s`, `3.5 min`, `2.0 h`, `1.5 d`.
pub fn seconds(value: f64) -> String {
    match value {
        v if v < 120.0 => format!("{v:.1} s"),
        v if v < 7200.0 => format!("{:.1} min", v / 60.0),
        v if v < 172_800.0 => format!("{:.1} h", v / 3600.0),
        v => format!("{:.1} d", v / 86_400.0),
    }
}

/// [`seconds`], or a dash.
pub fn seconds_opt(value: Option<f64>) -> String {
    value.map(seconds).unwrap_or_else(|| "—".into())
}

/// A non-empty, trimmed value.
pub fn given(value: Option<&str>) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    value.map(str::to_owned)
}

/// Bytes kept as they are in a path segment or query value: RFC 3986's unreserved ones.
const ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded for a path segment or query value.
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, ENCODED).to_string()
}
