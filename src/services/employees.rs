//! An employee's current state per target and the trail of events that led there.

use serde::Serialize;
use sqlx::PgPool;

use crate::store::actions::{self, ActionView};
use crate::store::employees::{self, TargetView};
use crate::store::events::{self, EventView};
use crate::store::holds::{self, HeldView};
use crate::store::schedule::{self, Scheduled, ScheduledView};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmployeeView {
    pub source: String,
    pub employee_id: String,
    pub status: String,
    /// A future-dated termination waiting for its effective date, if any.
    pub scheduled_termination: Option<ScheduledView>,
    /// A pre-hire's activation waiting for the start date, if any.
    pub scheduled_activation: Option<ScheduledView>,
    /// A termination the mass-change guard holds for an operator, if any.
    pub held_termination: Option<HeldView>,
    pub targets: Vec<TargetView>,
    pub events: Vec<EventView>,
    /// External target actions, oldest first: `pending`, `succeeded`, `failed`, or
    /// `superseded` (not sent: the employee's current state replaced it).
    pub actions: Vec<ActionView>,
}

/// `None` when provisiond has never seen this employee. The three reads share one
/// snapshot, so the status, targets and events always agree with each other.
pub async fn load(
    pool: &PgPool,
    source: &str,
    employee_id: &str,
) -> Result<Option<EmployeeView>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let Some(status) = employees::status(&mut tx, source, employee_id).await? else {
        return Ok(None);
    };
    let view = EmployeeView {
        source: source.to_owned(),
        employee_id: employee_id.to_owned(),
        status,
        scheduled_termination: schedule::pending_for(
            &mut tx,
            Scheduled::Termination,
            source,
            employee_id,
        )
        .await?,
        scheduled_activation: schedule::pending_for(
            &mut tx,
            Scheduled::Activation,
            source,
            employee_id,
        )
        .await?,
        held_termination: holds::open_for(&mut tx, source, employee_id).await?,
        targets: employees::targets(&mut tx, source, employee_id).await?,
        events: events::for_employee(&mut tx, source, employee_id).await?,
        actions: actions::for_employee(&mut tx, source, employee_id).await?,
    };
    tx.commit().await?;
    Ok(Some(view))
}
