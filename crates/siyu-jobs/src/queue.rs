//! The durable job worker: claims due jobs of its kinds under a lease, hands each to its kind's
//! [`Handler`], and then completes it, retries it later (10 s doubling to an hour) or buries it
//! with the reason. A job claimed more often than it may be (its worker died or overran the lease
//! each time) is buried without running again. A handler that panics fails its job, not the worker.

use crate::worker::{Backlog, Outcome, WorkError, Worker, Yielding};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use siyu_domain::jobs::{Job, JobStore};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a job failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It may succeed later (a provider or the network was away): retry with back-off.
    Retry(String),
    /// It may succeed later, but not before the wait given (a provider's `Retry-After`): retry
    /// after that wait or the back-off, whichever is longer.
    RetryAfter(String, SignedDuration),
    /// It is not to run before the instant given (quiet hours): run it again then, whatever the
    /// back-off.
    At(String, Timestamp),
    /// It never will (bad payload, a customer gone): bury it now.
    Permanent(String),
}

/// Runs the jobs of one kind. Delivery is at least once: a handler makes a repeat harmless with the
/// job's key.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Runs one job.
    async fn handle(&self, job: &Job) -> Result<(), Failure>;
}

/// The first retry's delay; it doubles with each attempt.
const FIRST_RETRY: SignedDuration = SignedDuration::from_secs(10);
/// The longest retry delay.
const MAX_RETRY: SignedDuration = SignedDuration::from_secs(3600);

/// Claims and runs durable jobs.
pub struct JobWorker {
    name: String,
    store: Arc<dyn JobStore>,
    handlers: BTreeMap<String, Arc<dyn Handler>>,
    kinds: Vec<String>,
    owner: String,
    lease: SignedDuration,
    batch: usize,
    /// Jobs of a batch run at once (1: one after another).
    concurrency: usize,
    poll: std::time::Duration,
    /// Work that goes first: while it is behind, this worker holds back (see [`Self::yield_to`]).
    yielding: Yielding,
}

/// How often an idle job worker looks for jobs another process scheduled.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl JobWorker {
    /// A worker named `name` claiming as `owner` (unique per process: it is the lease holder), with
    /// leases of `lease` and batches of `batch` jobs.
    pub fn new(
        name: impl Into<String>,
        store: Arc<dyn JobStore>,
        owner: impl Into<String>,
        lease: SignedDuration,
        batch: usize,
    ) -> Self {
        Self {
            name: name.into(),
            store,
            handlers: BTreeMap::new(),
            kinds: Vec::new(),
            owner: owner.into(),
            lease,
            batch: batch.max(1),
            concurrency: 1,
            poll: POLL,
            yielding: Yielding::default(),
        }
    }

    /// Holds back new batches while `backlog` says the work that goes first is behind, at most
    /// [`MAX_HOLD`](crate::worker::MAX_HOLD) at a time; the batch in progress finishes.
    pub fn yield_to(mut self, backlog: Backlog) -> Self {
        self.yielding = Yielding::to(backlog);
        self
    }

    /// Runs up to `jobs` of a batch at once (for handlers that mostly wait, such as sends to
    /// providers: one slow provider then holds up one slot, not the batch).
    pub fn concurrency(mut self, jobs: usize) -> Self {
        self.concurrency = jobs.max(1);
        self
    }

    /// Runs jobs of `kind` with `handler`.
    pub fn handle(mut self, kind: impl Into<String>, handler: impl Handler) -> Self {
        let kind = kind.into();
        self.kinds.push(kind.clone());
        self.handlers.insert(kind, Arc::new(handler));
        self
    }

    /// Runs one claimed job; returns whether it succeeded (to be completed with its batch).
    async fn run(&self, job: Job, now: Timestamp) -> Result<bool, WorkError> {
        let store = &self.store;
        if job.attempts > job.max_attempts {
            let reason = format!(
                "claimed {} times without finishing (its worker stopped or overran the lease each time)",
                job.attempts - 1
            );
            store.bury(job.workspace_id, job.id, &self.owner, &reason, now).await?;
            tracing::warn!(job = job.id, kind = %job.kind, %reason, "job buried");
            return Ok(false);
        }
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            store
                .bury(job.workspace_id, job.id, &self.owner, &format!("no handler for kind \"{}\"", job.kind), now)
                .await?;
            return Ok(false);
        };
        let (ws, id, attempts, max_attempts, kind) =
            (job.workspace_id, job.id, job.attempts, job.max_attempts, job.kind.clone());
        // On its own task, so that a panic fails this job and not the worker.
        let result = tokio::spawn(async move { handler.handle(&job).await })
            .await
            .unwrap_or_else(|error| Err(Failure::Retry(format!("the handler panicked: {error}"))));
        match result {
            Ok(()) => return Ok(true),
            Err(Failure::Permanent(reason)) => {
                tracing::warn!(job = id, %kind, %reason, "job buried");
                store.bury(ws, id, &self.owner, &reason, now).await?;
            }
            Err(Failure::At(reason, at)) => {
                store.defer(ws, id, &self.owner, &reason, at.max(now), now).await?;
            }
            Err(Failure::Retry(reason) | Failure::RetryAfter(reason, _)) if attempts >= max_attempts => {
                let reason = format!("{reason} (gave up after {attempts} attempts)");
                tracing::warn!(job = id, %kind, %reason, "job buried");
                store.bury(ws, id, &self.owner, &reason, now).await?;
            }
            Err(Failure::Retry(reason)) => {
                let at = now.checked_add(retry_delay(attempts)).unwrap_or(Timestamp::MAX);
                store.retry(ws, id, &self.owner, &reason, at, now).await?;
            }
            Err(Failure::RetryAfter(reason, wait)) => {
                let at = now.checked_add(retry_delay(attempts).max(wait.min(MAX_RETRY))).unwrap_or(Timestamp::MAX);
                store.retry(ws, id, &self.owner, &reason, at, now).await?;
            }
        }
        Ok(false)
    }
}

