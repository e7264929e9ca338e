//! The change feed: typed changes published by the slice that made them, delivered to whoever
//! subscribed, so that no slice calls into another's write path to tell it something happened.
//! Each slice that publishes owns a [`Feed`] of its own change type (`customers::CustomerChange`,
//! `events::EventChange`, `segments::SegmentChange`); a subscriber depends on the publisher, never
//! the other way round.
//!
//! Contract:
//! - A change is published after it is durable (its transaction committed, its events fsync'd), by
//!   the slice that made it, once, with the workspace it happened in.
//! - Delivery is synchronous and in publication order, on the publisher's thread: a subscriber must
//!   return quickly (note the change, wake its worker) and never block or await. It may not publish
//!   in turn from inside [`Subscriber::changed`].
//! - The feed is in memory: a subscriber sees the changes published while it is subscribed. One
//!   that must not miss a change across a crash (a journey trigger, points for an order) keeps a
//!   durable position in the event log — the checkpoint that
//!   [`crate::events::EventStore::scan_since`] returns — and on start reads the log from it before
//!   it listens, so delivery is at least once and the subscriber applies each change once by the
//!   event's `messageId`. The changes such a subscriber needs are events in the log for that reason
//!   (`identify`, `alias`, `Segment Entered`/`Segment Exited`, and the events themselves).

use siyu_core::WorkspaceId;
use std::sync::{Arc, RwLock, Weak};

/// A kind of change a slice publishes: names the change type, which borrows what it describes.
pub trait Changes: 'static {
    /// One change.
    type Change<'a>;
}

/// Whoever wants to hear of a slice's changes.
pub trait Subscriber<K: Changes>: Send + Sync {
    /// Called once per published change, in order, right after it is durable. Must not block.
    fn changed(&self, ws: WorkspaceId, change: &K::Change<'_>);
}

/// A slice's feed: its subscribers, held weakly (a subscriber lives as long as its owner keeps it).
pub struct Feed<K: Changes> {
    subscribers: Arc<RwLock<Vec<Weak<dyn Subscriber<K>>>>>,
}

impl<K: Changes> Clone for Feed<K> {
    fn clone(&self) -> Self {
        Self { subscribers: self.subscribers.clone() }
    }
}

impl<K: Changes> Default for Feed<K> {
    fn default() -> Self {
        Self { subscribers: Default::default() }
    }
}

impl<K: Changes> Feed<K> {
    /// Subscribes; the feed forgets the subscriber once the caller drops its last `Arc`.
    pub fn subscribe(&self, subscriber: &Arc<dyn Subscriber<K>>) {
        let mut all = self.subscribers.write().expect("feed lock is never poisoned");
        all.retain(|s| s.strong_count() > 0);
        all.push(Arc::downgrade(subscriber));
    }

    /// Delivers a change to every subscriber, in the order they subscribed.
    pub fn publish(&self, ws: WorkspaceId, change: &K::Change<'_>) {
        let subscribers: Vec<Arc<dyn Subscriber<K>>> =
            self.subscribers.read().expect("feed lock is never poisoned").iter().filter_map(Weak::upgrade).collect();
        for subscriber in subscribers {
            subscriber.changed(ws, change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Numbers;
    impl Changes for Numbers {
        type Change<'a> = &'a [u32];
    }

    #[derive(Default)]
    struct Heard(Mutex<Vec<(WorkspaceId, Vec<u32>)>>);

    impl Subscriber<Numbers> for Heard {
        fn changed(&self, ws: WorkspaceId, change: &&[u32]) {
            self.0.lock().unwrap().push((ws, change.to_vec()));
        }
    }

    #[test]
    fn subscribers_hear_changes_in_order_until_their_owner_drops_them() {
        let feed = Feed::<Numbers>::default();
        let heard = Arc::new(Heard::default());
        let subscriber: Arc<dyn Subscriber<Numbers>> = heard.clone();
        feed.subscribe(&subscriber);
        feed.publish(WorkspaceId(1), &&[5][..]);
        feed.publish(WorkspaceId(2), &&[7, 3][..]);
        assert_eq!(*heard.0.lock().unwrap(), vec![(WorkspaceId(1), vec![5]), (WorkspaceId(2), vec![7, 3])]);
        drop(subscriber);
        drop(heard);
        feed.publish(WorkspaceId(1), &&[9][..]);
        assert!(feed.subscribers.read().unwrap().iter().all(|s| s.strong_count() == 0), "nobody is left to hear");
    }
}
