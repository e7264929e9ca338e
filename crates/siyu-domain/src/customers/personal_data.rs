//! What the customers slice holds about a customer, given out and erased.

use super::{CustomerChange, Customers};
use crate::access::Principal;
use crate::error::{DomainError, DomainResult};
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use siyu_core::crypto::{DataKey, SecretKey};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::HashMap;

/// What a wrapped event key is bound to.
const EVENT_KEY_CONTEXT: &str = "customer event key";

fn unwrap_all(key: &DataKey, wrapped: Vec<(CustomerId, Vec<u8>)>) -> DomainResult<HashMap<CustomerId, SecretKey>> {
    wrapped.into_iter().map(|(id, wrapped)| Ok((id, key.unwrap_key(&wrapped, EVENT_KEY_CONTEXT)?))).collect()
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

    /// Returns each given customer's event key (the key their events are sealed under in the log),
    /// first giving one to each customer without (in one transaction); an id of no customer (an
    /// erased one) gets none.
    pub(crate) async fn event_keys(
        &self,
        ws: WorkspaceId,
        ids: &[CustomerId],
    ) -> DomainResult<HashMap<CustomerId, SecretKey>> {
        let data_key = self.access.data_key(ws).await?;
        let mut keys = unwrap_all(&data_key, self.stores.customers.event_keys(ws, Some(ids)).await?)?;
        let mut missing: Vec<CustomerId> = ids.iter().filter(|id| !keys.contains_key(id)).copied().collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let offered = missing
                .iter()
                .map(|id| Ok((*id, data_key.wrap_key(&SecretKey::generate()?, EVENT_KEY_CONTEXT)?)))
                .collect::<DomainResult<Vec<_>>>()?;
            self.stores.customers.set_event_keys(ws, &offered).await?;
            // Another writer may have given some of them a key first: what the store kept counts.
            keys.extend(unwrap_all(&data_key, self.stores.customers.event_keys(ws, Some(&missing)).await?)?);
        }
        Ok(keys)
    }

    /// Returns the event keys of every customer of the workspace that has one (merged-away
    /// profiles included), to read the log.
    pub(crate) async fn all_event_keys(&self, ws: WorkspaceId) -> DomainResult<HashMap<CustomerId, SecretKey>> {
        let data_key = self.access.data_key(ws).await?;
        unwrap_all(&data_key, self.stores.customers.event_keys(ws, None).await?)
    }

    /// Returns the event keys of the given customers that have one, to read their events.
    pub(crate) async fn existing_event_keys(
        &self,
        ws: WorkspaceId,
        ids: &[CustomerId],
    ) -> DomainResult<HashMap<CustomerId, SecretKey>> {
        let data_key = self.access.data_key(ws).await?;
        unwrap_all(&data_key, self.stores.customers.event_keys(ws, Some(ids)).await?)
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
        self.feed.publish(subject.workspace, &CustomerChange::Deleted(subject.customer));
        Ok(())
    }
}
