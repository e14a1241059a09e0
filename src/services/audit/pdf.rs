//! The deprovision report as PDF: the HTML page printed by headless Chromium
//! (`--print-to-pdf`), in a temporary directory removed afterwards, under a timeout.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// The environment variable naming the browser when `audit.chromium` is not set.
pub const CHROMIUM_ENV: &str = "PROVISIOND_CHROMIUM";

/// Looked up on `PATH` when neither `audit.chromium` nor `PROVISIOND_CHROMIUM` is set.
pub const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// How long printing may take before Chromium is killed.
pub const PRINT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "cannot print the report as PDF: no Chromium found (tried {tried}); install \
         Chromium (e.g. apt-get install chromium) or set audit.chromium or {CHROMIUM_ENV} \
         to the browser's path"
    )]
    NoBrowser { tried: String },
    #[error("cannot print the report as PDF: Chromium ({browser}) took longer than {seconds} s")]
    Timeout { browser: String, seconds: u64 },
    #[error("cannot print the report as PDF with {browser}: {message}")]
    Failed { browser: String, message: String },
    #[error("cannot print the report as PDF: {0}")]
    Io(#[from] std::io::Error),
}

/// The browser: `configured` (`audit.chromium`), else `PROVISIOND_CHROMIUM`, else the
/// first of [`CHROMIUM_NAMES`] on `PATH`. An error names everything tried.
pub fn find_chromium(configured: Option<&Path>) -> Result<PathBuf, PdfError> {
    let from_env = std::env::var_os(CHROMIUM_ENV).filter(|v| !v.is_empty());
    find_in(configured, from_env, std::env::var_os("PATH"))
}

fn find_in(
    configured: Option<&Path>,
    from_env: Option<OsString>,
    path: Option<OsString>,
) -> Result<PathBuf, PdfError> {
    let mut tried = Vec::new();
    let explicit = [
        configured.map(|p| ("audit.chromium", p.to_path_buf())),
        from_env.map(|p| (CHROMIUM_ENV, PathBuf::from(p))),
    ];
    for (origin, candidate) in explicit.into_iter().flatten() {
        // A configured name without a slash is looked up on PATH too.
        if let Some(found) = resolve(&candidate, path.as_deref()) {
            return Ok(found);
        }
        tried.push(format!("{origin} = {}", candidate.display()));
    }
    for name in CHROMIUM_NAMES {
        if let Some(found) = resolve(Path::new(name), path.as_deref()) {
            return Ok(found);
        }
        tried.push(format!("{name} on PATH"));
    }
    Err(PdfError::NoBrowser {
        tried: tried.join(", "),
    })
}

fn resolve(candidate: &Path, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if candidate.components().count() > 1 || candidate.is_absolute() {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(candidate))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let name = format!("provisiond-report-{}", uuid::Uuid::new_v4().simple());
        let dir = std::env::temp_dir().join(name);
        // Private: the page holds personal data.
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Print `html` (a self-contained page) to PDF with `browser`; the PDF's bytes.
pub async fn print(html: &str, browser: &Path, timeout: Duration) -> Result<Vec<u8>, PdfError> {
    // A browser is heavy: one print at a time per process, the others wait their turn
    // (an admin token must not be able to start browsers without bound).
    static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let _turn = ONE_AT_A_TIME
        .acquire()
        .await
        .map_err(|_| std::io::Error::other("the print queue is closed"))?;
    let dir = TempDir::new()?;
    let page = dir.0.join("report.html");
    let pdf = dir.0.join("report.pdf");
    let profile = dir.0.join("profile");
    tokio::fs::write(&page, html).await?;
    let mut print_to = OsString::from("--print-to-pdf=");
    print_to.push(&pdf);
    let mut user_data = OsString::from("--user-data-dir=");
    user_data.push(&profile);
    let mut url = OsString::from("file://");
    url.push(&page);
    let name = browser.display().to_string();
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-pdf-header-footer",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
        ])
        .arg(user_data)
        .arg(print_to)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PdfError::Failed {
            browser: name.clone(),
            message: format!("cannot start it: {e}"),
        })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output?,
        Err(_) => {
            return Err(PdfError::Timeout {
                browser: name,
                seconds: timeout.as_secs(),
            })
        }
    };
    let bytes = tokio::fs::read(&pdf).await.unwrap_or_default();
    if !output.status.success() || !bytes.starts_with(b"%PDF") {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(PdfError::Failed {
            browser: name,
            message: format!("{}, no PDF written: {}", output.status, tail.join(" / ")),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_pdf_a_missing_browser_names_everything_tried() {
        let empty = tempfile_dir();
        let error = find_in(
            Some(Path::new("/nonexistent/chrome")),
            Some("/also/missing".into()),
            Some(empty.0.clone().into_os_string()),
        )
        .unwrap_err()
        .to_string();
        for tried in [
            "audit.chromium = /nonexistent/chrome",
            "PROVISIOND_CHROMIUM = /also/missing",
            "chromium on PATH",
            "chromium-browser on PATH",
            "google-chrome on PATH",
        ] {
            assert!(error.contains(tried), "{tried}: {error}");
        }
    }

    #[test]
    fn audit_pdf_the_browser_is_found_on_path_and_configured_wins() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile_dir();
        let fake = dir.0.join("google-chrome");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = Some(dir.0.clone().into_os_string());
        assert_eq!(find_in(None, None, path.clone()).unwrap(), fake);
        let other = dir.0.join("my-chrome");
        std::fs::write(&other, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_in(Some(&other), None, path.clone()).unwrap(), other);
        assert_eq!(
            find_in(None, Some("my-chrome".into()), path).unwrap(),
            other,
            "a bare name is looked up on PATH"
        );
    }

    fn tempfile_dir() -> TempDir {
        TempDir::new().unwrap()
    }
}
