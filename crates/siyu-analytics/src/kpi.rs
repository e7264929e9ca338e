//! Workspace KPIs as of one local day: active customers (DAU/WAU/MAU), new customers, D1/D7/D30
//! retention, repurchase rate, GMV and ARPU, and counts of named events for message and coupon rates;
//! daily active customers over a range of days, and the latest day with customer activity.
//!
//! Activity is what customers did: passive events ([`Passive`]: siyu's own `Segment Entered`, a
//! message the brand sent) make nobody active, new or retained.

use crate::calendar::Calendar;
use crate::index::Index;
use crate::{Passive, parallel};

/// Raw KPI counts as of day `as_of_day` (local days since 1970-01-01).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KpiCounts {
    /// Customers with an event on the day.
    pub dau: u64,
    /// Customers with an event in the 7 days ending on the day.
    pub wau: u64,
    /// Customers with an event in the 30 days ending on the day.
    pub mau: u64,
    /// Customers first seen on the day.
    pub new_1d: u64,
    /// Customers first seen in the 7 days ending on the day.
    pub new_7d: u64,
    /// Customers first seen in the 30 days ending on the day.
    pub new_30d: u64,
    /// For N = 1, 7, 30: customers first seen N days before the day.
    pub cohort: [u64; 3],
    /// For N = 1, 7, 30: of those, customers with an event on the day.
    pub retained: [u64; 3],
    /// Customers with at least one order, ever (up to the day).
    pub buyers: u64,
    /// Customers with at least two orders.
    pub repeat_buyers: u64,
    /// Order revenue in the 30 days ending on the day, cents.
    pub gmv_30d_cents: i64,
    /// Orders in the 30 days ending on the day.
    pub orders_30d: u64,
    /// Occurrences, in the 30 days ending on the day, of each event in `counted`.
    pub counted_30d: Vec<u64>,
}

/// The retention horizons, in days.
pub const RETENTION_DAYS: [i64; 3] = [1, 7, 30];

/// Returns the KPI counts as of `as_of_day`; events after that day are ignored, and so are events
/// more than 30 days before it, except that a customer's first active event tells whether they are
/// new. The work is one binary search per customer plus the events of the 31 days (and the passive
/// events before a customer's first active one), whatever the data's range. `counted` events are
/// counted whether passive or not.
pub fn kpis(index: &Index, calendar: &Calendar, as_of_day: i64, counted: &[u16], passive: &Passive) -> KpiCounts {
    let window_start_us = calendar.day_start_us(as_of_day - 30);
    let end_us = calendar.day_start_us(as_of_day + 1);
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut k = KpiCounts { counted_30d: vec![0; counted.len()], ..Default::default() };
        index.for_each_customer(range, |customer| {
            let Some(any_ts) = customer.ts_us.first().copied() else { return };
            if any_ts >= end_us {
                return;
            }
            // Days from first seen (first active event) to the day; only the last 31 days matter.
            // A customer never active still counts their named events (messages sent to them).
            let first_ts = customer.events.iter().position(|e| !passive.contains(*e)).map(|i| customer.ts_us[i]);
            let first_ago = match first_ts {
                Some(ts) if ts >= window_start_us && ts < end_us => as_of_day - calendar.day(ts),
                _ => i64::MAX,
            };
            let (mut on_day, mut in_7, mut in_30) = (false, false, false);
            let begin = customer.ts_us.partition_point(|ts| *ts < window_start_us);
            for (ts, event) in customer.ts_us[begin..].iter().zip(&customer.events[begin..]) {
                if *ts >= end_us {
                    break;
                }
                let ago = as_of_day - calendar.day(*ts);
                if !passive.contains(*event) {
                    on_day |= ago == 0;
                    in_7 |= ago < 7;
                    in_30 |= ago < 30;
                }
                if ago < 30 {
                    for (i, c) in counted.iter().enumerate() {
                        if c == event {
                            k.counted_30d[i] += 1;
                        }
                    }
                }
            }
            k.dau += u64::from(on_day);
            k.wau += u64::from(in_7);
            k.mau += u64::from(in_30);
            k.new_1d += u64::from(first_ago == 0);
            k.new_7d += u64::from(first_ago < 7);
            k.new_30d += u64::from(first_ago < 30);
            for (i, n) in RETENTION_DAYS.iter().enumerate() {
                if first_ago == *n {
                    k.cohort[i] += 1;
                    k.retained[i] += u64::from(on_day);
                }
            }
            let orders = &customer.orders[..customer.orders.partition_point(|o| o.ts_us < end_us)];
            let recent = orders.partition_point(|o| o.ts_us < window_start_us);
            for order in &orders[recent..] {
                if as_of_day - calendar.day(order.ts_us) < 30 {
                    k.gmv_30d_cents = k.gmv_30d_cents.saturating_add(order.cents);
                    k.orders_30d += 1;
                }
            }
            k.buyers += u64::from(!orders.is_empty());
            k.repeat_buyers += u64::from(orders.len() >= 2);
        });
        k
    });
    let mut total = KpiCounts { counted_30d: vec![0; counted.len()], ..Default::default() };
    for p in parts {
        total.dau += p.dau;
        total.wau += p.wau;
        total.mau += p.mau;
        total.new_1d += p.new_1d;
        total.new_7d += p.new_7d;
        total.new_30d += p.new_30d;
        for i in 0..3 {
            total.cohort[i] += p.cohort[i];
            total.retained[i] += p.retained[i];
        }
        total.buyers += p.buyers;
        total.repeat_buyers += p.repeat_buyers;
        total.gmv_30d_cents = total.gmv_30d_cents.saturating_add(p.gmv_30d_cents);
        total.orders_30d += p.orders_30d;
        for (sum, n) in total.counted_30d.iter_mut().zip(p.counted_30d) {
            *sum += n;
        }
    }
    total
}

