//! Retention: cohorts by the bucket (day, week or month) of a customer's first matching event, and
//! for each later bucket whether the customer returned.
//!
//! A customer's cohort is the bucket of their first cohort event (any active event: first seen).
//! Period 0 is the whole cohort; the customer counts in period p > 0 when they did a return event
//! (any active event by default) in bucket cohort + p. With both "any" and nothing passive, this
//! is the reference definition. "Any" skips the query's passive events (siyu's bookkeeping, messages
//! the brand sent); an event named as cohort or return event counts even when passive.
//!
//! The query names its cohorts (`first..=last`, at most [`MAX_RETENTION_BUCKETS`]); the matrix is
//! sized from them alone. A customer whose cohort event falls outside them is skipped, and returns
//! after `last` are not counted, so an event of any time, however far off, costs nothing.

use crate::calendar::{Calendar, Granularity};
use crate::index::Index;
use crate::{MAX_RETENTION_BUCKETS, Passive, QueryError, parallel};

/// A retention query.
#[derive(Clone, Debug)]
pub struct RetentionQuery {
    /// Bucket size.
    pub granularity: Granularity,
    /// The event that puts a customer in a cohort; `None`: any event (first seen).
    pub cohort_event: Option<u16>,
    /// The event that counts as a return; `None`: any event.
    pub return_event: Option<u16>,
    /// The first cohort's bucket (see [`Calendar::bucket`]).
    pub first: i64,
    /// The last cohort's bucket, also the last bucket a return counts in.
    pub last: i64,
    /// Events that "any event" does not count.
    pub passive: Passive,
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

/// Returns the non-empty cells, by cohort then period, or why the cohorts were refused (more than
/// [`MAX_RETENTION_BUCKETS`], or `last` before `first`).
pub fn retention(index: &Index, calendar: &Calendar, query: &RetentionQuery) -> Result<Vec<RetentionCell>, QueryError> {
    let (g, first, last) = (query.granularity, query.first, query.last);
    if last < first {
        return Err(QueryError::Invalid { field: "to", reason: "must not be before from".into() });
    }
    if last - first >= MAX_RETENTION_BUCKETS {
        return Err(QueryError::Invalid {
            field: "period",
            reason: format!(
                "{} cohorts are too many (at most {MAX_RETENTION_BUCKETS}); use a coarser period or a shorter range",
                last.saturating_sub(first).saturating_add(1)
            ),
        });
    }
    let width = (last - first + 1) as usize;
    let (from_us, to_us) = (calendar.bucket_start_us(first, g), calendar.bucket_start_us(last + 1, g));
    // Cohort c has periods 0..width - c: the matrix is a triangle, row c starting at row_start(c).
    let row_start = |c: usize| c * width - c * c.saturating_sub(1) / 2;
    let cells = row_start(width);
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut matrix = vec![0u64; cells];
        index.for_each_customer(range, |customer| {
            let (ts, events) = (customer.ts_us, customer.events);
            let start = match query.cohort_event {
                None => match events.iter().position(|e| !query.passive.contains(*e)) {
                    Some(i) => i,
                    None => return,
                },
                Some(event) => match events.iter().position(|e| *e == event) {
                    Some(i) => i,
                    None => return,
                },
            };
            if ts[start] < from_us || ts[start] >= to_us {
                return;
            }
            let cohort = calendar.bucket(ts[start], g);
            let Some(c) = usize::try_from(cohort - first).ok().filter(|c| *c < width) else { return };
            let (row, periods) = (row_start(c), width - c);
            matrix[row] += 1;
            let mut last_period = 0;
            for (at, event) in ts[start..].iter().zip(&events[start..]) {
                if *at >= to_us {
                    break;
                }
                let returns = match query.return_event {
                    None => !query.passive.contains(*event),
                    Some(e) => e == *event,
                };
                if !returns {
                    continue;
                }
                let period = calendar.bucket(*at, g) - cohort;
                if period != last_period && (1..periods as i64).contains(&period) {
                    matrix[row + period as usize] += 1;
                    last_period = period;
                }
            }
        });
        matrix
    });
    let mut matrix = vec![0u64; cells];
    for part in parts {
        for (total, n) in matrix.iter_mut().zip(part) {
            *total += n;
        }
    }
    let mut found = Vec::new();
    for c in 0..width {
        for p in 0..width - c {
            let customers = matrix[row_start(c) + p];
            if customers > 0 {
                found.push(RetentionCell { cohort: first + c as i64, period: p as i64, customers });
            }
        }
    }
    Ok(found)
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
        let monday = calendar.bucket(4 * DAY_US, Granularity::Week);
        let query = RetentionQuery {
            granularity: Granularity::Week,
            cohort_event: None,
            return_event: None,
            first: monday,
            last: monday + 4,
            passive: Passive::default(),
        };
        let cells: Vec<(i64, i64, u64)> =
            retention(&data, &calendar, &query).unwrap().iter().map(|c| (c.cohort, c.period, c.customers)).collect();
        assert_eq!(cells, vec![(monday, 0, 3), (monday, 1, 1), (monday, 3, 1)]);
    }

    #[test]
    fn cohort_and_return_events_can_be_chosen() {
        let data = columns(&[(1, 0, 1), (1, 1, 0), (1, 2, 1), (1, 3, 2), (2, 0, 0), (2, 1, 2)]);
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 10 * DAY_US);
        let query = RetentionQuery {
            granularity: Granularity::Day,
            cohort_event: Some(0),
            return_event: Some(2),
            first: 0,
            last: 3,
            passive: Passive::default(),
        };
        let cells: Vec<(i64, i64, u64)> =
            retention(&data, &calendar, &query).unwrap().iter().map(|c| (c.cohort, c.period, c.customers)).collect();
        assert_eq!(cells, vec![(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 2, 1)]);
    }

    #[test]
    fn retention_is_sized_by_its_cohorts_and_skips_events_outside_them() {
        // Customer 1 is first seen in year 1, customer 2 in year -5000 and customer 3 on day 1 of 1970;
        // all come back on day 2 and in year 9999.
        let ancient = -62_135_596_800_000_000;
        let older = -219_927_974_400_000_000;
        let far = 253_402_214_400_000_000;
        let mut builder = EventColumnsBuilder::default();
        for (customer, ts_us) in [(1, ancient), (1, 2 * DAY_US), (1, far), (2, older), (2, 2 * DAY_US)] {
            builder.push(RawEvent { customer, ts_us, event: 0, order_cents: None, props: 0 });
        }
        for (customer, ts_us) in [(3, DAY_US), (3, 2 * DAY_US), (3, far), (4, i64::MIN), (4, i64::MAX)] {
            builder.push(RawEvent { customer, ts_us, event: 0, order_cents: None, props: 0 });
        }
        let data = Index::from_columns(builder.build());
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 10 * DAY_US);
        let query = |first, last| RetentionQuery {
            granularity: Granularity::Day,
            cohort_event: None,
            return_event: None,
            first,
            last,
            passive: Passive::default(),
        };
        let cells: Vec<(i64, i64, u64)> = retention(&data, &calendar, &query(0, 9))
            .unwrap()
            .iter()
            .map(|c| (c.cohort, c.period, c.customers))
            .collect();
        assert_eq!(cells, vec![(1, 0, 1), (1, 1, 1)]);
        let too_many = retention(&data, &calendar, &query(0, MAX_RETENTION_BUCKETS));
        assert!(matches!(too_many, Err(QueryError::Invalid { field: "period", .. })));
        assert!(retention(&data, &calendar, &query(0, MAX_RETENTION_BUCKETS - 1)).is_ok());
        let backwards = retention(&data, &calendar, &query(5, 4));
        assert!(matches!(backwards, Err(QueryError::Invalid { field: "to", .. })));
    }

    #[test]
    fn any_event_skips_passive_events_but_a_named_one_counts() {
        // Event 9 is passive: customer 1 enters a segment on day 0, acts on day 1 and 3, enters on day 2.
        let data = columns(&[(1, 0, 9), (1, 1, 0), (1, 2, 9), (1, 3, 0), (2, 0, 9)]);
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 10 * DAY_US);
        let mut query = RetentionQuery {
            granularity: Granularity::Day,
            cohort_event: None,
            return_event: None,
            first: 0,
            last: 3,
            passive: Passive::of([9]),
        };
        let cells = |query: &RetentionQuery| -> Vec<(i64, i64, u64)> {
            retention(&data, &calendar, query).unwrap().iter().map(|c| (c.cohort, c.period, c.customers)).collect()
        };
        assert_eq!(cells(&query), vec![(1, 0, 1), (1, 2, 1)]);
        query.cohort_event = Some(9);
        assert_eq!(cells(&query), vec![(0, 0, 2), (0, 1, 1), (0, 3, 1)]);
        query.return_event = Some(9);
        assert_eq!(cells(&query), vec![(0, 0, 2), (0, 2, 1)]);
    }
}
