//! Recording a batch in one transaction: inbox claims, employee locks in rounds, and the
//! event records.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::domain::event::{CanonicalEvent, EventKind, Normalized};
use crate::domain::Trigger;
use crate::provision::directory;
use crate::store::employees::{self, Key, Save};
use crate::store::events::{self, EventKey, EventRecord};
use crate::store::{actions, directories, holds};
use crate::worker::failure::ProcessError;
use crate::worker::guard;

use super::prepare::Prepared;
use super::{Outcome, Processor, DIRECTORY_DELETED};

impl Processor {
    /// Record several messages in one transaction, with a few statements for the whole
    /// batch: inbox claims, employee locks, account writes, employee states, event records
    /// and audit entries each go as one multi-row statement. The result is the same as
    /// recording the messages one after another in their order: an employee met more than
    /// once is handled in rounds, its n-th event in round n, each round locking and reading
    /// the state the previous round wrote. All or nothing: on error nothing is recorded.
    pub async fn record_batch(&self, items: &[Prepared<'_>]) -> Result<Vec<Outcome>, ProcessError> {
        let mut tx = self.pool.begin().await?;
        let keys: Vec<EventKey> = items
            .iter()
            .map(|i| EventKey {
                source: &i.msg.source,
                event_id: &i.msg.event_id,
            })
            .collect();
        let claimed = events::claim_many(&mut tx, &keys).await?;
        let gone = self
            .in_deleted_directories(&mut tx, items, &claimed)
            .await?;
        self.lock_guarded_sources(&mut tx, items, &claimed, &gone)
            .await?;
        let mut tally = guard::Tally::new();
        let mut outcomes = vec![Outcome::Duplicate; items.len()];
        let mut records: Vec<(usize, EventRecord)> = Vec::with_capacity(items.len());
        let mut employee_events = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let msg = item.msg;
            if !claimed[i] {
                // A retry of an event whose targets are unfinished is not a duplicate.
                let open = !self.targets.is_empty()
                    && actions::has_open(&mut tx, &msg.source, &msg.event_id).await?;
                if !open {
                    records.push((i, item.record(Outcome::Duplicate)));
                }
                continue;
            }
            match &item.normalized {
                Normalized::Ignored { reason, .. } => {
                    let mut record = item.record(Outcome::Ignored);
                    record.reason = Some(reason);
                    records.push((i, record));
                    outcomes[i] = Outcome::Ignored;
                }
                Normalized::Employee(event) => {
                    employee_events.push((i, gone.get(&i).unwrap_or(event)));
                }
                Normalized::DirectoryDeleted {
                    directory_id,
                    occurred_at,
                } => {
                    let deleted = directories::Deleted {
                        source: &msg.source,
                        directory_id,
                        event_id: &msg.event_id,
                        occurred_at: *occurred_at,
                    };
                    directories::record_deleted(&mut tx, &deleted).await?;
                    let mut record = item.record(Outcome::Applied);
                    record.reason = Some(DIRECTORY_DELETED);
                    records.push((i, record));
                    outcomes[i] = Outcome::Applied;
                }
            }
        }
        for round in rounds(items, &employee_events) {
            let keys: Vec<Key> = round.iter().map(|&(i, e)| items[i].employee(e)).collect();
            let states = employees::lock_many(&mut tx, &keys).await?;
            let mut writes = Writes::default();
            for &(i, event) in &round {
                let msg = items[i].msg;
                let state = states.get(&(msg.source.clone(), event.employee_id.clone()));
                let (outcome, record) = self
                    .apply(&mut tx, &items[i], event, state, &mut writes, &mut tally)
                    .await?;
                outcomes[i] = outcome;
                records.push((i, record));
            }
            writes.flush(&mut tx, &self.directory).await?;
        }
        records.sort_by_key(|(i, _)| *i);
        let records: Vec<EventRecord> = records.into_iter().map(|(_, r)| r).collect();
        events::record_many(&mut tx, &records, &self.directory).await?;
        tx.commit().await?;
        for (item, claimed) in items.iter().zip(&claimed) {
            if *claimed && item.clock_skew {
                let source = item.msg.source.clone();
                metrics::counter!("provisiond_events_clock_skew_total", "source" => source)
                    .increment(1);
            }
        }
        Ok(outcomes)
    }

