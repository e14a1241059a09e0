//! The console in a real Chromium (Debian's chromium + chromedriver, driven by Python
//! Selenium: `tests/console/browser.py`). An auditor sees no replay button and a forged
//! replay is refused; an operator replays a dead letter and sees the event applied on the
//! employee's timeline; a bulk replay runs to 100 %; the report draws its charts; no page
//! logs a browser error. Every page's screenshot goes to `docs/screenshots/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use provisiond::store::dead_letters::Reason;
use provisiond::Role;

use super::*;

/// How many dead letters the bulk replay goes through.
const BULK: usize = 6;

/// The first of `names` found as a file in a directory of `PATH` (or as given).
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    names.iter().find_map(|name| {
        let given = Path::new(name);
        if given.is_absolute() {
            return given.is_file().then(|| given.to_path_buf());
        }
        dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
    })
}

#[tokio::test]
async fn the_console_works_in_chromium_for_auditors_and_operators() {
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find_program(&["chromedriver", "/usr/lib/chromium/chromedriver"]);
    let (chromium, driver) = match (chromium, driver) {
        (None, None) => {
            eprintln!(
                "SKIPPED: neither chromium nor chromedriver is installed \
                 (apt-get install chromium chromium-driver python3-selenium)"
            );
            return;
        }
        (Some(c), Some(d)) => (c, d),
        (c, d) => {
            panic!("chromium ({c:?}) and chromedriver ({d:?}) must both be installed, same version")
        }
    };
    let selenium = std::process::Command::new("python3")
        .args(["-c", "import selenium"])
        .status();
    assert!(
        selenium.is_ok_and(|s| s.success()),
        "python3 cannot import selenium: apt-get install python3-selenium \
         (or python3 -m pip install selenium)"
    );

    let app = spawn_with_tokens(Role::All).await;
    // Terminations that went through, for the report's charts.
    let mut leavers = Vec::new();
    for _ in 0..3 {
        let employee = unique("leaver");
        app.send_event("created", &employee).await;
        app.send_event("terminated", &employee).await;
        leavers.push(employee);
    }
    for employee in &leavers {
        let path = format!("/admin/employees/hris/{employee}");
        wait_for("the leaver to be terminated", || async {
            let view = app.admin_get(&path).await;
            let view: serde_json::Value = view.json().await.ok()?;
            (view["status"] == "terminated").then_some(())
        })
        .await;
    }
    // One dead letter to replay by hand, and several for the bulk replay.
    let (single, single_employee) = dead_hire(&app).await;
    let event_id: String = sqlx::query_scalar("SELECT event_id FROM dead_letters WHERE id = $1")
        .bind(single)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for _ in 0..BULK {
        let (id, _) = dead_hire(&app).await;
        sqlx::query("UPDATE dead_letters SET reason = $2 WHERE id = $1")
            .bind(id)
            .bind(Reason::DeliveryLimit.as_str())
            .execute(&app.pool)
            .await
            .unwrap();
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/console/browser.py");
    let screenshots = root.join("docs/screenshots");
    let run = tokio::process::Command::new("python3")
        .arg(&script)
        .env("CONSOLE_URL", format!("{}/console", app.address))
        .env("CHROMIUM", &chromium)
        .env("CHROMEDRIVER", &driver)
        .env("AUDITOR_TOKEN", AUDITOR_TOKEN)
        .env("OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("LETTER_ID", single.to_string())
        .env("LETTER_EVENT", &event_id)
        .env("LETTER_EMPLOYEE", &single_employee)
        .env("BULK_REASON", Reason::DeliveryLimit.as_str())
        .env("BULK_COUNT", BULK.to_string())
        .env("SCREENSHOTS", &screenshots)
        .kill_on_drop(true)
        .output();
    // A deadline for a stuck browser, not a measurement.
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser script ended within 5 minutes")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    println!("{stdout}");

    // What the browser did is what the database says.
    assert_eq!(status_of(&app, single).await, "replayed");
    let view = app
        .admin_json(&format!("/admin/employees/hris/{single_employee}"))
        .await;
    assert_eq!(outcomes(&view), ["applied"]);
    let detail = app
        .admin_json(&format!("/admin/dead-letters/{single}"))
        .await;
    assert_eq!(last_action(&detail)["actor"], "olga");
    let still_dead: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dead_letters WHERE reason = $1 AND status = 'dead'",
    )
    .bind(Reason::DeliveryLimit.as_str())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(still_dead, 0, "the bulk replay went through every one");
    for name in [
        "sign-in",
        "overview",
        "dead-letters",
        "dead-letter",
        "bulk-replay",
        "employees",
        "employee",
        "report",
        "overview-phone",
    ] {
        let file = screenshots.join(format!("{name}.png"));
        assert!(file.is_file(), "{} was not saved", file.display());
    }
    app.cleanup().await;
}
