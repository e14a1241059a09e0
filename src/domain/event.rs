//! The canonical event every source is normalized to (docs/senders.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What happened to the employee, whatever the sender called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Updated,
    Terminated,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Terminated => "terminated",
        }
    }

    /// Created and updated events both leave the employee active.
    pub fn is_active(self) -> bool {
        !matches!(self, EventKind::Terminated)
    }
}

/// Normalized employee attributes; `data` keeps the sender's raw object for rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub manager_id: Option<String>,
    pub location: Option<String>,
    pub start_date: Option<String>,
    pub employment_status: Option<String>,
    pub data: serde_json::Value,
}

/// An employee event in provisiond's own terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalEvent {
    pub kind: EventKind,
    pub employee_id: String,
    /// When the change happened at the sender; receipt time when the sender gives none.
    pub occurred_at: DateTime<Utc>,
    /// For terminations, the termination date if the sender gives one.
    pub effective_at: Option<DateTime<Utc>>,
    pub attributes: Attributes,
}

impl CanonicalEvent {
    /// An explicit signal that the person is active: a hire, or a status that says so
    /// (canonical `active`, Merge `ACTIVE`, WorkOS `active`, BambooHR `Active`). Only such
    /// an event may re-activate a terminated employee; a bare `updated` never does.
    pub fn says_active(&self) -> bool {
        self.kind == EventKind::Created || self.status_says_active()
    }

    /// The payload's status says active (a hire without a status does not).
    pub fn status_says_active(&self) -> bool {
        self.kind != EventKind::Terminated
            && self
                .attributes
                .employment_status
                .as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("active"))
    }

    /// A status that says the person has not started yet (Merge `PENDING`, Finch
    /// `prehire`): a pre-hire, not active before the start date.
    pub fn says_prehire(&self) -> bool {
        self.kind != EventKind::Terminated
            && self
                .attributes
                .employment_status
                .as_deref()
                .is_some_and(|s| {
                    let s = s.trim();
                    s.eq_ignore_ascii_case("pending") || s.eq_ignore_ascii_case("prehire")
                })
    }
}

/// The outcome of normalizing one accepted body. Short-lived, one per message, so the
/// size difference between the variants does not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Normalized {
    Employee(CanonicalEvent),
    /// A whole directory was deleted at the sender (WorkOS `dsync.deleted`, which is sent
    /// instead of one deletion per user): every employee of that directory leaves.
    DirectoryDeleted {
        directory_id: String,
        occurred_at: DateTime<Utc>,
    },
    /// Accepted but not about an employee (pings, sync notices): recorded as ignored.
    Ignored {
        event_name: String,
        reason: String,
    },
}

/// A body that cannot be mapped to an event: a permanent error.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("payload has no usable {0}")]
    Missing(&'static str),
    #[error("invalid {field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}
