//! `[[targets]]` read through `Config::from_toml`, so errors are checked as the operator
//! sees them: the entry's index and the key at fault.

use std::time::Duration;

use crate::config::{Config, ConfigError};

use super::*;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SCIM: &str = "kind = \"scim\"\nbase_url = \"https://app.example.com/scim/v2\"\n";

fn targets(entries: &str) -> Vec<TargetConfig> {
    Config::from_toml(entries).expect("valid").targets
}

/// One entry named `t`; its other lines are `entry`.
fn target(entry: &str) -> TargetConfig {
    let mut all = targets(&format!("[[targets]]\nname = \"t\"\n{entry}"));
    all.remove(0)
}

/// The key and message of the error for one entry named `t`.
fn invalid(entry: &str) -> (String, String) {
    let text = format!("[[targets]]\nname = \"t\"\n{entry}");
    match Config::from_toml(&text) {
        Err(ConfigError::Invalid { key, message }) => (key, message),
        other => panic!("expected a bad key, got {other:?}"),
    }
}

fn http(options: &str) -> String {
    format!("kind = \"http\"\n{options}")
}

#[test]
fn each_kind_reads_its_keys_with_a_10s_timeout_and_deactivate_by_default() {
    let entries = format!(
        "[[targets]]\nname = \"directory\"\nkind = \"directory\"\n\
         [[targets]]\nname = \"app\"\n{SCIM}token = \"t\"\n\
         [[targets]]\nname = \"product\"\nkind = \"http\"\nurl = \" https://p.example/h \"\n\
         secret = \"{SECRET}\"\n"
    );
    let [directory, app, product] = <[TargetConfig; 3]>::try_from(targets(&entries)).unwrap();
    assert!(matches!(directory.kind, TargetKind::Directory));
    let TargetKind::Scim(scim) = app.kind else {
        panic!("{app:?}")
    };
    assert_eq!(scim.base_url.as_str(), "https://app.example.com/scim/v2");
    assert_eq!(scim.token.expose(), "t");
    assert_eq!(scim.deprovision, Deprovision::Deactivate);
    assert_eq!(scim.timeout, DEFAULT_TIMEOUT);
    let TargetKind::Http(options) = product.kind else {
        panic!("{product:?}")
    };
    assert_eq!(options.url.as_str(), "https://p.example/h");
    assert_eq!(options.timeout, Duration::from_secs(10));
}

#[test]
fn the_optional_keys_are_read_when_given() {
    let entry =
        format!("{SCIM}token = \"t\"\ndeprovision = \" delete \"\ntimeout = \" 1m 30s \"\n");
    let TargetKind::Scim(scim) = target(&entry).kind else {
        panic!("not scim")
    };
    assert_eq!(scim.deprovision, Deprovision::Delete);
    assert_eq!(scim.timeout, Duration::from_secs(90));
}

#[test]
fn errors_name_the_url_key() {
    for url in [
        "",
        "url = \"ftp://example.com/x\"",
        "url = \"not a url\"",
        "url = 42",
    ] {
        let (key, message) = invalid(&http(&format!("secret = \"{SECRET}\"\n{url}")));
        assert_eq!(key, "targets[0].url", "{url}: {message}");
    }
    let (_, message) = invalid(&http(&format!(
        "url = \"gopher://x\"\nsecret = \"{SECRET}\""
    )));
    assert_eq!(message, "must be an http(s) URL");
    let (_, message) = invalid(&http(&format!("secret = \"{SECRET}\"")));
    assert_eq!(message, "is required for an http target");
}

#[test]
fn errors_name_the_secret_key_without_showing_it() {
    let url = "url = \"https://x.example\"\n";
    for secret in [
        "",
        "secret = \"whsec_!!not-base64!!\"",
        "secret = \"env:PROVISIOND_TEST_HTTP_TARGET_SECRET_THAT_IS_NEVER_SET\"",
        "secret = \"file:/nonexistent/provisiond/secret\"",
        "secret = \"\"",
    ] {
        let (key, message) = invalid(&http(&format!("{url}{secret}")));
        assert_eq!(key, "targets[0].secret", "{secret}: {message}");
        assert!(!message.contains("!!not-base64!!"), "{message}");
    }
}

