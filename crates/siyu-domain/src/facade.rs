//! The facade: [`Services`] builds the slices over the stores chosen at start, each with the slices
//! it depends on (access ← customers ← events ← models ← segments), and subscribes the listeners to
//! the feeds they hear. Callers reach a use case through its slice (`services.segments.save_segment(…)`);
//! each takes the acting [`crate::access::Principal`].

use crate::access::{Access, AccessStores};
use crate::customers::{CustomerChanges, CustomerStores, Customers};
use crate::events::{EventChanges, Events};
use crate::feed::Subscriber;
use crate::models::Models;
use crate::segments::Segments;
use crate::stores::Stores;
use siyu_core::Clock;
use siyu_core::crypto::SecretKey;
use std::sync::Arc;

/// Every slice of a running siyu, over the same stores, keys and clock.
#[derive(Clone)]
pub struct Services {
    /// The stores (for the workers and tools that read them directly).
    pub stores: Stores,
    clock: Arc<dyn Clock>,
    /// Workspaces, users, sessions, API keys, audit.
    pub access: Access,
    /// Profiles, tags, notes, consent, imports.
    pub customers: Customers,
    /// Ingestion, the event log and the live index.
    pub events: Events,
    /// Customer models.
    pub models: Models,
    /// Segments and their upkeep.
    pub segments: Segments,
    /// The feeds' subscribers, alive as long as the services are (feeds hold them weakly).
    _listeners: Arc<Listeners>,
}

struct Listeners {
    _customers: Vec<Arc<dyn Subscriber<CustomerChanges>>>,
    _events: Vec<Arc<dyn Subscriber<EventChanges>>>,
}

impl Services {
    /// Builds the services over opened stores with the master key.
    pub fn new(stores: Stores, master_key: SecretKey, clock: Arc<dyn Clock>) -> Self {
        let access_stores = AccessStores {
            workspaces: stores.workspaces.clone(),
            users: stores.users.clone(),
            api_keys: stores.api_keys.clone(),
            audit: stores.audit.clone(),
        };
        let access = Access::new(access_stores, master_key, clock.clone());
        let customer_stores = CustomerStores {
            customers: stores.customers.clone(),
            tags: stores.tags.clone(),
            consent: stores.consent.clone(),
        };
        let customers = Customers::new(access.clone(), customer_stores);
        let events = Events::new(customers.clone(), stores.events.clone());
        let models = Models::new(access.clone(), customers.clone(), events.clone());
        let segments =
            Segments::new(access.clone(), customers.clone(), events.clone(), models.clone(), stores.segments.clone());
        let listeners = Listeners {
            _customers: vec![Arc::new(events.clone()), Arc::new(segments.clone())],
            _events: vec![Arc::new(segments.clone())],
        };
        for listener in &listeners._customers {
            customers.feed.subscribe(listener);
        }
        for listener in &listeners._events {
            events.feed.subscribe(listener);
        }
        Self { stores, clock, access, customers, events, models, segments, _listeners: Arc::new(listeners) }
    }

    /// Returns the current time.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// The clock every slice reads (a slice with another clock: [`Customers::with_clock`](crate::customers::Customers::with_clock)).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
}
