//! The only place that reads the real clock; everything else asks a [`Clock`].

use jiff::Timestamp;
use std::sync::Mutex;

/// Tells the current time; tests use [`ManualClock`] to control it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Returns the current instant.
    fn now(&self) -> Timestamp;
}

/// Reads the operating system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of the real clock
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// Returns a clock stopped at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward by `span`.
    pub fn advance(&self, span: jiff::SignedDuration) {
        let mut at = self.0.lock().expect("clock mutex is never poisoned");
        *at = at.checked_add(span).expect("test clock stays in range");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock mutex is never poisoned")
    }
}

/// Converts an instant to the integer milliseconds both databases store.
pub fn to_millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// Converts stored milliseconds back to an instant (out-of-range values clamp to the epoch).
pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}
