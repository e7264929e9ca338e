//! The facade: [`Services`] composes the slices. It holds the stores, the clock, the master key's
//! keyring and each slice's state; every slice adds its use cases to it in its own `service` files
//! (plain async functions, each taking the acting [`Principal`]).

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
    pub(crate) master_key: Arc<SecretKey>,
    data_keys: Arc<RwLock<HashMap<WorkspaceId, DataKey>>>,
    pub(crate) ingest: Arc<crate::events::IngestState>,
    pub(crate) live: Arc<std::sync::Mutex<HashMap<WorkspaceId, Arc<tokio::sync::RwLock<crate::events::LiveIndex>>>>>,
    pub(crate) computed: Arc<crate::models::KeptModels>,
    pub(crate) facts: Arc<std::sync::Mutex<crate::segments::FactsCache>>,
    pub(crate) upkeep: Arc<std::sync::Mutex<HashMap<WorkspaceId, Arc<crate::segments::Upkeep>>>>,
    pub(crate) login_throttle: Arc<crate::access::users::LoginThrottle>,
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
