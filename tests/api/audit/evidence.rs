//! The report as an auditor's evidence pack: who each termination was about, who
//! prepared the report for which organisation, the audit log's state as `audit verify`
//! sees it, and the PDF.

use std::path::Path;

use provisiond::Role;

use super::*;

const ORGANISATION: &str = "Example <Org> & Co";

/// A directory account naming `employee`.
async fn account(pool: &PgPool, employee: &str, name: &str, email: &str) {
    sqlx::query(
        "INSERT INTO accounts (target, source, employee_id, status, email, display_name) \
         VALUES ('directory', 'hris', $1, 'deactivated', $2, $3)",
    )
    .bind(employee)
    .bind(email)
    .bind(name)
    .execute(pool)
    .await
    .unwrap();
}

/// A completed termination of a named employee (name with markup, formula-like email
/// cell) and a stale one that revoked nothing.
async fn evidence_fixture(pool: &PgPool) -> (String, String) {
    let t0 = base();
    let done = termination(pool, "hris", "leaver", t0, 0.5).await;
    account(
        pool,
        "leaver",
        "<script>Ann</script> Leaver",
        "ann@example.com",
    )
    .await;
    let stale = "ev_stale_one".to_owned();
    insert_event(
        pool,
        "hris",
        "=cmd",
        &stale,
        "terminated",
        "stale",
        "webhook",
        t0,
        None,
        t0 + secs(60.0),
        t0 + secs(61.0),
    )
    .await;
    (done, stale)
}

/// `provisiond` against `app`'s database with an organisation configured.
async fn cli_for(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .args(args)
        .env_remove("PROVISIOND_CONFIG")
        .env("PROVISIOND__DATABASE__URL", &app.iso.database_url)
        .env("PROVISIOND__AUDIT__DEPROVISION_SLA", "15m")
        .env("PROVISIOND__AUDIT__ORGANISATION", ORGANISATION)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("provisiond runs")
}

