//! Funnels with ClickHouse's `windowFunnel` semantics (default mode).
//!
//! Per customer, events are read in time order (events at one instant in step order). An event of
//! step 1 starts a chain; an event of step k > 1 extends the chain that has reached step k − 1 if
//! it is no later than the window after that chain's step-1 event. The customer's level is the
//! deepest step any chain reached; the answer counts customers reaching at least each step.
//! Conversion times are those of the chain that last reached each step.
//!
//! Steps may carry property filters (an event counts for a step only if its properties pass), and a
//! funnel may be broken down by a property: a customer counts in the group of the value that one
//! event of their deepest chain carried ([`Attribution`]): its step-1 event by default (Amplitude's
//! and Mixpanel's first-touch attribution), the event of the last step they reached, or the event
//! of a chosen step (customers who stopped before it have no value there: `null`).

use std::collections::HashMap;

use crate::index::{CustomerEvents, Index};
use crate::{MAX_FUNNEL_GROUPS, MAX_FUNNEL_WINDOW_US, QueryError, parallel};

/// A funnel over event ids.
#[derive(Clone, Debug)]
pub struct FunnelQuery {
    /// The steps' event ids, in order (2 to 32; a name may repeat).
    pub steps: Vec<u16>,
    /// The conversion window, from the step-1 event to the last step, microseconds (> 0, at most
    /// [`MAX_FUNNEL_WINDOW_US`]).
    pub window_us: i64,
    /// Per property set, the steps it may count for (bit k: step k + 1); `None` when no step has
    /// property filters.
    pub step_sets: Option<Vec<u32>>,
    /// Per property set, its breakdown value id (`u32::MAX`: none); `None` without a breakdown.
    pub breakdown: Option<Vec<u32>>,
    /// Which event of a customer's chain gives their breakdown value.
    pub attribution: Attribution,
}

/// Which event of a customer's deepest chain gives their breakdown value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Attribution {
    /// The step-1 event (first touch).
    #[default]
    First,
    /// The event of the last step the customer reached.
    Last,
    /// The event of this step (0-based); customers who stopped before it have none.
    Step(usize),
}

impl Attribution {
    /// The step whose event's value the chain carries (0-based), `None` for the last one reached.
    fn carried(self) -> Option<usize> {
        match self {
            Attribution::First => Some(0),
            Attribution::Last => None,
            Attribution::Step(k) => Some(k),
        }
    }
}

/// A funnel's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunnelResult {
    /// Per step.
    pub steps: Vec<FunnelStepResult>,
    /// With a breakdown: per value id (`u32::MAX`: none), the customers reaching at least each step.
    pub groups: HashMap<u32, Vec<u64>>,
}

/// Per-step answer.
#[derive(Clone, Debug, PartialEq)]
pub struct FunnelStepResult {
    /// Customers who reached at least this step.
    pub customers: u64,
    /// Median time from step 1 to this step, microseconds (`None` when nobody reached it).
    pub median_us: Option<i64>,
}

/// Returns per-step results (and groups), or why the query was refused: a step count or window out
/// of range, or a breakdown with more than [`MAX_FUNNEL_GROUPS`] values among the customers.
pub fn funnel(index: &Index, query: &FunnelQuery) -> Result<FunnelResult, QueryError> {
    let steps = query.steps.len();
    if !(2..=32).contains(&steps) {
        return Err(QueryError::Invalid { field: "steps", reason: "a funnel has 2 to 32 steps".into() });
    }
    if query.window_us <= 0 {
        return Err(QueryError::Invalid { field: "window", reason: "the window must be positive".into() });
    }
    if query.window_us > MAX_FUNNEL_WINDOW_US {
        return Err(QueryError::Invalid { field: "window", reason: "the window must be at most 366 days".into() });
    }
    if let Attribution::Step(k) = query.attribution
        && k >= steps
    {
        return Err(QueryError::Invalid {
            field: "attribution",
            reason: format!("step {} is past the funnel's last ({steps})", k.saturating_add(1)),
        });
    }
    let carried = query.attribution.carried();
    // Which steps each event id is, as a bit set.
    let max_event = query.steps.iter().copied().max().unwrap_or(0) as usize;
    let mut masks = vec![0u32; max_event + 1];
    for (k, event) in query.steps.iter().enumerate() {
        masks[*event as usize] |= 1 << k;
    }
    let mask_of = |events: &[u16], i: usize| masks.get(events[i] as usize).copied().unwrap_or(0);
    // One monomorphic scan per shape, so the plain funnel pays nothing for filters it does not have.
    let result = match (&query.step_sets, &query.breakdown) {
        (None, None) => scan(index, (steps, query.window_us, carried), |c, i| mask_of(c.events, i), |_, _| (), false),
        (Some(sets), None) => scan(
            index,
            (steps, query.window_us, carried),
            |c, i| mask_of(c.events, i) & sets[c.props[i] as usize],
            |_, _| (),
            false,
        ),
        (None, Some(groups)) => scan(
            index,
            (steps, query.window_us, carried),
            |c, i| mask_of(c.events, i),
            |c, i| groups[c.props[i] as usize],
            true,
        ),
        (Some(sets), Some(groups)) => scan(
            index,
            (steps, query.window_us, carried),
            |c, i| mask_of(c.events, i) & sets[c.props[i] as usize],
            |c, i| groups[c.props[i] as usize],
            true,
        ),
    };
    result.ok_or_else(|| QueryError::Invalid {
        field: "breakdown",
        reason: format!("the property has more than {MAX_FUNNEL_GROUPS} values among the funnel's customers"),
    })
}

