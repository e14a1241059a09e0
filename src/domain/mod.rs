//! The vocabulary every layer shares: the canonical event, the kinds of sender, what
//! triggered a message, secrets and the clock. It depends on nothing else in the crate.

pub mod access;
pub mod clock;
pub mod event;
pub mod secret;
pub mod source;

pub use secret::Secret;
pub use source::SourceKind;
