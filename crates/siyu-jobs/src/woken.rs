//! A task run whenever it is woken (work another part of siyu queued for it: a batch for the
//! segment upkeep, a fold an index asked for), and again at once while it finds work. Not durable:
//! what it works on is queued in memory and rebuilt from the data after a restart.

use crate::worker::{Outcome, WorkError, Worker};
use jiff::Timestamp;
use std::future::Future;

/// Runs `task` when woken; `task` answers whether it found work (then it runs again after the
/// runner's pacing) or not (then it sleeps until the next wake-up).
pub struct OnWake<F> {
    name: String,
    task: F,
}

impl<F, Fut> OnWake<F>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<bool, WorkError>> + Send,
{
    /// A worker named `name` that runs `task` whenever it is woken.
    pub fn new(name: impl Into<String>, task: F) -> Self {
        Self { name: name.into(), task }
    }
}

impl<F, Fut> Worker for OnWake<F>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<bool, WorkError>> + Send,
{
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn run_once(&mut self, _now: Timestamp) -> Result<Outcome, WorkError> {
        Ok(if (self.task)().await? { Outcome::Worked } else { Outcome::Idle { next_due: None } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_works_again_while_it_finds_work_and_then_waits_to_be_woken() {
        let mut left = 2;
        let mut worker = OnWake::new("drain", move || {
            let found = left > 0;
            left -= 1;
            async move { Ok(found) }
        });
        let now = Timestamp::UNIX_EPOCH;
        assert_eq!(worker.run_once(now).await, Ok(Outcome::Worked));
        assert_eq!(worker.run_once(now).await, Ok(Outcome::Worked));
        assert_eq!(worker.run_once(now).await, Ok(Outcome::Idle { next_due: None }));
        assert_eq!(worker.name(), "drain");
    }
}
