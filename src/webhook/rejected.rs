//! A rejected webhook: counted (`provisiond_webhooks_rejected_total{source,reason}`) and
//! logged at WARN, one line per request, naming the source and which check failed. The
//! line inherits the request's span (request id) and its connection's (remote address).
//! It never holds a secret, a signature value or the body: this path is reachable by
//! anyone, so it stays one short line.

/// What failed, in words, and the status answered, for each reason code.
fn describe(reason: &str) -> (&'static str, u16) {
    match reason {
        "unknown_source" => ("no source of that name is configured", 404),
        "missing_signature" => ("the signature headers for this source are missing", 401),
        "invalid_signature" => ("the signature does not match the body", 401),
        "stale_timestamp" => ("the signature timestamp is outside the tolerance", 401),
        "payload_too_large" => ("the body exceeds server.max_body_bytes", 413),
        "unreadable_body" => ("the body could not be read", 400),
        "inflight_bytes_exhausted" => ("server.max_inflight_bytes is in use", 503),
        "broker_unavailable" => ("the broker did not confirm the event", 503),
        _ => ("rejected", 400),
    }
}

/// Count and log a rejection by `source` (a configured source's name).
pub(super) fn record(source: &str, reason: &'static str) {
    let labels = [("source", source.to_owned()), ("reason", reason.to_owned())];
    metrics::counter!("provisiond_webhooks_rejected_total", &labels).increment(1);
    crate::telemetry::hourly::webhook_rejected(reason);
    let (what, status) = describe(reason);
    tracing::warn!(%source, reason, status, "webhook rejected: {what}");
}

/// A webhook for a source nobody configured: counted under `(unknown)` (the label set
/// stays bounded), logged with the name asked for (printable: the router has refused
/// control characters in the path).
pub(super) fn unknown_source(requested: &str) {
    let labels = [
        ("source", "(unknown)".to_owned()),
        ("reason", "unknown_source".to_owned()),
    ];
    metrics::counter!("provisiond_webhooks_rejected_total", &labels).increment(1);
    crate::telemetry::hourly::webhook_rejected("unknown_source");
    let (what, status) = describe("unknown_source");
    let source: String = requested.chars().take(64).collect();
    tracing::warn!(%source, reason = "unknown_source", status, "webhook rejected: {what}");
}