/// A chain: (step-1 time, time of its latest step, breakdown value of its attributed event). Without
/// a breakdown the value is `()`, so the plain funnel's chain stays two words.
type Chain<G> = Option<(i64, i64, G)>;

/// A breakdown value as the scan carries it.
trait Group: Copy + Send {
    /// No value.
    const NONE: Self;
    /// The value id (`u32::MAX`: none).
    fn id(self) -> u32;
}

impl Group for () {
    const NONE: Self = ();
    fn id(self) -> u32 {
        u32::MAX
    }
}

impl Group for u32 {
    const NONE: Self = u32::MAX;
    fn id(self) -> u32 {
        self
    }
}

/// Scans every customer; `shape` is (steps, window, the step whose event's value is carried).
fn scan<G: Group>(
    index: &Index,
    shape: (usize, i64, Option<usize>),
    mask: impl Fn(&CustomerEvents<'_>, usize) -> u32 + Sync,
    group: impl Fn(&CustomerEvents<'_>, usize) -> G + Sync,
    grouped: bool,
) -> Option<FunnelResult> {
    let (steps, window_us, carried) = shape;
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut reached = vec![0u64; steps];
        let mut times: Vec<Vec<i64>> = vec![Vec::new(); steps];
        let mut groups: HashMap<u32, Vec<u64>> = HashMap::new();
        let mut chain: Vec<Chain<G>> = vec![None; steps];
        let mut overflow = false;
        index.for_each_customer(range, |customer| {
            chain.iter_mut().for_each(|c| *c = None);
            let level = customer_level(
                customer.ts_us,
                |i| mask(&customer, i),
                |i| group(&customer, i),
                (window_us, carried),
                &mut chain,
            );
            for k in 0..level {
                reached[k] += 1;
                if let Some((first, last, _)) = chain[k] {
                    times[k].push(last - first);
                }
            }
            if grouped && level > 0 {
                let value = chain[level - 1].map_or(u32::MAX, |(_, _, g)| g.id());
                // Past the limit the answer is refused: stop growing, and say so.
                if groups.len() < MAX_FUNNEL_GROUPS || groups.contains_key(&value) {
                    let counts = groups.entry(value).or_insert_with(|| vec![0; steps]);
                    counts[..level].iter_mut().for_each(|c| *c += 1);
                } else {
                    overflow = true;
                }
            }
        });
        (reached, times, groups, overflow)
    });
    if parts.iter().any(|part| part.3) {
        return None;
    }
    let mut reached = vec![0u64; steps];
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); steps];
    let mut groups: HashMap<u32, Vec<u64>> = HashMap::new();
    for (part_reached, part_times, part_groups, _) in parts {
        for k in 0..steps {
            reached[k] += part_reached[k];
            times[k].extend(part_times[k].iter());
        }
        for (value, counts) in part_groups {
            let sum = groups.entry(value).or_insert_with(|| vec![0; steps]);
            sum.iter_mut().zip(counts).for_each(|(s, c)| *s += c);
        }
    }
    let steps = reached
        .into_iter()
        .zip(times)
        .map(|(customers, mut t)| FunnelStepResult { customers, median_us: median(&mut t) })
        .collect();
    (groups.len() <= MAX_FUNNEL_GROUPS).then_some(FunnelResult { steps, groups })
}

