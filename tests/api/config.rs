//! Configuration: file, environment overlay, secret references, validation messages.

use std::io::Write;

use provisiond::Config;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn error_of(text: &str) -> String {
    Config::from_toml(text).unwrap_err().to_string()
}

#[test]
fn the_example_configuration_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/provisiond.example.toml");
    let config = Config::load(Some(std::path::Path::new(path))).expect("example loads");
    assert_eq!(config.rabbitmq.prefix, "provisiond");
    assert_eq!(config.sources.len(), 3);
}

#[test]
fn environment_variables_override_the_file() {
    let f = file("[rabbitmq]\nprefix = \"from_file\"\nprefetch = 10\n");
    std::env::set_var("PROVISIOND__RABBITMQ__PREFIX", "from_env");
    std::env::set_var("PROVISIOND__WORKER__CONCURRENCY", "3");
    let config = Config::load(Some(f.path())).unwrap();
    std::env::remove_var("PROVISIOND__RABBITMQ__PREFIX");
    std::env::remove_var("PROVISIOND__WORKER__CONCURRENCY");
    assert_eq!(config.rabbitmq.prefix, "from_env");
    assert_eq!(config.rabbitmq.prefetch, 10);
    assert_eq!(config.worker.concurrency, 3);
}

#[test]
fn secrets_resolve_from_env_and_file_and_never_show_in_debug() {
    let secret_file = file("file-secret-value\n");
    std::env::set_var("PROVISIOND_TEST_MERGE_KEY", "env-secret-value");
    let text = format!(
        "[server]\nadmin_token = \"file:{}\"\n[[sources]]\nname = \"m\"\nkind = \"merge\"\n\
         secrets = [\"env:PROVISIOND_TEST_MERGE_KEY\"]\n",
        secret_file.path().display()
    );
    let config = Config::from_toml(&text).unwrap();
    let token = config.server.admin_token.as_ref().unwrap();
    assert_eq!(token.expose(), "file-secret-value");
    assert_eq!(config.sources[0].secrets[0].expose(), "env-secret-value");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("secret-value"),
        "a secret leaked into Debug output"
    );
    assert!(
        !debug.contains("guest:guest"),
        "the broker password leaked into Debug output"
    );
}

#[test]
fn validation_names_the_bad_key() {
    assert!(error_of("[server]\nlisten = \"nowhere\"\n").contains("server.listen"));
    assert!(error_of("[worker]\nconcurrency = 0\n").contains("worker.concurrency"));
    assert!(error_of("[rabbitmq]\nprefix = \"a b\"\n").contains("rabbitmq.prefix"));
    assert!(error_of("[server]\nadmin_token = \"short\"\n").contains("server.admin_token"));
    assert!(error_of("[server]\nlisten_on = \"x\"\n").contains("listen_on"));
    let missing_env = "[[sources]]\nname = \"m\"\nkind = \"merge\"\nsecrets = [\"env:PROVISIOND_NOPE_NOT_SET\"]\n";
    let message = error_of(missing_env);
    assert!(
        message.contains("sources") && message.contains("PROVISIOND_NOPE_NOT_SET"),
        "{message}"
    );
    let bad_kind = "[[sources]]\nname = \"m\"\nkind = \"okta\"\nsecrets = [\"k\"]\n";
    assert!(error_of(bad_kind).contains("kind"));
    let bad_whsec =
        "[[sources]]\nname = \"s\"\nkind = \"standard-webhooks\"\nsecrets = [\"whsec_!!!\"]\n";
    assert!(error_of(bad_whsec).contains("sources[0].secrets[0]"));
    let dup = "[[sources]]\nname = \"m\"\nkind = \"merge\"\nsecrets = [\"k\"]\n\
               [[sources]]\nname = \"m\"\nkind = \"merge\"\nsecrets = [\"k\"]\n";
    assert!(error_of(dup).contains("sources[1].name"));
}
