//! What the segments slice holds about a customer (the segments it is in), given out and erased.

use super::Segments;
use crate::access::Principal;
use crate::error::DomainResult;
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use serde_json::{Value, json};

#[async_trait]
impl PersonalData for Segments {
    fn part(&self) -> &'static str {
        "segments"
    }

    fn holds(&self) -> &'static [&'static str] {
        // Members are kept as bitmaps of customer ids, one row per segment.
        &["segment_members"]
    }

    /// The segments the customer is a member of now.
    async fn export(&self, _principal: &Principal, subject: &Subject) -> DomainResult<Value> {
        let (stored, definitions) = self.segment_definitions(subject.workspace).await?;
        let mut member_of = Vec::new();
        for segment in stored {
            let (members, _) = self.current_members(subject.workspace, &segment.key, &definitions).await?;
            if members.contains(subject.customer.0 as u64) {
                member_of.push(json!({"key": segment.key, "name": segment.name}));
            }
        }
        Ok(Value::Array(member_of))
    }

    /// Takes the customer out of every segment's kept members (the upkeep saves them without it,
    /// and records no exit event for an erased profile).
    async fn erase(&self, _principal: &Principal, subject: &Subject) -> DomainResult<()> {
        self.profiles_changed(subject.workspace, subject.ids());
        Ok(())
    }
}
