//! The segments slice: the definition language ([`language`]), its checks ([`check`](mod@check): errors that
//! name the field, warnings that list unknown names), its evaluation into a compressed bitmap of
//! customers ([`evaluate`]) over the workspace's profile facts ([`ProfileFacts`]), event index and
//! models, the store contract ([`store`]), the use cases (`service`) and the upkeep that keeps
//! members current (`upkeep`).

pub mod check;
pub mod evaluate;
pub mod facts;
pub mod language;
mod personal_data;
mod service;
pub mod store;
#[cfg(test)]
mod tests;
mod upkeep;

pub use check::*;
pub use evaluate::*;
pub use facts::{ProfileFacts, TraitColumn};
pub(crate) use service::FactsCache;
pub use service::{DefinitionInput, MEMBER_COLUMNS, SegmentInput, SegmentPreview, SegmentView, member_row};
pub use store::*;
pub(crate) use upkeep::Upkeep;
pub use upkeep::{SEGMENT_ENTERED, SEGMENT_EXITED, UpkeepWakes};

use crate::access::Access;
use crate::customers::{CustomerChange, CustomerChanges, Customers};
use crate::events::{EventChange, EventChanges, Events};
use crate::feed::{Changes, Feed, Subscriber};
use crate::models::Models;
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A change the segments slice publishes (see [`crate::feed`]).
#[derive(Debug)]
pub enum SegmentChange<'a> {
    /// Customers entered or left a segment (recorded as `Segment Entered`/`Exited` events first).
    Membership {
        /// The segment's key.
        segment: &'a str,
        /// Customers that entered.
        entered: &'a [CustomerId],
        /// Customers that left.
        exited: &'a [CustomerId],
    },
}

/// The segments slice's changes.
pub struct SegmentChanges;

impl Changes for SegmentChanges {
    type Change<'a> = SegmentChange<'a>;
}

/// The segments slice: definitions checked, stored and evaluated, and their members kept current.
/// Keeps the profile facts and each workspace's upkeep; hears profile changes and appended events
/// on the customers' and events' feeds.
#[derive(Clone)]
pub struct Segments {
    pub(crate) access: Access,
    pub(crate) customers: Customers,
    pub(crate) events: Events,
    pub(crate) models: Models,
    pub(crate) store: Arc<dyn SegmentStore>,
    /// Entries and exits, for whoever acts on them (journeys).
    pub feed: Feed<SegmentChanges>,
    pub(crate) facts: Arc<Mutex<FactsCache>>,
    pub(crate) upkeep: Arc<Mutex<HashMap<WorkspaceId, Arc<Upkeep>>>>,
    /// Woken when upkeep work is queued (the runner's workers sleep on them).
    pub wakes: UpkeepWakes,
    /// Customers an upkeep queue holds before it is emptied for a full pass.
    pub(crate) queue_limit: Arc<std::sync::atomic::AtomicUsize>,
}

impl Segments {
    pub(crate) fn new(
        access: Access,
        customers: Customers,
        events: Events,
        models: Models,
        store: Arc<dyn SegmentStore>,
    ) -> Self {
        Self {
            access,
            customers,
            events,
            models,
            store,
            feed: Feed::default(),
            facts: Default::default(),
            upkeep: Default::default(),
            wakes: UpkeepWakes::default(),
            queue_limit: Arc::new(std::sync::atomic::AtomicUsize::new(upkeep::QUEUE_LIMIT)),
        }
    }
}

impl Subscriber<CustomerChanges> for Segments {
    fn changed(&self, ws: WorkspaceId, change: &CustomerChange<'_>) {
        match change {
            CustomerChange::AllChanged => self.all_profiles_changed(ws),
            // An erasure reaches this slice as `PersonalData::erase`, in the registry's order.
            CustomerChange::Deleted(_) => {}
            _ => self.profiles_changed(ws, change.customers()),
        }
    }
}

impl Subscriber<EventChanges> for Segments {
    fn changed(&self, ws: WorkspaceId, change: &EventChange<'_>) {
        // Upkeep runs over a loaded index; before it is, nobody's membership was computed.
        if let EventChange::Appended { events, positioned: Some(positioned) } = change {
            self.note_events(ws, events, positioned);
        }
    }
}
