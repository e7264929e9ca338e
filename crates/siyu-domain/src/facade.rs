//! The facade: [`Services`] builds the slices over the stores chosen at start, each with the slices
//! it depends on (access ← customers ← events ← models ← segments), and subscribes the listeners to
//! the feeds they hear. Callers reach a use case through its slice (`services.segments.save_segment(…)`);
//! each takes the acting [`crate::access::Principal`].

use crate::access::{Access, AccessStores, Permission, Principal};
use crate::campaigns::Campaigns;
use crate::channels::messaging::{ChannelFactory, Messaging};
use crate::customers::{CustomerChanges, CustomerStores, Customers};
use crate::error::DomainResult;
use crate::events::{EventChanges, Events};
use crate::feed::Subscriber;
use crate::journeys::Journeys;
use crate::models::Models;
use crate::personal_data::PersonalData;
use crate::segments::Segments;
use crate::stores::Stores;
use siyu_core::crypto::SecretKey;
use siyu_core::{Clock, CustomerId};
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
    /// Tracked links and open pixels of sent messages.
    pub tracking: crate::channels::tracking::Tracking,
    /// Configured channels and the messages sent on them.
    pub messaging: Messaging,
    /// Journeys, their entries and engine.
    pub journeys: Journeys,
    /// Campaigns and their activities (flash sales), and the customer tokens they take.
    pub campaigns: Campaigns,
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
        let tracking = crate::channels::tracking::Tracking::new(access.clone(), events.clone());
        let messaging = Messaging::new(
            access.clone(),
            customers.clone(),
            events.clone(),
            models.clone(),
            segments.clone(),
            stores.messages.clone(),
        );
        let campaigns = Campaigns::new(
            access.clone(),
            customers.clone(),
            events.clone(),
            segments.clone(),
            crate::campaigns::service::CampaignStores {
                store: stores.campaigns.clone(),
                coupons: stores.coupons.clone(),
                lotteries: stores.lotteries.clone(),
                checkins: stores.checkins.clone(),
                group_buys: stores.group_buys.clone(),
                quizzes: stores.quizzes.clone(),
            },
        );
        let journeys = Journeys::new(
            access.clone(),
            customers.clone(),
            events.clone(),
            segments.clone(),
            messaging.clone(),
            campaigns.clone(),
            stores.journeys.clone(),
        );
        let listeners = Listeners {
            _customers: vec![Arc::new(events.clone()), Arc::new(segments.clone())],
            _events: vec![Arc::new(segments.clone()), Arc::new(journeys.clone())],
        };
        for listener in &listeners._customers {
            customers.feed.subscribe(listener);
        }
        for listener in &listeners._events {
            events.feed.subscribe(listener);
        }
        Self {
            stores,
            clock,
            access,
            customers,
            events,
            models,
            segments,
            tracking,
            messaging,
            journeys,
            campaigns,
            _listeners: Arc::new(listeners),
        }
    }

    /// The same services sending through adapters that `factory` builds, with links (unsubscribe,
    /// tracking) under `public_url`.
    pub fn with_channels(mut self, factory: Arc<dyn ChannelFactory>, public_url: Option<&str>) -> Self {
        self.messaging = self.messaging.with_factory(factory, public_url);
        self.journeys = self.journeys.with_messaging(self.messaging.clone());
        self
    }

    /// Returns the current time.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// Every slice that holds data about customers, in the order they depend on each other: an
    /// export walks it, an erasure too (customers first). A slice that keeps customer data must be
    /// listed here (the storage contract checks every table against [`PersonalData::holds`]).
    pub fn personal_data(&self) -> [&dyn PersonalData; 7] {
        [&self.customers, &self.events, &self.models, &self.segments, &self.messaging, &self.campaigns, &self.journeys]
    }

    /// Returns everything held about a customer (and the profiles merged into it) as one JSON
    /// document, one part per slice, unmasked; needs `pii:read` and is audited.
    pub async fn export_customer(&self, principal: &Principal, id: CustomerId) -> DomainResult<serde_json::Value> {
        principal.require(Permission::CustomersRead)?;
        principal.require(Permission::PiiRead)?;
        let subject = self.customers.subject(principal.workspace_id(), id).await?;
        let mut export = serde_json::Map::new();
        export.insert("customer_id".into(), subject.customer.0.into());
        export.insert("merged_ids".into(), subject.merged.iter().map(|m| m.0).collect());
        export.insert("exported_at".into(), self.now().to_string().into());
        for slice in self.personal_data() {
            export.insert(slice.part().into(), slice.export(principal, &subject).await?);
        }
        self.access.audit(principal, "customer.export", &format!("customer:{}", subject.customer)).await?;
        Ok(serde_json::Value::Object(export))
    }

    /// Erases a customer (PIPL's deletion): every registered slice erases what it holds about the
    /// customer and the profiles merged into it, customers first; audited.
    pub async fn erase_customer(&self, principal: &Principal, id: CustomerId) -> DomainResult<()> {
        principal.require(Permission::CustomersDelete)?;
        let subject = self.customers.subject(principal.workspace_id(), id).await?;
        for slice in self.personal_data() {
            slice.erase(principal, &subject).await?;
        }
        self.access.audit(principal, "customer.delete", &format!("customer:{}", subject.customer)).await
    }

    /// The clock every slice reads (a slice with another clock: [`Customers::with_clock`](crate::customers::Customers::with_clock)).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
}
