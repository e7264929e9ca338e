//! The one loop every worker runs in: run a round; after work, pace and run again; when idle,
//! sleep until the next due time, a wake-up or the worker's poll interval; after an error, back off
//! (1 s doubling to 5 min); on shutdown, finish the round in progress and stop. Each worker's
//! status is published in a [`WorkerStatuses`] that `/healthz` reads.

use crate::worker::{Outcome, Worker};
use jiff::Timestamp;
use siyu_core::clock::Clock;
use siyu_domain::jobs::{WorkerStatus, WorkerStatuses};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The first back-off after an error; it doubles with each error in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The longest sleep before the due time is checked again (a clock that jumps is caught up with).
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// Wakes one worker that sleeps, e.g. because new work was scheduled for it. A wake-up sent while it
/// works is kept for when it next sleeps.
#[derive(Clone, Debug, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Wakes the worker.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// A wake-up the worker's own slice holds (it notifies when it queues work).
impl From<Arc<Notify>> for Wake {
    fn from(notify: Arc<Notify>) -> Self {
        Self(notify)
    }
}

/// Drives workers until shut down.
pub struct Runner {
    clock: Arc<dyn Clock>,
    statuses: WorkerStatuses,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Runner {
    /// A runner reading time from `clock` and publishing into `statuses`.
    pub fn new(clock: Arc<dyn Clock>, statuses: WorkerStatuses) -> Self {
        Self { clock, statuses, stop: watch::channel(false).0, tasks: Vec::new() }
    }

    /// The statuses this runner publishes.
    pub fn statuses(&self) -> WorkerStatuses {
        self.statuses.clone()
    }

    /// Starts a worker's loop; the returned [`Wake`] wakes it.
    pub fn spawn<W: Worker>(&mut self, worker: W) -> Wake {
        self.spawn_woken(worker, Wake::default())
    }

    /// Starts a worker's loop, woken by `wake` (held by whatever queues the worker's work).
    pub fn spawn_woken<W: Worker>(&mut self, mut worker: W, wake: Wake) -> Wake {
        let slot = self.statuses.add(WorkerStatus {
            name: worker.name(),
            state: "starting".into(),
            runs: 0,
            failures: 0,
            last_error: None,
            last_run: None,
            next_due: None,
        });
        let (clock, statuses, notify) = (self.clock.clone(), self.statuses.clone(), wake.0.clone());
        let mut stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let name = worker.name();
            let mut failures: u32 = 0;
            while !*stop.borrow() {
                let now = clock.now();
                statuses.update(slot, |s| {
                    s.state = "working".into();
                    s.last_run = Some(now.to_string());
                });
                let result = worker.run_once(now).await;
                let pause = match result {
                    Ok(Outcome::Worked) => {
                        failures = 0;
                        statuses.update(slot, |s| {
                            s.runs += 1;
                            s.failures = 0;
                            s.last_error = None;
                            s.next_due = None;
                        });
                        tokio::task::yield_now().await;
                        Some(worker.pace())
                    }
                    Ok(Outcome::Idle { next_due }) => {
                        failures = 0;
                        statuses.update(slot, |s| {
                            s.runs += 1;
                            s.failures = 0;
                            s.last_error = None;
                            s.state = "idle".into();
                            s.next_due = next_due.map(|t| t.to_string());
                        });
                        // Work another process schedules comes without a wake-up: look again by then.
                        match (next_due.map(|due| until(due, clock.now())), worker.poll()) {
                            (Some(until_due), Some(poll)) => Some(until_due.min(poll)),
                            (until_due, poll) => until_due.or(poll),
                        }
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let backoff = backoff(failures);
                        tracing::warn!(worker = %name, %error, failures, backoff_s = backoff.as_secs(), "worker round failed");
                        statuses.update(slot, |s| {
                            s.runs += 1;
                            s.failures = failures;
                            s.last_error = Some(error.to_string());
                            s.state = "backing_off".into();
                            s.next_due = clock.now().checked_add(backoff).ok().map(|t| t.to_string());
                        });
                        Some(backoff)
                    }
                };
                match pause {
                    Some(pause) if pause.is_zero() => {}
                    Some(pause) => {
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = notify.notified() => {}
                            // Err: the runner is gone (dropped without `shutdown`), so stop too.
                            changed = stop.changed() => if changed.is_err() { break },
                        }
                    }
                    None => {
                        tokio::select! {
                            _ = notify.notified() => {}
                            // Err: the runner is gone (dropped without `shutdown`), so stop too.
                            changed = stop.changed() => if changed.is_err() { break },
                        }
                    }
                }
            }
            statuses.update(slot, |s| s.state = "stopped".into());
        }));
        wake
    }

    /// Stops every worker after the round it is in, and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.await {
                tracing::error!(%error, "a worker ended abnormally");
            }
        }
    }
}

