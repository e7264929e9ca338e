//! The customers slice: profiles with their identities (with transitive merge), typed traits, tags,
//! notes, consent and merge history, the CSV import, and their use cases.
//!
//! [`model`] holds the rules (normalisation, masking, drafts), [`store`] the persistence contract,
//! [`tags`] and [`consent`] their own rules, [`csv`] the import's layout, `service` and `import`
//! the use cases.

pub mod consent;
pub mod csv;
mod import;
mod import_bounds;
pub mod model;
mod personal_data;
mod service;
pub mod store;
pub mod tags;
mod write_group;

pub use import::{ImportReport, RowError};
pub use import_bounds::{MAX_FIELD_BYTES, MAX_ROW_BYTES};
pub use model::*;
pub(crate) use personal_data::EventKeys;
pub use service::{ConsentChange, ConsentView, CustomerQuery, CustomerView, IdentityView, TraitView, UpsertResult};
pub use store::*;

use crate::access::Access;
use crate::feed::{Changes, Feed};
use siyu_core::CustomerId;
use std::sync::Arc;

/// The stores the customers slice owns.
#[derive(Clone)]
pub struct CustomerStores {
    /// Profiles, identities, traits, notes, merges.
    pub customers: Arc<dyn CustomerStore>,
    /// Tags.
    pub tags: Arc<dyn tags::TagStore>,
    /// Consent.
    pub consent: Arc<dyn consent::ConsentStore>,
}

/// A change the customers slice publishes (see [`crate::feed`]).
#[derive(Debug)]
pub enum CustomerChange<'a> {
    /// Profiles were created (a new sender, an import row, an API upsert).
    Created(&'a [CustomerId]),
    /// Profiles changed: traits, identities, tags.
    Changed(&'a [CustomerId]),
    /// Something changed every profile that had it (a tag deleted), naming nobody.
    AllChanged,
    /// Profiles were merged: each `(merged away, survivor)`.
    Merged(&'a [(CustomerId, CustomerId)]),
    /// A profile was deleted.
    Deleted(CustomerId),
    /// A customer's consent changed (granted, withdrawn, restored).
    ConsentChanged(CustomerId),
}

impl CustomerChange<'_> {
    /// The customers a change names (none for [`CustomerChange::AllChanged`]; both sides of a merge).
    pub fn customers(&self) -> Vec<CustomerId> {
        match self {
            Self::Created(ids) | Self::Changed(ids) => ids.to_vec(),
            Self::AllChanged => Vec::new(),
            Self::Merged(pairs) => pairs.iter().flat_map(|(a, b)| [*a, *b]).collect(),
            Self::Deleted(id) | Self::ConsentChanged(id) => vec![*id],
        }
    }
}

/// The customers slice's changes.
pub struct CustomerChanges;

impl Changes for CustomerChanges {
    type Change<'a> = CustomerChange<'a>;
}

/// The customers slice: profiles written (with merge), read (masked, audited), searched, tagged,
/// noted, consent recorded, CSV imported. Publishes every change on its feed.
#[derive(Clone)]
pub struct Customers {
    pub(crate) access: Access,
    pub(crate) stores: CustomerStores,
    /// Profile changes, for whoever keeps something derived from profiles.
    pub feed: Feed<CustomerChanges>,
    /// Customers' event keys used lately (see `personal_data`).
    pub(crate) event_key_cache: Arc<personal_data::EventKeyCache>,
    /// Concurrent profile writes waiting to be committed together (see `write_group`).
    write_groups: Arc<write_group::WriteGroups>,
}

impl Customers {
    pub(crate) fn new(access: Access, stores: CustomerStores) -> Self {
        Self {
            access,
            stores,
            feed: Feed::default(),
            event_key_cache: Default::default(),
            write_groups: Default::default(),
        }
    }

    /// The same slice (stores, feed) writing with `clock`'s time, e.g. profiles created at the
    /// instant a history import first saw them.
    pub fn with_clock(&self, clock: Arc<dyn siyu_core::Clock>) -> Self {
        // Its writes are committed apart from the others', each at its own clock's time.
        Self { access: self.access.with_clock(clock), write_groups: Default::default(), ..self.clone() }
    }
}
