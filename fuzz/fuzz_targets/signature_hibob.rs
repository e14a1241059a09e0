//! `signature` harness (see `provisiond_fuzz::signature`) for `hibob` sources.
#![no_main]

use provisiond::domain::SourceKind;

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisiond_fuzz::signature(SourceKind::Hibob, data));
