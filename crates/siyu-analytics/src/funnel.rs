//! Funnels with ClickHouse's `windowFunnel` semantics (default mode).
//!
//! Per customer, events are read in time order (events at one instant in step order). An event of
//! step 1 starts a chain; an event of step k > 1 extends the chain that has reached step k − 1 if
//! it is no later than the window after that chain's step-1 event. The customer's level is the
//! deepest step any chain reached; the answer counts customers reaching at least each step.
//! Conversion times are those of the chain that last reached each step.

use crate::index::Index;
use crate::{QueryError, parallel};

/// A funnel over event ids.
#[derive(Clone, Debug)]
pub struct FunnelQuery {
    /// The steps' event ids, in order (2 to 32; a name may repeat).
    pub steps: Vec<u16>,
    /// The conversion window, from the step-1 event to the last step, microseconds (> 0).
    pub window_us: i64,
}

/// Per-step answer.
#[derive(Clone, Debug, PartialEq)]
pub struct FunnelStepResult {
    /// Customers who reached at least this step.
    pub customers: u64,
    /// Median time from step 1 to this step, microseconds (`None` when nobody reached it).
    pub median_us: Option<i64>,
}

/// Returns per-step results, or why the query was refused.
pub fn funnel(index: &Index, query: &FunnelQuery) -> Result<Vec<FunnelStepResult>, QueryError> {
    let steps = query.steps.len();
    if !(2..=32).contains(&steps) {
        return Err(QueryError::Invalid { field: "steps", reason: "a funnel has 2 to 32 steps".into() });
    }
    if query.window_us <= 0 {
        return Err(QueryError::Invalid { field: "window", reason: "the window must be positive".into() });
    }
    // Which steps each event id is, as a bit set.
    let max_event = query.steps.iter().copied().max().unwrap_or(0) as usize;
    let mut masks = vec![0u32; max_event + 1];
    for (k, event) in query.steps.iter().enumerate() {
        masks[*event as usize] |= 1 << k;
    }
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut reached = vec![0u64; steps];
        let mut times: Vec<Vec<i64>> = vec![Vec::new(); steps];
        let mut chain: Vec<Option<(i64, i64)>> = vec![None; steps];
        let mut group: Vec<u32> = Vec::new();
        index.for_each_customer(range, |customer| {
            chain.iter_mut().for_each(|c| *c = None);
            let level =
                customer_level(customer.ts_us, customer.events, &masks, query.window_us, &mut chain, &mut group);
            for k in 0..level {
                reached[k] += 1;
                if let Some((first, last)) = chain[k] {
                    times[k].push(last - first);
                }
            }
        });
        (reached, times)
    });
    let mut reached = vec![0u64; steps];
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); steps];
    for (part_reached, part_times) in parts {
        for k in 0..steps {
            reached[k] += part_reached[k];
            times[k].extend(part_times[k].iter());
        }
    }
    Ok(reached
        .into_iter()
        .zip(times)
        .map(|(customers, mut t)| FunnelStepResult { customers, median_us: median(&mut t) })
        .collect())
}

/// Returns the deepest step reached (0 when step 1 never happened), leaving each step's chain in `chain`.
#[inline]
fn customer_level(
    ts: &[i64],
    events: &[u16],
    masks: &[u32],
    window_us: i64,
    chain: &mut [Option<(i64, i64)>],
    group: &mut Vec<u32>,
) -> usize {
    let steps = chain.len();
    let mut i = 0;
    while i < ts.len() {
        let mask = masks.get(events[i] as usize).copied().unwrap_or(0);
        let at = ts[i];
        let mut j = i + 1;
        if j < ts.len() && ts[j] == at {
            // Several events at one instant: ClickHouse handles their steps in ascending order.
            group.clear();
            group.push(mask);
            while j < ts.len() && ts[j] == at {
                group.push(masks.get(events[j] as usize).copied().unwrap_or(0));
                j += 1;
            }
            let combined: u32 = group.iter().fold(0, |a, m| a | m);
            for k in 0..steps {
                if combined & (1 << k) != 0 {
                    for _ in 0..group.iter().filter(|m| *m & (1 << k) != 0).count() {
                        if advance(chain, k, at, window_us) {
                            return steps;
                        }
                    }
                }
            }
        } else {
            let mut bits = mask;
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if advance(chain, k, at, window_us) {
                    return steps;
                }
            }
        }
        i = j;
    }
    chain.iter().rposition(Option::is_some).map_or(0, |k| k + 1)
}

