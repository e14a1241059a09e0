//! Subscription handshake detection (see `provisiond_fuzz::handshakes`) for every kind.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisiond_fuzz::handshakes(data));
