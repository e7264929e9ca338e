//! Event segmentation: per time bucket, how often an event happened, how many customers did it,
//! the sum of a numeric property (and, for orders, the revenue), over a range of buckets; each
//! series optionally filtered by properties, all optionally broken down by one property.

use crate::calendar::{Calendar, Granularity};
use crate::index::Index;
use crate::parallel;
use std::collections::HashMap;

/// One series to compute.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesQuery {
    /// The event id.
    pub event: u16,
    /// Per property set, whether its events count (`None`: all do).
    pub sets: Option<Vec<bool>>,
    /// Per property set, the number summed for its events (`NaN`: none); `None` without a measure.
    pub measure: Option<Vec<f64>>,
}

/// One series' numbers, per bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Events per bucket.
    pub counts: Vec<u64>,
    /// Distinct customers per bucket.
    pub customers: Vec<u64>,
    /// Order revenue (cents) per bucket; all zero unless the event is the order event.
    pub revenue_cents: Vec<i64>,
    /// Sum of the measured property per bucket.
    pub sums: Vec<f64>,
    /// Events that had the measured property (as a number), per bucket: the divisor of an average.
    pub measured: Vec<u64>,
}

impl Series {
    /// Returns a series of zeros over `width` buckets.
    pub fn empty(width: usize) -> Self {
        Self {
            counts: vec![0; width],
            customers: vec![0; width],
            revenue_cents: vec![0; width],
            sums: vec![0.0; width],
            measured: vec![0; width],
        }
    }

    fn add(&mut self, other: &Series) {
        for i in 0..self.counts.len() {
            self.counts[i] += other.counts[i];
            self.customers[i] += other.customers[i];
            self.revenue_cents[i] += other.revenue_cents[i];
            self.sums[i] += other.sums[i];
            self.measured[i] += other.measured[i];
        }
    }
}

/// Per series, its numbers by breakdown value id (`u32::MAX`: the property is absent, or there is no
/// breakdown).
pub type Groups = HashMap<u32, Series>;

