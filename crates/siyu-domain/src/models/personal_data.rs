//! What the models slice holds about a customer: nothing at rest; its scores are computed in
//! memory from profiles and events, so an export shows them and an erasure has nothing to delete
//! (the next refresh computes without the customer).

use super::Models;
use crate::access::Principal;
use crate::error::DomainResult;
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use serde_json::Value;

#[async_trait]
impl PersonalData for Models {
    fn part(&self) -> &'static str {
        "models"
    }

    fn holds(&self) -> &'static [&'static str] {
        &[]
    }

    /// The customer's RFM, lifecycle stage, tier, health and lifetime value as last computed.
    async fn export(&self, principal: &Principal, subject: &Subject) -> DomainResult<Value> {
        let model = self.customer_model(principal, subject.customer).await?;
        Ok(serde_json::to_value(model).map_err(|e| crate::DomainError::internal_from("customer model as JSON", e))?)
    }

    async fn erase(&self, _principal: &Principal, _subject: &Subject) -> DomainResult<()> {
        Ok(())
    }
}
