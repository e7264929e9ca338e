//! The journeys' workers. The step worker: each round claims due entries (under a lease, so several
//! processes share them) and runs them through `Journeys::run_due`; idle, it sleeps until the next
//! entry is due, a wake-up (an entry just made here) or a second (entries another process made).
//! The entry worker enters the customers triggers fired, giving way to the step worker while it is
//! behind; the schedule and position workers fire scheduled triggers and save the log position.

use crate::worker::{Backlog, Outcome, WorkError, Worker, Yielding};
use jiff::Timestamp;
use siyu_domain::journeys::Journeys;

/// The most entries claimed per round: a cohort whose waits end together goes through in few
/// rounds, each one write of its entries and their messages (between rounds the worker yields to
/// the rest of the process, which under load can take longer than the round).
pub const STEP_BATCH: usize = 5000;

/// How late a round's entries may run before the step worker says it is behind (and sends give way
/// until it has caught up).
pub const BEHIND: jiff::SignedDuration = jiff::SignedDuration::from_millis(200);

/// Runs journey entries when they are due.
pub struct StepWorker {
    journeys: Journeys,
    owner: String,
    batch: usize,
    backlog: Backlog,
}

impl StepWorker {
    /// A worker claiming as `owner` (unique per process: the lease holder), `batch` entries a round.
    pub fn new(journeys: Journeys, owner: impl Into<String>, batch: usize) -> Self {
        Self { journeys, owner: owner.into(), batch: batch.max(1), backlog: Backlog::default() }
    }

    /// Says in `backlog` whether it is behind (a round took a whole batch, or ran entries more
    /// than [`BEHIND`] late), so that the send worker can give way meanwhile.
    pub fn reports(mut self, backlog: Backlog) -> Self {
        self.backlog = backlog;
        self
    }
}

impl Worker for StepWorker {
    fn name(&self) -> String {
        "journeys.step".into()
    }

    fn poll(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(1))
    }

    async fn run_once(&mut self, now: Timestamp) -> Result<Outcome, WorkError> {
        let round = self.journeys.run_due(&self.owner, now, self.batch).await?;
        self.backlog.set(round.claimed >= self.batch || round.late > BEHIND);
        if round.claimed > 0 {
            return Ok(Outcome::Worked);
        }
        Ok(Outcome::Idle { next_due: self.journeys.next_due().await? })
    }
}

/// The most trigger hits the entry worker applies a round.
pub const ENTER_BATCH: usize = 5000;

/// The `journeys.enter` worker: enters the customers whose events fired a trigger (and ends event
/// waits, converts goals), [`ENTER_BATCH`] hits a round, run again while hits wait and woken when
/// one arrives. It gives way to the step worker's backlog: customers already on a journey whose
/// timers are due go before new ones (entering a million customers at once would make every wait
/// that ends meanwhile late).
pub struct EnterWorker {
    journeys: Journeys,
    yielding: Yielding,
}

impl EnterWorker {
    /// A worker for `journeys`.
    pub fn new(journeys: Journeys) -> Self {
        Self { journeys, yielding: Yielding::default() }
    }

    /// Holds back while `backlog` (the step worker's) is behind, at most
    /// [`MAX_HOLD`](crate::worker::MAX_HOLD) at a time.
    pub fn yield_to(mut self, backlog: Backlog) -> Self {
        self.yielding = Yielding::to(backlog);
        self
    }
}

impl Worker for EnterWorker {
    fn name(&self) -> String {
        "journeys.enter".into()
    }

    async fn run_once(&mut self, now: Timestamp) -> Result<Outcome, WorkError> {
        if let Some(look) = self.yielding.hold(now) {
            return Ok(Outcome::Idle { next_due: Some(look) });
        }
        Ok(match self.journeys.apply_some_hits(ENTER_BATCH).await? {
            true => Outcome::Worked,
            false => Outcome::Idle { next_due: None },
        })
    }
}

/// The `journeys.schedule` worker: fires the scheduled triggers (broadcasts, anniversaries) whose
/// occurrence has come, then sleeps until the next (at most a minute; woken when a journey is
/// published, resumed or paused).
pub struct ScheduleWorker {
    journeys: Journeys,
}

impl ScheduleWorker {
    /// A worker for `journeys`.
    pub fn new(journeys: Journeys) -> Self {
        Self { journeys }
    }
}

impl Worker for ScheduleWorker {
    fn name(&self) -> String {
        "journeys.schedule".into()
    }

    async fn run_once(&mut self, _now: Timestamp) -> Result<Outcome, WorkError> {
        let next = self.journeys.fire_schedules().await?;
        Ok(Outcome::Idle { next_due: Some(next) })
    }
}

/// How often the `journeys.position` worker saves the triggers' positions.
pub const POSITION_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

/// The `journeys.position` worker: on its first round reads each workspace's event log from its
/// triggers' saved position (what no process heard before a crash), then every few seconds saves
/// the positions (and reads again a workspace whose hits were dropped).
pub struct PositionWorker {
    journeys: Journeys,
}

impl PositionWorker {
    /// A worker for `journeys`.
    pub fn new(journeys: Journeys) -> Self {
        Self { journeys }
    }
}

impl Worker for PositionWorker {
    fn name(&self) -> String {
        "journeys.position".into()
    }

    async fn run_once(&mut self, now: Timestamp) -> Result<Outcome, WorkError> {
        self.journeys.save_positions().await?;
        Ok(Outcome::Idle { next_due: now.checked_add(POSITION_EVERY).ok() })
    }
}
