//! The vocabulary every layer shares: the canonical event, the queued message, the kinds
//! of sender, what triggered a message, what rules grant, secrets and the clock. It
//! depends on nothing else in the crate.

pub mod access;
pub mod clock;
pub mod event;
pub mod message;
pub mod secret;
pub mod source;
pub mod trigger;

pub use secret::Secret;
pub use source::SourceKind;
pub use trigger::Trigger;

/// The actor recorded for what provisiond does on its own (a dead letter, an event).
pub const SYSTEM_ACTOR: &str = "provisiond";
