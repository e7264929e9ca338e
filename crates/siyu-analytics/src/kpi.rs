//! Workspace KPIs as of one local day: active customers (DAU/WAU/MAU), new customers, D1/D7/D30
//! retention, repurchase rate, GMV and ARPU, and counts of named events for message and coupon rates.

use crate::calendar::Calendar;
use crate::index::Index;
use crate::parallel;

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
/// more than 30 days before it, except that a customer's first event tells whether they are new.
/// The work is one binary search per customer plus the events of the 31 days, whatever the data's
/// range.
pub fn kpis(index: &Index, calendar: &Calendar, as_of_day: i64, counted: &[u16]) -> KpiCounts {
    let window_start_us = calendar.day_start_us(as_of_day - 30);
    let end_us = calendar.day_start_us(as_of_day + 1);
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut k = KpiCounts { counted_30d: vec![0; counted.len()], ..Default::default() };
        index.for_each_customer(range, |customer| {
            let Some(first_ts) = customer.ts_us.first().copied() else { return };
            if first_ts >= end_us {
                return;
            }
            // Days from first seen to the day; only the last 31 days matter.
            let first_ago = if first_ts < window_start_us { i64::MAX } else { as_of_day - calendar.day(first_ts) };
            let (mut on_day, mut in_7, mut in_30) = (false, false, false);
            let begin = customer.ts_us.partition_point(|ts| *ts < window_start_us);
            for (ts, event) in customer.ts_us[begin..].iter().zip(&customer.events[begin..]) {
                if *ts >= end_us {
                    break;
                }
                let ago = as_of_day - calendar.day(*ts);
                on_day |= ago == 0;
                in_7 |= ago < 7;
                in_30 |= ago < 30;
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
        let k = kpis(&index, &calendar, 30, &[2]);
        assert_eq!((k.dau, k.wau, k.mau), (2, 3, 3));
        assert_eq!((k.new_1d, k.new_7d, k.new_30d), (0, 1, 2));
        assert_eq!(k.cohort, [1, 1, 1]);
        assert_eq!(k.retained, [0, 1, 1]);
        assert_eq!((k.buyers, k.repeat_buyers), (2, 2));
        assert_eq!((k.gmv_30d_cents, k.orders_30d), (2_000, 1));
        assert_eq!(k.counted_30d, vec![1]);
    }
}
