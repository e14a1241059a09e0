//! provisiond under test, run as a separate process (this very executable with `serve`),
//! so that its CPU and memory are its own and its peak RSS can be read from /proc.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::startup::Role;

/// How long a provisiond process may take to answer `/readyz` with 200.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a stopping process may take to drain before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(40);

/// What every provisiond process of one bench run shares.
#[derive(Debug, Clone)]
pub struct Launch {
    pub exe: PathBuf,
    /// The configuration file the process reads (the user's, or a copy of the example).
    pub config_file: PathBuf,
    /// Bench-specific overrides, as `PROVISIOND__SECTION__KEY` variables.
    pub overrides: Vec<(String, String)>,
    pub log_dir: PathBuf,
}

pub struct Provisiond {
    child: Child,
    pid: u32,
    pub role: &'static str,
    pub address: String,
    log: PathBuf,
}

impl Launch {
    /// Start `serve --role ROLE` listening on a free port of 127.0.0.1; `index` tells
    /// processes of the same role apart (log `ROLE-INDEX.log`, or `ROLE.log` for 0).
    pub fn start(&self, role: Role, index: usize) -> anyhow::Result<Provisiond> {
        let name = role_name(role);
        let port = free_port()?;
        let log = match index {
            0 => self.log_dir.join(format!("{name}.log")),
            _ => self.log_dir.join(format!("{name}-{index}.log")),
        };
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(&self.exe);
        command
            .arg("--config")
            .arg(&self.config_file)
            .args(["serve", "--role", name])
            .env_remove("PROVISIOND_CONFIG")
            .env("PROVISIOND__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .envs(self.overrides.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        let pid = child
            .id()
            .context("the provisiond process exited at once")?;
        Ok(Provisiond {
            child,
            pid,
            role: name,
            address: format!("http://127.0.0.1:{port}"),
            log,
        })
    }
}

impl Provisiond {
    /// Wait until `/readyz` answers 200 (database and broker links up).
    pub async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        let url = format!("{}/readyz", self.address);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "provisiond --role {} exited ({status}) before it was ready:\n{}",
                    self.role,
                    log_tail(&self.log)
                );
            }
            let answer = http.get(&url).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "provisiond --role {} was not ready within {READY_DEADLINE:?}:\n{}",
                    self.role,
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An error (with the log's tail) if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "provisiond --role {} exited ({status}):\n{}",
                self.role,
                log_tail(&self.log)
            ),
        }
    }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        peak_rss_of(self.pid)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Read the peak RSS, then SIGTERM and wait for a clean exit (SIGKILL after a
    /// deadline). Returns the peak RSS in bytes.
    pub async fn stop(mut self) -> anyhow::Result<u64> {
        let rss = self.peak_rss().unwrap_or(0);
        let pid = self.pid.to_string();
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if !signalled {
            self.child.start_kill()?;
        }
        match tokio::time::timeout(STOP_DEADLINE, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    tracing::warn!(role = self.role, %status, "provisiond did not exit cleanly");
                }
            }
            Err(_) => {
                tracing::warn!(
                    role = self.role,
                    "provisiond did not stop in time; killing it"
                );
                self.child.start_kill()?;
                let _ = self.child.wait().await;
            }
        }
        report_problems(self.role, &self.log);
        Ok(rss)
    }
}

/// Tell (on stderr) how many warnings and errors a provisiond process logged, with the
/// first few: a run with errors is a run to look at before trusting its numbers.
fn report_problems(role: &str, log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        // `/readyz` answering 503 while the bench waits for it is expected.
        .filter(|l| !l.contains("/readyz"))
        .collect();
    if problems.is_empty() {
        return;
    }
    eprintln!(
        "bench: provisiond --role {role} logged {} warnings/errors, first ones:",
        problems.len()
    );
    for line in problems.iter().take(3) {
        eprintln!("  {line}");
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::All => "all",
        Role::Receiver => "receiver",
        Role::Worker => "worker",
    }
}

/// A port that was free a moment ago (the child binds it right away).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `VmHWM` of a live process, in bytes.
pub fn peak_rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The last lines a process logged, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status = "Name:\tprovisiond\nVmPeak:\t  900 kB\nVmHWM:\t   35120 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(35120 * 1024));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
        assert!(peak_rss_of(std::process::id()).is_some_and(|b| b > 0));
    }
}
