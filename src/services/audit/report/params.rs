//! The report's parameters: the window, source and SLA parsed from user input.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::services::since::parse_since;

/// A non-empty, trimmed value.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The default `--since`.
pub const DEFAULT_SINCE: &str = "30d";

/// What to report on.
#[derive(Debug, Clone)]
pub struct Params {
    /// Terminations whose clock started at or after this time…
    pub since: DateTime<Utc>,
    /// …and before this one.
    pub until: DateTime<Utc>,
    pub source: Option<String>,
    pub sla: Duration,
    /// The report's "now": the age of incomplete terminations, whether a scheduled one is due.
    pub now: DateTime<Utc>,
    /// Named on the report (`audit.organisation`); `None`: not configured.
    pub organisation: Option<String>,
    /// Who asked for the report: the admin token's name, or `--prepared-by` on the CLI.
    pub prepared_by: Option<String>,
    /// `audit.time_zone`: the zone date-only terminations take effect in.
    pub time_zone: chrono_tz::Tz,
}

impl Params {
    /// From user input (CLI flags, admin API query): `since` and `until` are RFC 3339 times
    /// or durations ago (`30d`, `2h`); `sla` a duration (`15m`, `4h`). Empty means default.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        source: Option<&str>,
        sla: Option<&str>,
        default_sla: Duration,
        now: DateTime<Utc>,
    ) -> Result<Params, String> {
        // PostgreSQL keeps microseconds; so does the report.
        let now = now.trunc_subsecs(6);
        let since = parse_since(given(since).unwrap_or(DEFAULT_SINCE), now)
            .map_err(|e| format!("since: {e}"))?;
        let until = match given(until) {
            Some(text) => parse_since(text, now).map_err(|e| format!("until: {e}"))?,
            None => now,
        };
        if since >= until {
            return Err(format!(
                "since ({}) must be before until ({})",
                since.to_rfc3339(),
                until.to_rfc3339()
            ));
        }
        let sla = match given(sla) {
            Some(text) => humantime::parse_duration(text)
                .map_err(|e| format!("sla: `{text}` is not a duration such as 15m or 4h ({e})"))?,
            None => default_sla,
        };
        if sla.is_zero() {
            return Err("sla: must be greater than 0".into());
        }
        Ok(Params {
            since,
            until,
            source: given(source).map(str::to_owned),
            sla,
            now,
            organisation: None,
            prepared_by: None,
            time_zone: chrono_tz::UTC,
        })
    }

    /// The organisation the report is for (blank: none).
    pub fn organisation(mut self, name: Option<&str>) -> Self {
        self.organisation = given(name).map(str::to_owned);
        self
    }

    /// Who prepared the report (blank: not said).
    pub fn prepared_by(mut self, name: Option<&str>) -> Self {
        self.prepared_by = given(name).map(str::to_owned);
        self
    }

    pub fn time_zone(mut self, zone: chrono_tz::Tz) -> Self {
        self.time_zone = zone;
        self
    }
}