#[test]
fn errors_name_the_timeout_key_of_either_kind() {
    for timeout in ["\"soon\"", "\"0s\"", "10"] {
        let options = format!("url = \"https://x.example\"\nsecret = \"{SECRET}\"\n");
        let (key, message) = invalid(&http(&format!("{options}timeout = {timeout}")));
        assert_eq!(key, "targets[0].timeout", "{timeout}: {message}");
        let (key, message) = invalid(&format!("{SCIM}token = \"t\"\ntimeout = {timeout}"));
        assert_eq!(key, "targets[0].timeout", "{timeout}: {message}");
    }
    let (_, message) = invalid(&format!("{SCIM}token = \"t\"\ntimeout = \"0s\""));
    assert_eq!(message, "must be greater than zero");
}

#[test]
fn errors_name_the_base_url_key() {
    for base_url in [
        "",
        "base_url = \"ftp://example.com/scim\"",
        "base_url = \"not a url\"",
        "base_url = 42",
        "base_url = \"https://app.example.com/scim?tenant=1\"",
    ] {
        let (key, message) = invalid(&format!("kind = \"scim\"\ntoken = \"t\"\n{base_url}"));
        assert_eq!(key, "targets[0].base_url", "{base_url}: {message}");
    }
}

#[test]
fn errors_name_the_token_key_without_showing_it() {
    for token in [
        "",
        "token = \"\"",
        "token = 7",
        "token = \"env:PROVISIOND_TEST_SCIM_TOKEN_THAT_IS_NEVER_SET\"",
        "token = \"file:/nonexistent/provisiond/scim-token\"",
        "token = \"secret\\nwith a newline\"",
    ] {
        let (key, message) = invalid(&format!("{SCIM}{token}"));
        assert_eq!(key, "targets[0].token", "{token}: {message}");
        assert!(!message.contains("with a newline"), "{message}");
    }
}

#[test]
fn errors_name_deprovision_and_unknown_keys_with_the_keys_expected() {
    for deprovision in ["\"suspend\"", "true"] {
        let (key, _) = invalid(&format!("{SCIM}token = \"t\"\ndeprovision = {deprovision}"));
        assert_eq!(key, "targets[0].deprovision");
    }
    let (key, message) = invalid(&format!("{SCIM}token = \"t\"\nurl = \"https://x\""));
    assert_eq!(key, "targets[0].url");
    let expected = "unknown key for a scim target (expected base_url, token, deprovision, timeout)";
    assert_eq!(message, expected);
    let options = format!("url = \"https://x.example\"\nsecret = \"{SECRET}\"\ntokn = \"x\"");
    let (key, message) = invalid(&http(&options));
    assert_eq!(key, "targets[0].tokn");
    assert_eq!(
        message,
        "unknown key for an http target (expected url, secret, timeout)"
    );
    let (key, _) = invalid("kind = \"directory\"\nurl = \"https://x.example\"");
    assert_eq!(key, "targets[0].url");
}

#[test]
fn a_missing_or_unknown_kind_is_named() {
    assert_eq!(invalid("").0, "targets[0].kind");
    let (key, message) = invalid("kind = \"ldap\"");
    assert_eq!(key, "targets[0].kind");
    assert!(message.contains("ldap"), "{message}");
}

#[test]
fn the_entry_at_fault_is_named_by_its_index() {
    let text = "[[targets]]\nname = \"directory\"\nkind = \"directory\"\n\
                [[targets]]\nname = \"product\"\nkind = \"http\"\nurl = \"https://x.example\"\n";
    let error = Config::from_toml(text).unwrap_err().to_string();
    assert_eq!(
        error,
        "invalid configuration: `targets[1].secret`: is required for an http target"
    );
}

#[test]
fn debug_shows_neither_tokens_nor_url_passwords() {
    let entry = "kind = \"scim\"\nbase_url = \"https://user:hunter2@app.example.com/scim\"\n\
                 token = \"scim-token-never-shown\"";
    let shown = format!("{:?}", target(entry));
    assert!(shown.contains("@app.example.com/scim"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("scim-token-never-shown"), "{shown}");
}
