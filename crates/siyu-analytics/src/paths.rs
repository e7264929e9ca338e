//! Paths: what customers did next after (or before) an event, as step-to-step flows for a Sankey
//! chart. Each customer counts once: from their first occurrence of the anchor going forward, or
//! from their last occurrence going back.

use crate::index::Index;
use crate::{MAX_PATH_DEPTH, MAX_PATH_LINKS, QueryError, parallel};
use std::collections::HashMap;

/// Direction from the anchor event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The events after the anchor.
    Next,
    /// The events before the anchor (the latest first).
    Previous,
}

/// A flow between two steps: `count` customers did `to` at step `step + 1` after `from` at `step`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The step of `from` (0: the anchor).
    pub step: usize,
    /// Event id at `step`.
    pub from: u16,
    /// Event id at `step + 1`.
    pub to: u16,
    /// Customers.
    pub count: u64,
}

/// Returns the flows up to `depth` steps from each customer's anchor (see the module), most frequent
/// first within each step, and the number of customers who did the anchor; or why the query was
/// refused: a depth of 0 or more than [`MAX_PATH_DEPTH`], or more than [`MAX_PATH_LINKS`] distinct
/// links.
pub fn paths(index: &Index, anchor: u16, direction: Direction, depth: usize) -> Result<(u64, Vec<Link>), QueryError> {
    if !(1..=MAX_PATH_DEPTH).contains(&depth) {
        return Err(QueryError::Invalid { field: "depth", reason: format!("must be 1 to {MAX_PATH_DEPTH}") });
    }
    let too_many = || QueryError::Invalid {
        field: "depth",
        reason: format!("more than {MAX_PATH_LINKS} distinct links; ask for fewer steps"),
    };
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut links: HashMap<(usize, u16, u16), u64> = HashMap::new();
        let (mut anchored, mut overflow) = (0u64, false);
        index.for_each_customer(range, |customer| {
            let events = customer.events;
            let Some(at) = (match direction {
                Direction::Next => events.iter().position(|e| *e == anchor),
                Direction::Previous => events.iter().rposition(|e| *e == anchor),
            }) else {
                return;
            };
            anchored += 1;
            let path: Vec<u16> = match direction {
                Direction::Next => events[at..].iter().take(depth + 1).copied().collect(),
                Direction::Previous => events[..=at].iter().rev().take(depth + 1).copied().collect(),
            };
            for (step, pair) in path.windows(2).enumerate() {
                let key = (step, pair[0], pair[1]);
                // Past the limit the answer is refused: stop growing.
                if links.len() < MAX_PATH_LINKS || links.contains_key(&key) {
                    *links.entry(key).or_default() += 1;
                } else {
                    overflow = true;
                }
            }
        });
        (anchored, links, overflow)
    });
    if parts.iter().any(|part| part.2) {
        return Err(too_many());
    }
    let mut anchored = 0;
    let mut links: HashMap<(usize, u16, u16), u64> = HashMap::new();
    for (n, part, _) in parts {
        anchored += n;
        for (key, count) in part {
            *links.entry(key).or_default() += count;
        }
    }
    let mut links: Vec<Link> =
        links.into_iter().map(|((step, from, to), count)| Link { step, from, to, count }).collect();
    links.sort_by(|a, b| {
        a.step.cmp(&b.step).then(b.count.cmp(&a.count)).then(a.from.cmp(&b.from)).then(a.to.cmp(&b.to))
    });
    if links.len() > MAX_PATH_LINKS {
        return Err(too_many());
    }
    Ok((anchored, links))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{EventColumnsBuilder, RawEvent};

    #[test]
    fn flows_start_at_the_first_anchor() {
        let mut builder = EventColumnsBuilder::default();
        for (customer, events) in [(1, vec![9, 0, 1, 2, 0, 3]), (2, vec![0, 1, 3]), (3, vec![1, 2])] {
            for (i, event) in events.into_iter().enumerate() {
                builder.push(RawEvent { customer, ts_us: i as i64, event, order_cents: None, props: 0 });
            }
        }
        let index = Index::from_columns(builder.build());
        let (anchored, links) = paths(&index, 0, Direction::Next, 2).unwrap();
        assert_eq!(anchored, 2);
        let flat: Vec<(usize, u16, u16, u64)> = links.iter().map(|l| (l.step, l.from, l.to, l.count)).collect();
        assert_eq!(flat, vec![(0, 0, 1, 2), (1, 1, 2, 1), (1, 1, 3, 1)]);
        let (_, before) = paths(&index, 0, Direction::Previous, 1).unwrap();
        let flat: Vec<(usize, u16, u16, u64)> = before.iter().map(|l| (l.step, l.from, l.to, l.count)).collect();
        assert_eq!(flat, vec![(0, 0, 2, 1)]);
    }

    #[test]
    fn paths_refuse_depths_and_link_counts_past_their_limits() {
        let mut builder = EventColumnsBuilder::default();
        // 11,000 customers, each doing the anchor then 10 pseudo-random events of 65,000: about
        // 109,000 distinct links over 10 steps (more than the limit), 10,000 over one.
        let mut seed = 12_345u64;
        for customer in 0..11_000i64 {
            builder.push(RawEvent { customer, ts_us: 0, event: 0, order_cents: None, props: 0 });
            for k in 1..=10 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let event = 1 + ((seed >> 33) % 65_000) as u16;
                builder.push(RawEvent { customer, ts_us: k, event, order_cents: None, props: 0 });
            }
        }
        let index = Index::from_columns(builder.build());
        let field = |depth| match paths(&index, 0, Direction::Next, depth) {
            Err(QueryError::Invalid { field, .. }) => field,
            Ok(_) => "none",
            Err(other) => panic!("unexpected {other:?}"),
        };
        assert_eq!((field(0), field(MAX_PATH_DEPTH + 1), field(MAX_PATH_DEPTH)), ("depth", "depth", "depth"));
        assert_eq!(paths(&index, 0, Direction::Next, 1).unwrap().0, 11_000);
    }
}
