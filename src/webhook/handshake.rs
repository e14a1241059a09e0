//! Subscription handshakes a sender posts before (or without) signing: answered as the
//! sender documents, never queued.
//!
//! - HiBob, when a connection is created, posts the plain text `Ping test` (or
//!   `{"text": "Ping test"}`) and needs a 2xx at once; whether it is signed is not
//!   documented, so an unverified ping is answered too. It carries nothing.
//! - Gusto, when a subscription is created, posts `{"verification_token": …}`. That token
//!   is the key later deliveries are signed with, so it cannot be verified: it is kept
//!   (one row per source) for the operator, who sends it back to Gusto's verify endpoint
//!   and puts it in `secrets`. An attacker can only overwrite that row with a token Gusto
//!   will refuse.

use serde_json::Value;

use crate::domain::SourceKind;

const PING: &str = "Ping test";
/// Longer is not a token Gusto sends (theirs are a few dozen characters).
const MAX_TOKEN_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// HiBob's connection test.
    Ping,
    /// Gusto's subscription verification token.
    VerificationToken {
        token: String,
        subscription: Option<String>,
    },
}

/// The handshake this unverified body is, if it is one for a source of `kind`. A Gusto
/// token is taken only while the source has no key yet (`keyed` false): once it has one,
/// an unsigned token could only be someone else's attempt to plant a key.
pub fn detect(kind: SourceKind, body: &[u8], keyed: bool) -> Option<Handshake> {
    match kind {
        SourceKind::Hibob => is_ping(body).then_some(Handshake::Ping),
        SourceKind::Gusto if !keyed => verification_token(body),
        _ => None,
    }
}

fn is_ping(body: &[u8]) -> bool {
    if body.trim_ascii() == PING.as_bytes() {
        return true;
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    value.as_str() == Some(PING)
        || (value.get("text").and_then(Value::as_str) == Some(PING) && fields(&value) == 1)
}

fn verification_token(body: &[u8]) -> Option<Handshake> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let token = value.get("verification_token")?.as_str()?.trim();
    let printable = token.chars().all(|c| c.is_ascii_graphic());
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !printable {
        return None;
    }
    let subscription = value
        .get("webhook_subscription_uuid")
        .and_then(Value::as_str);
    if subscription.is_some_and(|s| !is_uuid(s)) {
        return None;
    }
    let known = 1 + usize::from(subscription.is_some());
    if fields(&value) != known {
        // Anything else in the body is not the handshake Gusto documents.
        return None;
    }
    Some(Handshake::VerificationToken {
        token: token.to_owned(),
        subscription: subscription.map(str::to_owned),
    })
}

/// Hex digits and dashes, as long as a UUID.
fn is_uuid(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn fields(value: &Value) -> usize {
    value.as_object().map_or(0, serde_json::Map::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hibob_pings_in_both_documented_forms_are_handshakes() {
        for body in [
            "Ping test",
            " Ping test\n",
            r#"{"text":"Ping test"}"#,
            r#""Ping test""#,
        ] {
            assert_eq!(
                detect(SourceKind::Hibob, body.as_bytes(), true),
                Some(Handshake::Ping)
            );
        }
        for body in [
            r#"{"text":"Ping test","type":"employee.left"}"#,
            "Pong",
            "{}",
        ] {
            assert_eq!(
                detect(SourceKind::Hibob, body.as_bytes(), true),
                None,
                "{body}"
            );
        }
        assert_eq!(detect(SourceKind::Gusto, b"Ping test", false), None);
    }

    #[test]
    fn gusto_verification_token_is_a_handshake_and_nothing_else_is() {
        let body = br#"{"verification_token":"asefasedfe23e234easd","webhook_subscription_uuid":"be4e7b8a-0000-4000-8000-000000000001"}"#;
        assert_eq!(
            detect(SourceKind::Gusto, body, false),
            Some(Handshake::VerificationToken {
                token: "asefasedfe23e234easd".into(),
                subscription: Some("be4e7b8a-0000-4000-8000-000000000001".into()),
            })
        );
        let bare = br#"{"verification_token":"abc"}"#;
        assert!(detect(SourceKind::Gusto, bare, false).is_some());
        for body in [
            r#"{"verification_token":"abc","event_type":"employee.terminated"}"#,
            r#"{"verification_token":""}"#,
            r#"{"verification_token":"a b"}"#,
            r#"{"verification_token":7}"#,
            r#"{"event_type":"employee.created"}"#,
        ] {
            assert_eq!(
                detect(SourceKind::Gusto, body.as_bytes(), false),
                None,
                "{body}"
            );
        }
        assert_eq!(detect(SourceKind::Merge, bare, false), None);
        assert_eq!(
            detect(SourceKind::Gusto, bare, true),
            None,
            "a keyed source"
        );
        let odd = br#"{"verification_token":"abc","webhook_subscription_uuid":"x\u001b[31m"}"#;
        assert_eq!(detect(SourceKind::Gusto, odd, false), None);
    }
}