/// Returns the deepest step reached (0 when step 1 never happened), leaving each step's chain in
/// `chain`. `mask(i)` is the steps event `i` counts for, `group(i)` its breakdown value; `rule` is
/// the window and the step whose event's value chains carry (`None`: each step's own).
#[inline]
fn customer_level<G: Group>(
    ts: &[i64],
    mask: impl Fn(usize) -> u32,
    group: impl Fn(usize) -> G,
    rule: (i64, Option<usize>),
    chain: &mut [Chain<G>],
) -> usize {
    let steps = chain.len();
    let mut i = 0;
    while i < ts.len() {
        let at = ts[i];
        let mut j = i + 1;
        while j < ts.len() && ts[j] == at {
            j += 1;
        }
        if j == i + 1 {
            let mut bits = mask(i);
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if advance(chain, k, at, rule, || group(i)) {
                    return steps;
                }
            }
        } else {
            // Several events at one instant: ClickHouse handles their steps in ascending order.
            let combined = (i..j).fold(0u32, |a, e| a | mask(e));
            let mut bits = combined;
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                for e in (i..j).filter(|e| mask(*e) & (1 << k) != 0) {
                    if advance(chain, k, at, rule, || group(e)) {
                        return steps;
                    }
                }
            }
        }
        i = j;
    }
    chain.iter().rposition(Option::is_some).map_or(0, |k| k + 1)
}

