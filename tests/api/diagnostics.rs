//! What a new user sees when something is wrong: clear errors naming the file, host or
//! check at fault, start-up warnings, rejected webhooks in the log, no colour codes in
//! files; never a secret.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::helpers::*;

fn provisiond() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provisiond"));
    command.env_remove("NO_COLOR").env_remove("RUST_LOG");
    command
}

/// Run `provisiond ARGS` to its end: (success, stderr).
fn run(args: &[&str]) -> (bool, String) {
    let out = provisiond().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_config_path_that_is_a_directory_or_missing_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let (ok, stderr) = run(&["--config", path, "sources"]);
    assert!(!ok);
    let expected = format!("`{path}` is a directory; expected a TOML file");
    assert!(stderr.contains(&expected), "{stderr}");
    let missing = dir.path().join("nope.toml");
    let missing = missing.to_str().unwrap();
    let (ok, stderr) = run(&["--config", missing, "sources"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("`{missing}` does not exist")),
        "{stderr}"
    );
}

#[test]
fn serve_without_any_configuration_refuses_to_start() {
    let out = provisiond()
        .arg("serve")
        .env_remove("PROVISIOND_CONFIG")
        .output()
        .unwrap();
    let vars = std::env::vars().any(|(name, _)| name.starts_with("PROVISIOND__"));
    if vars {
        return; // this environment configures provisiond itself
    }
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("serve needs a configuration"), "{stderr}");
}

#[test]
fn a_database_login_failure_is_named_once_and_the_password_never_printed() {
    let iso = Isolation::new();
    let base = test_config_text(&iso, &amqp_url(), "");
    let url = admin_database_url();
    let (_, rest) = url.split_once("://").unwrap();
    let (_, place) = rest.split_once('@').unwrap();
    // An unknown role: refused whatever pg_hba.conf says (trust or a password method).
    let wrong = format!("postgres://nobody_diagnostics:not-the-password-42@{place}");
    let config = base.replace(&iso.database_url, &wrong);
    let file = temp_file(config);
    let (ok, stderr) = run(&["--config", file.path().to_str().unwrap(), "dlq", "list"]);
    assert!(!ok);
    let stderr = stderr.trim();
    assert!(
        stderr.starts_with("error: cannot connect to PostgreSQL at "),
        "{stderr}"
    );
    assert!(stderr.contains("user nobody_diagnostics)"), "{stderr}");
    let reasons =
        stderr.matches("does not exist").count() + stderr.matches("authentication failed").count();
    assert_eq!(reasons, 1, "the reason once: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("not-the-password-42"), "{stderr}");
}

#[tokio::test]
async fn a_wrong_broker_password_says_authentication_failed_and_never_prints_it() {
    let url = amqp_url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (credentials, place) = rest.split_once('@').unwrap();
    let (user, _) = credentials.split_once(':').unwrap();
    let wrong = format!("{scheme}://{user}:not-the-password-42@{place}");
    let error = provisiond::queue::connect(&wrong, "diagnostics")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("cannot connect to RabbitMQ at "),
        "{error}"
    );
    let expected = format!("authentication failed for user {user}");
    assert!(error.contains(&expected), "{error}");
    assert!(!error.contains("not-the-password-42"), "{error}");
}

/// A `provisiond serve` subprocess whose stderr (a pipe, as under systemd) is read line
/// by line.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Served {
    fn start(config: &str) -> (Served, tempfile::NamedTempFile) {
        let file = temp_file(config);
        let mut child = provisiond()
            .arg("--config")
            .arg(file.path())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let served = Served {
            child,
            lines,
            seen: Vec::new(),
        };
        (served, file)
    }

    /// The first line (from the start) that `matches`; panics after 30 s.
    fn line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| matches(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!("no log line {what}; got:\n{}", self.seen.join("\n"));
            };
            self.seen.push(line.clone());
            if matches(&line) {
                return line;
            }
        }
    }

    /// The port of `provisiond listening address=127.0.0.1:PORT`.
    fn port(&mut self) -> u16 {
        let line = self.line("saying it listens", |l| l.contains("provisiond listening"));
        let (_, after) = line.split_once("address=127.0.0.1:").expect("an address");
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }
}

#[tokio::test]
async fn a_bad_signature_is_logged_with_source_and_reason_but_no_secret_or_colour() {
    let iso = Isolation::new();
    let (mut served, _file) = Served::start(&test_config_text(&iso, &amqp_url(), ""));
    let port = served.port();
    let body = hris_body("created", "emp_log", "2026-03-02T09:15:00Z");
    let mut headers = hris_headers(&body, "msg_diagnostics_1");
    let forged = format!("v1,{}", "A".repeat(43) + "=");
    headers["webhook-signature"] = forged.clone().into();
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/hris"))
        .header("x-request-id", "req-diagnostics-1")
        .body(body.clone());
    for (name, value) in headers.as_object().unwrap() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(request.send().await.unwrap().status(), 401);
    let line = served.line("for the rejected webhook", |l| {
        l.contains("webhook rejected")
    });
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("source=hris"), "{line}");
    assert!(
        line.contains("reason=\"invalid_signature\"") || line.contains("reason=invalid_signature"),
        "{line}"
    );
    assert!(line.contains("req-diagnostics-1"), "request id: {line}");
    assert!(line.contains("peer=127.0.0.1:"), "remote address: {line}");
    let log = served.stop();
    for secret in [HRIS_SECRET, HRIS_OLD_SECRET, &forged[3..]] {
        assert!(
            !log.contains(secret),
            "a secret or signature reached the log:\n{log}"
        );
    }
    assert!(!log.contains("emp_log"), "the body reached the log:\n{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log:\n{log}"
    );
    delete_topology(&iso.prefix).await;
}

#[tokio::test]
async fn serve_without_sources_warns_that_every_webhook_will_be_404() {
    let iso = Isolation::new();
    let config = test_config_text(&iso, &amqp_url(), "");
    let config = config.split("[[sources]]").next().unwrap().to_owned();
    let (mut served, _file) = Served::start(&config);
    let line = served.line("warning about sources", |l| l.contains("[[sources]]"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("every webhook will answer 404"), "{line}");
    let log = served.stop();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log:\n{log}"
    );
    delete_topology(&iso.prefix).await;
}
