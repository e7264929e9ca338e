//! The queryable index: a large immutable base and a small delta of recent events, seen as one.
//! New events only rebuild the delta (cheap), so they are queryable at once; the delta is folded
//! into a new base now and then, off the query path.

use crate::columns::{EventColumns, Order};
use std::ops::Range;
use std::sync::Arc;

pub use crate::columns::CustomerEvents;

/// Base plus delta. Units `0..base.customer_count()` are the base's customers (with their delta
/// events merged in); the units after are customers only the delta has.
#[derive(Clone, Debug, Default)]
pub struct Index {
    base: Arc<EventColumns>,
    delta: Arc<EventColumns>,
    /// (base slot, delta slot) of customers in both, by base slot.
    pairs: Vec<(u32, u32)>,
    /// Delta slots of customers the base does not have.
    delta_only: Vec<u32>,
}

impl Index {
    /// Returns an index over `base` and `delta` (both keyed by customer id).
    pub fn new(base: Arc<EventColumns>, delta: Arc<EventColumns>) -> Self {
        let (mut pairs, mut delta_only) = (Vec::new(), Vec::new());
        let mut b = 0;
        for d in 0..delta.customer_count() {
            let id = delta.customer(d);
            while b < base.customer_count() && base.customer(b) < id {
                b += 1;
            }
            if b < base.customer_count() && base.customer(b) == id {
                pairs.push((b as u32, d as u32));
            } else {
                delta_only.push(d as u32);
            }
        }
        Self { base, delta, pairs, delta_only }
    }

    /// Returns an index of one set of columns.
    pub fn from_columns(columns: EventColumns) -> Self {
        Self::new(Arc::new(columns), Arc::default())
    }

    /// Returns the base columns.
    pub fn base(&self) -> &Arc<EventColumns> {
        &self.base
    }

    /// Returns the delta columns.
    pub fn delta(&self) -> &Arc<EventColumns> {
        &self.delta
    }

    /// Returns the number of units [`Index::for_each_customer`] ranges over (one per customer).
    pub fn customer_count(&self) -> usize {
        self.base.customer_count() + self.delta_only.len()
    }

    /// Returns the number of events.
    pub fn event_count(&self) -> usize {
        self.base.event_count() + self.delta.event_count()
    }

