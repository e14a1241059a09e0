//! Reconciliation: pull the sender's full employee list (page by page, with the source's
//! `api`), compare it with provisiond's directory, and publish a synthetic event for each
//! difference through the normal queue (trigger `reconcile`), where the ordering rules,
//! the mass-change guard and the targets treat it like any webhook.
//!
//! - terminated there (or absent there) but active or pending here: a termination, dated by
//!   the sender's termination date where the record has one;
//! - active there (an explicit status) but absent or deactivated here: a hire. For someone
//!   terminated here only a record with its own modification time can prove a rehire
//!   (ordering then decides); without one the difference is reported, not published;
//! - active on both sides, but the rules would decide another role, groups or
//!   entitlements from the sender's record: an update.
//!
//! Memory does not grow with the list: each page is compared and published before the
//! next is fetched; the ids seen go to `reconcile_seen`, and the employees the run did not
//! see are read back from PostgreSQL in keyset pages. The runtime deletes nothing: the
//! seen ids of ended runs stay until the owner runs `provisiond db prune`.

mod event;
pub mod scheduler;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::config::ApiConfig;
use crate::domain::SourceKind;
use crate::enrich::{Enricher, Record};
use crate::provision::rules::Rules;
use crate::queue::Publisher;
use crate::store::reconcile::{self as store, Counts, Here};

/// A list longer than this many pages is taken as a sender that never ends it.
const MAX_PAGES: u32 = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    Termination,
    Hire,
    Update,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Termination => "termination",
            DiffKind::Hire => "hire",
            DiffKind::Update => "update",
        }
    }
}

/// One difference between the sender and provisiond.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub employee_id: String,
    pub kind: DiffKind,
    /// What provisiond has: `active`, `pending`, `terminated`, or `absent`.
    pub here: String,
    /// What the sender's list says: `active`, `terminated`, or `absent`.
    pub there: String,
    pub reason: String,
    pub event_id: String,
    /// When the difference is dated (the sender's termination date, else when seen).
    pub at: DateTime<Utc>,
    /// When the run read it (the synthetic event's time: the list is current evidence).
    pub seen_at: DateTime<Utc>,
    /// Published now (false in a dry run, when an earlier run published the same event,
    /// or when the difference is only reported).
    pub published: bool,
}

/// How a run went.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub source: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub error: Option<String>,
}

/// What a run needs.
pub struct Reconciler<'a> {
    pub pool: &'a PgPool,
    /// `None` for a dry run.
    pub publisher: Option<&'a Publisher>,
    pub source: &'a str,
    pub kind: SourceKind,
    pub enricher: &'a Enricher,
    pub api: &'a ApiConfig,
    pub rules: &'a Rules,
    /// The directory target's name (provisiond's accounts).
    pub directory: &'a str,
    pub trigger: &'a str,
}

