//! Handshake detection: HiBob pings and Gusto verification tokens.

use proptest::prelude::*;
use provisiond::domain::SourceKind;
use provisiond::webhook::handshake::{self, Handshake};
use serde_json::json;

use crate::config;
use crate::strategies::{json_object, kind};

proptest! {
    #![proptest_config(config())]

    /// Handshake detection never panics; a Gusto token it takes is printable and short, and
    /// only an unkeyed Gusto source takes one; only HiBob answers a ping.
    #[test]
    fn handshake_detection_handles_any_body(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            json_object().prop_map(|v| v.to_string().into_bytes()),
            ("[ -~\\x00\\n]{0,300}", prop::option::of("[0-9a-f-]{36}|[ -~\\x00\\x1b]{0,40}")).prop_map(|(token, sub)| {
                let mut v = json!({"verification_token": token});
                if let Some(sub) = sub { v["webhook_subscription_uuid"] = json!(sub); }
                v.to_string().into_bytes()
            }),
        ],
        kind in kind(),
        keyed in any::<bool>(),
    ) {
        match handshake::detect(kind, &body, keyed) {
            None => {}
            Some(Handshake::Ping) => prop_assert_eq!(kind, SourceKind::Hibob),
            Some(Handshake::VerificationToken { token, subscription }) => {
                prop_assert!(kind == SourceKind::Gusto && !keyed);
                prop_assert!(!token.is_empty() && token.len() <= 256);
                prop_assert!(token.chars().all(|c| c.is_ascii_graphic()), "{token:?}");
                prop_assert!(subscription.is_none_or(|s| s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')));
            }
        }
    }
}
