//! The NUL check of stored attributes, shared with the `cargo fuzz` harnesses:
//! `fuzz/src/lib.rs` includes this file (`#[path]`), as `fuzz/` is a workspace of its own
//! that the tests cannot depend on. It uses `serde_json` only, which both crates have.

use serde_json::Value;

/// Whether a NUL is in any string or key of `value`: PostgreSQL stores none in `text` or
/// `jsonb`.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, v)| key.contains('\0') || holds_nul(v)),
        _ => false,
    }
}
