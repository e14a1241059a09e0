//! The objects built once from a validated configuration — the compiled rules, each
//! source's API client, the external targets — and handed to the worker and reconcile.
//! Every value was checked when the configuration was read: building fails only where a
//! client's set-up can (an HTTP client's TLS).

use std::collections::HashMap;

use crate::config::Config;
use crate::enrich::Enricher;
use crate::provision::rules::Rules;
use crate::provision::ExternalTarget;

/// What both the worker and reconcile runs use.
#[derive(Clone)]
pub struct Runtime {
    pub rules: Rules,
    /// Each source with `api`, by source name.
    pub enrichers: HashMap<String, Enricher>,
    /// The directory target's name (provisiond's own accounts).
    pub directory: String,
}

/// The external targets (SCIM, HTTP), for the worker that calls them.
pub fn targets(config: &Config) -> anyhow::Result<Vec<ExternalTarget>> {
    let mut targets = Vec::new();
    for target in &config.targets {
        let external = ExternalTarget::from_config(target)
            .map_err(|e| anyhow::anyhow!("targets `{}`: {e}", target.name))?;
        targets.extend(external);
    }
    Ok(targets)
}

impl Runtime {
    pub fn build(config: &Config) -> anyhow::Result<Runtime> {
        let mut enrichers = HashMap::new();
        for source in &config.sources {
            let Some(api) = &source.api else { continue };
            let enricher = Enricher::new(source.kind, api)
                .map_err(|e| anyhow::anyhow!("sources `{}`: api: {e}", source.name))?;
            enrichers.extend(enricher.map(|e| (source.name.clone(), e)));
        }
        Ok(Runtime {
            rules: Rules::new(&config.rules, config.default.as_ref()),
            enrichers,
            directory: config.directory_target(),
        })
    }
}
