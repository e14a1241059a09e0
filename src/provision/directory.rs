//! The directory target: provisiond's own accounts table. Unlike the external targets it
//! is written inside the worker's transaction, together with the employee's state.

use sqlx::PgConnection;

use crate::domain::access::Access;
use crate::domain::event::CanonicalEvent;
use crate::store::employees::{self, Activation, Key};

/// The account changes of one round of a batch, each kind sent as one statement.
#[derive(Default)]
pub struct Changes<'a> {
    activations: Vec<(&'a str, &'a CanonicalEvent, &'a Access)>,
    deactivations: Vec<Key<'a>>,
    /// Leavers (and pre-hires) whose attributes change while they stay inactive.
    attribute_updates: Vec<(&'a str, &'a CanonicalEvent)>,
    /// Pre-hires: accounts pending until the start date.
    prehires: Vec<(&'a str, &'a CanonicalEvent)>,
}

impl<'a> Changes<'a> {
    /// An active account with what the rules grant.
    pub fn activate(&mut self, source: &'a str, event: &'a CanonicalEvent, access: &'a Access) {
        self.activations.push((source, event, access));
    }

    pub fn deactivate(&mut self, source: &'a str, employee_id: &'a str) {
        self.deactivations.push(Key {
            source,
            employee_id,
        });
    }

    /// New attributes for an account that stays inactive (a leaver's, a pre-hire's).
    pub fn update_inactive(&mut self, source: &'a str, event: &'a CanonicalEvent) {
        self.attribute_updates.push((source, event));
    }

    /// An account pending until the start date.
    pub fn prehire(&mut self, source: &'a str, event: &'a CanonicalEvent) {
        self.prehires.push((source, event));
    }

    /// Write the changes to `directory`'s accounts.
    pub async fn write(self, conn: &mut PgConnection, directory: &str) -> Result<(), sqlx::Error> {
        let activations: Vec<Activation> = self
            .activations
            .iter()
            .map(|(source, e, d)| Activation::new(source, &e.employee_id, &e.attributes, d))
            .collect();
        employees::activate_accounts(conn, directory, &activations).await?;
        employees::deactivate_accounts(conn, directory, &self.deactivations).await?;
        let none = Access::default();
        let updates = without_access(&self.attribute_updates, &none);
        employees::update_deactivated(conn, directory, &updates).await?;
        let prehires = without_access(&self.prehires, &none);
        employees::prehire_accounts(conn, directory, &prehires).await
    }
}

/// Accounts that get no role, groups or entitlements (inactive ones).
fn without_access<'a>(
    accounts: &[(&'a str, &'a CanonicalEvent)],
    none: &'a Access,
) -> Vec<Activation<'a>> {
    accounts
        .iter()
        .map(|(source, e)| Activation::new(source, &e.employee_id, &e.attributes, none))
        .collect()
}
