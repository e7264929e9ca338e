//! Durable jobs: work scheduled for an instant, claimed by workers under a lease, retried with
//! backoff, and dead-lettered ("buried") with the reason when it keeps failing. Jobs live in the
//! database, so a restart loses none and runs each when it is due; several siyu processes on one
//! PostgreSQL database share them (a claim skips the rows another process holds, `FOR UPDATE SKIP
//! LOCKED`; SQLite has a single writer). The loop that claims and runs them is `siyu-jobs`.
//!
//! Delivery is at least once: a worker that dies mid-job loses its lease, and the job is claimed
//! again once the lease ends. Handlers make that "applied once" with the job's key (unique per
//! workspace and kind: scheduling the same key twice gives the first job back).

use async_trait::async_trait;
use jiff::Timestamp;
use siyu_core::{StoreError, WorkspaceId};

/// A job to schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// What to do: the name of the handler that runs it (`models.run`).
    pub kind: String,
    /// Idempotency key, unique per workspace and kind.
    pub key: String,
    /// The handler's input (JSON text).
    pub payload: String,
    /// When it is due.
    pub run_at: Timestamp,
    /// Claims it may take before it is buried (at least 1).
    pub max_attempts: u32,
}

/// A claimed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Store-wide id.
    pub id: i64,
    /// The workspace it belongs to.
    pub workspace_id: WorkspaceId,
    /// What to do.
    pub kind: String,
    /// Idempotency key.
    pub key: String,
    /// The handler's input.
    pub payload: String,
    /// When it was due.
    pub run_at: Timestamp,
    /// Claims taken so far, this one included.
    pub attempts: u32,
    /// Claims it may take before it is buried.
    pub max_attempts: u32,
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its time, or claimed and running.
    Pending,
    /// Ran to completion.
    Done,
    /// Failed for good; `last_error` says why.
    Dead,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(JobState::Pending),
            "done" => Some(JobState::Done),
            "dead" => Some(JobState::Dead),
            _ => None,
        }
    }
}

/// A job as listed (for the console and operators).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// The job.
    pub job: Job,
    /// Its state.
    pub state: JobState,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// The durable job table.
///
/// `claim` and `next_due` are global by nature (a worker serves every workspace); the rest take the
/// workspace first (a claimed job's own).
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Schedules a job unless the workspace has one of the same kind and key (in any state):
    /// returns the job's id and whether it is new.
    async fn schedule(&self, ws: WorkspaceId, job: &NewJob, now: Timestamp) -> Result<(i64, bool), StoreError>;

    /// Schedules many jobs of one workspace in one transaction, each unless the workspace has one
    /// of the same kind and key; returns how many were new.
    async fn schedule_many(&self, ws: WorkspaceId, jobs: &[NewJob], now: Timestamp) -> Result<u64, StoreError>;

    /// Claims up to `limit` pending jobs of `kinds` due at `now` whose lease (if any) has ended,
    /// earliest first, for `owner` until `lease_until`; each claim counts as an attempt.
    async fn claim(
        &self,
        kinds: &[String],
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError>;

    /// Marks a job done, if `owner` still holds it; returns whether it did.
    async fn complete(&self, ws: WorkspaceId, id: i64, owner: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Marks the workspace's jobs `ids` done in one transaction, those `owner` still holds; returns
    /// how many it did.
    async fn complete_many(&self, ws: WorkspaceId, ids: &[i64], owner: &str, now: Timestamp)
    -> Result<u64, StoreError>;

    /// Puts a failed job back to run at `run_at`, releasing the lease, if `owner` still holds it.
    async fn retry(
        &self,
        ws: WorkspaceId,
        id: i64,
        owner: &str,
        error: &str,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Puts a job off until `run_at` without counting the claim as an attempt (it did not fail: it
    /// waits for quiet hours to end or for its turn under a rate), releasing the lease, if `owner`
    /// still holds it.
    async fn defer(
        &self,
        ws: WorkspaceId,
        id: i64,
        owner: &str,
        reason: &str,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Buries a job with the reason, if `owner` still holds it.
    async fn bury(
        &self,
        ws: WorkspaceId,
        id: i64,
        owner: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Returns when the next pending job of `kinds` becomes claimable: the later of its due time and
    /// the end of its lease.
    async fn next_due(&self, kinds: &[String]) -> Result<Option<Timestamp>, StoreError>;

    /// Lists a workspace's jobs in a state, most recently changed first.
    async fn jobs(&self, ws: WorkspaceId, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError>;
}

/// What a background worker is doing, for `/healthz` and operators.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerStatus {
    /// The worker's name (`models.refresh`).
    pub name: String,
    /// `starting`, `working`, `idle`, `backing_off` or `stopped`.
    pub state: String,
    /// Rounds run since start.
    pub runs: u64,
    /// Failures in a row (0 after a success).
    pub failures: u32,
    /// The last failure's reason, until a round succeeds.
    pub last_error: Option<String>,
    /// When the last round started (RFC 3339).
    pub last_run: Option<String>,
    /// When it next runs unless woken (RFC 3339; `null`: when woken).
    pub next_due: Option<String>,
}

/// The statuses of a process's workers, shared between the runner that writes them and whoever
/// reads them (the web layer's `/healthz`). Cloning shares.
#[derive(Clone, Debug, Default)]
pub struct WorkerStatuses(std::sync::Arc<std::sync::RwLock<Vec<WorkerStatus>>>);

impl WorkerStatuses {
    /// Returns every worker's status, in the order they were started.
    pub fn all(&self) -> Vec<WorkerStatus> {
        self.0.read().expect("worker statuses lock is never poisoned").clone()
    }

    /// Adds a worker; returns its slot.
    pub fn add(&self, status: WorkerStatus) -> usize {
        let mut all = self.0.write().expect("worker statuses lock is never poisoned");
        all.push(status);
        all.len() - 1
    }

    /// Changes the status in `slot`.
    pub fn update(&self, slot: usize, change: impl FnOnce(&mut WorkerStatus)) {
        let mut all = self.0.write().expect("worker statuses lock is never poisoned");
        if let Some(status) = all.get_mut(slot) {
            change(status);
        }
    }
}
