//! Canonical bytes and chain checks on rows built in memory.

use super::verify::check_row;
use super::*;

fn row(id: i64) -> Row {
    Row {
        id,
        recorded_at: DateTime::parse_from_rfc3339("2026-03-10T12:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc),
        category: PROVISIONING.into(),
        action: "deactivate".into(),
        actor: "provisiond".into(),
        source: Some("hris".into()),
        event_id: Some("msg_1".into()),
        employee_id: Some("emp_1".into()),
        target: Some("directory".into()),
        outcome: Some("succeeded".into()),
        detail: json!({"z": [1, {"b": true, "a": null}], "a": "x\"y"}),
        seq: None,
        prev_hash: None,
        hash: None,
        sealed_at: None,
    }
}

fn seal(mut row: Row, seq: i64, prev: &[u8]) -> Row {
    let sealed_at = row.recorded_at;
    let hash = chain_hash(prev, &canonical_content(&row, seq, sealed_at));
    row.seq = Some(seq);
    row.prev_hash = Some(prev.to_vec());
    row.hash = Some(hash.to_vec());
    row.sealed_at = Some(sealed_at);
    row
}

#[test]
fn audit_canonical_json_sorts_keys_at_every_level_without_whitespace() {
    let mut out = String::new();
    write_canonical(&json!({"b": 1, "a": {"d": [2, "x"], "c": null}}), &mut out);
    assert_eq!(out, r#"{"a":{"c":null,"d":[2,"x"]},"b":1}"#);
}

#[test]
fn audit_canonical_content_covers_every_column_and_the_position() {
    let text = String::from_utf8(canonical_content(&row(7), 3, row(7).recorded_at)).unwrap();
    assert!(text.starts_with(r#"{"action":"deactivate","actor":"provisiond","category":"provisioning","detail":{"a":"x\"y","z":[1,{"a":null,"b":true}]},"employee_id":"emp_1","event_id":"msg_1","id":7,"outcome":"succeeded","recorded_at":"2026-03-10T12:00:00.123456Z","#), "{text}");
    assert!(text.contains(r#""seq":3"#));
}

#[test]
fn audit_chain_detects_a_changed_row_and_a_broken_link() {
    let first = seal(row(1), 1, &GENESIS);
    let second = seal(row(2), 2, first.hash.as_deref().unwrap());
    assert_eq!(check_row(&first, 1, &GENESIS, None), None);
    assert_eq!(
        check_row(&second, 2, first.hash.as_deref().unwrap(), Some(1)),
        None
    );

    let mut changed = second.clone();
    changed.actor = "mallory".into();
    let broken = check_row(&changed, 2, first.hash.as_deref().unwrap(), Some(1)).unwrap();
    assert_eq!(broken.message, "audit log row 2 does not match its hash");

    let broken = check_row(&second, 2, &GENESIS, Some(1)).unwrap();
    assert!(broken.message.contains("does not link to row 1"));

    let broken = check_row(&second, 1, &GENESIS, None).unwrap();
    assert!(broken.message.contains("where 1 was expected"));
}
