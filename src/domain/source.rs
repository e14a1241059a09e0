//! The senders provisiond understands: each names a signature scheme and a payload format.

use std::time::Duration;

/// The signature scheme (and payload format) a source uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    StandardWebhooks,
    Merge,
    Workos,
    Bamboohr,
    Gusto,
    Hibob,
    Deel,
    /// Standard Webhooks framing under `Finch-*` headers, key base64 without `whsec_`.
    Finch,
}

impl SourceKind {
    pub const ALL: [SourceKind; 8] = [
        SourceKind::StandardWebhooks,
        SourceKind::Merge,
        SourceKind::Workos,
        SourceKind::Bamboohr,
        SourceKind::Gusto,
        SourceKind::Hibob,
        SourceKind::Deel,
        SourceKind::Finch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::StandardWebhooks => "standard-webhooks",
            SourceKind::Merge => "merge",
            SourceKind::Workos => "workos",
            SourceKind::Bamboohr => "bamboohr",
            SourceKind::Gusto => "gusto",
            SourceKind::Hibob => "hibob",
            SourceKind::Deel => "deel",
            SourceKind::Finch => "finch",
        }
    }

    /// The replay window for schemes that sign a timestamp; `None` for those that do not.
    pub fn default_tolerance(self) -> Option<Duration> {
        match self {
            SourceKind::StandardWebhooks | SourceKind::Bamboohr | SourceKind::Finch => {
                Some(Duration::from_secs(300))
            }
            SourceKind::Workos => Some(Duration::from_secs(180)),
            _ => None,
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                let allowed: Vec<&str> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown source kind `{s}`; expected one of: {}",
                    allowed.join(", ")
                )
            })
    }
}
