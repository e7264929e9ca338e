//! The worker trait: one round of background work as of an instant.

use jiff::{SignedDuration, Timestamp};
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

/// The longest a worker holds back for work that goes first before it runs one round anyway (so
/// that its own work is slowed under sustained load, never stopped).
pub const MAX_HOLD: SignedDuration = SignedDuration::from_secs(2);
/// How soon a worker holding back looks again.
const HOLD_LOOK: SignedDuration = SignedDuration::from_millis(100);

/// A worker's giving way to a [`Backlog`]: it holds back while the backlog is behind, at most
/// [`MAX_HOLD`] at a time.
#[derive(Clone, Debug, Default)]
pub struct Yielding {
    backlog: Option<Backlog>,
    held_since: Option<Timestamp>,
}

impl Yielding {
    /// Gives way to `backlog`.
    pub fn to(backlog: Backlog) -> Self {
        Self { backlog: Some(backlog), held_since: None }
    }

    /// Whether the worker holds back at `now`: `Some(when it looks again)`, or `None` (it runs a
    /// round: the backlog is not behind, or it has held back [`MAX_HOLD`] already).
    pub fn hold(&mut self, now: Timestamp) -> Option<Timestamp> {
        if self.backlog.as_ref().is_some_and(Backlog::is_behind) {
            let since = *self.held_since.get_or_insert(now);
            if now.duration_since(since) < MAX_HOLD {
                return Some(now.checked_add(HOLD_LOOK).unwrap_or(now));
            }
        }
        self.held_since = None;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_gives_way_while_the_backlog_is_behind_at_most_its_limit() {
        let at = |ms: i64| Timestamp::UNIX_EPOCH.checked_add(SignedDuration::from_millis(ms)).unwrap();
        let backlog = Backlog::default();
        let mut yielding = Yielding::to(backlog.clone());
        assert_eq!(yielding.hold(at(0)), None, "not behind: it runs");
        backlog.set(true);
        assert_eq!(yielding.hold(at(0)), Some(at(100)));
        assert_eq!(yielding.hold(at(1_999)), Some(at(2_099)));
        assert_eq!(yielding.hold(at(2_000)), None, "held its limit: one round runs");
        assert_eq!(yielding.hold(at(2_001)), Some(at(2_101)), "then it holds again");
        assert_eq!(Yielding::default().hold(at(0)), None, "a worker that yields to nothing runs");
    }
}
