//! Console sessions: a stateless cookie signed with a key made at startup.
//!
//! The cookie holds the token's name, its role, an expiry and a random nonce, with an
//! HMAC-SHA256 over them and the configured token's digest. Every request re-checks it
//! against the configured tokens: a token removed (or given a new value, or another
//! role) signs its sessions out. The key lives only in this process, so a restart signs
//! everyone out.
//! The CSRF token of a session is another HMAC of the cookie, so it needs no storage.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::AdminRole;
use crate::http::auth::AdminTokens;
use crate::store::Actor;

/// The session cookie's name.
pub const COOKIE: &str = "provisiond_console";

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The process's session key (random, made once when the console router is built).
#[derive(Clone)]
pub struct Keys {
    key: Arc<[u8; 32]>,
}

/// A signed-in operator or auditor.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub role: AdminRole,
    pub expires_at: DateTime<Utc>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

impl Session {
    pub fn is_operator(&self) -> bool {
        self.role == AdminRole::Operator
    }

    /// The actor recorded for what this session does: the token's name, as in the admin API.
    pub fn actor(&self) -> Actor {
        Actor::named(self.name.clone())
    }
}

impl Keys {
    /// A fresh random key from the operating system's generator (through UUID v4s:
    /// 244 random bits, hashed to 32 bytes).
    pub fn random() -> Keys {
        use sha2::Digest;
        let mut hasher = Sha256::new();
        for _ in 0..3 {
            hasher.update(uuid::Uuid::new_v4().as_bytes());
        }
        Keys {
            key: Arc::new(hasher.finalize().into()),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_slice()).expect("any key size");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The cookie value for a new session of `name` (whose configured token has
    /// `digest`); a random nonce makes every session's value, and CSRF token, its own.
    pub fn issue(
        &self,
        name: &str,
        role: AdminRole,
        digest: &[u8; 32],
        expires_at: DateTime<Utc>,
    ) -> String {
        let expiry = expires_at.timestamp().to_string();
        let role = role.as_str();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let tag = self.session_mac(&[name, role, &expiry, &nonce], digest);
        format!(
            "{}.{role}.{expiry}.{nonce}.{}",
            URL_SAFE_NO_PAD.encode(name),
            URL_SAFE_NO_PAD.encode(tag.finalize().into_bytes())
        )
    }

    fn session_mac(&self, fields: &[&str; 4], digest: &[u8]) -> Hmac<Sha256> {
        let [name, role, expiry, nonce] = fields.map(str::as_bytes);
        self.mac(&[b"session", name, role, expiry, nonce, digest])
    }

    /// The session a cookie value stands for, if it is ours, unexpired, and its token is
    /// still configured with the same value and role.
    pub fn verify(&self, value: &str, tokens: &AdminTokens, now: DateTime<Utc>) -> Option<Session> {
        let mut parts = value.split('.');
        let name = parts.next()?;
        let (role, expiry) = (parts.next()?, parts.next()?);
        let (nonce, tag) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let name = String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let (configured_role, digest) = tokens.named(&name)?;
        // Checked in constant time before anything else is trusted.
        let mac = self.session_mac(&[&name, role, expiry, nonce], &digest);
        mac.verify_slice(&tag).ok()?;
        if configured_role.as_str() != role {
            return None;
        }
        let expires_at = DateTime::from_timestamp(expiry.parse().ok()?, 0)?;
        if expires_at <= now {
            return None;
        }
        Some(Session {
            name,
            role: configured_role,
            expires_at,
            csrf: self.csrf_for(value),
        })
    }

    /// The CSRF token of the session whose cookie value is `value`.
    pub fn csrf_for(&self, value: &str) -> String {
        let tag = self.mac(&[b"csrf", value.as_bytes()]).finalize();
        hex::encode(tag.into_bytes())
    }

    /// Whether `presented` is the CSRF token of the session with cookie `value`
    /// (compared in constant time).
    pub fn csrf_matches(&self, value: &str, presented: &str) -> bool {
        let Ok(presented) = hex::decode(presented.trim()) else {
            return false;
        };
        let mac = self.mac(&[b"csrf", value.as_bytes()]);
        mac.verify_slice(&presented).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn tokens(value: &str) -> AdminTokens {
        let text = format!(
            "[rabbitmq]\nmessage_key = \"0123456789abcdef0123456789abcdef\"\n\
             [[server.tokens]]\nname = \"ann\"\nrole = \"auditor\"\ntoken = \"{value}\"\n"
        );
        AdminTokens::from_config(&Config::from_toml(&text).expect("config"))
    }

    #[test]
    fn a_session_verifies_only_unchanged_unexpired_and_with_its_token_configured() {
        let keys = Keys::random();
        let configured = tokens("ann-token-0123456789");
        let (role, digest) = configured.named("ann").unwrap();
        let now = Utc::now();
        let later = now + chrono::Duration::hours(8);
        let cookie = keys.issue("ann", role, &digest, later);
        let session = keys.verify(&cookie, &configured, now).expect("valid");
        assert_eq!(
            (session.name.as_str(), session.role),
            ("ann", AdminRole::Auditor)
        );
        assert!(keys.csrf_matches(&cookie, &session.csrf));
        assert!(!keys.csrf_matches(&cookie, "00"));
        // Expired, forged role, another key, token gone: all refused.
        assert!(keys.verify(&cookie, &configured, later).is_none());
        let forged = cookie.replace(".auditor.", ".operator.");
        assert!(keys.verify(&forged, &configured, now).is_none());
        assert!(Keys::random().verify(&cookie, &configured, now).is_none());
        assert!(keys.verify(&cookie, &AdminTokens::default(), now).is_none());
        let rotated = tokens("ann-new-token-0123456789");
        assert!(keys.verify(&cookie, &rotated, now).is_none());
        assert!(keys.verify("a.b.c", &configured, now).is_none());
        let again = keys.issue("ann", role, &digest, later);
        assert_ne!(
            keys.csrf_for(&again),
            session.csrf,
            "each session has its own"
        );
    }
}
