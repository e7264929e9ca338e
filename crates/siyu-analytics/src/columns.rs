//! The index: one workspace's events partitioned by customer, ordered by time within a customer,
//! held as parallel columns (timestamps, event ids) plus each customer's orders.

use crate::props::PropTable;
use std::collections::HashMap;

#[cfg(test)]
use crate::props::EMPTY_SET;

/// One customer's events and orders, in time order.
#[derive(Clone, Copy, Debug)]
pub struct CustomerEvents<'a> {
    /// The customer id.
    pub id: i64,
    /// Event times, microseconds.
    pub ts_us: &'a [i64],
    /// Event ids, parallel to `ts_us`.
    pub events: &'a [u16],
    /// Property set ids, parallel to `ts_us` (see [`crate::props`]).
    pub props: &'a [u32],
    /// Orders.
    pub orders: &'a [Order],
}

/// Event names of a workspace, each given a dense `u16` id in the order first seen.
#[derive(Clone, Debug, Default)]
pub struct EventNames {
    names: Vec<String>,
    ids: HashMap<String, u16>,
}

impl EventNames {
    /// Returns the id of `name`, giving it the next one if new; `None` once 65,536 names exist.
    pub fn intern(&mut self, name: &str) -> Option<u16> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        let id = u16::try_from(self.names.len()).ok()?;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        Some(id)
    }

    /// Returns the id of a known name.
    pub fn id(&self, name: &str) -> Option<u16> {
        self.ids.get(name).copied()
    }

    /// Returns the name of an id.
    pub fn name(&self, id: u16) -> Option<&str> {
        self.names.get(usize::from(id)).map(String::as_str)
    }

    /// Returns every name, by id.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// One event as the builder takes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawEvent {
    /// The (live) customer it belongs to.
    pub customer: i64,
    /// When it happened, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Its name's id in the workspace's [`EventNames`].
    pub event: u16,
    /// For an order: its revenue in cents (an `Order Completed` builds an order).
    pub order_cents: Option<i64>,
    /// Its property set's id in the workspace's [`PropTable`] ([`EMPTY_SET`]: none).
    pub props: u32,
}

/// A customer's order, as RFM and LTV read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// When it was completed, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Revenue in cents.
    pub cents: i64,
}

/// The built index. Customer `i` (by slot, ascending customer id) owns events
/// `starts[i]..starts[i + 1]` and orders `order_starts[i]..order_starts[i + 1]`, each in time order.
#[derive(Clone, Debug, Default)]
pub struct EventColumns {
    customers: Vec<i64>,
    starts: Vec<u32>,
    ts_us: Vec<i64>,
    events: Vec<u16>,
    props: Vec<u32>,
    order_starts: Vec<u32>,
    orders: Vec<Order>,
    min_ts_us: i64,
    max_ts_us: i64,
}

