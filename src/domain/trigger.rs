//! What put a message on the queue. It is carried in a signed header and recorded with
//! every event, so the worker can tell a sender's webhook from provisiond's own messages.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A sender's webhook, as received.
    Webhook,
    /// A scheduled termination that came due (`<event id>:effective`).
    Scheduled,
    /// A pre-hire's activation on its start date (`<event id>:start`).
    StartDate,
    /// A held termination an operator released (`<event id>:released`): past the guard.
    Released,
    /// An operator's replay of a dead letter.
    Manual,
    /// A difference a reconcile run found against the sender's list.
    Reconcile,
    /// A termination a WorkOS `dsync.deleted` fans out to.
    DirectoryDeleted,
}

impl Trigger {
    pub const ALL: [Trigger; 7] = [
        Trigger::Webhook,
        Trigger::Scheduled,
        Trigger::StartDate,
        Trigger::Released,
        Trigger::Manual,
        Trigger::Reconcile,
        Trigger::DirectoryDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Webhook => "webhook",
            Trigger::Scheduled => "scheduled",
            Trigger::StartDate => "start_date",
            Trigger::Released => "released",
            Trigger::Manual => "manual",
            Trigger::Reconcile => "reconcile",
            Trigger::DirectoryDeleted => "directory_deleted",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown trigger `{s}`"))
    }
}

impl serde::Serialize for Trigger {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Trigger;

    #[test]
    fn every_trigger_reads_back_from_its_name() {
        for trigger in Trigger::ALL {
            assert_eq!(trigger.as_str().parse::<Trigger>(), Ok(trigger));
        }
        assert!("cron".parse::<Trigger>().is_err());
    }
}
