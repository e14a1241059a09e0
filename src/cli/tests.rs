use clap::CommandFactory;

use super::*;

/// Every subcommand and every argument of every subcommand (but clap's own `--help` and
/// `--version`), with the path that leads to it, that has no help text.
fn undocumented(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let documented = arg.get_help().or(arg.get_long_help()).is_some();
        if !documented {
            missing.push(format!("{path} <{id}>"));
        }
    }
    for sub in command.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        let sub_path = format!("{path} {name}");
        if sub.get_about().or(sub.get_long_about()).is_none() {
            missing.push(sub_path.clone());
        }
        undocumented(sub, &sub_path, missing);
    }
}

#[test]
fn every_subcommand_and_argument_has_help_text() {
    let command = Cli::command();
    command.clone().debug_assert();
    let mut missing = Vec::new();
    undocumented(&command, "provisiond", &mut missing);
    assert!(
        missing.is_empty(),
        "no help text (add a `///` doc comment) for:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn an_error_chain_prints_each_cause_once() {
    let root = std::io::Error::other("pool timed out while waiting for an open connection");
    #[derive(Debug, thiserror::Error)]
    #[error("while executing migrations: {0}")]
    struct Repeats(#[source] std::io::Error);
    let error = anyhow::Error::new(Repeats(root)).context("cannot apply database migrations");
    assert_eq!(
        report(&error),
        "cannot apply database migrations: while executing migrations: pool timed out while \
         waiting for an open connection"
    );
    let plain = anyhow::anyhow!("inner").context("outer");
    assert_eq!(report(&plain), "outer: inner");
}

#[test]
fn serve_without_a_file_needs_provisiond_variables() {
    let none = ["HOME", "PATH", "PROVISIOND_CONFIG_X"].map(String::from);
    let error = refuse_serve_without_configuration(none.into_iter()).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("serve needs a configuration"), "{text}");
    assert!(text.contains("--config"), "{text}");
    let env = ["PATH", "PROVISIOND__RABBITMQ__MESSAGE_KEY"].map(String::from);
    refuse_serve_without_configuration(env.into_iter()).expect("the environment configures it");
}