impl EventColumns {
    /// Returns the number of customers with at least one event.
    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }

    /// Returns the number of events.
    pub fn event_count(&self) -> usize {
        self.ts_us.len()
    }

    /// Returns the customer id in slot `slot`.
    pub fn customer(&self, slot: usize) -> i64 {
        self.customers[slot]
    }

    /// Returns the time-ordered timestamps and event ids of the customer in `slot`.
    pub fn events_of(&self, slot: usize) -> (&[i64], &[u16]) {
        let range = self.starts[slot] as usize..self.starts[slot + 1] as usize;
        (&self.ts_us[range.clone()], &self.events[range])
    }

    /// Returns the property set ids of the customer in `slot`, parallel to [`EventColumns::events_of`].
    pub fn props_of(&self, slot: usize) -> &[u32] {
        &self.props[self.starts[slot] as usize..self.starts[slot + 1] as usize]
    }

    /// Returns the time-ordered orders of the customer in `slot`.
    pub fn orders_of(&self, slot: usize) -> &[Order] {
        &self.orders[self.order_starts[slot] as usize..self.order_starts[slot + 1] as usize]
    }

    /// Returns these columns with every customer in `moves` (merged-away profile → survivor)
    /// counted as its survivor: their events and orders join the survivor's, in time order (at one
    /// instant, the lower customer id's first). Customers no move names are copied as they are.
    pub fn remapped(&self, moves: &HashMap<i64, i64>) -> EventColumns {
        let mut units: Vec<(i64, i64, usize)> = (0..self.customer_count())
            .map(|slot| {
                let id = self.customers[slot];
                (moves.get(&id).copied().unwrap_or(id), id, slot)
            })
            .collect();
        if units.iter().all(|(to, id, _)| to == id) {
            return self.clone();
        }
        units.sort_unstable();
        let mut columns = EventColumns::with_capacity(units.len(), self.event_count());
        let mut joined: Vec<(i64, u16, u32)> = Vec::new();
        let mut orders: Vec<Order> = Vec::new();
        let mut at = 0;
        while at < units.len() {
            let target = units[at].0;
            let end = at + units[at..].partition_point(|u| u.0 == target);
            if end == at + 1 {
                let slot = units[at].2;
                let (ts_us, events) = self.events_of(slot);
                columns.push_customer(CustomerEvents {
                    id: target,
                    ts_us,
                    events,
                    props: self.props_of(slot),
                    orders: self.orders_of(slot),
                });
            } else {
                joined.clear();
                orders.clear();
                for (_, _, slot) in &units[at..end] {
                    let (ts_us, events) = self.events_of(*slot);
                    joined.extend(ts_us.iter().zip(events).zip(self.props_of(*slot)).map(|((t, e), p)| (*t, *e, *p)));
                    orders.extend_from_slice(self.orders_of(*slot));
                }
                // Stable: at one instant, the events of the lower customer id stay first.
                joined.sort_by_key(|e| e.0);
                orders.sort_by_key(|o| o.ts_us);
                let ts_us: Vec<i64> = joined.iter().map(|e| e.0).collect();
                let events: Vec<u16> = joined.iter().map(|e| e.1).collect();
                let props: Vec<u32> = joined.iter().map(|e| e.2).collect();
                columns.push_customer(CustomerEvents {
                    id: target,
                    ts_us: &ts_us,
                    events: &events,
                    props: &props,
                    orders: &orders,
                });
            }
            at = end;
        }
        columns
    }

    /// Returns the earliest and latest event time, or `None` when there are no events.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (!self.ts_us.is_empty()).then_some((self.min_ts_us, self.max_ts_us))
    }

    /// Returns empty columns with room for `customers` and `events`; fill them with
    /// [`EventColumns::push_customer`] in ascending customer order.
    pub fn with_capacity(customers: usize, events: usize) -> Self {
        let mut columns = Self {
            customers: Vec::with_capacity(customers),
            starts: Vec::with_capacity(customers + 1),
            ts_us: Vec::with_capacity(events),
            events: Vec::with_capacity(events),
            props: Vec::with_capacity(events),
            order_starts: Vec::with_capacity(customers + 1),
            ..Default::default()
        };
        columns.starts.push(0);
        columns.order_starts.push(0);
        columns
    }

    /// Appends a customer (with a larger id than any so far) and its time-ordered events and orders.
    pub fn push_customer(&mut self, customer: CustomerEvents<'_>) {
        if self.starts.is_empty() {
            self.starts.push(0);
            self.order_starts.push(0);
        }
        if let (Some(first), Some(last)) = (customer.ts_us.first(), customer.ts_us.last()) {
            if self.ts_us.is_empty() {
                (self.min_ts_us, self.max_ts_us) = (*first, *last);
            } else {
                self.min_ts_us = self.min_ts_us.min(*first);
                self.max_ts_us = self.max_ts_us.max(*last);
            }
        }
        self.customers.push(customer.id);
        self.ts_us.extend_from_slice(customer.ts_us);
        self.events.extend_from_slice(customer.events);
        self.props.extend_from_slice(customer.props);
        self.orders.extend_from_slice(customer.orders);
        self.starts.push(self.ts_us.len() as u32);
        self.order_starts.push(self.orders.len() as u32);
    }

    /// Returns the bytes the columns hold (their resident size, capacity included).
    pub fn heap_bytes(&self) -> usize {
        self.customers.capacity() * 8
            + self.starts.capacity() * 4
            + self.ts_us.capacity() * 8
            + self.events.capacity() * 2
            + self.props.capacity() * 4
            + self.order_starts.capacity() * 4
            + self.orders.capacity() * std::mem::size_of::<Order>()
    }
}

/// Magic number of the serialised form.
const SNAPSHOT_MAGIC: &[u8; 8] = b"SIYUIDX2";

