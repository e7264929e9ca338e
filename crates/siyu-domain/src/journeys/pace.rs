//! Paced starts: a cohort entered at once (a segment of a million customers, a broadcast) would
//! have every customer's first wait end in the same second, more timers than the step worker can
//! end in a second, and every one of them late. Instead each customer of a cohort gets a start
//! slot: the earliest second from now at which the seconds its wait ends in still has room.
//!
//! The room of a second is a share of what the step worker was measured to run
//! ([`Pace::observe`]: the node executions a second its rounds add beyond a round's fixed cost, a
//! line fitted to its recent rounds; a small machine's speed under load until the first measure),
//! halved for a while when a round finds its entries late, never less than a floor; each
//! customer takes its start's and its wait end's executions from the second its wait ends in (in
//! a steady stream a second holds as many starts as ends, so that sum is its load). The ledger is
//! this process's: several processes on one database each pace what they enter.

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The share of the step worker's measured speed that the ends of paced waits may take in a
/// second (the rest is for other journeys, late starts and the speed's swings).
const SHARE: f64 = 0.7;
/// The least node executions a second holds (on a slow or loaded machine).
const MIN_BUDGET: u64 = 2_000;
/// The speed assumed before the first measure (node executions a second): what the step worker
/// runs on a small machine under load; the first busy rounds correct it.
const UNMEASURED_SPEED: f64 = 20_000.0;
/// How much of the fit each new round keeps (older rounds fade: an exponentially weighted fit).
const FORGET: f64 = 0.9;
/// The fewest entries a round must claim to be measured.
const MIN_MEASURED: usize = 10;
/// The most the marginal speed may exceed the plain mean (executions over time) of the rounds.
const MAX_GAIN: f64 = 4.0;
/// A round whose entries were this late halves the room for a while.
const LATE: SignedDuration = SignedDuration::from_millis(500);
/// The most seconds the ledger holds promises for (about 4 MiB): past it (a year-long wait entered
/// every second), customers start at once, as unpaced.
const MAX_SECONDS: usize = 100_000;
/// The least of the room lateness leaves.
const MIN_DAMP: f64 = 0.25;
/// How much of the room a round on time gives back after late ones.
const RECOVER: f64 = 0.02;

/// The ledger of seconds to come and the step worker's speed.
#[derive(Debug, Default)]
pub struct Pace {
    inner: Mutex<Ledger>,
}

#[derive(Debug)]
struct Ledger {
    /// Node executions promised to each second (Unix seconds) by the waits that end in it.
    ends: BTreeMap<i64, u64>,
    /// The rounds' time against their executions.
    fit: Fit,
    /// The share of the room left after late rounds (1: all of it).
    damp: f64,
}

impl Default for Ledger {
    fn default() -> Self {
        Self { ends: BTreeMap::new(), fit: Fit::default(), damp: 1.0 }
    }
}

impl Ledger {
    fn budget(&self) -> u64 {
        ((self.fit.speed().unwrap_or(UNMEASURED_SPEED) * SHARE * self.damp) as u64).max(MIN_BUDGET)
    }
}

/// A least-squares line through rounds' (executions, seconds), each round weighing [`FORGET`]
/// times the one after it: its slope is the time an execution adds, its intercept a round's fixed
/// cost (claim, commit), which a busy worker pays once for many entries.
#[derive(Debug, Default)]
struct Fit {
    n: f64,
    x: f64,
    y: f64,
    xx: f64,
    xy: f64,
}

impl Fit {
    fn add(&mut self, x: f64, y: f64) {
        for (sum, value) in
            [(&mut self.n, 1.0), (&mut self.x, x), (&mut self.y, y), (&mut self.xx, x * x), (&mut self.xy, x * y)]
        {
            *sum = *sum * FORGET + value;
        }
    }

    /// Node executions a second: one over the slope, between the plain mean and [`MAX_GAIN`]
    /// times it (the mean where the rounds were all alike, or the line slopes down).
    fn speed(&self) -> Option<f64> {
        if self.y <= 0.0 || self.x <= 0.0 {
            return None;
        }
        let mean = self.x / self.y;
        let spread = self.n * self.xx - self.x * self.x;
        let slope = (self.n * self.xy - self.x * self.y) / spread;
        Some(if spread > 1e-9 * self.n * self.xx && slope > 0.0 {
            (1.0 / slope).clamp(mean, mean * MAX_GAIN)
        } else {
            mean
        })
    }
}

impl Pace {
    /// Records a round of the step worker: `claimed` entries, `executions` node executions in
    /// `took`, the latest of them `late` (rounds of fewer than ten entries are not measured).
    pub fn observe(&self, claimed: usize, executions: usize, took: Duration, late: SignedDuration) {
        if claimed < MIN_MEASURED || took.is_zero() {
            return;
        }
        let mut ledger = self.inner.lock().expect("pace");
        ledger.fit.add(executions as f64, took.as_secs_f64());
        ledger.damp = if late > LATE { (ledger.damp * 0.5).max(MIN_DAMP) } else { (ledger.damp + RECOVER).min(1.0) };
    }

    /// Node executions a second may hold.
    pub fn budget(&self) -> u64 {
        self.inner.lock().expect("pace").budget()
    }