/// Returns, for each series, its numbers over buckets `first..=last` (see [`Calendar::bucket`]), by
/// the value of `breakdown` (per property set: a value id, `u32::MAX` for none). `order_event` is the
/// id whose occurrences are orders (their revenue is summed).
#[allow(clippy::too_many_arguments)]
pub fn segmentation(
    index: &Index,
    calendar: &Calendar,
    granularity: Granularity,
    series: &[SeriesQuery],
    breakdown: Option<&[u32]>,
    order_event: Option<u16>,
    first: i64,
    last: i64,
) -> Vec<Groups> {
    let width = (last - first + 1).max(0) as usize;
    if width == 0 {
        return series.iter().map(|_| Groups::new()).collect();
    }
    let max_event = series.iter().map(|s| s.event).max().unwrap_or(0) as usize;
    // Which series each event id feeds (an id listed twice feeds both).
    let mut series_of: Vec<Vec<usize>> = vec![Vec::new(); max_event + 1];
    for (i, s) in series.iter().enumerate() {
        series_of[s.event as usize].push(i);
    }
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut out: Vec<Groups> = series.iter().map(|_| Groups::new()).collect();
        // (series, group) pairs this customer already counted in the current bucket; events come in
        // time order, so buckets never go back.
        let mut counted: Vec<(usize, u32)> = Vec::new();
        index.for_each_customer(range, |customer| {
            let mut current_bucket = i64::MIN;
            let mut orders = customer.orders.iter().peekable();
            for (i, (ts, event)) in customer.ts_us.iter().zip(customer.events).enumerate() {
                let Some(targets) = series_of.get(*event as usize).filter(|t| !t.is_empty()) else { continue };
                let bucket = calendar.bucket(*ts, granularity);
                if bucket < first || bucket > last {
                    continue;
                }
                if bucket != current_bucket {
                    current_bucket = bucket;
                    counted.clear();
                }
                let at = (bucket - first) as usize;
                let set = customer.props[i] as usize;
                let revenue = if Some(*event) == order_event {
                    // Orders are the order events in the same time order.
                    while orders.next_if(|o| o.ts_us < *ts).is_some() {}
                    orders.next_if(|o| o.ts_us == *ts).map_or(0, |o| o.cents)
                } else {
                    0
                };
                let group = breakdown.map_or(u32::MAX, |b| b[set]);
                for s in targets {
                    let query = &series[*s];
                    if query.sets.as_ref().is_some_and(|ok| !ok[set]) {
                        continue;
                    }
                    let numbers = out[*s].entry(group).or_insert_with(|| Series::empty(width));
                    numbers.counts[at] += 1;
                    numbers.revenue_cents[at] += revenue;
                    if let Some(value) = query.measure.as_ref().map(|m| m[set]).filter(|v| !v.is_nan()) {
                        numbers.sums[at] += value;
                        numbers.measured[at] += 1;
                    }
                    if !counted.contains(&(*s, group)) {
                        counted.push((*s, group));
                        numbers.customers[at] += 1;
                    }
                }
            }
        });
        out
    });
    let mut total: Vec<Groups> = series.iter().map(|_| Groups::new()).collect();
    for part in parts {
        for (sum, groups) in total.iter_mut().zip(part) {
            for (group, numbers) in groups {
                match sum.get_mut(&group) {
                    Some(existing) => existing.add(&numbers),
                    None => {
                        sum.insert(group, numbers);
                    }
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_US;
    use crate::columns::{EventColumnsBuilder, RawEvent};

    #[test]
    fn counts_customers_and_revenue_per_day() {
        let mut builder = EventColumnsBuilder::default();
        let mut push = |customer, day: i64, event, order_cents| {
            builder.push(RawEvent { customer, ts_us: day * DAY_US + 5, event, order_cents, props: 0 })
        };
        push(1, 0, 0, None);
        push(1, 0, 0, None);
        push(2, 0, 0, None);
        push(1, 1, 1, Some(500));
        push(2, 2, 1, Some(250));
        push(2, 2, 1, Some(100));
        let index = Index::from_columns(builder.build());
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 3 * DAY_US);
        let plain = |event| SeriesQuery { event, sets: None, measure: None };
        let series = segmentation(&index, &calendar, Granularity::Day, &[plain(0), plain(1)], None, Some(1), 0, 2);
        let (first, second) = (&series[0][&u32::MAX], &series[1][&u32::MAX]);
        assert_eq!(first.counts, vec![3, 0, 0]);
        assert_eq!(first.customers, vec![2, 0, 0]);
        assert_eq!(second.counts, vec![0, 1, 2]);
        assert_eq!(second.customers, vec![0, 1, 1]);
        assert_eq!(second.revenue_cents, vec![0, 500, 350]);
    }

    #[test]
    fn filters_measures_and_breakdowns_work_per_property_set() {
        let mut builder = EventColumnsBuilder::default();
        // Set 1: {category: a, price: 2}; set 2: {category: b, price: 5}; set 3: {category: a}.
        for (customer, props) in [(1, 1), (1, 2), (1, 3), (2, 2), (2, 2)] {
            builder.push(RawEvent { customer, ts_us: 5, event: 0, order_cents: None, props });
        }
        let index = Index::from_columns(builder.build());
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, DAY_US);
        let query = SeriesQuery {
            event: 0,
            sets: Some(vec![false, true, true, true]),
            measure: Some(vec![f64::NAN, 2.0, 5.0, f64::NAN]),
        };
        let by_category = [u32::MAX, 10, 20, 10];
        let series = segmentation(&index, &calendar, Granularity::Day, &[query], Some(&by_category), None, 0, 0);
        let (a, b) = (&series[0][&10], &series[0][&20]);
        assert_eq!((a.counts[0], a.customers[0], a.sums[0], a.measured[0]), (2, 1, 2.0, 1));
        assert_eq!((b.counts[0], b.customers[0], b.sums[0], b.measured[0]), (3, 2, 15.0, 3));
        // Only set 2 passes a filter: customer 1 once, customer 2 twice.
        let only_b = SeriesQuery { event: 0, sets: Some(vec![false, false, true, false]), measure: None };
        let series = segmentation(&index, &calendar, Granularity::Day, &[only_b], None, None, 0, 0);
        assert_eq!((series[0][&u32::MAX].counts[0], series[0][&u32::MAX].customers[0]), (3, 2));
    }
}
