//! The configuration every test app starts from.

use provisiond::Config;

use super::*;

pub fn test_config(iso: &Isolation, amqp: &str) -> Config {
    test_config_with(iso, amqp, "")
}

/// The test configuration plus `extra` TOML (targets, rules).
pub fn test_config_with(iso: &Isolation, amqp: &str, extra: &str) -> Config {
    Config::from_toml(&test_config_text(iso, amqp, extra)).expect("test config is valid")
}

pub fn test_config_text(iso: &Isolation, amqp: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_token = "{ADMIN_TOKEN}"
max_body_bytes = 65536
shutdown_timeout = "20s"

[database]
url = "{db}"
max_connections = 8

[rabbitmq]
url = "{amqp}"
prefix = "{prefix}"
prefetch = 32
confirm_timeout = "3s"
retry_after_secs = 7
message_key = "{MESSAGE_KEY}"

# Tests terminate many employees of one source; the guard's own tests turn it on.
[guard]
enabled = false

[worker]
concurrency = 8
max_attempts = {max_attempts}
quick_retries = 1
retry_delays = ["100ms", "200ms"]
scheduler_interval = "50ms"
termination_retry_for = "0s"

[[sources]]
name = "hris"
kind = "standard-webhooks"
secrets = ["{HRIS_OLD_SECRET}", "{HRIS_SECRET}"]

[[sources]]
name = "merge"
kind = "merge"
secrets = ["{MERGE_OLD_SECRET}", "{MERGE_SECRET}"]

[[sources]]
name = "workos"
kind = "workos"
secrets = ["{WORKOS_OLD_SECRET}", "{WORKOS_SECRET}"]

[[sources]]
name = "finch"
kind = "finch"
secrets = ["{FINCH_SECRET}"]

# Gusto before its verification token is known.
[[sources]]
name = "gusto"
kind = "gusto"
secrets = []

[[sources]]
name = "hibob"
kind = "hibob"
secrets = ["hibob-secret"]

{extra}
"#,
        db = iso.database_url,
        prefix = iso.prefix,
        max_attempts = MAX_ATTEMPTS,
    )
}
