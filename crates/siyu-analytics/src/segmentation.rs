//! Event segmentation: per time bucket, how often an event happened, how many customers did it,
//! the sum of a numeric property (and, for orders, the revenue), over a range of buckets; each
//! series optionally filtered by properties, all optionally broken down by one property.

use crate::calendar::{Calendar, Granularity};
use crate::index::Index;
use crate::{MAX_SEGMENTATION_BUCKETS, MAX_SEGMENTATION_CELLS, QueryError, parallel};
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
            self.revenue_cents[i] = self.revenue_cents[i].saturating_add(other.revenue_cents[i]);
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
/// id whose occurrences are orders (their revenue is summed). Events outside the buckets are
/// skipped. Refused: `last` before `first`, more than [`MAX_SEGMENTATION_BUCKETS`] buckets, or more
/// than [`MAX_SEGMENTATION_CELLS`] numbers (series × breakdown values seen × buckets).
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
) -> Result<Vec<Groups>, QueryError> {
    if last < first {
        return Err(QueryError::Invalid { field: "to", reason: "must not be before from".into() });
    }
    if last - first >= MAX_SEGMENTATION_BUCKETS {
        return Err(QueryError::Invalid {
            field: "period",
            reason: format!(
                "{} buckets are too many (at most {MAX_SEGMENTATION_BUCKETS}); use a coarser period or a shorter range",
                last.saturating_sub(first).saturating_add(1)
            ),
        });
    }
    let width = (last - first + 1) as usize;
    // Each (series, breakdown value) seen holds `width` numbers of each kind.
    let max_groups = MAX_SEGMENTATION_CELLS / width;
    let too_many = || QueryError::Invalid {
        field: if breakdown.is_some() { "breakdown" } else { "events" },
        reason: format!(
            "more than {MAX_SEGMENTATION_CELLS} numbers (series × values × buckets); use fewer values, a coarser \
             period or a shorter range"
        ),
    };
    if series.len() > max_groups {
        return Err(too_many());
    }
    let (from_us, to_us) =
        (calendar.bucket_start_us(first, granularity), calendar.bucket_start_us(last + 1, granularity));
    let max_event = series.iter().map(|s| s.event).max().unwrap_or(0) as usize;
    // Which series each event id feeds (an id listed twice feeds both).
    let mut series_of: Vec<Vec<usize>> = vec![Vec::new(); max_event + 1];
    for (i, s) in series.iter().enumerate() {
        series_of[s.event as usize].push(i);
    }
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut out: Vec<Groups> = series.iter().map(|_| Groups::new()).collect();
        // Groups held by this part; past `max_groups` the whole answer is refused, so stop growing.
        let (mut groups, mut overflow) = (0usize, false);
        // (series, group) pairs this customer already counted in the current bucket; events come in
        // time order, so buckets never go back.
        let mut counted: Vec<(usize, u32)> = Vec::new();
        index.for_each_customer(range, |customer| {
            let mut current_bucket = i64::MIN;
            let mut orders = customer.orders.iter().peekable();
            let begin = customer.ts_us.partition_point(|ts| *ts < from_us);
            for (i, (ts, event)) in customer.ts_us.iter().zip(customer.events).enumerate().skip(begin) {
                if *ts >= to_us {
                    break;
                }
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
                    if !out[*s].contains_key(&group) {
                        if groups == max_groups {
                            overflow = true;
                            continue;
                        }
                        groups += 1;
                    }
                    let numbers = out[*s].entry(group).or_insert_with(|| Series::empty(width));
                    numbers.counts[at] += 1;
                    numbers.revenue_cents[at] = numbers.revenue_cents[at].saturating_add(revenue);
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
        (out, overflow)
    });
    if parts.iter().any(|(_, overflow)| *overflow) {
        return Err(too_many());
    }
    let mut total: Vec<Groups> = series.iter().map(|_| Groups::new()).collect();
    for (part, _) in parts {
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
    if total.iter().map(Groups::len).sum::<usize>() > max_groups {
        return Err(too_many());
    }
    Ok(total)
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
        let series =
            segmentation(&index, &calendar, Granularity::Day, &[plain(0), plain(1)], None, Some(1), 0, 2).unwrap();
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
        let series =
            segmentation(&index, &calendar, Granularity::Day, &[query], Some(&by_category), None, 0, 0).unwrap();
        let (a, b) = (&series[0][&10], &series[0][&20]);
        assert_eq!((a.counts[0], a.customers[0], a.sums[0], a.measured[0]), (2, 1, 2.0, 1));
        assert_eq!((b.counts[0], b.customers[0], b.sums[0], b.measured[0]), (3, 2, 15.0, 3));
        // Only set 2 passes a filter: customer 1 once, customer 2 twice.
        let only_b = SeriesQuery { event: 0, sets: Some(vec![false, false, true, false]), measure: None };
        let series = segmentation(&index, &calendar, Granularity::Day, &[only_b], None, None, 0, 0).unwrap();
        assert_eq!((series[0][&u32::MAX].counts[0], series[0][&u32::MAX].customers[0]), (3, 2));
    }

    #[test]
    fn segmentation_refuses_more_buckets_or_numbers_than_its_limits() {
        let mut builder = EventColumnsBuilder::default();
        // One event per customer, each with its own breakdown value, and events far outside the range.
        for customer in 0..600i64 {
            builder.push(RawEvent { customer, ts_us: 5, event: 0, order_cents: None, props: customer as u32 });
        }
        for ts_us in [i64::MIN, -62_135_596_800_000_000, i64::MAX] {
            builder.push(RawEvent { customer: 1, ts_us, event: 0, order_cents: Some(i64::MAX), props: 1 });
        }
        let index = Index::from_columns(builder.build());
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, DAY_US);
        let plain = [SeriesQuery { event: 0, sets: None, measure: None }];
        let run = |breakdown: Option<&[u32]>, last: i64| {
            segmentation(&index, &calendar, Granularity::Day, &plain, breakdown, Some(0), 0, last)
        };
        let field = |result: Result<Vec<Groups>, QueryError>| match result {
            Err(QueryError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(field(run(None, MAX_SEGMENTATION_BUCKETS)), "period");
        assert_eq!(field(run(None, -1)), "to");
        let counts = run(None, MAX_SEGMENTATION_BUCKETS - 1).unwrap();
        assert_eq!(counts[0][&u32::MAX].counts.iter().sum::<u64>(), 600, "events outside the buckets are skipped");
        // 600 values × 1,000 buckets is more than the limit; over 10 buckets it fits.
        let values: Vec<u32> = (0..600).collect();
        assert_eq!(field(run(Some(&values), MAX_SEGMENTATION_BUCKETS - 1)), "breakdown");
        assert_eq!(run(Some(&values), 9).unwrap()[0].len(), 600);
    }
}
