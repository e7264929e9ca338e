//! The access slice: who may do what in which workspace. The principal and its roles × permissions
//! ([`principal`], re-exported here), workspaces, staff users with their sessions and invitations,
//! API keys, the audit log, and their use cases (`service`).

pub mod api_keys;
pub mod audit;
pub mod principal;
mod service;
pub mod users;
pub mod workspaces;

pub use crate::error::AccessError;
pub use principal::*;
pub use service::{Acceptance, InvitationOutcome, LoginClient, LoginOutcome};

use api_keys::ApiKeyStore;
use audit::AuditStore;
use siyu_core::crypto::{DataKey, SecretKey, unwrap_key};
use siyu_core::{Clock, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use users::UserStore;
use workspaces::WorkspaceStore;

/// The stores the access slice owns.
#[derive(Clone)]
pub struct AccessStores {
    /// Workspaces.
    pub workspaces: Arc<dyn WorkspaceStore>,
    /// Users, memberships, sessions, invitations.
    pub users: Arc<dyn UserStore>,
    /// API keys.
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditStore>,
}

/// The access slice: workspaces, users and their sessions, invitations, API keys and the audit
/// log. Every other slice holds it for the clock, each workspace's data key (unwrapped by the
/// master key once, then kept) and the audit log. Keeps the per-address login throttle.
#[derive(Clone)]
pub struct Access {
    pub(crate) stores: AccessStores,
    pub(crate) clock: Arc<dyn Clock>,
    master_key: Arc<SecretKey>,
    data_keys: Arc<RwLock<HashMap<WorkspaceId, DataKey>>>,
    pub(crate) login_throttle: Arc<users::LoginThrottle>,
}

impl Access {
    pub(crate) fn new(stores: AccessStores, master_key: SecretKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            stores,
            clock,
            master_key: Arc::new(master_key),
            data_keys: Default::default(),
            login_throttle: Default::default(),
        }
    }

    /// The same slice (keys, stores, throttle) reading time from `clock`.
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self.clone() }
    }

    /// Returns the current time.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// Returns a workspace's time zone (UTC if it names one this build does not know).
    pub(crate) async fn time_zone(&self, ws: WorkspaceId) -> crate::error::DomainResult<jiff::tz::TimeZone> {
        let workspace = self
            .stores
            .workspaces
            .find(ws)
            .await?
            .ok_or_else(|| crate::error::DomainError::NotFound(format!("workspace {ws}")))?;
        Ok(jiff::tz::TimeZone::get(&workspace.time_zone).unwrap_or(jiff::tz::TimeZone::UTC))
    }

    /// The master key (wraps each new workspace's data key).
    fn master_key(&self) -> &SecretKey {
        &self.master_key
    }

    /// Returns a workspace's unwrapped data key (cached after the first use).
    pub(crate) async fn data_key(&self, ws: WorkspaceId) -> crate::error::DomainResult<DataKey> {
        if let Some(key) = self.data_keys.read().expect("keyring lock is never poisoned").get(&ws) {
            return Ok(key.clone());
        }
        let wrapped = self.stores.workspaces.wrapped_key(ws).await?;
        let key = DataKey::new(unwrap_key(&self.master_key, &wrapped)?);
        self.data_keys.write().expect("keyring lock is never poisoned").insert(ws, key.clone());
        Ok(key)
    }

    /// Writes an audit entry for the principal.
    pub async fn audit(&self, principal: &Principal, action: &str, target: &str) -> crate::error::DomainResult<()> {
        self.stores
            .audit
            .append(principal.workspace_id(), &principal.actor().label(), action, target, self.now())
            .await?;
        Ok(())
    }
}
