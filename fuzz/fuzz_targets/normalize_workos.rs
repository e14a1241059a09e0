//! `normalize` harness (see `provisiond_fuzz::normalize`) for `workos` sources.
#![no_main]

use provisiond::domain::SourceKind;

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisiond_fuzz::normalize(SourceKind::Workos, data));
