//! Tests of the renderings: CSV quoting and columns, text and HTML sections, durations.

use super::csv::{neutralise, write_rows};

fn csv_field(field: &str) -> String {
    let text = write_rows(&[vec![field.to_owned()]]);
    text.strip_suffix("\r\n").unwrap().to_owned()
}
use super::report::fixture;
use super::*;

#[test]
fn audit_csv_fields_are_quoted_only_when_needed() {
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    assert_eq!(csv_field("-12.5"), "-12.5");
    for cell in ["=cmd", "+1+1", "-x", "@SUM(A1)", "\tx", "\rx"] {
        assert!(neutralise(cell).starts_with('\''), "{cell:?}");
    }
    assert_eq!(csv_field("\rx"), "\"'\rx\"", "neutralised, then quoted");
}

#[test]
fn audit_html_escapes_markup() {
    assert_eq!(
        escape(r#"<script>alert('x') & "y"</script>"#),
        "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
    );
}

/// RFC 4180, as a spreadsheet reads it.
fn rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let records = reader.records().map(|r| r.expect("valid CSV"));
    records
        .map(|r| r.iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn audit_csv_appends_the_reason_and_the_record_and_lists_reactivations_last() {
    let report = fixture::report();
    let text = csv(&report);
    let rows = rows(&text);
    let header = &rows[0];
    assert_eq!(
        &header[..CSV_COLUMNS.len()],
        &CSV_COLUMNS[..],
        "columns in place"
    );
    let tail: Vec<&str> = header[header.len() - 3..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(tail, ["stuck_at", "not_revoked_reason", "record"]);
    assert_eq!(
        rows.len(),
        1 + 4 + 1,
        "header, terminations, the reactivation"
    );
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (reason, record, status) = (
        column("not_revoked_reason"),
        column("record"),
        column("status"),
    );
    let cells: Vec<(&str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[status].as_str(), r[reason].as_str(), r[record].as_str()))
        .collect();
    assert_eq!(
        cells,
        [
            ("completed", "", "termination"),
            ("stale", "stale", "termination"),
            ("failed", "dead_lettered", "termination"),
            ("superseded", "superseded", "termination"),
            ("reactivated", "", "reactivation"),
        ]
    );
    assert_eq!(rows[2][column("employee_id")], r#"<b>stale, "one"</b>"#);
    let rehire = &rows[5];
    assert_eq!(rehire.len(), header.len());
    for (name, value) in [
        ("source", "hris"),
        ("employee_id", "back"),
        ("event_id", "ev_rehire"),
        ("trigger", "webhook"),
        ("occurred_at", "2026-03-01T12:30:00Z"),
        ("received_at", "2026-03-01T12:30:01Z"),
        ("processed_at", "2026-03-01T12:30:02Z"),
        ("completed_at", ""),
        ("clock_started_at", ""),
        ("breach", ""),
        ("stuck_at", ""),
    ] {
        assert_eq!(rehire[column(name)], value, "{name}");
    }
}

#[test]
fn audit_the_table_has_not_revoked_and_reactivations_sections() {
    let text = table(&fixture::report());
    assert!(text.contains("terminations 4   completed 1"), "{text}");
    assert!(text.contains("not revoked 3   reactivations 1"), "{text}");
    let section = text.split("NOT REVOKED (3)\n").nth(1).unwrap();
    // The header, then one row per termination, in order.
    let lines: Vec<&str> = section
        .lines()
        .filter(|l| l.contains("ev_"))
        .take(3)
        .collect();
    assert!(
        lines[0].contains("ev_stale") && lines[0].contains("stale"),
        "{text}"
    );
    assert!(lines[0].contains("older than the employee's re-activation"));
    assert!(lines[1].contains("ev_dead") && lines[1].contains("dead_lettered"));
    assert!(lines[2].contains("ev_back") && lines[2].contains("rehired since"));
    let section = text.split("REACTIVATIONS (1)\n").nth(1).unwrap();
    assert!(section.contains("ev_rehire") && section.contains("after termination ev_back"));
    assert!(text.contains("| LATENCY"), "a comfy-table: {text}");
}

#[test]
fn audit_empty_sections_keep_their_table() {
    let mut report = fixture::report();
    report.not_revoked.clear();
    report.reactivations.clear();
    let page = html(&report);
    assert!(page.contains(r#"<table id="not-revoked">"#));
    assert!(page.contains(r#"<table id="reactivations">"#));
    for id in ["not-revoked", "reactivations"] {
        let start = page.find(&format!(r#"<table id="{id}">"#)).unwrap();
        let end = start + page[start..].find("</table>").unwrap();
        assert!(!page[start..end].contains("<tr data-event-id="), "{id}");
    }
    let text = table(&report);
    assert!(text.contains("NOT REVOKED (0)\n  none"), "{text}");
    assert!(text.contains("REACTIVATIONS (0)\n  none"), "{text}");
}

#[path = "tests_evidence.rs"]
mod evidence;

#[test]
fn audit_human_durations() {
    assert_eq!(human(0.042), "0.042s");
    assert_eq!(human(12.5), "12.5s");
    assert_eq!(human(2.0), "2s");
    assert_eq!(human(843.0), "14m 3s");
    assert_eq!(human(7500.0), "2h 5m");
    assert_eq!(human(273_600.0), "3d 4h");
    assert_eq!(human(-30.0), "-30s");
    assert_eq!(human(900.0), "15m");
    assert_eq!(human(3600.0), "1h");
    assert_eq!(human(86_400.0), "1d");
}
