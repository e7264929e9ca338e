//! Use cases: plain async functions over the stores, each taking the acting [`Principal`].
//!
//! [`Services`] bundles the stores, the master key's keyring and the clock. Files: `access.rs`
//! (workspaces, users, sessions, keys), `customers.rs` (profiles, tags, notes, consent),
//! `import.rs` (CSV import).

mod access;
mod customers;
mod events;
mod models;
mod segments;
mod upkeep;

pub use upkeep::{SEGMENT_ENTERED, SEGMENT_EXITED};

pub use segments::{DefinitionInput, MEMBER_COLUMNS, SegmentInput, SegmentPreview, SegmentView, member_row};

pub use models::{
    ComputedModels, CustomerLtv, CustomerModelView, LtvAnswer, LtvFit, LtvOutcome, LtvState, LtvStatus, RecallEntry,
};

pub use events::{IngestOutcome, RejectedMessage};
mod import;
mod import_bounds;

pub use access::{Acceptance, InvitationOutcome, LoginClient, LoginOutcome};
pub use customers::{ConsentChange, ConsentView, CustomerQuery, CustomerView, IdentityView, TraitView, UpsertResult};
pub use import::{ImportReport, RowError};
pub use import_bounds::{MAX_FIELD_BYTES, MAX_ROW_BYTES};

use crate::access::Principal;
use crate::error::DomainResult;
use crate::stores::Stores;
use siyu_core::crypto::{DataKey, SecretKey, unwrap_key};
use siyu_core::{Clock, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Everything a use case needs: stores, keys, clock.
#[derive(Clone)]
pub struct Services {
    /// The stores.
    pub stores: Stores,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    master_key: Arc<SecretKey>,
    data_keys: Arc<RwLock<HashMap<WorkspaceId, DataKey>>>,
    ingest: Arc<events::IngestState>,
    live: Arc<std::sync::Mutex<HashMap<WorkspaceId, Arc<tokio::sync::RwLock<events::LiveIndex>>>>>,
    computed: Arc<models::KeptModels>,
    facts: Arc<std::sync::Mutex<segments::FactsCache>>,
    upkeep: Arc<std::sync::Mutex<HashMap<WorkspaceId, Arc<upkeep::Upkeep>>>>,
    login_throttle: Arc<crate::users::LoginThrottle>,
}

impl Services {
    /// Builds the services over opened stores with the master key.
    pub fn new(stores: Stores, master_key: SecretKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            stores,
            clock,
            master_key: Arc::new(master_key),
            data_keys: Default::default(),
            ingest: Default::default(),
            live: Default::default(),
            computed: Default::default(),
            facts: Default::default(),
            upkeep: Default::default(),
            login_throttle: Default::default(),
        }
    }

    /// Returns the current time.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// Returns a workspace's unwrapped data key (cached after the first use).
    pub async fn data_key(&self, ws: WorkspaceId) -> DomainResult<DataKey> {
        if let Some(key) = self.data_keys.read().expect("keyring lock is never poisoned").get(&ws) {
            return Ok(key.clone());
        }
        let wrapped = self.stores.workspaces.wrapped_key(ws).await?;
        let key = DataKey::new(unwrap_key(&self.master_key, &wrapped)?);
        self.data_keys.write().expect("keyring lock is never poisoned").insert(ws, key.clone());
        Ok(key)
    }

    /// Writes an audit entry for the principal.
    pub async fn audit(&self, principal: &Principal, action: &str, target: &str) -> DomainResult<()> {
        self.stores
            .audit
            .append(principal.workspace_id(), &principal.actor().label(), action, target, self.now())
            .await?;
        Ok(())
    }
}
