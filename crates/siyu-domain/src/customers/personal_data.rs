//! What the customers slice holds about a customer, given out and erased.

use super::{CustomerChange, Customers};
use crate::access::Principal;
use crate::error::{DomainError, DomainResult};
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use siyu_core::crypto::{DataKey, SealingKey, SecretKey};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::HashMap;
use std::sync::Arc;

/// What a wrapped event key is bound to.
pub(crate) const EVENT_KEY_CONTEXT: &str = "customer event key";
/// Event keys kept in memory per workspace before the cache starts over.
const MAX_CACHED_KEYS: usize = 1_000_000;

/// Customers' event keys, ready to seal, kept per workspace for the ingestion path.
#[derive(Default)]
pub(crate) struct EventKeyCache {
    workspaces: std::sync::Mutex<HashMap<WorkspaceId, EventKeys>>,
}

impl EventKeyCache {
    fn with<T>(&self, ws: WorkspaceId, f: impl FnOnce(&mut EventKeys) -> T) -> T {
        let mut all = self.workspaces.lock().expect("event key cache lock is never poisoned");
        f(all.entry(ws).or_default())
    }

    /// Keeps `keys`, starting over when the workspace's cache would pass [`MAX_CACHED_KEYS`].
    fn keep(&self, ws: WorkspaceId, keys: impl ExactSizeIterator<Item = (CustomerId, Arc<SealingKey>)>) {
        self.with(ws, |cached| {
            if cached.len() + keys.len() > MAX_CACHED_KEYS {
                cached.clear();
            }
            cached.extend(keys);
        });
    }
}

/// Customers' event keys by customer (looked up once per logged event, so with a fast hash: the
/// ids are siyu's own).
pub(crate) type EventKeys = foldhash::HashMap<CustomerId, Arc<SealingKey>>;

fn unwrap_all(key: &DataKey, wrapped: Vec<(CustomerId, Vec<u8>)>) -> DomainResult<EventKeys> {
    wrapped
        .into_iter()
        .map(|(id, wrapped)| Ok((id, Arc::new(SealingKey::new(&key.unwrap_key(&wrapped, EVENT_KEY_CONTEXT)?)))))
        .collect()
}

impl Customers {
    /// Returns the customer an id names (its survivor, if merged away) with every profile merged
    /// into it; `NotFound` when the workspace has no such customer.
    pub async fn subject(&self, ws: WorkspaceId, id: CustomerId) -> DomainResult<Subject> {
        let customer = self
            .stores
            .customers
            .resolve(ws, id)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("customer {id}")))?;
        let mut merged: Vec<CustomerId> =
            self.stores.customers.merges(ws, customer).await?.into_iter().map(|m| m.merged_id).collect();
        merged.sort();
        merged.dedup();
        Ok(Subject { workspace: ws, customer, merged })
    }

    /// Returns each given customer's event key (the key their events are sealed under in the log)
    /// from the cache or the store; a customer without one (created before event keys) gets one
    /// first; an id of no customer (an erased one) gets none.
    pub(crate) async fn event_keys(&self, ws: WorkspaceId, ids: &[CustomerId]) -> DomainResult<EventKeys> {
        let mut keys = EventKeys::with_capacity_and_hasher(ids.len(), Default::default());
        let missing: Vec<CustomerId> = self.event_key_cache.with(ws, |cached| {
            ids.iter()
                .filter(|id| match cached.get(id) {
                    Some(key) => {
                        keys.insert(**id, key.clone());
                        false
                    }
                    None => true,
                })
                .copied()
                .collect()
        });
        if missing.is_empty() {
            return Ok(keys);
        }
        let data_key = self.access.data_key(ws).await?;
        let mut found = unwrap_all(&data_key, self.stores.customers.event_keys(ws, Some(&missing)).await?)?;
        let mut keyless: Vec<CustomerId> = missing.iter().filter(|id| !found.contains_key(id)).copied().collect();
        keyless.sort();
        keyless.dedup();
        if !keyless.is_empty() {
            let offered = keyless
                .iter()
                .map(|id| Ok((*id, data_key.wrap_key(&SecretKey::generate()?, EVENT_KEY_CONTEXT)?)))
                .collect::<DomainResult<Vec<_>>>()?;
            self.stores.customers.set_event_keys(ws, &offered).await?;
            // Another writer may have given some of them a key first: what the store kept counts.
            found.extend(unwrap_all(&data_key, self.stores.customers.event_keys(ws, Some(&keyless)).await?)?);
        }
        self.event_key_cache.keep(ws, found.iter().map(|(id, key)| (*id, key.clone())));
        keys.extend(found);
        Ok(keys)
    }

    /// Keeps the event keys of profiles just created, so their first events need no read.
    pub(crate) fn remember_event_keys<'a>(
        &self,
        ws: WorkspaceId,
        data_key: &DataKey,
        created: impl Iterator<Item = (CustomerId, &'a [u8])>,
    ) -> DomainResult<()> {
        let mut keys = Vec::new();
        for (id, wrapped) in created {
            keys.push((id, Arc::new(SealingKey::new(&data_key.unwrap_key(wrapped, EVENT_KEY_CONTEXT)?))));
        }
        self.event_key_cache.keep(ws, keys.into_iter());
        Ok(())
    }

    /// Returns the event keys of every customer of the workspace that has one (merged-away
    /// profiles included), or of the given ones, to read the log.
    pub(crate) async fn stored_event_keys(
        &self,
        ws: WorkspaceId,
        only: Option<&[CustomerId]>,
    ) -> DomainResult<EventKeys> {
        let data_key = self.access.data_key(ws).await?;
        unwrap_all(&data_key, self.stores.customers.event_keys(ws, only).await?)
    }
}

#[async_trait]
impl PersonalData for Customers {
    fn part(&self) -> &'static str {
        "customers"
    }

    fn holds(&self) -> &'static [&'static str] {
        &[
            "customers",
            "identities",
            "identities_pending",
            "customer_identities",
            "customer_tags",
            "notes",
            "customer_merges",
            "consent_records",
        ]
    }

    async fn export(&self, principal: &Principal, subject: &Subject) -> DomainResult<serde_json::Value> {
        let ws = subject.workspace;
        let stored = self
            .stores
            .customers
            .find(ws, subject.customer)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("customer {}", subject.customer)))?;
        let key = self.access.data_key(ws).await?;
        let profile = self.open_customer(&key, stored, true)?;
        let notes = self.notes(principal, subject.customer).await?;
        let consent = self.consent(principal, subject.customer).await?;
        let merges = self.stores.customers.merges(ws, subject.customer).await?;
        Ok(serde_json::json!({"profile": profile, "notes": notes, "consent": consent, "merges": merges}))
    }

    /// Deletes the profile, the profiles merged into it and everything attached (identities,
    /// traits, tags, notes, consent, merge records), then tells the feed.
    async fn erase(&self, _principal: &Principal, subject: &Subject) -> DomainResult<()> {
        self.stores.customers.delete(subject.workspace, subject.customer).await?;
        // The rows held the event keys: forgetting the cached ones leaves no copy.
        self.event_key_cache.with(subject.workspace, |cached| {
            for id in subject.ids() {
                cached.remove(&id);
            }
        });
        self.feed.publish(subject.workspace, &CustomerChange::Deleted(subject.customer));
        Ok(())
    }
}