/// Returns, for each local day from `first_day` to `last_day`, the customers with an active event on
/// it (the `dau` of [`kpis`] for that day). The days are bounded by the caller (at most a few
/// hundred); events outside them are skipped by a binary search.
pub fn daily_active(index: &Index, calendar: &Calendar, first_day: i64, last_day: i64, passive: &Passive) -> Vec<u64> {
    let width = usize::try_from(last_day.saturating_sub(first_day).saturating_add(1)).unwrap_or(0);
    let (from_us, to_us) = (calendar.day_start_us(first_day), calendar.day_start_us(last_day.saturating_add(1)));
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut days = vec![0u64; width];
        index.for_each_customer(range, |customer| {
            let begin = customer.ts_us.partition_point(|ts| *ts < from_us);
            let mut last_counted = None;
            for (ts, event) in customer.ts_us[begin..].iter().zip(&customer.events[begin..]) {
                if *ts >= to_us {
                    break;
                }
                if passive.contains(*event) {
                    continue;
                }
                let day = calendar.day(*ts);
                if last_counted != Some(day)
                    && let Some(slot) = usize::try_from(day - first_day).ok().and_then(|i| days.get_mut(i))
                {
                    *slot += 1;
                    last_counted = Some(day);
                }
            }
        });
        days
    });
    let mut total = vec![0u64; width];
    for part in parts {
        for (sum, n) in total.iter_mut().zip(part) {
            *sum += n;
        }
    }
    total
}

