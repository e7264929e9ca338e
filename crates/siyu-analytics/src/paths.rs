//! Paths: what customers did next after (or before) an event, as step-to-step flows for a Sankey
//! chart. Each customer counts once: from their first occurrence of the anchor going forward, or
//! from their last occurrence going back.

use crate::index::Index;
use crate::parallel;
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
/// first within each step, and the number of customers who did the anchor.
pub fn paths(index: &Index, anchor: u16, direction: Direction, depth: usize) -> (u64, Vec<Link>) {
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut links: HashMap<(usize, u16, u16), u64> = HashMap::new();
        let mut anchored = 0u64;
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
                *links.entry((step, pair[0], pair[1])).or_default() += 1;
            }
        });
        (anchored, links)
    });
    let mut anchored = 0;
    let mut links: HashMap<(usize, u16, u16), u64> = HashMap::new();
    for (n, part) in parts {
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
    (anchored, links)
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
        let (anchored, links) = paths(&index, 0, Direction::Next, 2);
        assert_eq!(anchored, 2);
        let flat: Vec<(usize, u16, u16, u64)> = links.iter().map(|l| (l.step, l.from, l.to, l.count)).collect();
        assert_eq!(flat, vec![(0, 0, 1, 2), (1, 1, 2, 1), (1, 1, 3, 1)]);
        let (_, before) = paths(&index, 0, Direction::Previous, 1);
        let flat: Vec<(usize, u16, u16, u64)> = before.iter().map(|l| (l.step, l.from, l.to, l.count)).collect();
        assert_eq!(flat, vec![(0, 0, 2, 1)]);
    }
}
