//! The per-source counters of the accepted path, registered once per source rather than
//! looked up by name and labels (a `String` label, a key hashed) on every request.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use metrics::Counter;

/// `provisiond_webhooks_received_total{source}` and `provisiond_events_published_total{source}`
/// of one source.
pub(super) struct SourceCounters {
    pub received: Counter,
    pub published: Counter,
}

type Registry = RwLock<HashMap<String, Arc<SourceCounters>>>;

/// The counters of `source`, a configured source's name (so the map stays as small as the
/// configuration); registered with the recorder the first time the source is seen.
pub(super) fn of(source: &str) -> Arc<SourceCounters> {
    static COUNTERS: OnceLock<Registry> = OnceLock::new();
    let counters = COUNTERS.get_or_init(Registry::default);
    let known = counters.read().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = known.get(source) {
        return Arc::clone(found);
    }
    drop(known);
    let mut all = counters.write().unwrap_or_else(|e| e.into_inner());
    let entry = all.entry(source.to_owned()).or_insert_with(|| {
        let label = source.to_owned();
        Arc::new(SourceCounters {
            received: metrics::counter!("provisiond_webhooks_received_total", "source" => label.clone()),
            published: metrics::counter!("provisiond_events_published_total", "source" => label),
        })
    });
    Arc::clone(entry)
}
