//! Retention: cohorts by the bucket (day, week or month) of a customer's first matching event, and
//! for each later bucket whether the customer returned.
//!
//! A customer's cohort is the bucket of their first cohort event (any event: first seen). Period 0
//! is the whole cohort; the customer counts in period p > 0 when they did a return event (any
//! event by default) in bucket cohort + p. With both "any", this is the reference definition.

use crate::calendar::{Calendar, Granularity};
use crate::index::Index;
use crate::parallel;

/// A retention query.
#[derive(Clone, Debug)]
pub struct RetentionQuery {
    /// Bucket size.
    pub granularity: Granularity,
    /// The event that puts a customer in a cohort; `None`: any event (first seen).
    pub cohort_event: Option<u16>,
    /// The event that counts as a return; `None`: any event.
    pub return_event: Option<u16>,
}

/// One non-empty cell of the cohort × period matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionCell {
    /// The cohort's bucket (see [`Calendar::bucket`]).
    pub cohort: i64,
    /// Buckets since the cohort's.
    pub period: i64,
    /// Customers of the cohort who count in that period.
    pub customers: u64,
}

/// Returns the non-empty cells, by cohort then period.
pub fn retention(index: &Index, calendar: &Calendar, query: &RetentionQuery) -> Vec<RetentionCell> {
    let Some((from, to)) = index.time_range() else { return Vec::new() };
    let g = query.granularity;
    let first = calendar.bucket(from, g);
    let width = (calendar.bucket(to, g) - first + 1) as usize;
    let parts = parallel::over_slots(index.customer_count(), |range| {
        // matrix[cohort - first][period]
        let mut matrix = vec![0u64; width * width];
        index.for_each_customer(range, |customer| {
            let (ts, events) = (customer.ts_us, customer.events);
            let start = match query.cohort_event {
                None => 0,
                Some(event) => match events.iter().position(|e| *e == event) {
                    Some(i) => i,
                    None => return,
                },
            };
            let cohort = calendar.bucket(ts[start], g);
            let row = ((cohort - first) as usize) * width;
            matrix[row] += 1;
            let mut last_period = 0;
            let mut i = start;
            while i < ts.len() {
                if query.return_event.is_some_and(|e| e != events[i]) {
                    i += 1;
                    continue;
                }
                let period = calendar.bucket(ts[i], g) - cohort;
                if period != last_period {
                    matrix[row + period as usize] += 1;
                    last_period = period;
                }
                i += 1;
            }
        });
        matrix
    });
    let mut matrix = vec![0u64; width * width];
    for part in parts {
        for (total, n) in matrix.iter_mut().zip(part) {
            *total += n;
        }
    }
    let mut cells = Vec::new();
    for c in 0..width {
        for p in 0..width - c {
            let customers = matrix[c * width + p];
            if customers > 0 {
                cells.push(RetentionCell { cohort: first + c as i64, period: p as i64, customers });
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_US;
    use crate::columns::{EventColumnsBuilder, RawEvent};

    fn columns(events: &[(i64, i64, u16)]) -> Index {
        let mut builder = EventColumnsBuilder::default();
        for (customer, day, event) in events {
            builder.push(RawEvent {
                customer: *customer,
                ts_us: day * DAY_US + 1,
                event: *event,
                order_cents: None,
                props: 0,
            });
        }
        Index::from_columns(builder.build())
    }

    #[test]
    fn customers_count_once_per_period_and_always_in_their_cohort() {
        // Day 4 of 1970 is Monday 1970-01-05; day 10 the Sunday of that week.
        let data = columns(&[(1, 4, 0), (1, 5, 1), (1, 12, 1), (1, 13, 1), (2, 6, 0), (2, 25, 1), (3, 10, 0)]);
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 30 * DAY_US);
        let query = RetentionQuery { granularity: Granularity::Week, cohort_event: None, return_event: None };
        let cells: Vec<(i64, i64, u64)> =
            retention(&data, &calendar, &query).iter().map(|c| (c.cohort, c.period, c.customers)).collect();
        let monday = calendar.bucket(4 * DAY_US, Granularity::Week);
        assert_eq!(cells, vec![(monday, 0, 3), (monday, 1, 1), (monday, 3, 1)]);
    }

    #[test]
    fn cohort_and_return_events_can_be_chosen() {
        let data = columns(&[(1, 0, 1), (1, 1, 0), (1, 2, 1), (1, 3, 2), (2, 0, 0), (2, 1, 2)]);
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 10 * DAY_US);
        let query = RetentionQuery { granularity: Granularity::Day, cohort_event: Some(0), return_event: Some(2) };
        let cells: Vec<(i64, i64, u64)> =
            retention(&data, &calendar, &query).iter().map(|c| (c.cohort, c.period, c.customers)).collect();
        assert_eq!(cells, vec![(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 2, 1)]);
    }
}
