//! What the customers slice holds about a customer, given out and erased.

use super::{CustomerChange, Customers};
use crate::access::Principal;
use crate::error::{DomainError, DomainResult};
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use siyu_core::{CustomerId, WorkspaceId};

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
