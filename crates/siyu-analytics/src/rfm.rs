//! RFM inputs and quintile scores from each customer's orders.
//!
//! For every customer with at least one order: recency = whole days (24 h) from the last order to
//! `as_of` (by default the end of the data: the latest event), frequency = orders, monetary = the sum
//! of their revenue in cents. Each is scored 1..5 as `1 + floor(5 × (rank − 1) / n)`, with RANK()
//! (ties share the lowest rank) over recency descending, frequency and monetary ascending: the
//! reference definition, under which 5 is always best.

use crate::index::Index;
use crate::{DAY_US, parallel};

/// One customer's RFM inputs and scores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RfmRow {
    /// The customer.
    pub customer: i64,
    /// Whole days since the last order.
    pub recency_days: i64,
    /// Orders.
    pub frequency: i64,
    /// Revenue, cents.
    pub monetary_cents: i64,
    /// Recency score 1..5.
    pub r: u8,
    /// Frequency score 1..5.
    pub f: u8,
    /// Monetary score 1..5.
    pub m: u8,
}

/// Returns a row per customer with orders, in index order (see [`Index::for_each_customer`]).
pub fn rfm(index: &Index, as_of_us: Option<i64>) -> Vec<RfmRow> {
    let Some((_, end)) = index.time_range() else { return Vec::new() };
    let as_of = as_of_us.unwrap_or(end);
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut rows = Vec::new();
        index.for_each_customer(range, |customer| {
            let orders = customer.orders;
            let Some(last) = orders.last() else { return };
            rows.push(RfmRow {
                customer: customer.id,
                // Saturating: an order of any instant (legacy data) or amount cannot overflow.
                recency_days: as_of.saturating_sub(last.ts_us).div_euclid(DAY_US),
                frequency: orders.len() as i64,
                monetary_cents: orders.iter().fold(0i64, |sum, o| sum.saturating_add(o.cents)),
                r: 0,
                f: 0,
                m: 0,
            });
        });
        rows
    });
    let mut rows: Vec<RfmRow> = parts.into_iter().flatten().collect();
    let n = rows.len() as i64;
    if n == 0 {
        return rows;
    }
    let score = |rank: i64| (1 + 5 * (rank - 1) / n) as u8;
    let recency = ranks(rows.iter().map(|r| -r.recency_days), n as usize);
    let frequency = ranks(rows.iter().map(|r| r.frequency), n as usize);
    let monetary = ranks(rows.iter().map(|r| r.monetary_cents), n as usize);
    for (i, row) in rows.iter_mut().enumerate() {
        row.r = score(recency[i]);
        row.f = score(frequency[i]);
        row.m = score(monetary[i]);
    }
    rows
}

/// Returns each value's RANK() in ascending order: one more than the number of smaller values.
pub(crate) fn ranks(values: impl Iterator<Item = i64>, n: usize) -> Vec<i64> {
    let values: Vec<i64> = values.collect();
    let (min, max) = values.iter().fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let span = max.abs_diff(min);
    if span < 4 * n as u64 + 1024 {
        // Small integer ranges (days, order counts): a histogram and its prefix sums.
        let mut below = vec![0i64; span as usize + 2];
        for v in &values {
            below[v.abs_diff(min) as usize + 1] += 1;
        }
        for i in 1..below.len() {
            below[i] += below[i - 1];
        }
        return values.iter().map(|v| below[v.abs_diff(min) as usize] + 1).collect();
    }
    let mut order: Vec<(i64, u32)> = values.iter().enumerate().map(|(i, v)| (*v, i as u32)).collect();
    order.sort_unstable();
    let mut ranks = vec![0i64; values.len()];
    let mut rank = 1;
    for (position, (value, index)) in order.iter().enumerate() {
        if position > 0 && order[position - 1].0 != *value {
            rank = position as i64 + 1;
        }
        ranks[*index as usize] = rank;
    }
    ranks
}

/// Returns the number of customers per (r, f, m) score triple, for the non-empty triples in order.
pub fn cells(rows: &[RfmRow]) -> Vec<((u8, u8, u8), u64)> {
    let mut counts = [0u64; 125];
    for row in rows {
        counts[(row.r as usize - 1) * 25 + (row.f as usize - 1) * 5 + (row.m as usize - 1)] += 1;
    }
    counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (((i / 25 + 1) as u8, (i / 5 % 5 + 1) as u8, (i % 5 + 1) as u8), *n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{EventColumnsBuilder, RawEvent};
    use crate::index::Index;

    #[test]
    fn ties_share_the_lowest_rank_and_scores_run_one_to_five() {
        let mut builder = EventColumnsBuilder::default();
        // Five buyers: customer c orders c times, 100 cents each, the last order c days before the end.
        for c in 1..=5i64 {
            for k in 0..c {
                let ts_us = 100 * DAY_US - c * DAY_US - k;
                builder.push(RawEvent { customer: c, ts_us, event: 0, order_cents: Some(100), props: 0 });
            }
        }
        builder.push(RawEvent { customer: 6, ts_us: 100 * DAY_US, event: 1, order_cents: None, props: 0 });
        let rows = rfm(&Index::from_columns(builder.build()), None);
        let scores: Vec<(i64, i64, u8, u8, u8)> =
            rows.iter().map(|r| (r.customer, r.recency_days, r.r, r.f, r.m)).collect();
        assert_eq!(scores, vec![(1, 1, 5, 1, 1), (2, 2, 4, 2, 2), (3, 3, 3, 3, 3), (4, 4, 2, 4, 4), (5, 5, 1, 5, 5)]);
        assert_eq!(cells(&rows)[0], ((1, 5, 5), 1));

        // Equal values share a rank: with all five equal, all score 1.
        let mut builder = EventColumnsBuilder::default();
        for c in 1..=5i64 {
            builder.push(RawEvent { customer: c, ts_us: 0, event: 0, order_cents: Some(100), props: 0 });
        }
        let rows = rfm(&Index::from_columns(builder.build()), None);
        assert!(rows.iter().all(|r| (r.r, r.f, r.m) == (1, 1, 1)));
    }
}
