//! The worker trait: one round of background work as of an instant.

use jiff::Timestamp;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a round found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did work and there may be more: run again soon (after the worker's pace).
    Worked,
    /// Nothing to do until `next_due` (`None`: until woken).
    Idle {
        /// When the worker next has work.
        next_due: Option<Timestamp>,
    },
}

/// Why a round failed; the runner logs it, shows it in the worker's status and backs off.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WorkError(pub String);

impl WorkError {
    /// A failure with this reason.
    pub fn new(reason: impl std::fmt::Display) -> Self {
        Self(reason.to_string())
    }
}

impl From<siyu_core::StoreError> for WorkError {
    fn from(error: siyu_core::StoreError) -> Self {
        Self::new(error)
    }
}

impl From<siyu_domain::DomainError> for WorkError {
    /// With its chain of causes (a store's own message), for the log and the worker's status.
    fn from(error: siyu_domain::DomainError) -> Self {
        Self::new(error.chain())
    }
}

/// A unit of background work. The runner calls `run_once` in a loop with the clock's time; a test
/// calls it directly with a `ManualClock`'s.
pub trait Worker: Send + 'static {
    /// The worker's name in statuses and logs (`models.refresh`).
    fn name(&self) -> String;

    /// Runs one round as of `now`.
    fn run_once(&mut self, now: Timestamp) -> impl Future<Output = Result<Outcome, WorkError>> + Send;

    /// The pause between two rounds that did work, so a busy worker leaves room to others.
    fn pace(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// The longest an idle worker sleeps before it looks again, for work that arrives without a
    /// wake-up (a job another process scheduled); `None`: only its due time or a wake-up.
    fn poll(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Whether a worker whose work goes first is behind: it says so after each round, and a worker
/// that yields to it holds back its own rounds meanwhile (see `JobWorker::yield_to`). Journeys'
/// steps go before sends: a send waits a moment, while a step that waits makes every later
/// timer late.
#[derive(Clone, Debug, Default)]
pub struct Backlog(Arc<AtomicBool>);

impl Backlog {
    /// Notes whether the worker is behind (by its own measure, after each round).
    pub fn set(&self, behind: bool) {
        self.0.store(behind, Ordering::Relaxed);
    }

    /// Whether the worker said it is behind.
    pub fn is_behind(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
