//! `provisiond bench --quick --receivers 2 --workers 2 --format json` runs against the
//! local servers and reports every number. Only the shape is checked: a test never
//! asserts how fast anything is.

use std::process::Command;

use serde_json::Value;

use crate::helpers::{admin_database_url, amqp_url};

const POSITIVE: &[&str] = &[
    "/ceilings/publish_confirm_per_sec",
    "/ceilings/http_202_per_sec",
    "/ceilings/db_tx_per_sec",
    "/ingest/accepted_per_sec",
    "/ingest/p50_ms",
    "/ingest/p99_ms",
    "/ingest/requests",
    "/processing/applied_per_sec",
    "/processing/events",
    "/deprovision_latency/200_per_sec/p50_ms",
    "/deprovision_latency/200_per_sec/p99_ms",
    "/deprovision_latency/200_per_sec/max_ms",
    "/deprovision_latency/200_per_sec/count",
    "/rss_peak_bytes",
    "/ratios/ingest_vs_publish_ceiling",
    "/ratios/ingest_vs_http_ceiling",
    "/ratios/processing_vs_db_ceiling",
    "/config/concurrency",
    "/config/duration_secs",
    "/ceilings/publish_confirm_cpu_us_per_publish",
    "/ceilings/http_202_cpu_us_per_request",
    "/ingest/cpu_us_per_request",
    "/ingest/accepted_per_sec_per_receiver",
    "/ingest/accepted_per_sec_by_receiver/0",
    "/ingest/accepted_per_sec_by_receiver/1",
    "/processing/cpu_us_per_event",
    "/processing/applied_per_sec_per_worker",
    "/deprovision_latency/200_per_sec/slowest/total_ms",
];

#[test]
fn bench_quick_reports_every_measure_as_json() {
    // The servers the other tests use; the bench makes its own database and queues there.
    let output = Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .args(["bench", "--quick", "--format", "json"])
        .args(["--receivers", "2", "--workers", "2"])
        .env_remove("PROVISIOND_CONFIG")
        .env("PROVISIOND__DATABASE__URL", admin_database_url())
        .env("PROVISIOND__RABBITMQ__URL", amqp_url())
        .output()
        .expect("the provisiond binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    for pointer in POSITIVE {
        let value = report.pointer(pointer).and_then(Value::as_f64);
        assert!(
            value.is_some_and(|v| v > 0.0),
            "{pointer} should be a positive number, got {:?}",
            report.pointer(pointer)
        );
    }
    assert_eq!(report["config"]["quick"], true);
    assert_eq!(report["config"]["receivers"], 2);
    assert_eq!(report["config"]["workers"], 2);
    let by_receiver = report["ingest"]["accepted_per_sec_by_receiver"].as_array();
    assert_eq!(by_receiver.map(Vec::len), Some(2));
    for goal in ["ingest_cpu_le_30us", "ingest_vs_publish_ceiling_ge_0_8"] {
        assert!(
            report["goals"][goal].is_boolean(),
            "goals.{goal} is missing"
        );
    }
    assert!(report["config"]["duration"].is_string());
}
