//! Event segmentation: per time bucket, how often an event happened and how many customers did it
//! (and, for orders, the revenue), over a range of buckets.

use crate::calendar::{Calendar, Granularity};
use crate::index::Index;
use crate::parallel;

/// One event's series.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Events per bucket.
    pub counts: Vec<u64>,
    /// Distinct customers per bucket.
    pub customers: Vec<u64>,
    /// Order revenue (cents) per bucket; all zero unless the event is the order event.
    pub revenue_cents: Vec<i64>,
}

/// Returns, for each of `events`, its series over buckets `first..=last` (see [`Calendar::bucket`]).
/// `order_event` is the id whose occurrences are orders (their revenue is summed).
pub fn segmentation(
    index: &Index,
    calendar: &Calendar,
    granularity: Granularity,
    events: &[u16],
    order_event: Option<u16>,
    first: i64,
    last: i64,
) -> Vec<Series> {
    let width = (last - first + 1).max(0) as usize;
    let empty = || Series { counts: vec![0; width], customers: vec![0; width], revenue_cents: vec![0; width] };
    if width == 0 {
        return events.iter().map(|_| empty()).collect();
    }
    let max_event = events.iter().copied().max().unwrap_or(0) as usize;
    // Which series each event id feeds (an id listed twice feeds both).
    let mut series_of: Vec<Vec<usize>> = vec![Vec::new(); max_event + 1];
    for (i, e) in events.iter().enumerate() {
        series_of[*e as usize].push(i);
    }
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut out: Vec<Series> = events.iter().map(|_| empty()).collect();
        let mut last_bucket = vec![-1i64; events.len()];
        index.for_each_customer(range, |customer| {
            last_bucket.iter_mut().for_each(|b| *b = -1);
            let mut orders = customer.orders.iter().peekable();
            for (ts, event) in customer.ts_us.iter().zip(customer.events) {
                let Some(targets) = series_of.get(*event as usize).filter(|t| !t.is_empty()) else { continue };
                let bucket = calendar.bucket(*ts, granularity);
                if bucket < first || bucket > last {
                    continue;
                }
                let at = (bucket - first) as usize;
                let revenue = if Some(*event) == order_event {
                    // Orders are the order events in the same time order.
                    while orders.next_if(|o| o.ts_us < *ts).is_some() {}
                    orders.next_if(|o| o.ts_us == *ts).map_or(0, |o| o.cents)
                } else {
                    0
                };
                for s in targets {
                    out[*s].counts[at] += 1;
                    out[*s].revenue_cents[at] += revenue;
                    if last_bucket[*s] != bucket {
                        out[*s].customers[at] += 1;
                        last_bucket[*s] = bucket;
                    }
                }
            }
        });
        out
    });
    let mut total: Vec<Series> = events.iter().map(|_| empty()).collect();
    for part in parts {
        for (sum, series) in total.iter_mut().zip(part) {
            for i in 0..width {
                sum.counts[i] += series.counts[i];
                sum.customers[i] += series.customers[i];
                sum.revenue_cents[i] += series.revenue_cents[i];
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
            builder.push(RawEvent { customer, ts_us: day * DAY_US + 5, event, order_cents })
        };
        push(1, 0, 0, None);
        push(1, 0, 0, None);
        push(2, 0, 0, None);
        push(1, 1, 1, Some(500));
        push(2, 2, 1, Some(250));
        push(2, 2, 1, Some(100));
        let index = Index::from_columns(builder.build());
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 3 * DAY_US);
        let series = segmentation(&index, &calendar, Granularity::Day, &[0, 1], Some(1), 0, 2);
        assert_eq!(series[0].counts, vec![3, 0, 0]);
        assert_eq!(series[0].customers, vec![2, 0, 0]);
        assert_eq!(series[1].counts, vec![0, 1, 2]);
        assert_eq!(series[1].customers, vec![0, 1, 1]);
        assert_eq!(series[1].revenue_cents, vec![0, 500, 350]);
    }
}