    /// The guard's lock of each source with a termination in the batch, taken in source
    /// order before any employee lock.
    async fn lock_guarded_sources(
        &self,
        conn: &mut PgConnection,
        items: &[Prepared<'_>],
        claimed: &[bool],
        gone: &HashMap<usize, CanonicalEvent>,
    ) -> Result<(), sqlx::Error> {
        if self.guard.is_none() {
            return Ok(());
        }
        let terminates = |i: usize, item: &Prepared<'_>| {
            gone.contains_key(&i)
                || matches!(&item.normalized, Normalized::Employee(e) if e.kind == EventKind::Terminated)
        };
        let mut sources: Vec<&str> = items
            .iter()
            .enumerate()
            .filter(|(i, item)| claimed[*i] && item.msg.trigger != Trigger::Released)
            .filter(|(i, item)| terminates(*i, item))
            .map(|(_, item)| item.msg.source.as_str())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        for source in sources {
            holds::lock_source(conn, source).await?;
        }
        Ok(())
    }

    /// Employee events of directories the sender has deleted, turned into terminations: a
    /// user event that arrives after `dsync.deleted` (a retry, out of order) must not keep
    /// or create an active account, since nothing would ever remove it.
    async fn in_deleted_directories(
        &self,
        conn: &mut PgConnection,
        items: &[Prepared<'_>],
        claimed: &[bool],
    ) -> Result<HashMap<usize, CanonicalEvent>, sqlx::Error> {
        let candidates: Vec<(usize, &CanonicalEvent, &str)> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| claimed[*i])
            .filter_map(|(i, item)| match &item.normalized {
                Normalized::Employee(e) if e.kind != EventKind::Terminated => {
                    let directory = e.attributes.data.get("directory_id")?.as_str()?;
                    Some((i, e, directory))
                }
                _ => None,
            })
            .collect();
        if candidates.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<(&str, &str)> = candidates
            .iter()
            .map(|(i, _, d)| (items[*i].msg.source.as_str(), *d))
            .collect();
        let deleted = directories::deleted_among(conn, &keys).await?;
        Ok(candidates
            .into_iter()
            .filter(|(i, _, d)| deleted.contains(&(items[*i].msg.source.clone(), d.to_string())))
            .map(|(i, event, _)| {
                let mut event = event.clone();
                event.kind = EventKind::Terminated;
                (i, event)
            })
            .collect())
    }
}

/// The directory and employee writes of one round, sent as one statement each.
#[derive(Default)]
pub(super) struct Writes<'a> {
    pub(super) accounts: directory::Changes<'a>,
    pub(super) saves: Vec<Save<'a>>,
}

impl Writes<'_> {
    async fn flush(self, conn: &mut PgConnection, directory: &str) -> Result<(), sqlx::Error> {
        self.accounts.write(conn, directory).await?;
        employees::save_many(conn, &self.saves).await
    }
}

/// Split a batch's employee events into rounds in which no employee repeats: an employee's
/// n-th event (in delivery order) goes to round n.
fn rounds<'a>(
    items: &[Prepared<'a>],
    events: &[(usize, &'a CanonicalEvent)],
) -> Vec<Vec<(usize, &'a CanonicalEvent)>> {
    let mut rounds: Vec<Vec<(usize, &CanonicalEvent)>> = Vec::new();
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for &(i, event) in events {
        let key = (items[i].msg.source.as_str(), event.employee_id.as_str());
        let n = seen.entry(key).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push((i, event));
        *n += 1;
    }
    rounds
}
