//! Configuration: file, environment overlay, secret references, validation messages.

use std::io::Write;

use provisiond::provision::rules::Rules;
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
fn named_admin_tokens_are_checked_and_admin_token_is_the_operator_admin() {
    let token = |name: &str, role: &str, token: &str| {
        format!("[[server.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken = \"{token}\"\n")
    };
    let good = "0123456789abcdef";
    let other = "fedcba9876543210";
    let text = format!(
        "[server]\nadmin_token = \"admin-token-0123456789\"\n{}{}",
        token("ann", "auditor", good),
        token("olga", "operator", other)
    );
    let config = Config::from_toml(&text).expect("valid");
    let names: Vec<_> = config
        .admin_tokens()
        .into_iter()
        .map(|(name, role, _)| format!("{name}:{}", role.as_str()))
        .collect();
    assert_eq!(names, ["ann:auditor", "olga:operator", "admin:operator"]);
    assert!(
        !format!("{config:?}").contains(good),
        "tokens stay out of Debug"
    );

    let cases = [
        (token("ann", "root", good), "role"),
        (token("ann", "auditor", "short"), "server.tokens[0].token"),
        (token("a b", "auditor", good), "server.tokens[0].name"),
        (token("", "auditor", good), "server.tokens[0].name"),
        (
            token("ann", "auditor", good) + &token("ann", "operator", other),
            "server.tokens[1].name",
        ),
        (
            token("ann", "auditor", good) + &token("bob", "operator", good),
            "server.tokens[1].token",
        ),
        (
            format!("[server]\nadmin_token = \"{other}\"\n") + &token("admin", "auditor", good),
            "server.tokens[0].name",
        ),
    ];
    for (text, key) in cases {
        let message = error_of(&text);
        assert!(message.contains(key), "{text}: {message}");
    }
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

#[test]
fn a_valid_rules_configuration_loads() {
    let text = r#"
[[rules]]
name = "sales"
when = { department = "Sales", "/custom_fields/office" = ["London", "Paris"] }
role = "sales"
groups = ["sales", "crm"]
entitlements = { card_limit_usd = 500, tier = "gold" }

[[rules]]
when = { title = "*engineer*" }
groups = ["eng"]

[default]
role = "employee"
groups = ["all-staff"]
"#;
    let f = file(text);
    let config = Config::load(Some(f.path())).expect("rules config loads");
    let rules = Rules::new(&config.rules, config.default.as_ref());
    assert_eq!(rules.managed_groups(), ["sales", "crm", "eng", "all-staff"]);
    assert_eq!(
        serde_json::Value::from(config.rules[0].grant.entitlements.clone()),
        serde_json::json!({"card_limit_usd": 500, "tier": "gold"})
    );
    assert_eq!(
        config.default.as_ref().unwrap().role.as_deref(),
        Some("employee")
    );
}

#[test]
fn an_invalid_rule_names_its_key() {
    let unknown =
        "[[rules]]\nrole = \"a\"\n[[rules]]\nwhen = { department = \"x\" }\ncolour = \"red\"\n";
    let message = error_of(unknown);
    assert!(message.contains("rules[1].colour"), "{message}");
    let wrong_type = "[[rules]]\nwhen = { department = { eq = \"Sales\" } }\n";
    let message = error_of(wrong_type);
    assert!(message.contains("rules[0].when.department"), "{message}");
    let message = error_of("[default]\ngroups = \"all\"\n");
    assert!(message.contains("default.groups"), "{message}");
    let message = error_of("[[rules]]\nwhen = { \"/a/~9\" = 1 }\n");
    assert!(
        message.contains("rules[0].when.\"/a/~9\"") && message.contains("pointer"),
        "{message}"
    );
}

#[test]
fn a_source_api_is_checked_and_its_token_never_shows_in_debug() {
    let base = "[[sources]]\nname = \"b\"\nkind = \"bamboohr\"\nsecrets = [\"k\"]\n";
    let no_company =
        format!("{base}api = {{ base_url = \"https://api.bamboohr.com\", token = \"tok-123\" }}\n");
    let message = error_of(&no_company);
    assert!(
        message.contains("sources[0].api") && message.contains("company"),
        "{message}"
    );
    let bad_url =
        format!("{base}api = {{ base_url = \"ftp://x\", token = \"t\", company = \"acme\" }}\n");
    assert!(error_of(&bad_url).contains("sources[0].api.base_url"));
    let unknown =
        format!("{base}api = {{ base_url = \"https://x\", token = \"t\", colour = \"red\" }}\n");
    assert!(error_of(&unknown).contains("colour"));
    let good = format!(
        "{base}api = {{ base_url = \"https://api.bamboohr.com\", token = \"tok-123\", company = \"acme\" }}\n"
    );
    let config = Config::from_toml(&good).unwrap();
    assert!(
        !format!("{config:?}").contains("tok-123"),
        "the API token is redacted"
    );
}

#[test]
fn a_tolerance_on_a_sender_without_timestamps_is_an_error_naming_the_key() {
    for kind in ["merge", "gusto", "hibob", "deel"] {
        let text = format!(
            "[[sources]]\nname = \"s\"\nkind = \"{kind}\"\nsecrets = [\"k\"]\ntolerance = \"5m\"\n"
        );
        let error = error_of(&text);
        assert!(error.contains("sources[0].tolerance"), "{kind}: {error}");
        assert!(error.contains("no timestamp"), "{kind}: {error}");
    }
    for kind in ["standard-webhooks", "workos", "bamboohr", "finch"] {
        let secret = match kind {
            "standard-webhooks" => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "finch" => "5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH",
            _ => "k",
        };
        let text = format!(
            "[[sources]]\nname = \"s\"\nkind = \"{kind}\"\nsecrets = [\"{secret}\"]\ntolerance = \"2m\"\n"
        );
        assert!(Config::from_toml(&text).is_ok(), "{kind}");
    }
}

#[tokio::test]
async fn serving_needs_a_message_key_of_at_least_32_characters() {
    let short = "[rabbitmq]\nmessage_key = \"too-short-for-a-key\"\n";
    assert!(error_of(short).contains("rabbitmq.message_key"));
    let mut config = Config::from_toml("[server]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    config.rabbitmq.message_key = None;
    let error = match provisiond::Application::build(config, provisiond::Role::All).await {
        Ok(_) => panic!("serve started without rabbitmq.message_key"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("rabbitmq.message_key"), "{error}");
}

#[test]
fn a_zero_stall_timeout_is_refused_naming_the_key() {
    let message = error_of("[worker]\nstall_timeout = \"0s\"\n");
    assert!(
        message.contains("worker.stall_timeout") && message.contains("greater than 0"),
        "{message}"
    );
    let config = provisiond::Config::from_toml("[worker]\nstall_timeout = \"90s\"\n").unwrap();
    assert_eq!(
        config.worker.stall_timeout,
        std::time::Duration::from_secs(90)
    );
}

#[test]
fn previous_message_keys_are_checked_like_the_key() {
    let text = "[rabbitmq]\nmessage_key = \"current-key-0123456789abcdef0123456789\"\n\
                previous_message_keys = [\"older-key-0123456789abcdef0123456789ab\", \"short\"]\n";
    assert!(error_of(text).contains("rabbitmq.previous_message_keys[1]"));
}

#[test]
fn target_secrets_stay_out_of_debug_output() {
    let text =
        "[[targets]]\nname = \"app\"\nkind = \"scim\"\nbase_url = \"http://127.0.0.1:9/scim\"\n\
                token = \"scim-bearer-token-do-not-print\"\n\
                [[targets]]\nname = \"product\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/p\"\n\
                secret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"\n";
    let config = Config::from_toml(text).expect("valid");
    let shown = format!("{config:?}");
    assert!(!shown.contains("scim-bearer-token-do-not-print"), "{shown}");
    assert!(!shown.contains("C2FVsBQIhrscChlQIMV"), "{shown}");
    assert!(
        shown.contains("token") && shown.contains("secret"),
        "keys are named: {shown}"
    );
}

#[test]
fn rabbitmq_urls_are_a_list_or_comma_separated_and_url_still_works() {
    let one = Config::from_toml("[rabbitmq]\nurl = \"amqp://u:p@h1:5672/%2f\"\n").unwrap();
    let urls: Vec<String> = one
        .rabbitmq
        .broker_urls()
        .iter()
        .map(|u| u.expose().to_owned())
        .collect();
    assert_eq!(urls, ["amqp://u:p@h1:5672/%2f"]);

    let list = "[rabbitmq]\nurls = [\"amqp://h1:5672\", \"amqp://h2:5672\", \"amqp://h3:5672\"]\n";
    let config = Config::from_toml(list).unwrap();
    assert_eq!(config.rabbitmq.broker_urls().len(), 3);
    assert_eq!(config.rabbitmq.broker_urls()[2].expose(), "amqp://h3:5672");

    let f = file("[rabbitmq]\nprefix = \"p\"\n");
    std::env::set_var(
        "PROVISIOND__RABBITMQ__URLS",
        "amqp://h1:5701/%2f, amqp://h2:5702/%2f",
    );
    let config = Config::load(Some(f.path()));
    std::env::remove_var("PROVISIOND__RABBITMQ__URLS");
    let urls = config.unwrap().rabbitmq.broker_urls();
    assert_eq!(urls.len(), 2);
    assert_eq!(urls[1].expose(), "amqp://h2:5702/%2f");

    let none = Config::from_toml("").unwrap();
    let default = none.rabbitmq.broker_urls();
    assert_eq!(default[0].expose(), "amqp://guest:guest@127.0.0.1:5672/%2f");
}

#[test]
fn rabbitmq_urls_and_quorum_group_size_are_checked() {
    let both = "[rabbitmq]\nurl = \"amqp://h1\"\nurls = [\"amqp://h2\"]\n";
    let error = error_of(both);
    assert!(error.contains("rabbitmq.urls"), "{error}");
    assert!(error.contains("not both"), "{error}");
    let bad = error_of("[rabbitmq]\nurls = [\"amqp://h1\", \"http://h2\"]\n");
    assert!(bad.contains("rabbitmq.urls[1]"), "{bad}");
    assert!(bad.contains("amqp://"), "{bad}");
    for size in [0, 8] {
        let error = error_of(&format!("[rabbitmq]\nquorum_group_size = {size}\n"));
        assert!(error.contains("rabbitmq.quorum_group_size"), "{error}");
    }
    let three = Config::from_toml("[rabbitmq]\nquorum_group_size = 3\n").unwrap();
    assert_eq!(three.rabbitmq.quorum_group_size, Some(3));
}
