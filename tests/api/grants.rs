//! Least privilege: the service and the operator commands run as a role that has exactly
//! what `provisiond db grants` prints, and that role can neither rewrite nor delete the
//! timeline (`events`) or the replay protection (`inbox`).

use chrono::Utc;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use provisiond::Role;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;
use crate::reconcile::{merge_employee, merge_webhook};
use crate::sender_lists::SenderLists;
use crate::target_server::TargetServer;

const APP_PASSWORD: &str = "app0password0least0privilege";

/// A fresh login role whose name would drop a table if it were pasted into SQL unquoted.
struct AppRole {
    name: String,
    /// `database_url` with the role's credentials.
    url: String,
}

impl AppRole {
    async fn create(owner: &PgPool, iso: &Isolation) -> AppRole {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let name = format!("provisiond_test_app_{id}\"; DROP TABLE inbox; --");
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::query(&format!(
            "CREATE ROLE {quoted} LOGIN PASSWORD '{APP_PASSWORD}'"
        ))
        .execute(owner)
        .await
        .expect("the test role may create roles (scripts/services gives it CREATEROLE)");
        let (_, rest) = iso.database_url.split_once('@').unwrap();
        let user = utf8_percent_encode(&name, NON_ALPHANUMERIC);
        let url = format!("postgres://{user}:{APP_PASSWORD}@{rest}");
        AppRole { name, url }
    }

