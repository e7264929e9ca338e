//! A task run on a fixed interval (the minute pass over models and segments): not durable, because
//! what it computes is recomputed from the data whenever it runs.

use crate::worker::{Outcome, WorkError, Worker};
use jiff::{SignedDuration, Timestamp};
use std::future::Future;

/// Runs `task` once `first` has come, then every `every` after each run's start.
pub struct Every<F> {
    name: String,
    every: SignedDuration,
    next: Timestamp,
    task: F,
}

impl<F, Fut> Every<F>
where
    F: FnMut(Timestamp) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), WorkError>> + Send,
{
    /// A worker named `name` that runs `task` at `first`, then every `every`.
    pub fn new(name: impl Into<String>, every: SignedDuration, first: Timestamp, task: F) -> Self {
        Self { name: name.into(), every, next: first, task }
    }
}

impl<F, Fut> Worker for Every<F>
where
    F: FnMut(Timestamp) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), WorkError>> + Send,
{
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn run_once(&mut self, now: Timestamp) -> Result<Outcome, WorkError> {
        if now >= self.next {
            // A failed run is retried by the runner's back-off, not skipped to the next interval.
            (self.task)(now).await?;
            self.next = now.checked_add(self.every).unwrap_or(Timestamp::MAX);
        }
        Ok(Outcome::Idle { next_due: Some(self.next) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn the_task_runs_when_due_and_then_every_interval() {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let minute = SignedDuration::from_secs(60);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let mut worker = Every::new("tick", minute, start.checked_add(minute).unwrap(), move |_| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        let due = |t: Timestamp| Outcome::Idle { next_due: Some(t) };
        let at = |secs: i64| start.checked_add(SignedDuration::from_secs(secs)).unwrap();
        assert_eq!(worker.run_once(start).await, Ok(due(at(60))), "not yet due");
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(worker.run_once(at(61)).await, Ok(due(at(121))));
        assert_eq!(worker.run_once(at(90)).await, Ok(due(at(121))));
        assert_eq!(worker.run_once(at(500)).await, Ok(due(at(560))), "a late run sets the next from itself");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_run_stays_due() {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let mut worker =
            Every::new("failing", SignedDuration::from_secs(60), start, |_| async { Err(WorkError::new("down")) });
        assert_eq!(worker.run_once(start).await, Err(WorkError::new("down")));
        assert_eq!(worker.next, start, "the runner's back-off retries it");
    }
}
