//! Running the `provisiond` binary as an operator would.

use serde_json::Value;

/// `provisiond hold release` for every hold, with the reason HR gave.
pub const RELEASE_ALL_HOLDS: [&str; 6] = [
    "hold",
    "release",
    "--all",
    "--yes",
    "--reason",
    "HR confirmed",
];

/// A temporary file holding `text` (a configuration, an event body).
pub fn temp_file(text: impl AsRef<[u8]>) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

/// `provisiond --config FILE ARGS`, FILE holding `config`; it must succeed, and what it
/// printed is its JSON.
pub fn cli_json(config: &str, args: &[&str]) -> Value {
    let config = temp_file(config);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("--config")
        .arg(config.path())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the CLI prints JSON")
}
