//! Who is calling the admin API: a bearer token matched against the configured named
//! tokens, and what its role allows.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::config::{AdminRole, Config};
use crate::http::{ApiError, AppState};
use crate::store::Actor;

/// Who is acting on behalf of whom, when a caller says (kept apart from the actor).
pub const ON_BEHALF_OF_HEADER: &str = "x-provisiond-actor";
const MAX_ON_BEHALF_OF_LEN: usize = 200;

/// The configured admin tokens, kept as digests only.
#[derive(Clone, Default)]
pub struct AdminTokens(Vec<Named>);

#[derive(Clone)]
struct Named {
    name: String,
    role: AdminRole,
    digest: [u8; 32],
}

/// The caller of one admin request: the matched token's name and role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: AdminRole,
}

impl AdminTokens {
    pub fn from_config(config: &Config) -> Self {
        let tokens = config.admin_tokens().into_iter();
        AdminTokens(
            tokens
                .map(|(name, role, token)| Named {
                    name: name.to_owned(),
                    role,
                    digest: digest(token.expose()),
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The token this one is, comparing digests of every configured token in full, so
    /// the time taken says nothing about which token or how much of it matched.
    pub fn find(&self, presented: &str) -> Option<Caller> {
        let presented = digest(presented);
        let mut found = None;
        for named in &self.0 {
            let differences = named
                .digest
                .iter()
                .zip(presented.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if differences == 0 {
                found = Some(Caller {
                    name: named.name.clone(),
                    role: named.role,
                });
            }
        }
        found
    }
}

impl AdminTokens {
    /// The role and token digest configured under `name` (the console re-checks its
    /// sessions against them, so a removed or changed token loses access).
    pub fn named(&self, name: &str) -> Option<(AdminRole, [u8; 32])> {
        let found = self.0.iter().find(|named| named.name == name);
        found.map(|named| (named.role, named.digest))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of `Authorization: Bearer <token>`, the scheme in any case.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Every admin request: 401 unless it carries a configured token; the caller is then
/// known to the handlers.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.admin_tokens.is_empty() {
        let message =
            "the admin API is disabled: configure [[server.tokens]] or server.admin_token";
        return Err(ApiError::unauthorized("unauthorized", message));
    }
    let caller = bearer(request.headers()).and_then(|token| state.admin_tokens.find(token));
    let Some(caller) = caller else {
        return Err(ApiError::unauthorized(
            "unauthorized",
            "a valid `Authorization: Bearer <token>` header is required",
        ));
    };
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Requests that act (replay, discard, hold decisions): 403 for the auditor role.
pub async fn require_operator(request: Request, next: Next) -> Result<Response, ApiError> {
    match request.extensions().get::<Caller>() {
        Some(caller) if caller.role == AdminRole::Operator => Ok(next.run(request).await),
        Some(caller) => Err(ApiError::Forbidden(format!(
            "token `{}` has the {} role, which may only read; this needs an operator token",
            caller.name,
            caller.role.as_str()
        ))),
        None => Err(ApiError::unauthorized(
            "unauthorized",
            "a valid `Authorization: Bearer <token>` header is required",
        )),
    }
}

/// The actor of an admin request: the token's name, and whom the caller says it acts
/// for (`X-Provisiond-Actor`, short printable text) as a separate field.
pub fn actor(caller: &Caller, headers: &HeaderMap) -> Actor {
    let said = headers
        .get(ON_BEHALF_OF_HEADER)
        .and_then(|v| v.to_str().ok());
    let on_behalf_of = said
        .map(|text| {
            text.chars()
                .filter(|c| !c.is_control())
                .take(MAX_ON_BEHALF_OF_LEN)
                .collect::<String>()
        })
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    Actor {
        name: caller.name.clone(),
        on_behalf_of,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(authorization).unwrap();
        headers.insert(AUTHORIZATION, value);
        headers
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for text in ["Bearer abc", "bearer abc", "BEARER  abc ", "bEaReR\tabc"] {
            assert_eq!(bearer(&headers(text)), Some("abc"), "{text}");
        }
        for text in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc"] {
            assert_eq!(bearer(&headers(text)), None, "{text}");
        }
    }

    #[test]
    fn a_token_is_found_by_its_whole_value_only() {
        let tokens = AdminTokens(vec![
            Named {
                name: "alice".into(),
                role: AdminRole::Auditor,
                digest: digest("alice-token-0123456789"),
            },
            Named {
                name: "bob".into(),
                role: AdminRole::Operator,
                digest: digest("bob-token-0123456789"),
            },
        ]);
        let found = tokens.find("bob-token-0123456789").unwrap();
        assert_eq!(
            (found.name.as_str(), found.role),
            ("bob", AdminRole::Operator)
        );
        assert!(tokens.find("bob-token-012345678").is_none());
        assert!(tokens.find("").is_none());
    }

    #[test]
    fn the_actor_is_the_token_name_and_the_header_only_says_on_whose_behalf() {
        let caller = Caller {
            name: "alice".into(),
            role: AdminRole::Operator,
        };
        let mut headers = HeaderMap::new();
        assert_eq!(actor(&caller, &headers).on_behalf_of, None);
        headers.insert(ON_BEHALF_OF_HEADER, HeaderValue::from_static(" mallory "));
        let actor = actor(&caller, &headers);
        assert_eq!(actor.name, "alice");
        assert_eq!(actor.on_behalf_of.as_deref(), Some("mallory"));
    }
}
