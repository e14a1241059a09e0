//! `signature` harness (see `provisiond_fuzz::signature`) for `bamboohr` sources.
#![no_main]

use provisiond::domain::SourceKind;

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisiond_fuzz::signature(SourceKind::Bamboohr, data));