#[tokio::test]
async fn the_report_names_people_preparer_organisation_and_states_audit_verify() {
    let app = spawn_extra(&format!("[audit]\norganisation = \"{ORGANISATION}\"\n")).await;
    let (done, stale) = evidence_fixture(&app.pool).await;

    let report = app.deprovision_report("sla=15m").await;
    assert_eq!(report["organisation"], ORGANISATION);
    assert_eq!(report["prepared_by"], "admin", "the admin token's name");
    assert_eq!(report["time_zone"], "UTC");
    let terminations = report["terminations"].as_array().unwrap();
    assert_eq!(terminations.len(), 2, "completed ones too: {report}");
    let completed = terminations.iter().find(|t| t["event_id"] == done.as_str());
    let completed = completed.unwrap();
    assert_eq!(completed["employee_name"], "<script>Ann</script> Leaver");
    assert_eq!(completed["employee_email"], "ann@example.com");
    assert_eq!(completed["targets"][0]["sla_status"], "met");
    assert_eq!(completed["targets"][0]["latency_seconds"], 0.5);
    assert_eq!(report["not_revoked"][0]["event_id"], stale.as_str());

    // The audit log as `audit verify` sees it at the same time: the fixture's applied
    // termination was written without its audit row, so neither calls the log intact.
    let out = cli_for(&app, &["audit", "verify", "--no-seal", "--format", "json"]).await;
    let verify: Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = &report["audit_log"];
    assert_eq!(log["intact"], verify["intact"]);
    assert_eq!(log["intact"], false, "{log}");
    assert_eq!(log["chain"], verify["chain"]);
    assert_eq!(log["coverage"]["uncovered_total"], 1);
    assert_eq!(
        log["coverage"]["uncovered_total"],
        verify["coverage"]["uncovered_total"]
    );

    // HTML: the same facts, escaped.
    let response = app.admin_get("/admin/audit/deprovision.html?sla=15m").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    for needle in [
        r#"<dd data-fact="organisation">Example &#60;Org&#62; &#38; Co</dd>"#,
        r#"<dd data-fact="prepared-by">admin</dd>"#,
        r#"data-fact="audit-log" data-intact="false" class="bad">NOT VERIFIED"#,
        "NOT COVERED: 1 applied termination(s)",
        r#"<td data-field="name">&#60;script&#62;Ann&#60;/script&#62; Leaver</td>"#,
        r#"<td data-field="email">ann@example.com</td>"#,
        &format!(r#"<tr data-event-id="{done}" data-status="completed">"#),
        &format!(r#"<tr data-event-id="{stale}" data-status="stale">"#),
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    assert!(!page.contains("<script"));
    match log["chain"]["head"]["hash"].as_str() {
        Some(hash) => assert!(page.contains(&format!(r#"data-fact="head-hash">{hash}<"#))),
        None => assert!(page.contains(r#"<span data-fact="head-hash">empty log</span>"#)),
    }

    // CSV: both terminations, the formula-like employee id kept as text.
    let csv = app.admin_get("/admin/audit/deprovision.csv?sla=15m").await;
    let rows = parse_csv(&csv.text().await.unwrap());
    let header = &rows[0];
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let events: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r[column("event_id")].as_str())
        .collect();
    assert_eq!(events, [done.as_str(), stale.as_str()]);
    assert_eq!(rows[1][column("employee_email")], "ann@example.com");
    assert_eq!(rows[2][column("employee_id")], "'=cmd");

    // The table, and the CLI's preparer.
    let out = cli_for(
        &app,
        &["audit", "deprovision", "--prepared-by", "Jane Auditor"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains(&format!(
            "Organisation {ORGANISATION}   prepared by Jane Auditor"
        )),
        "{table}"
    );
    assert!(table.contains("TERMINATIONS (2)"), "{table}");
    assert!(table.contains("ann@example.com"), "{table}");
    app.cleanup().await;
}

/// Whether `program` runs at all.
fn installed(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .is_ok()
}

/// The share of dark pixels of a binary PGM (P5, 8-bit) image.
fn dark_share(pgm: &[u8]) -> f64 {
    // Header: P5, width, height, max value, each followed by whitespace.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P5", "a binary greymap");
    let pixels = &pgm[at + 1..];
    let dark = pixels.iter().filter(|p| **p < 128).count();
    dark as f64 / pixels.len() as f64
}

fn files_with(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_pdf_report_prints_pages_with_a_completed_and_a_not_revoked_termination() {
    let browser = provisiond::services::audit::pdf::find_chromium(None);
    if let Err(missing) = &browser {
        eprintln!("SKIPPED: {missing}");
        return;
    }
    if !installed("pdftoppm", "-v") {
        eprintln!("SKIPPED: pdftoppm (poppler-utils) is not installed");
        return;
    }
    let app = spawn_app(Role::Receiver).await;
    let (done, stale) = evidence_fixture(&app.pool).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    let out = cli_for(
        &app,
        &[
            "audit",
            "deprovision",
            "--sla",
            "15m",
            "--format",
            "pdf",
            "--output",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "a PDF");

    let pages = dir.path().join("page");
    let status = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "50"])
        .arg(&file)
        .arg(&pages)
        .status()
        .unwrap();
    assert!(status.success());
    let pngs = files_with(dir.path(), ".png");
    assert!(!pngs.is_empty(), "at least one page");
    for png in &pngs {
        let size = std::fs::metadata(png).unwrap().len();
        assert!(
            size > 2_000,
            "{} is {size} bytes: a blank page?",
            png.display()
        );
    }
    // The first page as a greymap: ink on it, not a white sheet.
    let grey = dir.path().join("grey");
    let status = std::process::Command::new("pdftoppm")
        .args(["-gray", "-r", "50", "-f", "1", "-l", "1"])
        .arg(&file)
        .arg(&grey)
        .status()
        .unwrap();
    assert!(status.success());
    let pgm = std::fs::read(&files_with(dir.path(), ".pgm")[0]).unwrap();
    let share = dark_share(&pgm);
    assert!(share > 0.005, "only {share} of the first page is ink");

    // The text layer names both terminations and the organisation.
    if installed("pdftotext", "-v") {
        let out = std::process::Command::new("pdftotext")
            .arg(&file)
            .arg("-")
            .output()
            .unwrap();
        let words = text(&out.stdout);
        for needle in [
            done.as_str(),
            stale.as_str(),
            "ann@example.com",
            "Example <Org> & Co",
        ] {
            assert!(words.contains(needle), "{needle} not in the PDF: {words}");
        }
    }

    // The admin API serves the same, to a token holder only.
    assert_eq!(app.get("/admin/audit/deprovision.pdf").await.status(), 401);
    let response = app.admin_get("/admin/audit/deprovision.pdf?sla=15m").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"%PDF"));
    app.cleanup().await;
}

#[tokio::test]
async fn without_a_browser_the_pdf_fails_naming_what_was_tried() {
    let app = spawn_app(Role::Receiver).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .args(["audit", "deprovision", "--format", "pdf", "--output"])
        .arg(&file)
        .env_remove("PROVISIOND_CONFIG")
        .env_remove("PROVISIOND_CHROMIUM")
        .env("PATH", dir.path())
        .env("PROVISIOND__DATABASE__URL", &app.iso.database_url)
        .env("PROVISIOND__AUDIT__CHROMIUM", "/nonexistent/chromium")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let error = text(&out.stderr);
    for tried in [
        "audit.chromium = /nonexistent/chromium",
        "chromium on PATH",
        "chromium-browser on PATH",
        "google-chrome on PATH",
    ] {
        assert!(error.contains(tried), "{tried}: {error}");
    }
    assert!(!file.exists(), "nothing written");
    app.cleanup().await;
}

#[tokio::test]
async fn the_pdf_is_not_written_to_a_terminal() {
    if !installed("script", "--version") {
        eprintln!("SKIPPED: script (util-linux) is not installed to give the command a terminal");
        return;
    }
    let command = format!(
        "{} audit deprovision --format pdf",
        env!("CARGO_BIN_EXE_provisiond")
    );
    // `script` runs the command with a pseudo-terminal as its stdout.
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("PROVISIOND_CONFIG")
        .env(
            "PROVISIOND__DATABASE__URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let shown = text(&out.stdout);
    assert!(
        shown.contains("--format pdf writes binary data: give --output FILE or redirect stdout"),
        "{shown}"
    );
    assert!(!shown.contains("%PDF"));
}
