//! The events slice: what a stored event is ([`model`]), the Segment-spec tracking messages senders
//! give ([`tracking`]), the durable log they live in ([`store`]), property filters, the analytics
//! answers ([`analytics`]), and the state it keeps: ingestion's de-duplication and identity cache
//! (`ingest`) and the live index built from the log (`live`).

pub mod analytics;
pub mod filters;
mod ingest;
mod live;
pub mod model;
mod personal_data;
mod sealing;
pub mod store;
pub mod tracking;

pub use personal_data::MAX_EXPORTED_EVENTS;
pub use sealing::{EventOpener, OpenedEvent, SEALED_PREFIX};

pub use analytics::EventIndex;
pub(crate) use ingest::IngestState;
pub use ingest::{IngestOutcome, RejectedMessage};
pub(crate) use live::{LiveIndex, PositionedEvent, UpkeepView, ViewState};
pub use model::{EventKind, EventView, NewEvent, ORDER_COMPLETED, ORDER_REFUNDED, order_cents, order_id, refund_cents};
pub use store::EventStore;
pub use tracking::{Envelope, TrackingMessage, new_message_id, parse_batch_message, parse_message};

use crate::customers::{CustomerChange, CustomerChanges, Customers};
use crate::feed::{Changes, Feed, Subscriber};
use siyu_core::WorkspaceId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A change the events slice publishes (see [`crate::feed`]).
#[derive(Debug)]
pub enum EventChange<'a> {
    /// Events were appended to the log (durably), with their places in the live index.
    Appended {
        /// The events as appended.
        events: &'a [NewEvent],
        /// Where the behaviour events among them went in the workspace's live index (customer,
        /// tail position, time, event id, property set); `None` while the index is not loaded.
        positioned: Option<&'a [PositionedEvent]>,
    },
}

/// The events slice's changes.
pub struct EventChanges;

impl Changes for EventChanges {
    type Change<'a> = EventChange<'a>;
}

/// The events slice: ingestion, appends and the live index per workspace. Keeps the ingestion
/// state (de-duplication window, identity cache) and the live indexes; writes new senders'
/// profiles through [`Customers`]; hears merges and deletions on the customers' feed.
#[derive(Clone)]
pub struct Events {
    pub(crate) customers: Customers,
    pub(crate) store: Arc<dyn EventStore>,
    /// Appended events, for whoever keeps something derived from them.
    pub feed: Feed<EventChanges>,
    pub(crate) ingest: Arc<IngestState>,
    pub(crate) live: Arc<Mutex<HashMap<WorkspaceId, Arc<tokio::sync::RwLock<LiveIndex>>>>>,
    pub(crate) index_work: Arc<live::IndexWorkQueue>,
}

impl Events {
    pub(crate) fn new(customers: Customers, store: Arc<dyn EventStore>) -> Self {
        Self {
            customers,
            store,
            feed: Feed::default(),
            ingest: Default::default(),
            live: Default::default(),
            index_work: Default::default(),
        }
    }

    /// Wakes the `index.upkeep` worker when work on an index is queued.
    pub fn index_wake(&self) -> Arc<tokio::sync::Notify> {
        self.index_work.wake.clone()
    }
}

impl Subscriber<CustomerChanges> for Events {
    fn changed(&self, ws: WorkspaceId, change: &CustomerChange<'_>) {
        // Only merges: an erasure reaches this slice as `PersonalData::erase`, in the registry's order.
        if let CustomerChange::Merged(merges) = change {
            self.profiles_merged(ws, merges);
        }
    }
}