impl Reconciler<'_> {
    /// Run once; `each` sees every difference as it is found (the CLI prints them). The
    /// run is recorded in `reconcile_runs` whatever happens.
    pub async fn run(
        &self,
        each: &mut (dyn FnMut(&Difference) + Send),
    ) -> anyhow::Result<RunReport> {
        let dry_run = self.publisher.is_none();
        let run_id = store::start_run(self.pool, self.source, dry_run, self.trigger).await?;
        let started_at = Utc::now();
        let mut counts = Counts::default();
        let result = self.compare(run_id, &mut counts, each).await;
        let error = result.err().map(|e| format!("{e:#}"));
        store::finish_run(self.pool, run_id, &counts, error.as_deref()).await?;
        let status = if error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        tracing::info!(source = %self.source, run_id, ?counts, status, "reconcile run finished");
        Ok(RunReport {
            run_id,
            source: self.source.to_owned(),
            dry_run,
            started_at,
            finished_at: Utc::now(),
            status: status.to_owned(),
            counts,
            error,
        })
    }

    async fn compare(
        &self,
        run_id: i64,
        counts: &mut Counts,
        each: &mut (dyn FnMut(&Difference) + Send),
    ) -> anyhow::Result<()> {
        let started = Utc::now();
        let mut cursor: Option<String> = None;
        for pages in 1.. {
            if pages > MAX_PAGES {
                anyhow::bail!("more than {MAX_PAGES} pages: the list does not end");
            }
            let page = self.enricher.list_page(cursor.as_deref()).await?;
            let seen_at = Utc::now();
            counts.listed += page.records.len() as i64;
            let ids: Vec<&str> = page.records.iter().map(|(id, _)| id.as_str()).collect();
            let mut conn = self.pool.acquire().await?;
            let new = store::mark_seen(&mut conn, run_id, &ids).await?;
            if !ids.is_empty() && new == 0 {
                anyhow::bail!("the sender answered a page it had already sent: the list repeats");
            }
            let here = store::here(&mut conn, self.source, self.directory, &ids).await?;
            drop(conn);
            let here: HashMap<&str, &Here> =
                here.iter().map(|h| (h.employee_id.as_str(), h)).collect();
            for (id, record) in &page.records {
                let found = here.get(id.as_str()).copied();
                if let Some(diff) = self.difference(id, record, found, seen_at) {
                    self.settle(run_id, diff, Some(record), found, counts, each)
                        .await?;
                }
            }
            match page.next {
                Some(next) if Some(&next) == cursor.as_ref() => {
                    anyhow::bail!("the sender's next-page cursor did not move: the list repeats")
                }
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if counts.listed == 0 {
            anyhow::bail!(
                "the sender's list is empty: not taking that as everyone having left \
                 (check the source's `api`)"
            );
        }
        self.absent(run_id, started, counts, each).await
    }

    /// Employees with access here that the sender's list does not have: they left.
    async fn absent(
        &self,
        run_id: i64,
        started: DateTime<Utc>,
        counts: &mut Counts,
        each: &mut (dyn FnMut(&Difference) + Send),
    ) -> anyhow::Result<()> {
        let scope = match self.kind {
            SourceKind::Workos => self.api.directory.as_deref(),
            _ => None,
        };
        let mut after = String::new();
        loop {
            let mut conn = self.pool.acquire().await?;
            let batch = store::unseen(
                &mut conn,
                self.source,
                self.directory,
                run_id,
                scope,
                started,
                &after,
                500,
            )
            .await?;
            drop(conn);
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.employee_id.clone();
            let seen_at = Utc::now();
            for here in &batch {
                let diff = self.diff(
                    &here.employee_id,
                    DiffKind::Termination,
                    here,
                    "absent",
                    "absent from the sender's employee list",
                    None,
                    seen_at,
                );
                self.settle(run_id, diff, None, Some(here), counts, each)
                    .await?;
            }
        }
    }

    /// The difference between the sender's `record` and provisiond's `here`, if any.
    fn difference(
        &self,
        id: &str,
        record: &Record,
        here: Option<&Here>,
        seen_at: DateTime<Utc>,
    ) -> Option<Difference> {
        let has_access = here.is_some_and(|h| h.status != "terminated");
        let gone = record.left || record.termination_date.is_some_and(|d| d <= seen_at);
        if gone {
            let here = here.filter(|_| has_access)?;
            let reason = "terminated at the sender";
            let at = record.termination_date.filter(|d| *d <= seen_at);
            return Some(self.diff(
                id,
                DiffKind::Termination,
                here,
                "terminated",
                reason,
                at,
                seen_at,
            ));
        }
        // A pre-hire here waits for its start date, whatever the list says.
        if !record.active || here.is_some_and(|h| h.status == "pending") {
            return None;
        }
        let deactivated =
            here.is_none_or(|h| h.status == "terminated" || h.account.as_deref() != Some("active"));
        if deactivated {
            let mut diff = match here {
                Some(h) => self.diff(
                    id,
                    DiffKind::Hire,
                    h,
                    "active",
                    "active at the sender",
                    None,
                    seen_at,
                ),
                None => Difference {
                    employee_id: id.to_owned(),
                    kind: DiffKind::Hire,
                    here: "absent".into(),
                    there: "active".into(),
                    reason: "active at the sender, unknown here".into(),
                    event_id: String::new(),
                    at: seen_at,
                    seen_at,
                    published: false,
                },
            };
            diff.at = event::record_time(record).unwrap_or(seen_at);
            return Some(diff);
        }
        let here = here?;
        let decision = self.rules.decide(&event::canonical(id, record, seen_at));
        if event::same_decision(&decision, here) {
            return None;
        }
        let reason = "the sender's attributes change the rules' decision";
        let mut diff = self.diff(id, DiffKind::Update, here, "active", reason, None, seen_at);
        diff.at = event::record_time(record).unwrap_or(seen_at);
        Some(diff)
    }

    #[allow(clippy::too_many_arguments)]
    fn diff(
        &self,
        id: &str,
        kind: DiffKind,
        here: &Here,
        there: &str,
        reason: &str,
        at: Option<DateTime<Utc>>,
        seen_at: DateTime<Utc>,
    ) -> Difference {
        Difference {
            employee_id: id.to_owned(),
            kind,
            here: here.status.clone(),
            there: there.to_owned(),
            reason: reason.to_owned(),
            event_id: String::new(),
            at: at.unwrap_or(seen_at),
            seen_at,
            published: false,
        }
    }

    /// Count the difference, publish its event (unless a dry run, or an earlier run already
    /// did), and hand it to `each`.
    async fn settle(
        &self,
        run_id: i64,
        mut diff: Difference,
        record: Option<&Record>,
        here: Option<&Here>,
        counts: &mut Counts,
        each: &mut (dyn FnMut(&Difference) + Send),
    ) -> anyhow::Result<()> {
        match diff.kind {
            DiffKind::Termination => counts.terminations += 1,
            DiffKind::Hire => counts.hires += 1,
            DiffKind::Update => counts.updates += 1,
        }
        let message = event::message(self.source, &diff, record, here);
        diff.event_id = message.event_id.clone();
        // A rehire needs a time of its own to be weighed against the termination.
        let unproven_rehire = diff.kind == DiffKind::Hire
            && diff.here == "terminated"
            && record.is_none_or(|r| event::record_time(r).is_none());
        if unproven_rehire {
            diff.reason = "terminated here; the sender's record carries no time that could prove \
                           a rehire: reported, not published"
                .into();
        }
        let Some(publisher) = self.publisher.filter(|_| !unproven_rehire) else {
            each(&diff);
            return Ok(());
        };
        metrics::counter!("provisiond_reconcile_differences_total",
            "source" => self.source.to_owned(), "kind" => diff.kind.as_str())
        .increment(1);
        let mut conn = self.pool.acquire().await?;
        let mut message = message;
        match store::fate(&mut conn, self.source, &message.event_id).await? {
            store::Fate::New => {}
            // Published before and still on its way, or done: nothing new to send.
            store::Fate::Pending | store::Fate::Done => {
                each(&diff);
                return Ok(());
            }
            // Published before but it changed nothing (stale, ignored, dead-lettered) while
            // the difference is still there: send it again, under a new id.
            store::Fate::Failed => message.event_id = format!("{}:run{run_id}", message.event_id),
        }
        diff.event_id = message.event_id.clone();
        publisher
            .publish(&message)
            .await
            .map_err(|e| anyhow::anyhow!("publishing {}: {e}", message.event_id))?;
        let kind = diff.kind.as_str();
        let (source, employee) = (self.source, diff.employee_id.as_str());
        store::record_published(&mut conn, source, &message.event_id, run_id, employee, kind)
            .await?;
        counts.published += 1;
        diff.published = true;
        each(&diff);
        Ok(())
    }
}