/// Applies an event of step `k` at `at`; returns true when the last step was reached. A chain
/// takes this event's value when `k` is the carried step (or every step's, for `None`), else keeps
/// the value it had (none before the carried step).
#[inline]
fn advance<G: Group>(
    chain: &mut [Chain<G>],
    k: usize,
    at: i64,
    rule: (i64, Option<usize>),
    group: impl Fn() -> G,
) -> bool {
    let (window_us, carried) = rule;
    let own = carried.is_none_or(|step| step == k);
    if k == 0 {
        chain[0] = Some((at, at, if own { group() } else { G::NONE }));
    } else if let Some((first, _, value)) = chain[k - 1]
        && at <= first.saturating_add(window_us)
    {
        chain[k] = Some((first, at, if own { group() } else { value }));
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
            builder.push(RawEvent { customer: *customer, ts_us: *ts_us, event: *event, order_cents: None, props: 0 });
        }
        Index::from_columns(builder.build())
    }

    fn counts(columns: &Index, steps: &[u16], window_us: i64) -> Vec<u64> {
        funnel(
            columns,
            &FunnelQuery {
                steps: steps.to_vec(),
                window_us,
                step_sets: None,
                breakdown: None,
                attribution: Attribution::First,
            },
        )
        .expect("valid query")
        .steps
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
        let query = FunnelQuery {
            steps: vec![0, 1],
            window_us: 10 * H,
            step_sets: None,
            breakdown: None,
            attribution: Attribution::First,
        };
        let result = funnel(&data, &query).expect("valid").steps;
        assert_eq!(result[0], FunnelStepResult { customers: 3, median_us: Some(0) });
        assert_eq!(result[1], FunnelStepResult { customers: 2, median_us: Some(2 * H) });
    }

    #[test]
    fn step_filters_and_breakdowns_read_each_events_property_set() {
        let mut builder = EventColumnsBuilder::default();
        // (customer, time, event, property set)
        for (customer, ts_us, event, props) in [(1, 0, 0, 1), (1, H, 1, 2), (2, 0, 0, 1), (2, H, 1, 3), (3, 0, 0, 3)] {
            builder.push(RawEvent { customer, ts_us, event, order_cents: None, props });
        }
        let data = Index::from_columns(builder.build());
        // Set 2 fails step 2's filter; sets 1 and 3 carry breakdown values 10 and 30.
        let query = FunnelQuery {
            steps: vec![0, 1],
            window_us: 10 * H,
            step_sets: Some(vec![0b11, 0b11, 0b01, 0b11]),
            breakdown: Some(vec![u32::MAX, 10, 20, 30]),
            attribution: Attribution::First,
        };
        let result = funnel(&data, &query).expect("valid");
        assert_eq!(result.steps.iter().map(|s| s.customers).collect::<Vec<_>>(), vec![3, 1]);
        assert_eq!(result.groups[&10], vec![2, 1]);
        assert_eq!(result.groups[&30], vec![1, 0]);
        assert_eq!(result.groups.len(), 2);
    }

    #[test]
    fn a_breakdown_reads_the_first_the_last_reached_or_a_chosen_steps_event() {
        let mut builder = EventColumnsBuilder::default();
        // (customer, time, event, property set): set 1 carries value 10 ("web"), set 2 value 20
        // ("wechat"), set 0 none. Customer 1 views on the web and orders on WeChat; customer 2 views
        // on WeChat and stops; customer 3 views with no value, adds to cart on the web and orders
        // with no value.
        let events = [(1, 0, 0, 1), (1, H, 2, 2), (2, 0, 0, 2), (3, 0, 0, 0), (3, H, 1, 1), (3, 2 * H, 2, 0)];
        for (customer, ts_us, event, props) in events {
            builder.push(RawEvent { customer, ts_us, event, order_cents: None, props });
        }
        let data = Index::from_columns(builder.build());
        // Steps: view (0), order (2): customer 3's cart is no step.
        let query = |steps: Vec<u16>, attribution| FunnelQuery {
            steps,
            window_us: 10 * H,
            step_sets: None,
            breakdown: Some(vec![u32::MAX, 10, 20]),
            attribution,
        };
        let groups = |steps: Vec<u16>, attribution| {
            let mut groups: Vec<(u32, Vec<u64>)> =
                funnel(&data, &query(steps, attribution)).unwrap().groups.into_iter().collect();
            groups.sort();
            groups
        };
        let none = u32::MAX;
        assert_eq!(
            groups(vec![0, 2], Attribution::First),
            vec![(10, vec![1, 1]), (20, vec![1, 0]), (none, vec![1, 1])]
        );
        assert_eq!(groups(vec![0, 2], Attribution::Last), vec![(20, vec![2, 1]), (none, vec![1, 1])]);
        assert_eq!(groups(vec![0, 2], Attribution::Step(1)), vec![(20, vec![1, 1]), (none, vec![2, 1])]);
        // Three steps: view, cart, order; the chosen middle step.
        assert_eq!(
            groups(vec![0, 1, 2], Attribution::Step(1)),
            vec![(10, vec![1, 1, 1]), (none, vec![2, 0, 0])],
            "customers who stopped before the chosen step have no value there"
        );
        assert_eq!(
            groups(vec![0, 1, 2], Attribution::Last),
            vec![(10, vec![1, 0, 0]), (20, vec![1, 0, 0]), (none, vec![1, 1, 1])]
        );
        let past = funnel(&data, &query(vec![0, 2], Attribution::Step(2)));
        assert!(matches!(past, Err(QueryError::Invalid { field: "attribution", .. })));
    }

    #[test]
    fn bad_queries_name_the_parameter() {
        let data = columns(&[]);
        let one = funnel(
            &data,
            &FunnelQuery {
                steps: vec![0],
                window_us: H,
                step_sets: None,
                breakdown: None,
                attribution: Attribution::First,
            },
        );
        assert!(matches!(one, Err(QueryError::Invalid { field: "steps", .. })));
        let zero = funnel(
            &data,
            &FunnelQuery {
                steps: vec![0, 1],
                window_us: 0,
                step_sets: None,
                breakdown: None,
                attribution: Attribution::First,
            },
        );
        assert!(matches!(zero, Err(QueryError::Invalid { field: "window", .. })));
    }

    #[test]
    fn funnels_refuse_long_windows_and_too_many_breakdown_values() {
        // Events at the ends of time sit in the same funnel without overflowing.
        let data = columns(&[(1, i64::MIN, 0), (1, i64::MIN + 1, 1), (2, i64::MAX - 1, 0), (2, i64::MAX, 1)]);
        assert_eq!(counts(&data, &[0, 1], MAX_FUNNEL_WINDOW_US), vec![2, 2]);
        let long = FunnelQuery {
            steps: vec![0, 1],
            window_us: MAX_FUNNEL_WINDOW_US + 1,
            step_sets: None,
            breakdown: None,
            attribution: Attribution::First,
        };
        assert!(matches!(funnel(&data, &long), Err(QueryError::Invalid { field: "window", .. })));
        let mut builder = EventColumnsBuilder::default();
        let customers = MAX_FUNNEL_GROUPS as i64 + 1;
        for customer in 0..customers {
            builder.push(RawEvent { customer, ts_us: 0, event: 0, order_cents: None, props: customer as u32 });
        }
        let data = Index::from_columns(builder.build());
        let values: Vec<u32> = (0..customers as u32).collect();
        let query = |breakdown: &[u32]| FunnelQuery {
            steps: vec![0, 1],
            window_us: H,
            step_sets: None,
            breakdown: Some(breakdown.to_vec()),
            attribution: Attribution::First,
        };
        assert!(matches!(funnel(&data, &query(&values)), Err(QueryError::Invalid { field: "breakdown", .. })));
        let fewer: Vec<u32> = values.iter().map(|v| v % 100).collect();
        assert_eq!(funnel(&data, &query(&fewer)).unwrap().groups.len(), 100);
    }
}