/// The delay before the retry that follows attempt `attempts`.
fn retry_delay(attempts: u32) -> SignedDuration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY.checked_mul(1 << doublings).unwrap_or(MAX_RETRY).min(MAX_RETRY)
}

impl Worker for JobWorker {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn poll(&self) -> Option<std::time::Duration> {
        Some(self.poll)
    }

    async fn run_once(&mut self, now: Timestamp) -> Result<Outcome, WorkError> {
        if let Some(look) = self.yielding.hold(now) {
            return Ok(Outcome::Idle { next_due: Some(look) });
        }
        let until = now.checked_add(self.lease).unwrap_or(Timestamp::MAX);
        let jobs = self.store.claim(&self.kinds, &self.owner, now, until, self.batch).await?;
        if jobs.is_empty() {
            return Ok(Outcome::Idle { next_due: self.store.next_due(&self.kinds).await? });
        }
        // Successes are completed together, one transaction per workspace: a crash before that runs
        // them again (delivery is at least once), and a busy queue pays one commit per batch.
        // A job whose failure could not be recorded stops the batch, but what already ran is
        // still completed.
        use futures::StreamExt as _;
        let mut done: BTreeMap<siyu_core::WorkspaceId, Vec<i64>> = BTreeMap::new();
        let mut failed = None;
        let this = &*self;
        let mut runs = futures::stream::iter(jobs)
            .map(|job| {
                let (ws, id) = (job.workspace_id, job.id);
                async move { (ws, id, this.run(job, now).await) }
            })
            .buffer_unordered(self.concurrency);
        while let Some((ws, id, result)) = runs.next().await {
            match result {
                Ok(true) => done.entry(ws).or_default().push(id),
                Ok(false) => {}
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
        }
        drop(runs);
        for (ws, ids) in done {
            self.store.complete_many(ws, &ids, &self.owner, now).await?;
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(Outcome::Worked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_ten_seconds_doubling_to_an_hour() {
        let seconds: Vec<i64> = (1..=11).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(seconds, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY);
    }
}