/// Returns the latest instant, in `lo..hi`, of an active event: a customer's events are read
/// backwards from `hi` until the first active one.
pub fn latest_active(index: &Index, lo: i64, hi: i64, passive: &Passive) -> Option<i64> {
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut latest = None;
        index.for_each_customer(range, |customer| {
            let (begin, end) =
                (customer.ts_us.partition_point(|t| *t < lo), customer.ts_us.partition_point(|t| *t < hi));
            let found = (begin..end).rev().find(|i| !passive.contains(customer.events[*i]));
            if let Some(i) = found {
                latest = latest.max(Some(customer.ts_us[i]));
            }
        });
        latest
    });
    parts.into_iter().flatten().max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_US;
    use crate::columns::{EventColumnsBuilder, RawEvent};

    #[test]
    fn kpis_count_activity_cohorts_and_orders() {
        let mut builder = EventColumnsBuilder::default();
        let mut push = |customer, day: i64, event, order_cents| {
            builder.push(RawEvent { customer, ts_us: day * DAY_US + 60, event, order_cents, props: 0 })
        };
        // Customer 1: first seen day 0, back on day 30 (the as-of day) with a second order.
        push(1, 0, 0, None);
        push(1, 0, 1, Some(1_000));
        push(1, 30, 1, Some(2_000));
        // Customer 2: first seen day 29, one message opened on day 29.
        push(2, 29, 2, None);
        // Customer 3: first seen day 23; active on day 30.
        push(3, 23, 0, None);
        push(3, 30, 0, None);
        // Customer 4: only after the as-of day.
        push(4, 31, 0, None);
        // Customer 5: seen in year 1 and at the ends of time; an order of year -5000 counts as a buyer's.
        for ts_us in [i64::MIN, -219_927_974_400_000_000, -62_135_596_800_000_000, i64::MAX] {
            builder.push(RawEvent { customer: 5, ts_us, event: 0, order_cents: Some(i64::MAX), props: 0 });
        }
        let index = Index::from_columns(builder.build());
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 40 * DAY_US);
        let k = kpis(&index, &calendar, 30, &[2], &Passive::default());
        assert_eq!((k.dau, k.wau, k.mau), (2, 3, 3));
        assert_eq!((k.new_1d, k.new_7d, k.new_30d), (0, 1, 2));
        assert_eq!(k.cohort, [1, 1, 1]);
        assert_eq!(k.retained, [0, 1, 1]);
        assert_eq!((k.buyers, k.repeat_buyers), (2, 2));
        assert_eq!((k.gmv_30d_cents, k.orders_30d), (2_000, 1));
        assert_eq!(k.counted_30d, vec![1]);
    }

    #[test]
    fn passive_events_make_nobody_active_new_or_retained() {
        const VIEW: u16 = 0;
        const ENTERED: u16 = 1;
        let mut builder = EventColumnsBuilder::default();
        let mut push = |customer, day: i64, event| {
            builder.push(RawEvent { customer, ts_us: day * DAY_US + 60, event, order_cents: None, props: 0 })
        };
        // Customer 1: entered a segment on days 9 and 10, first active on day 10.
        push(1, 9, ENTERED);
        push(1, 10, ENTERED);
        push(1, 10, VIEW);
        // Customer 2: active on day 2 and 9; entered a segment on day 10 only.
        push(2, 2, VIEW);
        push(2, 9, VIEW);
        push(2, 10, ENTERED);
        // Customer 3: never active.
        push(3, 10, ENTERED);
        let index = Index::from_columns(builder.build());
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, 0, 20 * DAY_US);
        let passive = Passive::of([ENTERED]);
        let k = kpis(&index, &calendar, 10, &[ENTERED], &passive);
        assert_eq!((k.dau, k.wau, k.mau), (1, 2, 2));
        assert_eq!((k.new_1d, k.new_7d, k.new_30d), (1, 1, 2));
        assert_eq!((k.cohort, k.retained), ([0, 0, 0], [0, 0, 0]));
        assert_eq!(k.counted_30d, vec![4], "named events are counted even when passive");
        let everything = kpis(&index, &calendar, 10, &[], &Passive::default());
        assert_eq!((everything.dau, everything.new_1d), (3, 1));
        assert_eq!(daily_active(&index, &calendar, 8, 10, &passive), vec![0, 1, 1]);
        assert_eq!(daily_active(&index, &calendar, 8, 10, &Passive::default()), vec![0, 2, 3]);
        assert_eq!(latest_active(&index, 0, 10 * DAY_US, &passive), Some(9 * DAY_US + 60));
        assert_eq!(latest_active(&index, 0, 20 * DAY_US, &passive), Some(10 * DAY_US + 60));
        assert_eq!(latest_active(&index, 0, 2 * DAY_US, &passive), None);
    }
}
