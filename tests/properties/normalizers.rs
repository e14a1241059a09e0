//! Normalizers: arbitrary bytes, arbitrary JSON and mutated valid payloads give an event or
//! a clear error, and the ids and labels they produce hold no control characters.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use provisiond::domain::event::{EventKind, NormalizeError, Normalized};
use provisiond::domain::SourceKind;
use provisiond::normalize::{deel, normalize};

use crate::config;
use crate::nul::holds_nul;
use crate::payloads::{apply, mutation, seeds};
use crate::strategies::{json_object, json_value, kind};

fn received() -> DateTime<Utc> {
    "2026-04-01T12:00:00Z".parse().unwrap()
}

/// What every normalizer promises whatever the input: an event whose ids are non-empty
/// and free of control characters and whose attributes hold no NUL, an ignored event with a printable name and a reason,
/// or an error that names what is wrong.
fn check_outcome(
    kind: SourceKind,
    result: &Result<Normalized, NormalizeError>,
) -> Result<(), TestCaseError> {
    let clean = |text: &str| !text.chars().any(char::is_control);
    match result {
        Ok(Normalized::Employee(event)) => {
            let id = &event.employee_id;
            prop_assert!(!id.is_empty() && clean(id), "{kind}: employee id {id:?}");
            // PostgreSQL stores no NUL in `text` or `jsonb`: a NUL would fail the event.
            let stored = serde_json::to_value(&event.attributes).unwrap();
            prop_assert!(!holds_nul(&stored), "{kind}: NUL in {stored}");
            if kind == SourceKind::Deel {
                for contract in deel::contract_ids(&event.attributes.data, id) {
                    prop_assert!(clean(&contract) && contract != *id, "{contract:?}");
                }
            }
        }
        Ok(Normalized::DirectoryDeleted { directory_id, .. }) => {
            prop_assert!(
                !directory_id.is_empty() && clean(directory_id),
                "{directory_id:?}"
            );
        }
        Ok(Normalized::Ignored { event_name, reason }) => {
            prop_assert!(
                clean(event_name),
                "{kind}: ignored event name {event_name:?}"
            );
            prop_assert!(!reason.is_empty());
        }
        Err(NormalizeError::Missing(field)) => prop_assert!(!field.is_empty()),
        Err(NormalizeError::Invalid { field, detail }) => {
            prop_assert!(!field.is_empty() && !detail.is_empty());
        }
        Err(NormalizeError::Json(_)) => {}
    }
    Ok(())
}

#[test]
fn every_seed_payload_is_an_event_its_sender_could_send() {
    for (kind, seed) in seeds() {
        let result = normalize(kind, seed.to_string().as_bytes(), received());
        match result {
            Ok(Normalized::Employee(event)) => assert_ne!(event.kind, EventKind::Created, "{kind}"),
            Ok(Normalized::DirectoryDeleted { .. }) => {}
            other => panic!("{kind}: seed {seed} gave {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// (c) Arbitrary bytes: an event or a clear error, never a panic.
    #[test]
    fn every_normalizer_handles_arbitrary_bytes(kind in kind(), body in prop::collection::vec(any::<u8>(), 0..300)) {
        let result = normalize(kind, &body, received());
        check_outcome(kind, &result)?;
    }

    /// (c) Arbitrary JSON built from the keys and words the normalizers read.
    #[test]
    fn every_normalizer_handles_arbitrary_json(kind in kind(), payload in prop_oneof![json_object(), json_value()]) {
        let result = normalize(kind, payload.to_string().as_bytes(), received());
        check_outcome(kind, &result)?;
    }

    /// (c) Valid payloads with one to four mutations (a field removed, retyped, given a
    /// control character, or a key added).
    #[test]
    fn every_normalizer_handles_mutated_valid_payloads(
        seed in any::<Index>(),
        mutations in prop::collection::vec((any::<Index>(), mutation()), 1..5),
    ) {
        let all = seeds();
        let (kind, mut payload) = all[seed.index(all.len())].clone();
        for (at, mutation) in mutations {
            apply(&mut payload, at, mutation);
        }
        let result = normalize(kind, payload.to_string().as_bytes(), received());
        check_outcome(kind, &result)?;
    }
}
