//! Logging and metrics set-up.

pub mod hourly;

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Log to stderr; `RUST_LOG` filters (default `info`), `PROVISIOND_LOG_FORMAT=json` for JSON.
pub fn init_tracing() {
    init_tracing_at("info");
}

/// Same, with another default level (one-shot CLI commands log warnings only).
/// lapin logs broker failures (a refused login, a connection it is closing on purpose) as
/// raw protocol dumps; provisiond reports each broker failure itself in words
/// (`queue::BrokerError`), so lapin is silenced by default (`RUST_LOG=lapin=debug` shows it).
/// Colours only on a terminal, and never with `NO_COLOR` set.
pub fn init_tracing_at(level: &str) {
    let default = format!("{level},lapin=off");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let json = std::env::var("PROVISIOND_LOG_FORMAT").is_ok_and(|v| v == "json");
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// ANSI colours when writing to a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>): a log file or a pipe gets plain text.
pub fn use_colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `provisiond_deprovision_latency_seconds`: from sub-second to a day (SLAs are minutes
/// to hours: 15m, 1h, 4h are bucket bounds).
const DEPROVISION_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14_400.0, 86_400.0,
];

pub const DEPROVISION_LATENCY: &str = "provisiond_deprovision_latency_seconds";

/// The process-wide Prometheus recorder, installed on first use. Several applications
/// in one process (tests) share it; series carry labels that tell them apart.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .and_then(|b| {
                    let name = DEPROVISION_LATENCY.to_owned();
                    b.set_buckets_for_metric(Matcher::Full(name), DEPROVISION_BUCKETS)
                })
                .expect("bucket lists are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case ours stays unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::use_colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())));
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
    }
}