/// Applies an event of step `k` at `at`; returns true when the last step was reached.
#[inline]
fn advance(chain: &mut [Option<(i64, i64)>], k: usize, at: i64, window_us: i64) -> bool {
    if k == 0 {
        chain[0] = Some((at, at));
    } else if let Some((first, _)) = chain[k - 1]
        && at <= first + window_us
    {
        chain[k] = Some((first, at));
        return k + 1 == chain.len();
    }
    false
}

fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    let (_, upper, _) = values.select_nth_unstable(mid);
    let upper = *upper;
    if values.len() % 2 == 1 {
        Some(upper)
    } else {
        let lower = values[..mid].iter().copied().max().unwrap_or(upper);
        Some(lower + (upper - lower) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{EventColumnsBuilder, RawEvent};
    use crate::index::Index;

    const H: i64 = 3_600_000_000;

    fn columns(events: &[(i64, i64, u16)]) -> Index {
        let mut builder = EventColumnsBuilder::default();
        for (customer, ts_us, event) in events {
            builder.push(RawEvent { customer: *customer, ts_us: *ts_us, event: *event, order_cents: None });
        }
        Index::from_columns(builder.build())
    }

    fn counts(columns: &Index, steps: &[u16], window_us: i64) -> Vec<u64> {
        funnel(columns, &FunnelQuery { steps: steps.to_vec(), window_us })
            .expect("valid query")
            .iter()
            .map(|s| s.customers)
            .collect()
    }

    #[test]
    fn the_window_runs_from_the_first_step_and_includes_its_end() {
        let data = columns(&[(1, 0, 0), (1, H, 1), (1, 2 * H, 2), (2, 0, 0), (2, H, 1), (2, 2 * H + 1, 2)]);
        assert_eq!(counts(&data, &[0, 1, 2], 2 * H), vec![2, 2, 1]);
    }

    #[test]
    fn a_later_start_can_complete_what_an_earlier_one_could_not() {
        // Customer 1: step 1 at 0, step 1 again at 10h, step 2 at 11h, window 2h.
        let data = columns(&[(1, 0, 0), (1, 10 * H, 0), (1, 11 * H, 1)]);
        assert_eq!(counts(&data, &[0, 1], 2 * H), vec![1, 1]);
        // Steps out of order do not count, and a step before any start is ignored.
        let data = columns(&[(1, 0, 1), (1, H, 0), (1, 2 * H, 2), (1, 3 * H, 1)]);
        assert_eq!(counts(&data, &[0, 1, 2], 10 * H), vec![1, 1, 0]);
    }

    #[test]
    fn median_time_to_convert_is_reported_per_step() {
        let data = columns(&[(1, 0, 0), (1, H, 1), (2, 0, 0), (2, 3 * H, 1), (3, 0, 0)]);
        let result = funnel(&data, &FunnelQuery { steps: vec![0, 1], window_us: 10 * H }).expect("valid");
        assert_eq!(result[0], FunnelStepResult { customers: 3, median_us: Some(0) });
        assert_eq!(result[1], FunnelStepResult { customers: 2, median_us: Some(2 * H) });
    }

    #[test]
    fn bad_queries_name_the_parameter() {
        let data = columns(&[]);
        let one = funnel(&data, &FunnelQuery { steps: vec![0], window_us: H });
        assert!(matches!(one, Err(QueryError::Invalid { field: "steps", .. })));
        let zero = funnel(&data, &FunnelQuery { steps: vec![0, 1], window_us: 0 });
        assert!(matches!(zero, Err(QueryError::Invalid { field: "window", .. })));
    }
}
