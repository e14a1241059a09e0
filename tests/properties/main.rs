//! Property tests of the code that reads untrusted bytes (issue 13 item 13): every sender's
//! signature parser and verifier, every normalizer and the handshake detection.
//!
//! - arbitrary headers and bodies never panic the verifier and are never accepted;
//! - a correctly signed delivery verifies, and one changed byte of body, timestamp, id or
//!   MAC, or another secret, is refused;
//! - every normalizer, given arbitrary bytes, arbitrary JSON or a valid payload with a few
//!   mutations, returns an event or a clear error, and the ids and labels it produces (kept
//!   as keys and texts in PostgreSQL) hold no control characters.
//!
//! One module per theme: `signatures`, `normalizers` (with the valid payloads and their
//! mutations in `payloads`), `handshake`; the strategies they share are in `strategies`.
//!
//! Case counts are bounded (`CASES`); a failure is written to
//! `proptest-regressions/properties.txt` and replayed first on every later run.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

mod handshake;
mod normalizers;
mod nul;
mod payloads;
mod signatures;
mod strategies;

/// Cases per property: the whole binary runs in seconds on two cores.
const CASES: u32 = 1024;

pub(crate) fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}