    /// Start slots for `n` customers entered `now` whose first wait lasts `wait` and costs `cost`
    /// node executions (start and end): each the earliest second from now whose wait end still
    /// has room (a second with nothing promised yet always takes one), in order. The slots are
    /// promised until [`Pace::release`] gives them back.
    pub fn starts(&self, now: Timestamp, wait: SignedDuration, cost: u64, n: usize) -> Vec<Timestamp> {
        let mut ledger = self.inner.lock().expect("pace");
        let budget = ledger.budget();
        let first = now.as_second();
        // Seconds gone by hold nothing to come.
        ledger.ends = ledger.ends.split_off(&first);
        if ledger.ends.len() >= MAX_SECONDS {
            return vec![now; n];
        }
        let wait_s = wait.as_secs();
        let mut slots = Vec::with_capacity(n);
        // Customers of one call all cost the same: a second found full stays full for the rest.
        let mut offset = 0i64;
        for _ in 0..n {
            loop {
                let end = first.saturating_add(offset).saturating_add(wait_s);
                let promised = ledger.ends.entry(end).or_default();
                if *promised == 0 || *promised + cost <= budget {
                    *promised += cost;
                    break;
                }
                offset += 1;
            }
            slots.push(now.checked_add(SignedDuration::from_secs(offset)).unwrap_or(Timestamp::MAX));
        }
        slots
    }

    /// Gives back the slots of customers who did not enter (the re-entry policy kept them out).
    pub fn release(&self, starts: &[Timestamp], wait: SignedDuration, cost: u64) {
        let mut ledger = self.inner.lock().expect("pace");
        for start in starts {
            let end = start.as_second().saturating_add(wait.as_secs());
            if let Some(promised) = ledger.ends.get_mut(&end) {
                *promised = promised.saturating_sub(cost);
                if *promised == 0 {
                    ledger.ends.remove(&end);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    #[test]
    fn before_any_measure_a_second_holds_a_share_of_the_assumed_speed() {
        let pace = Pace::default();
        let starts = pace.starts(at(0), SignedDuration::from_mins(1), 4, 8_000);
        // 14,000 executions a second at 4 each: 3,500 a second.
        assert_eq!(starts.iter().filter(|s| **s == at(0)).count(), 3_500);
        assert_eq!(starts.iter().filter(|s| **s == at(1)).count(), 3_500);
        assert_eq!(starts.last(), Some(&at(2)));
        assert!(starts.windows(2).all(|w| w[0] <= w[1]), "in order");
    }

    #[test]
    fn the_measured_speed_sets_the_room_and_released_slots_are_taken_again() {
        let pace = Pace::default();
        pace.observe(5, 1_000_000, Duration::from_secs(1), SignedDuration::ZERO);
        assert_eq!(pace.budget(), 14_000, "a round of a few is not measured");
        pace.observe(5_000, 12_000, Duration::from_secs(1), SignedDuration::ZERO);
        assert_eq!(pace.budget(), 8_400, "one round: its mean speed, of which 70 %");
        let wait = SignedDuration::from_mins(10);
        let starts = pace.starts(at(0), wait, 7, 2_000);
        assert_eq!(starts.iter().filter(|s| **s == at(0)).count(), 1_200);
        assert_eq!(starts[1_200], at(1));
        // A later call the same second finds the first second full.
        assert_eq!(pace.starts(at(0), wait, 7, 1), vec![at(1)]);
        // The first second's customers stayed out: their room is free again.
        pace.release(&starts[..1_200], wait, 7);
        assert_eq!(pace.starts(at(0), wait, 7, 1), vec![at(0)]);
        // Seconds gone by are forgotten.
        assert_eq!(pace.starts(at(700), wait, 7, 1), vec![at(700)]);
    }

    #[test]
    fn the_speed_leaves_out_a_rounds_fixed_cost_and_late_rounds_halve_the_room() {
        let pace = Pace::default();
        // 10 ms a round, 20 µs an execution: 50,000 executions a second beyond the fixed cost.
        let round = |executions: u64| Duration::from_micros(10_000 + 20 * executions);
        for executions in [300, 5_000, 1_200, 3_000, 800] {
            pace.observe(1_000, executions as usize, round(executions), SignedDuration::ZERO);
        }
        let budget = pace.budget() as f64;
        assert!((budget - 35_000.0).abs() < 100.0, "{budget}");
        pace.observe(1_000, 1_000, round(1_000), SignedDuration::from_secs(2));
        let halved = pace.budget() as f64;
        assert!((halved - 17_500.0).abs() < 100.0, "{halved}");
        for _ in 0..25 {
            pace.observe(1_000, 1_000, round(1_000), SignedDuration::ZERO);
        }
        assert!((pace.budget() as f64 - 35_000.0).abs() < 100.0, "grown back");
    }

    #[test]
    fn the_ledger_holds_a_bounded_number_of_seconds() {
        let pace = Pace::default();
        let wait = SignedDuration::from_hours(24 * 366);
        for second in 0..MAX_SECONDS as i64 {
            pace.starts(at(second), wait, 1, 1);
        }
        assert_eq!(pace.inner.lock().unwrap().ends.len(), MAX_SECONDS);
        let late = at(MAX_SECONDS as i64);
        assert_eq!(pace.starts(late, wait, 50_000, 3), vec![late; 3], "unpaced past the bound");
        // A released second leaves the ledger.
        pace.release(&[at(0)], wait, 1);
        assert_eq!(pace.inner.lock().unwrap().ends.len(), MAX_SECONDS - 1);
    }

    #[test]
    fn a_customer_costlier_than_a_second_still_gets_a_slot() {
        let pace = Pace::default();
        pace.observe(1_000, 1_000, Duration::from_secs(1), SignedDuration::ZERO);
        assert_eq!(pace.budget(), MIN_BUDGET, "never less than the floor");
        let starts = pace.starts(at(0), SignedDuration::from_mins(1), 5_000, 3);
        assert_eq!(starts, vec![at(0), at(1), at(2)]);
    }
}
