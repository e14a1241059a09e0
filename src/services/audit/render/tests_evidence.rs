//! The report as evidence: who it is about, who prepared it, the audit log's state, and
//! every termination with each target against the SLA, in every format.

use super::*;
use crate::services::audit::log_check::LogCheck;
use crate::services::audit::Report;
use crate::store::audit_log::{Coverage, Verification};

const HEAD: [u8; 32] = [0xab; 32];

/// The fixture with people, a formula and markup in their names, and a verified log.
fn evidence() -> Report {
    let mut report = fixture::report();
    report.terminations[0].employee_name = Some("<script>alert(1)</script>".into());
    report.terminations[0].employee_email = Some("done@example.com".into());
    report.terminations[1].employee_name = Some("=cmd|' /C calc'!A0".into());
    let chain = Verification {
        rows: 7,
        head: Some((41, 7, HEAD)),
        unsealed: 0,
        broken: None,
    };
    let coverage = Coverage {
        terminations: 1,
        covered: 1,
        ..Coverage::default()
    };
    report.audit_log = Some(LogCheck::new(&chain, coverage, report.generated_at));
    report
}

fn table_section<'p>(page: &'p str, id: &str) -> &'p str {
    let start = page.find(&format!(r#"<table id="{id}">"#)).unwrap();
    let end = start + page[start..].find("</table>").unwrap();
    &page[start..end]
}

#[test]
fn audit_html_names_the_organisation_preparer_log_head_and_every_termination_escaped() {
    let report = evidence();
    let page = html(&report);
    let hash = "ab".repeat(32);
    for needle in [
        // The organisation, escaped.
        r#"<dd data-fact="organisation">Example &#60;Corp&#62;</dd>"#,
        r#"<dd data-fact="prepared-by">auditor</dd>"#,
        r#"<dd data-fact="time-zone">Europe/Paris"#,
        r#"data-fact="audit-log" data-intact="true" class="ok">verified"#,
        "chain intact: 7 row(s) verified, head row 41 at position 7",
        "every applied termination covered",
        &format!(r#"<code data-fact="head-hash">{hash}</code>"#),
        r#"<time data-fact="generated-at">"#,
        r#"<td data-field="name">&#60;script&#62;alert(1)&#60;/script&#62;</td>"#,
        r#"<td data-field="email">done@example.com</td>"#,
        "@media print",
        "break-before:page",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    assert!(!page.contains("<script"), "markup escaped");
    // Self-contained: nothing fetched.
    for external in ["<link", "src=", "url(", "@import", "http://", "https://"] {
        let outside_svg_namespace = page.replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
        assert!(!outside_svg_namespace.contains(external), "{external}");
    }
    let all = table_section(&page, "terminations");
    assert_eq!(
        all.matches("<tr data-event-id=").count(),
        report.terminations.len()
    );
    for t in &report.terminations {
        assert!(all.contains(&format!(r#"<tr data-event-id="{}""#, t.event_id)));
    }
    // Completed within the SLA, per target too.
    assert!(
        all.contains(r#"data-event-id="ev_ok" data-status="completed""#),
        "{all}"
    );
    assert!(all.contains(r#"data-sla="met""#), "{all}");
}

#[test]
fn audit_html_says_when_the_log_is_not_verified() {
    let mut report = evidence();
    let chain = Verification {
        rows: 2,
        head: Some((2, 2, HEAD)),
        unsealed: 1,
        broken: Some(crate::store::audit_log::Broken {
            id: 3,
            seq: 3,
            message: "audit log row 3 does not match its hash".into(),
        }),
    };
    report.audit_log = Some(LogCheck::new(
        &chain,
        Coverage::default(),
        report.generated_at,
    ));
    let page = html(&report);
    assert!(page.contains(r#"data-intact="false" class="bad">NOT VERIFIED"#));
    assert!(page.contains("BROKEN: audit log row 3 does not match its hash"));
}

#[test]
fn audit_csv_has_every_termination_with_names_and_neutralises_formulas() {
    let report = evidence();
    let rows = rows(&csv(&report));
    let header = &rows[0];
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let record = column("record");
    let terminations: Vec<&Vec<String>> =
        rows.iter().filter(|r| r[record] == "termination").collect();
    assert_eq!(terminations.len(), report.terminations.len());
    let name = column("employee_name");
    assert_eq!(terminations[0][name], "<script>alert(1)</script>");
    assert_eq!(
        terminations[0][column("employee_email")],
        "done@example.com"
    );
    assert_eq!(terminations[1][name], "'=cmd|' /C calc'!A0", "kept as text");
    assert_eq!(terminations[0][column("sla:directory")], "met");
    for row in &rows {
        assert_eq!(row.len(), header.len());
    }
}

#[test]
fn audit_table_lists_every_termination_and_the_log() {
    let report = evidence();
    let text = table(&report);
    assert!(
        text.contains("Organisation Example <Corp>   prepared by auditor"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Audit log head {}", "ab".repeat(32))),
        "{text}"
    );
    assert!(text.contains("Audit log verified: chain intact"), "{text}");
    let section = text.split("TERMINATIONS (4)\n").nth(1).unwrap();
    for t in &report.terminations {
        assert!(section.contains(&t.event_id), "{}: {text}", t.event_id);
    }
    assert!(section.contains("done@example.com"));
    assert!(section.contains("directory revoked"), "{text}");
}
