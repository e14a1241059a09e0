//! The key that signs queue messages, and the facts its signature covers.

use std::fmt;

use hmac::{Hmac, Mac};
use lapin::types::FieldTable;
use sha2::Sha256;

use super::{
    raw_str, H_FIRST_FAILED_AT, H_PUBLISHED_AT, H_RECEIVED_AT, H_SOURCE, H_SOURCE_KIND, H_TRIGGER,
};
use crate::config::{Config, ConfigError};
use crate::domain::Secret;

/// The version tag of the signature header's value, and the domain of its MAC.
const SIGNATURE_VERSION: &str = "v1=";
const SIGNATURE_DOMAIN: &[u8] = b"provisiond queue message v1";

/// How many facts a signature covers (see [`signed_facts`]).
const FACTS: usize = 8;

/// The signed facts, each absent or its exact bytes, in their fixed order.
pub(super) type Facts<'a> = [Option<&'a [u8]>; FACTS];

/// What a signature covers besides the body, read from the headers as they travel so
/// that signer and verifier see the same bytes; the attempt is given as text because
/// its header is a number.
pub(super) fn signed_facts<'a>(
    message_id: Option<&'a str>,
    headers: &'a FieldTable,
    attempt: Option<&'a str>,
) -> Facts<'a> {
    let raw = |key: &str| raw_str(headers, key);
    [
        message_id.map(str::as_bytes),
        raw(H_SOURCE),
        raw(H_SOURCE_KIND),
        raw(H_RECEIVED_AT),
        raw(H_PUBLISHED_AT),
        raw(H_TRIGGER),
        raw(H_FIRST_FAILED_AT),
        attempt.map(str::as_bytes),
    ]
}

/// The internal key (`rabbitmq.message_key`) that signs every queue message provisiond
/// publishes, so a worker applies only messages a provisiond process wrote: the broker is
/// not a trust boundary.
#[derive(Clone)]
pub struct MessageKey {
    current: Hmac<Sha256>,
    /// Keys being rotated out (`rabbitmq.previous_message_keys`): still accepted, never
    /// used to sign.
    previous: Vec<Hmac<Sha256>>,
}

fn keyed(secret: &Secret) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes a key of any length")
}

impl MessageKey {
    pub fn new(secret: &Secret) -> Self {
        Self::rotating(secret, &[])
    }

    /// `current` signs; it and every one of `previous` verify.
    pub(super) fn rotating(current: &Secret, previous: &[Secret]) -> Self {
        MessageKey {
            current: keyed(current),
            previous: previous.iter().map(keyed).collect(),
        }
    }

    /// `rabbitmq.message_key`, with `rabbitmq.previous_message_keys` still accepted.
    pub fn for_config(config: &Config) -> Result<Self, ConfigError> {
        let previous = &config.rabbitmq.previous_message_keys;
        Ok(Self::rotating(config.message_key()?, previous))
    }

    /// The MAC over the body and the signed facts, in a fixed, length-prefixed order.
    fn mac(key: &Hmac<Sha256>, facts: &Facts<'_>, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = key.clone();
        mac.update(SIGNATURE_DOMAIN);
        for fact in facts {
            match fact {
                None => mac.update(&[0]),
                Some(value) => {
                    mac.update(&[1]);
                    mac.update(&(value.len() as u64).to_be_bytes());
                    mac.update(value);
                }
            }
        }
        mac.update(&(body.len() as u64).to_be_bytes());
        mac.update(body);
        mac
    }

    pub(super) fn sign(&self, facts: &Facts<'_>, body: &[u8]) -> String {
        let tag = Self::mac(&self.current, facts, body)
            .finalize()
            .into_bytes();
        format!("{SIGNATURE_VERSION}{}", hex::encode(tag))
    }

    /// Constant-time check of a `v1=<hex>` signature.
    pub(super) fn verifies(&self, facts: &Facts<'_>, body: &[u8], signature: &str) -> bool {
        let Some(tag) = signature.strip_prefix(SIGNATURE_VERSION) else {
            return false;
        };
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        let keys = std::iter::once(&self.current).chain(&self.previous);
        // Every key is tried, so the time taken does not say which one matched.
        keys.fold(false, |found, key| {
            Self::mac(key, facts, body).verify_slice(&tag).is_ok() | found
        })
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(<redacted>)")
    }
}