    /// Returns the earliest and latest event time.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        match (self.base.time_range(), self.delta.time_range()) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (one, other) => one.or(other),
        }
    }

    /// Returns the earliest and latest event time within `lo..=hi`, `None` when no event lies there:
    /// the data's range as far as it is plausible. When every event lies inside it is
    /// [`Index::time_range`]; otherwise one binary search per customer.
    pub fn time_range_within(&self, lo: i64, hi: i64) -> Option<(i64, i64)> {
        let (from, to) = self.time_range()?;
        if from >= lo && to <= hi {
            return Some((from, to));
        }
        let parts = crate::parallel::over_slots(self.customer_count(), |range| {
            let (mut min, mut max) = (i64::MAX, i64::MIN);
            self.for_each_customer(range, |customer| {
                let ts = customer.ts_us;
                let (begin, end) = (ts.partition_point(|t| *t < lo), ts.partition_point(|t| *t <= hi));
                if begin < end {
                    min = min.min(ts[begin]);
                    max = max.max(ts[end - 1]);
                }
            });
            (min, max)
        });
        let (min, max) = parts.into_iter().fold((i64::MAX, i64::MIN), |(a, b), (c, d)| (a.min(c), b.max(d)));
        (min <= max).then_some((min, max))
    }

    /// Returns the bytes both column sets hold.
    pub fn heap_bytes(&self) -> usize {
        self.base.heap_bytes() + self.delta.heap_bytes() + self.pairs.capacity() * 8 + self.delta_only.capacity() * 4
    }

    /// Returns the customer id of a unit.
    pub fn customer_id(&self, unit: usize) -> i64 {
        let base_count = self.base.customer_count();
        if unit < base_count {
            self.base.customer(unit)
        } else {
            self.delta.customer(self.delta_only[unit - base_count] as usize)
        }
    }

    /// Returns the unit of a customer id, if the index holds any event of theirs.
    pub fn unit_of(&self, id: i64) -> Option<usize> {
        let base_count = self.base.customer_count();
        let (mut lo, mut hi) = (0, base_count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.base.customer(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        self.delta_only
            .binary_search_by_key(&id, |slot| self.delta.customer(*slot as usize))
            .ok()
            .map(|i| base_count + i)
    }

    /// Returns one set of columns holding the base and the delta (a new base).
    pub fn fold(&self) -> EventColumns {
        self.fold_paced(|| {})
    }

    /// Like [`Index::fold`], calling `pause` every 16,384 customers, so that a caller can let other
    /// work run (a fold of a large base is seconds of one core).
    pub fn fold_paced(&self, mut pause: impl FnMut()) -> EventColumns {
        let mut units: Vec<(i64, usize)> = (0..self.customer_count()).map(|u| (self.customer_id(u), u)).collect();
        units.sort_unstable();
        let mut folded = EventColumns::with_capacity(units.len(), self.event_count());
        for (n, (_, unit)) in units.into_iter().enumerate() {
            if n % 16_384 == 16_383 {
                pause();
            }
            self.for_each_customer(unit..unit + 1, |customer| folded.push_customer(customer));
        }
        folded
    }

    /// Calls `visit` for each customer unit in `units`, in order.
    pub fn for_each_customer(&self, units: Range<usize>, mut visit: impl FnMut(CustomerEvents<'_>)) {
        let base_count = self.base.customer_count();
        let mut pair = self.pairs.partition_point(|(b, _)| (*b as usize) < units.start);
        let mut merged = Merged::default();
        let mut orders = Vec::new();
        for unit in units {
            if unit >= base_count {
                let slot = self.delta_only[unit - base_count] as usize;
                let (t, e) = self.delta.events_of(slot);
                visit(CustomerEvents {
                    id: self.delta.customer(slot),
                    ts_us: t,
                    events: e,
                    props: self.delta.props_of(slot),
                    orders: self.delta.orders_of(slot),
                });
                continue;
            }
            let (t, e) = self.base.events_of(unit);
            let id = self.base.customer(unit);
            match self.pairs.get(pair) {
                Some((b, d)) if *b as usize == unit => {
                    pair += 1;
                    let d = *d as usize;
                    let (dt, de) = self.delta.events_of(d);
                    merged.merge((t, e, self.base.props_of(unit)), (dt, de, self.delta.props_of(d)));
                    orders.clear();
                    orders.extend_from_slice(self.base.orders_of(unit));
                    orders.extend_from_slice(self.delta.orders_of(d));
                    // Stable: at one instant, base orders stay first.
                    orders.sort_by_key(|o: &Order| o.ts_us);
                    visit(CustomerEvents {
                        id,
                        ts_us: &merged.ts,
                        events: &merged.events,
                        props: &merged.props,
                        orders: &orders,
                    });
                }
                _ => visit(CustomerEvents {
                    id,
                    ts_us: t,
                    events: e,
                    props: self.base.props_of(unit),
                    orders: self.base.orders_of(unit),
                }),
            }
        }
    }
}

/// One customer's base and delta events, merged.
#[derive(Default)]
struct Merged {
    ts: Vec<i64>,
    events: Vec<u16>,
    props: Vec<u32>,
}

type Run<'a> = (&'a [i64], &'a [u16], &'a [u32]);

impl Merged {
    /// Merges two time-ordered event runs; at one instant the first run's events come first.
    fn merge(&mut self, (at, ae, ap): Run<'_>, (bt, be, bp): Run<'_>) {
        self.ts.clear();
        self.events.clear();
        self.props.clear();
        let (mut i, mut j) = (0, 0);
        while i < at.len() || j < bt.len() {
            if j == bt.len() || (i < at.len() && at[i] <= bt[j]) {
                self.ts.push(at[i]);
                self.events.push(ae[i]);
                self.props.push(ap[i]);
                i += 1;
            } else {
                self.ts.push(bt[j]);
                self.events.push(be[j]);
                self.props.push(bp[j]);
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{EventColumnsBuilder, RawEvent};

    fn columns(events: &[(i64, i64, u16)]) -> Arc<EventColumns> {
        let mut builder = EventColumnsBuilder::default();
        for (customer, ts_us, event) in events {
            builder.push(RawEvent {
                customer: *customer,
                ts_us: *ts_us,
                event: *event,
                order_cents: None,
                props: *event as u32,
            });
        }
        Arc::new(builder.build())
    }

    #[test]
    fn delta_events_merge_into_their_customers() {
        let base = columns(&[(1, 10, 0), (1, 30, 0), (3, 5, 0)]);
        let delta = columns(&[(1, 20, 1), (2, 7, 1), (4, 1, 1)]);
        let index = Index::new(base, delta);
        assert_eq!((index.customer_count(), index.event_count()), (4, 6));
        let mut seen = Vec::new();
        index.for_each_customer(0..index.customer_count(), |c| {
            // Each event's property set travels with it.
            assert!(c.events.iter().zip(c.props).all(|(e, p)| *e as u32 == *p));
            seen.push((c.id, c.ts_us.to_vec(), c.events.to_vec()))
        });
        assert_eq!(
            seen,
            vec![
                (1, vec![10, 20, 30], vec![0, 1, 0]),
                (3, vec![5], vec![0]),
                (2, vec![7], vec![1]),
                (4, vec![1], vec![1])
            ]
        );
        // Folding gives the same customers and events as one set of columns, by customer id.
        let folded = Index::from_columns(index.fold());
        let mut again = Vec::new();
        folded
            .for_each_customer(0..folded.customer_count(), |c| again.push((c.id, c.ts_us.to_vec(), c.events.to_vec())));
        seen.sort();
        assert_eq!(again, seen);
        // A sub-range starts at the right pair.
        let mut part = Vec::new();
        index.for_each_customer(1..2, |c| part.push(c.id));
        assert_eq!(part, vec![3]);
        assert_eq!(index.time_range(), Some((1, 30)));
        assert_eq!(index.time_range_within(2, 25), Some((5, 20)));
        assert_eq!(index.time_range_within(11, 19), None);
    }
}