/// Writes `values` (their count, then each one's `N` bytes) with no allocation per value: a
/// snapshot holds tens of millions of them.
fn put_slice<T: Copy, const N: usize>(out: &mut Vec<u8>, values: &[T], bytes: impl Fn(T) -> [u8; N]) {
    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
    out.reserve(values.len() * N);
    for v in values {
        out.extend_from_slice(&bytes(*v));
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn vec<T, const N: usize>(&mut self, parse: impl Fn([u8; N]) -> T) -> Option<Vec<T>> {
        let len = usize::try_from(self.u64()?).ok()?;
        let raw = self.take(len.checked_mul(N)?)?;
        Some(raw.chunks_exact(N).map(|c| parse(c.try_into().expect("chunks of N"))).collect())
    }
}

impl EventColumns {
    /// Returns the columns (and the workspace's event names and properties) as bytes, for a snapshot file.
    pub fn to_bytes(&self, names: &EventNames, props: &PropTable) -> Vec<u8> {
        let mut table = Vec::new();
        props.write(&mut table);
        self.to_bytes_with(names, &table)
    }

    /// [`EventColumns::to_bytes`] with the property table already written by [`PropTable::write`]
    /// (so that a caller holds the table's lock only while it writes the table, not the columns).
    pub fn to_bytes_with(&self, names: &EventNames, props_table: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.heap_bytes() + props_table.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&(names.names.len() as u64).to_le_bytes());
        for name in &names.names {
            out.extend_from_slice(&(name.len() as u64).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        }
        put_slice(&mut out, &self.customers, |v| v.to_le_bytes());
        put_slice(&mut out, &self.starts, |v| v.to_le_bytes());
        put_slice(&mut out, &self.ts_us, |v| v.to_le_bytes());
        put_slice(&mut out, &self.events, |v| v.to_le_bytes());
        put_slice(&mut out, &self.props, |v| v.to_le_bytes());
        put_slice(&mut out, &self.order_starts, |v| v.to_le_bytes());
        put_slice(&mut out, &self.orders, |o| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&o.ts_us.to_le_bytes());
            bytes[8..].copy_from_slice(&o.cents.to_le_bytes());
            bytes
        });
        out.extend_from_slice(&self.min_ts_us.to_le_bytes());
        out.extend_from_slice(&self.max_ts_us.to_le_bytes());
        out.extend_from_slice(props_table);
        out
    }

    /// Reads what [`EventColumns::to_bytes`] wrote; `None` if the bytes are not a whole, consistent snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Option<(Self, EventNames, PropTable)> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != SNAPSHOT_MAGIC {
            return None;
        }
        let mut names = EventNames::default();
        for _ in 0..r.u64()? {
            let len = usize::try_from(r.u64()?).ok()?;
            let name = std::str::from_utf8(r.take(len)?).ok()?;
            names.intern(name)?;
        }
        let columns = Self {
            customers: r.vec(i64::from_le_bytes)?,
            starts: r.vec(u32::from_le_bytes)?,
            ts_us: r.vec(i64::from_le_bytes)?,
            events: r.vec(u16::from_le_bytes)?,
            props: r.vec(u32::from_le_bytes)?,
            order_starts: r.vec(u32::from_le_bytes)?,
            orders: r.vec(|b: [u8; 16]| Order {
                ts_us: i64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                cents: i64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
            })?,
            min_ts_us: i64::from_le_bytes(r.take(8)?.try_into().ok()?),
            max_ts_us: i64::from_le_bytes(r.take(8)?.try_into().ok()?),
        };
        let props = PropTable::read(bytes, &mut r.at)?;
        // Offsets must stay inside the columns, or queries would read out of bounds.
        let consistent = columns.starts.len() == columns.customers.len() + 1
            && columns.order_starts.len() == columns.customers.len() + 1
            && columns.ts_us.len() == columns.events.len()
            && columns.props.len() == columns.events.len()
            && columns.props.iter().all(|p| (*p as usize) < props.set_count())
            && columns.starts.is_sorted()
            && columns.order_starts.is_sorted()
            && columns.starts.last().is_some_and(|n| *n as usize == columns.ts_us.len())
            && columns.order_starts.last().is_some_and(|n| *n as usize == columns.orders.len())
            && columns.customers.is_sorted()
            && r.at == bytes.len();
        consistent.then_some((columns, names, props))
    }
}

