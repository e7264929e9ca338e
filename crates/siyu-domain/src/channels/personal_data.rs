//! What the channels slice holds about a customer (the messages sent or queued to it), given out
//! and erased.

use super::messaging::Messaging;
use crate::access::Principal;
use crate::error::DomainResult;
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use serde_json::Value;

#[async_trait]
impl PersonalData for Messaging {
    fn part(&self) -> &'static str {
        "messages"
    }

    fn holds(&self) -> &'static [&'static str] {
        &["messages"]
    }

    /// The message log's entries for the customer (what was sent, blocked or failed, and why).
    async fn export(&self, _principal: &Principal, subject: &Subject) -> DomainResult<Value> {
        let messages = self.of_customers(subject.workspace, &subject.ids()).await?;
        Ok(serde_json::to_value(messages).unwrap_or(Value::Null))
    }

    /// Deletes the customer's messages with their pending sends: nothing queued reaches an erased
    /// customer.
    async fn erase(&self, _principal: &Principal, subject: &Subject) -> DomainResult<()> {
        self.erase(subject.workspace, &subject.ids()).await
    }
}