    /// Drop the test's database (where the grants are), then the role.
    async fn drop(self, iso: &Isolation) {
        let admin = PgPool::connect(&admin_database_url()).await.unwrap();
        let database = iso.database_url.rsplit_once('/').unwrap().1;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        ))
        .execute(&admin)
        .await
        .unwrap();
        let quoted = format!("\"{}\"", self.name.replace('"', "\"\""));
        sqlx::query(&format!("DROP ROLE {quoted}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}

/// `provisiond ARGS` with a configuration file naming `database_url` (and the test's
/// queues and `merge_list` source); its output.
async fn provisiond(
    database_url: &str,
    iso: &Isolation,
    lists: &SenderLists,
    args: &[&str],
) -> std::process::Output {
    let text = format!(
        "[database]\nurl = \"{database_url}\"\nmigrate = false\n\
         [rabbitmq]\nurl = \"{}\"\nprefix = \"{}\"\nmessage_key = \"{MESSAGE_KEY}\"\n\
         [[sources]]\nname = \"merge_list\"\nkind = \"merge\"\nsecrets = [\"{MERGE_SECRET}\"]\n{}\n",
        amqp_url(),
        iso.prefix,
        lists.api("merge")
    );
    let file = temp_file(&text);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("--config")
        .arg(file.path())
        .args(args)
        .env_remove("PROVISIOND_CONFIG")
        .env("USER", "ops-alice")
        .output()
        .await
        .expect("provisiond runs")
}

fn succeeded(output: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

#[tokio::test]
async fn the_service_works_with_exactly_the_printed_grants_and_cannot_rewrite_events_or_inbox() {
    let lists = SenderLists::start().await;
    let target = TargetServer::start(&[], 200).await;
    let iso = Isolation::new();
    let extra = format!(
        "{}\n[[sources]]\nname = \"merge_list\"\nkind = \"merge\"\nsecrets = [\"{MERGE_SECRET}\"]\n{}\n",
        target.config("product"),
        lists.api("merge")
    );
    // The owner creates and migrates the database.
    let owner_config = test_config_with(&iso, &amqp_url(), &extra);
    let owner = provisiond::store::connect(&owner_config.database)
        .await
        .unwrap();
    provisiond::store::migrate(&owner).await.unwrap();
    let role = AppRole::create(&owner, &iso).await;

    // …prints the grants and applies exactly them.
    let printed = provisiond(
        &iso.database_url,
        &iso,
        &lists,
        &["db", "grants", "--role", &role.name],
    )
    .await;
    let grants = succeeded(&printed, "db grants");
    sqlx::raw_sql(&grants).execute(&owner).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&owner)
    .await
    .unwrap();
    assert!(
        tables.iter().any(|t| t == "inbox"),
        "the role name stayed one identifier"
    );
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations' \
         AND NOT (has_table_privilege($1, c.oid, 'SELECT') \
                  AND has_table_privilege($1, c.oid, 'INSERT')) \
         ORDER BY 1",
    )
    .bind(&role.name)
    .fetch_all(&owner)
    .await
    .unwrap();
    assert_eq!(missing, Vec::<String>::new(), "every table has its grant");
    let deletable: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' \
         AND has_table_privilege($1, c.oid, 'DELETE, TRUNCATE') ORDER BY 1",
    )
    .bind(&role.name)
    .fetch_all(&owner)
    .await
    .unwrap();
    assert_eq!(deletable, Vec::<String>::new(), "no DELETE, no TRUNCATE");

    // The service runs as that role and migrates nothing.
    let app_iso = Isolation {
        database_url: role.url.clone(),
        prefix: iso.prefix.clone(),
    };
    let mut config = test_config_with(&app_iso, &amqp_url(), &extra);
    config.database.migrate = false;
    config.guard.enabled = true;
    config.guard.max_terminations = 1;
    let app = spawn_with(config, app_iso.clone(), Role::All).await;

    // A hire, an update and a termination, on the directory and the product.
    let employee = unique("lp");
    app.send_hris(&hris_body("created", &employee, "2026-03-02T09:00:00Z"))
        .await;
    app.wait_target(&employee, "product", "active").await;
    app.send_hris(&hris_body("updated", &employee, "2026-03-02T10:00:00Z"))
        .await;
    app.employee_after("hris", &employee, 2).await;
    let leaving = app
        .send_hris(&hris_body("terminated", &employee, "2026-03-02T11:00:00Z"))
        .await;
    app.wait_target(&employee, "product", "deactivated").await;
    let view = app.employee("hris", &employee).await.unwrap();
    assert_eq!(view["status"], "terminated");

    // A dead letter (the product refuses), replayed once the product accepts.
    target.set_otherwise(400);
    let other = unique("lp");
    let hired = app
        .send_hris(&hris_body("created", &other, "2026-03-02T09:00:00Z"))
        .await;
    let letter = app.dead_letter(&hired).await["id"].as_i64().unwrap();
    target.set_otherwise(200);
    let replayed = app
        .admin_post(
            &format!("/admin/dead-letters/{letter}/replay"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(replayed.status(), 200);
    app.wait_target(&other, "product", "active").await;

    // A reconcile run finds two leavers; the guard holds one, an operator releases it.
    let mut merged = Vec::new();
    for _ in 0..3 {
        let id = unique("lpm");
        let record = merge_employee(&id, "ACTIVE", Utc::now() - chrono::Duration::days(30));
        merge_webhook(&app, "merge_list", "Employee.added", record.clone()).await;
        lists.set(&id, record);
        merged.push(id);
    }
    for id in &merged {
        app.employee_after("merge_list", id, 1).await;
    }
    lists.remove(&merged[1]);
    lists.remove(&merged[2]);
    let run = provisiond(
        &role.url,
        &iso,
        &lists,
        &["reconcile", "merge_list", "--format", "json"],
    )
    .await;
    let run: Value = serde_json::from_str(&succeeded(&run, "reconcile")).unwrap();
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(run["run"]["published"], 2, "{run}");
    wait_for("one hold", || async {
        let out = provisiond(
            &role.url,
            &iso,
            &lists,
            &["hold", "list", "--format", "json"],
        )
        .await;
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        (list.as_array()?.len() == 1).then_some(())
    })
    .await;
    let released = provisiond(&role.url, &iso, &lists, &RELEASE_ALL_HOLDS).await;
    assert!(succeeded(&released, "hold release").starts_with("released 1"));
    for id in &merged[1..] {
        wait_for(&format!("{id} to be terminated"), || async {
            let view = app.employee("merge_list", id).await?;
            (view["status"] == "terminated").then_some(())
        })
        .await;
    }

    // The report and the chain, read and sealed as the same role. A released hold's
    // external target is called after its directory change commits: wait for both.
    let report = wait_for("the three terminations to complete", || async {
        let report = app.deprovision_report("sla=15m").await;
        (report["counts"]["completed"] == 3).then_some(report)
    })
    .await;
    assert_eq!(report["counts"]["terminations"], 3, "{report}");
    assert!(report["terminations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["event_id"] == leaving.as_str()));
    let verified = provisiond(
        &role.url,
        &iso,
        &lists,
        &["audit", "verify", "--format", "json"],
    )
    .await;
    let verified: Value = serde_json::from_str(&succeeded(&verified, "audit verify")).unwrap();
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["coverage"]["terminations"], 3, "{verified}");
    assert_eq!(verified["coverage"]["covered"], 3, "{verified}");

    // The role cannot rewrite or delete the timeline, the inbox, or anything else.
    for sql in [
        "UPDATE events SET outcome = 'applied' WHERE outcome <> 'applied'",
        "UPDATE events SET processed_at = received_at",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE inbox SET event_id = event_id || 'x'",
        "DELETE FROM inbox",
        "TRUNCATE inbox",
        "DELETE FROM employees",
        "DELETE FROM dead_letters",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET actor = 'mallory'",
    ] {
        let error = sqlx::query(sql).execute(&app.pool).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{sql}: {error}");
    }

    // The reconcile run's seen ids stayed (the runtime deletes nothing); the owner prunes them.
    let seen = "SELECT count(*) FROM reconcile_seen";
    let kept: i64 = sqlx::query_scalar(seen).fetch_one(&owner).await.unwrap();
    assert_eq!(kept, 1, "the one employee the sender still lists");
    let denied = provisiond(&role.url, &iso, &lists, &["db", "prune"]).await;
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("permission denied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let pruned = provisiond(&iso.database_url, &iso, &lists, &["db", "prune"]).await;
    assert_eq!(
        succeeded(&pruned, "db prune").trim(),
        "pruned 1 reconcile_seen row(s)"
    );
    let left: i64 = sqlx::query_scalar(seen).fetch_one(&owner).await.unwrap();
    assert_eq!(left, 0);

    app.cleanup().await;
    owner.close().await;
    role.drop(&iso).await;
}

#[tokio::test]
async fn db_grants_refuses_a_role_name_that_is_not_one_role() {
    let lists = SenderLists::start().await;
    let iso = Isolation::new();
    for name in ["PUBLIC", "current_user", "pg_read_all_data", ""] {
        let out = provisiond(
            &iso.database_url,
            &iso,
            &lists,
            &["db", "grants", "--role", name],
        )
        .await;
        assert!(!out.status.success(), "{name}");
        assert!(out.stdout.is_empty(), "{name}: nothing to apply");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--role: "), "{name}: {stderr}");
    }
}
