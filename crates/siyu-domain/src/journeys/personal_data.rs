//! What the journeys slice holds about a customer (their entries and agent tasks), given out and
//! erased.

use super::Journeys;
use crate::access::Principal;
use crate::error::DomainResult;
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use serde_json::Value;

#[async_trait]
impl PersonalData for Journeys {
    fn part(&self) -> &'static str {
        "journeys"
    }

    fn holds(&self) -> &'static [&'static str] {
        &["journey_entries", "agent_tasks"]
    }

    /// The customer's entries on journeys (where they are, their split arm, whether they converted).
    async fn export(&self, _principal: &Principal, subject: &Subject) -> DomainResult<Value> {
        let entries = self.store.entries_of(subject.workspace, &subject.ids()).await?;
        let views: Vec<super::service::EntryView> = entries.into_iter().map(Into::into).collect();
        Ok(serde_json::to_value(views).unwrap_or(Value::Null))
    }

    /// Deletes the customer's entries and tasks: no journey runs on for an erased customer.
    async fn erase(&self, _principal: &Principal, subject: &Subject) -> DomainResult<()> {
        self.store.erase_entries(subject.workspace, &subject.ids()).await?;
        Ok(())
    }
}