/// A runner dropped without [`Runner::shutdown`] (a command that built the app and went on without
/// it) stops its workers after the round they are in, rather than leaving them to run unowned.
impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How long to sleep until `due`, at most [`MAX_SLEEP`].
fn until(due: Timestamp, now: Timestamp) -> Duration {
    let wait = due.duration_since(now);
    Duration::try_from(wait).unwrap_or(Duration::ZERO).min(MAX_SLEEP)
}

/// The back-off after `failures` errors in a row.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::WorkError;
    use siyu_core::clock::SystemClock;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_from_a_second_to_five_minutes() {
        let seconds: Vec<u64> = (1..=11).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn sleeps_end_at_the_due_time_and_never_last_over_an_hour() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        assert_eq!(until(now.checked_add(jiff::SignedDuration::from_secs(5)).unwrap(), now), Duration::from_secs(5));
        assert_eq!(until(now.checked_sub(jiff::SignedDuration::from_secs(5)).unwrap(), now), Duration::ZERO);
        assert_eq!(until(Timestamp::MAX, now), MAX_SLEEP);
    }

    /// Works `work` rounds, fails once, then idles until woken; counts its rounds.
    struct Counting {
        work: u32,
        failed: bool,
        rounds: Arc<AtomicU32>,
        idle: Arc<Notify>,
    }

    impl Worker for Counting {
        fn name(&self) -> String {
            "counting".into()
        }

        async fn run_once(&mut self, _now: Timestamp) -> Result<Outcome, WorkError> {
            self.rounds.fetch_add(1, Ordering::SeqCst);
            if self.work > 0 {
                self.work -= 1;
                return Ok(Outcome::Worked);
            }
            if !self.failed {
                self.failed = true;
                return Err(WorkError::new("the database is away"));
            }
            self.idle.notify_one();
            Ok(Outcome::Idle { next_due: None })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_runner_works_backs_off_idles_until_woken_and_stops() {
        let statuses = WorkerStatuses::default();
        let mut runner = Runner::new(Arc::new(SystemClock), statuses.clone());
        let (rounds, idle) = (Arc::new(AtomicU32::new(0)), Arc::new(Notify::new()));
        let wake = runner.spawn(Counting { work: 3, failed: false, rounds: rounds.clone(), idle: idle.clone() });
        // Three rounds of work, a failure (a second's back-off: the paused clock skips it), then idle.
        idle.notified().await;
        assert_eq!(rounds.load(Ordering::SeqCst), 5);
        let status = &statuses.all()[0];
        assert_eq!((status.name.as_str(), status.runs, status.failures), ("counting", 5, 0));
        assert_eq!(status.last_error, None, "a success clears the error");
        // Idle without a due time: only a wake-up runs it again.
        wake.wake();
        idle.notified().await;
        assert_eq!(rounds.load(Ordering::SeqCst), 6);
        runner.shutdown().await;
        assert_eq!(statuses.all()[0].state, "stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_runner_stops_its_workers_instead_of_spinning() {
        let statuses = WorkerStatuses::default();
        let mut runner = Runner::new(Arc::new(SystemClock), statuses.clone());
        let (rounds, idle) = (Arc::new(AtomicU32::new(0)), Arc::new(Notify::new()));
        runner.spawn(Counting { work: 0, failed: true, rounds: rounds.clone(), idle: idle.clone() });
        idle.notified().await;
        drop(runner);
        for _ in 0..1_000 {
            if statuses.all()[0].state == "stopped" {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(statuses.all()[0].state, "stopped", "the worker ended with its runner");
        assert_eq!(rounds.load(Ordering::SeqCst), 1, "and ran no round after");
    }
}