/// Collects events in any order and builds [`EventColumns`] by a counting sort on the customer,
/// then a (usually already sorted) per-customer sort on time.
#[derive(Debug, Default)]
pub struct EventColumnsBuilder {
    events: Vec<RawEvent>,
}

impl EventColumnsBuilder {
    /// Returns an empty builder with room for `capacity` events.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { events: Vec::with_capacity(capacity) }
    }

    /// Adds one event and returns its position (for [`EventColumnsBuilder::set_order_cents`]).
    pub fn push(&mut self, event: RawEvent) -> usize {
        self.events.push(event);
        self.events.len() - 1
    }

    /// Returns the order value of the event at `position` (`None`: not an order).
    pub fn order_cents(&self, position: usize) -> Option<i64> {
        self.events.get(position).and_then(|e| e.order_cents)
    }

    /// Changes the order value of the event at `position` (a refund reduces or removes an order).
    pub fn set_order_cents(&mut self, position: usize, cents: Option<i64>) {
        if let Some(event) = self.events.get_mut(position) {
            event.order_cents = cents;
        }
    }

    /// Returns the number of events added so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Returns true when no event was added.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Builds the columns. Events of one customer at the same instant keep the order they were added.
    pub fn build(self) -> EventColumns {
        let events = self.events;
        let mut customers: Vec<i64> = events.iter().map(|e| e.customer).collect();
        customers.sort_unstable();
        customers.dedup();
        // Collected one per event: give back the room of the duplicates.
        customers.shrink_to_fit();
        let slot_of: HashMap<i64, u32> = customers.iter().enumerate().map(|(i, c)| (*c, i as u32)).collect();
        let slots: Vec<u32> = events.iter().map(|e| slot_of[&e.customer]).collect();
        drop(slot_of);

        let mut starts = vec![0u32; customers.len() + 1];
        let mut order_starts = vec![0u32; customers.len() + 1];
        for (event, slot) in events.iter().zip(&slots) {
            starts[*slot as usize + 1] += 1;
            if event.order_cents.is_some() {
                order_starts[*slot as usize + 1] += 1;
            }
        }
        for i in 0..customers.len() {
            starts[i + 1] += starts[i];
            order_starts[i + 1] += order_starts[i];
        }
        let mut next = starts.clone();
        let mut next_order = order_starts.clone();
        let mut ts_us = vec![0i64; events.len()];
        let mut names = vec![0u16; events.len()];
        let mut props = vec![0u32; events.len()];
        let mut orders = vec![Order { ts_us: 0, cents: 0 }; order_starts[customers.len()] as usize];
        for (event, slot) in events.iter().zip(&slots) {
            let at = &mut next[*slot as usize];
            ts_us[*at as usize] = event.ts_us;
            names[*at as usize] = event.event;
            props[*at as usize] = event.props;
            *at += 1;
            if let Some(cents) = event.order_cents {
                let at = &mut next_order[*slot as usize];
                orders[*at as usize] = Order { ts_us: event.ts_us, cents };
                *at += 1;
            }
        }
        drop(events);
        drop(slots);

        let mut scratch: Vec<(i64, u16, u32)> = Vec::new();
        for slot in 0..customers.len() {
            let range = starts[slot] as usize..starts[slot + 1] as usize;
            if !ts_us[range.clone()].is_sorted() {
                scratch.clear();
                scratch.extend(range.clone().map(|i| (ts_us[i], names[i], props[i])));
                // Stable, so that events at one instant keep their arrival order.
                scratch.sort_by_key(|(ts, _, _)| *ts);
                for (i, (ts, name, set)) in range.zip(scratch.iter()) {
                    ts_us[i] = *ts;
                    names[i] = *name;
                    props[i] = *set;
                }
            }
            let orders = &mut orders[order_starts[slot] as usize..order_starts[slot + 1] as usize];
            if !orders.is_sorted_by_key(|o| o.ts_us) {
                orders.sort_by_key(|o| o.ts_us);
            }
        }
        let min_ts_us = ts_us.iter().copied().min().unwrap_or(0);
        let max_ts_us = ts_us.iter().copied().max().unwrap_or(0);
        EventColumns { customers, starts, ts_us, events: names, props, order_starts, orders, min_ts_us, max_ts_us }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(customer: i64, ts_us: i64, event: u16) -> RawEvent {
        RawEvent { customer, ts_us, event, order_cents: None, props: EMPTY_SET }
    }

    #[test]
    fn events_are_grouped_by_customer_and_ordered_by_time() {
        let mut builder = EventColumnsBuilder::default();
        builder.push(event(9, 30, 1));
        builder.push(event(4, 20, 0));
        builder.push(event(9, 10, 2));
        builder.push(RawEvent { customer: 4, ts_us: 5, event: 3, order_cents: Some(1250), props: EMPTY_SET });
        builder.push(event(9, 30, 0));
        let columns = builder.build();
        assert_eq!(columns.customer_count(), 2);
        assert_eq!(columns.customer(0), 4);
        assert_eq!(columns.events_of(0), (&[5, 20][..], &[3, 0][..]));
        assert_eq!(columns.events_of(1), (&[10, 30, 30][..], &[2, 1, 0][..]));
        assert_eq!(columns.orders_of(0), &[Order { ts_us: 5, cents: 1250 }]);
        assert!(columns.orders_of(1).is_empty());
        assert_eq!(columns.time_range(), Some((5, 30)));
    }

    #[test]
    fn columns_round_trip_through_bytes_and_damage_is_refused() {
        let mut builder = EventColumnsBuilder::default();
        builder.push(event(9, 30, 1));
        builder.push(RawEvent { customer: 4, ts_us: 5, event: 0, order_cents: Some(1250), props: EMPTY_SET });
        let columns = builder.build();
        let mut names = EventNames::default();
        names.intern("Signed Up");
        names.intern("Order Completed");
        let bytes = columns.to_bytes(&names, &PropTable::default());
        let (back, back_names, _) = EventColumns::from_bytes(&bytes).expect("whole snapshot");
        assert_eq!(back.events_of(1), columns.events_of(1));
        assert_eq!(back.orders_of(0), columns.orders_of(0));
        assert_eq!(back_names.names(), names.names());
        assert!(EventColumns::from_bytes(&bytes[..bytes.len() - 1]).is_none());
        assert!(EventColumns::from_bytes(b"SIYUIDX0").is_none());
    }

    #[test]
    fn remapping_gives_what_building_with_the_merges_gives() {
        let raw = [
            RawEvent { customer: 7, ts_us: 5, event: 3, order_cents: Some(900), props: EMPTY_SET },
            event(4, 20, 0),
            event(9, 10, 2),
            event(7, 20, 5),
            RawEvent { customer: 4, ts_us: 8, event: 3, order_cents: Some(1250), props: EMPTY_SET },
            event(2, 1, 1),
        ];
        let build = |raw: &[RawEvent]| {
            let mut builder = EventColumnsBuilder::default();
            raw.iter().for_each(|e| {
                builder.push(*e);
            });
            builder.build()
        };
        let columns = build(&raw);
        // 7 and 9 merge into 4 (which keeps its own events), 2 into 11 (which had none).
        let moves: HashMap<i64, i64> = [(7, 4), (9, 4), (2, 11)].into_iter().collect();
        let remapped = columns.remapped(&moves);
        let moved: Vec<RawEvent> = raw
            .iter()
            .map(|e| RawEvent { customer: moves.get(&e.customer).copied().unwrap_or(e.customer), ..*e })
            .collect();
        let expected = build(&moved);
        assert_eq!(remapped.customer_count(), 2);
        for slot in 0..2 {
            assert_eq!(remapped.customer(slot), expected.customer(slot));
            assert_eq!(remapped.events_of(slot).0, expected.events_of(slot).0);
            assert_eq!(remapped.orders_of(slot), expected.orders_of(slot));
        }
        assert_eq!(remapped.events_of(0), (&[5, 8, 10, 20, 20][..], &[3, 3, 2, 0, 5][..]));
        assert_eq!(remapped.orders_of(0), &[Order { ts_us: 5, cents: 900 }, Order { ts_us: 8, cents: 1250 }]);
        assert_eq!(remapped.time_range(), columns.time_range());
        // No move that applies: the same columns.
        assert_eq!(columns.remapped(&HashMap::new()).events_of(1), columns.events_of(1));
    }

    #[test]
    fn names_get_dense_ids() {
        let mut names = EventNames::default();
        assert_eq!(names.intern("Signed Up"), Some(0));
        assert_eq!(names.intern("Order Completed"), Some(1));
        assert_eq!(names.intern("Signed Up"), Some(0));
        assert_eq!(names.name(1), Some("Order Completed"));
        assert_eq!(names.id("Nope"), None);
    }
}
