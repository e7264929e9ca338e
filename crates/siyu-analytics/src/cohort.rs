//! Customers by what they did: the event conditions of segments (`did("Order Completed", count >= 2,
//! within 30d, where category = tea)`), answered in one pass over the index, split over the cores.

use crate::index::Index;
use crate::parallel;

/// A numeric comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    /// `=`
    Eq(f64),
    /// `!=`
    Ne(f64),
    /// `>`
    Gt(f64),
    /// `>=`
    Gte(f64),
    /// `<`
    Lt(f64),
    /// `<=`
    Lte(f64),
}

impl Cmp {
    /// Whether `value` passes.
    pub fn holds(self, value: f64) -> bool {
        match self {
            Self::Eq(t) => value == t,
            Self::Ne(t) => value != t,
            Self::Gt(t) => value > t,
            Self::Gte(t) => value >= t,
            Self::Lt(t) => value < t,
            Self::Lte(t) => value <= t,
        }
    }
}

/// One event condition, with names already resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventTest {
    /// The event id.
    pub event: u16,
    /// Per property set: whether the event's properties pass the filters (`None`: no filters).
    pub sets: Option<Vec<bool>>,
    /// Events in `[from_us, to_us)` count for the thresholds.
    pub from_us: i64,
    /// See `from_us`.
    pub to_us: i64,
    /// Threshold on the number of matching events in the window (`None`: at least one).
    pub count: Option<Cmp>,
    /// Per property set, the summed property (NaN: absent), and the threshold on the sum.
    pub sum: Option<(Vec<f64>, Cmp)>,
    /// Per property set, the averaged property, and the threshold on the average.
    pub avg: Option<(Vec<f64>, Cmp)>,
    /// The first matching event ever lies in `[lo, hi)`.
    pub first: Option<(i64, i64)>,
    /// The last matching event ever lies in `[lo, hi)`.
    pub last: Option<(i64, i64)>,
}

/// Returns the ids of the customers who pass, in index order. A customer with no matching event
/// passes only a count threshold that zero meets (`count = 0`, `count < 3`): they are found among
/// the index's customers; callers add customers the index does not hold when zero passes.
pub fn customers(index: &Index, test: &EventTest) -> Vec<i64> {
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut out = Vec::new();
        index.for_each_customer(range, |c| {
            if passes(c.ts_us.iter().zip(c.events).zip(c.props).map(|((t, e), p)| (*t, *e, *p)), test) {
                out.push(c.id);
            }
        });
        out
    });
    parts.into_iter().flatten().collect()
}

/// Whether one customer's events (time, event id, property set; in time order) pass the test.
pub fn passes(events: impl Iterator<Item = (i64, u16, u32)>, test: &EventTest) -> bool {
    let (mut count, mut sum, mut avg_sum, mut avg_n) = (0u64, 0.0f64, 0.0f64, 0u64);
    let (mut first, mut last) = (None, None);
    for (ts, event, set) in events {
        if event != test.event {
            continue;
        }
        if let Some(sets) = &test.sets
            && !sets.get(set as usize).copied().unwrap_or(false)
        {
            continue;
        }
        first.get_or_insert(ts);
        last = Some(ts);
        if ts < test.from_us || ts >= test.to_us {
            continue;
        }
        count += 1;
        if let Some((values, _)) = &test.sum {
            let v = values.get(set as usize).copied().unwrap_or(f64::NAN);
            if v.is_finite() {
                sum += v;
            }
        }
        if let Some((values, _)) = &test.avg {
            let v = values.get(set as usize).copied().unwrap_or(f64::NAN);
            if v.is_finite() {
                avg_sum += v;
                avg_n += 1;
            }
        }
    }
    let within =
        |t: Option<i64>, bounds: Option<(i64, i64)>| bounds.is_none_or(|(lo, hi)| t.is_some_and(|t| t >= lo && t < hi));
    (match test.count {
        Some(cmp) => cmp.holds(count as f64),
        None => count > 0,
    }) && test.sum.as_ref().is_none_or(|(_, cmp)| count > 0 && cmp.holds(sum))
        && test.avg.as_ref().is_none_or(|(_, cmp)| avg_n > 0 && cmp.holds(avg_sum / avg_n as f64))
        && within(first, test.first)
        && within(last, test.last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{EventColumnsBuilder, RawEvent};

    #[test]
    fn counts_sums_windows_and_occurrences() {
        let mut b = EventColumnsBuilder::default();
        // Customer 1: event 0 at t = 10, 20, 30 (sets 0, 1, 1); customer 2: once at 5; customer 3: event 1 only.
        for (customer, ts, event, props) in [(1, 10, 0, 0), (1, 20, 0, 1), (1, 30, 0, 1), (2, 5, 0, 0), (3, 7, 1, 0)] {
            b.push(RawEvent { customer, ts_us: ts, event, order_cents: None, props });
        }
        let index = Index::from_columns(b.build());
        let base = EventTest { event: 0, from_us: 0, to_us: 100, ..Default::default() };
        assert_eq!(customers(&index, &base), vec![1, 2]);
        let twice = EventTest { count: Some(Cmp::Gte(2.0)), ..base.clone() };
        assert_eq!(customers(&index, &twice), vec![1]);
        let window = EventTest { from_us: 15, ..base.clone() };
        assert_eq!(customers(&index, &window), vec![1]);
        let zero = EventTest { count: Some(Cmp::Eq(0.0)), ..window.clone() };
        assert_eq!(customers(&index, &zero), vec![2, 3]);
        let filtered = EventTest { sets: Some(vec![false, true]), count: Some(Cmp::Eq(2.0)), ..base.clone() };
        assert_eq!(customers(&index, &filtered), vec![1]);
        let sum = EventTest { sum: Some((vec![1.0, 10.0], Cmp::Gt(20.0))), ..base.clone() };
        assert_eq!(customers(&index, &sum), vec![1]);
        let avg = EventTest { avg: Some((vec![1.0, 10.0], Cmp::Lt(5.0))), ..base.clone() };
        assert_eq!(customers(&index, &avg), vec![2]);
        let first = EventTest { first: Some((8, 100)), ..base.clone() };
        assert_eq!(customers(&index, &first), vec![1]);
        let last = EventTest { last: Some((0, 25)), ..base };
        assert_eq!(customers(&index, &last), vec![2]);
    }
}
