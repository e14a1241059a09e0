//! `[audit]` and `[guard]`: when a termination takes effect, how soon it must be done,
//! and when a burst of them is held for an operator.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{invalid, positive, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    #[serde(with = "humantime_serde")]
    pub deprovision_sla: Duration,
    /// When a date-only termination takes effect: `end_of_day`, `start_of_day` or `exact`.
    pub termination_time: TerminationTime,
    /// IANA time zone for date-only terminations, e.g. `Europe/Paris`.
    #[serde(deserialize_with = "time_zone")]
    pub time_zone: chrono_tz::Tz,
    /// The organisation named on the deprovision report, e.g. `Example Corp`.
    pub organisation: Option<String>,
    /// The Chromium or Chrome binary that prints the deprovision report as PDF (else
    /// `PROVISIOND_CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome` on
    /// `PATH`).
    pub chromium: Option<std::path::PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            deprovision_sla: Duration::from_secs(15 * 60),
            termination_time: TerminationTime::default(),
            time_zone: chrono_tz::UTC,
            organisation: None,
            chromium: None,
        }
    }
}

/// When a termination dated without a time of day takes effect (`audit.termination_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationTime {
    /// Access lasts through the termination date (the common HR meaning of "last day").
    #[default]
    EndOfDay,
    StartOfDay,
    /// The date or timestamp exactly as sent (a date means midnight UTC).
    Exact,
}

/// `[guard]`: the mass-change guard. Terminations of one source beyond these limits within
/// `window` (webhooks and reconcile runs alike) are held for an operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// More than this many terminations in the window are held, whatever the fraction.
    pub max_terminations: u32,
    /// From this many on, more than `max_fraction` of the source's active employees are held.
    pub min_terminations: u32,
    pub max_fraction: f64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(3600),
            max_terminations: 50,
            min_terminations: 10,
            max_fraction: 0.2,
        }
    }
}

impl GuardConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.max_fraction > 0.0 && self.max_fraction <= 1.0) {
            return Err(invalid("guard.max_fraction", "must be in (0, 1]"));
        }
        positive("guard.window", self.window)?;
        positive("guard.max_terminations", self.max_terminations)
    }
}

fn time_zone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<chrono_tz::Tz, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("unknown time zone `{text}`")))
}
