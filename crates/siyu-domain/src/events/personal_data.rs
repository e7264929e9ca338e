//! What the events slice holds about a customer, given out and erased.

use super::Events;
use crate::access::Principal;
use crate::error::DomainResult;
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use serde_json::{Value, json};

/// The most events one export lists (a customer's first ones, in log order); the export says
/// how many there are in all and whether it stopped short.
pub const MAX_EXPORTED_EVENTS: usize = 100_000;

/// Returns JSON text as a value (a stored event's properties and context are JSON objects; a
/// text that is not stays text).
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn instant(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map(|t| t.to_string()).unwrap_or_default()
}

#[async_trait]
impl PersonalData for Events {
    fn part(&self) -> &'static str {
        "events"
    }

    fn holds(&self) -> &'static [&'static str] {
        &["events", "index_snapshots", "log files"]
    }

    /// Every event the customer (or a profile merged into it) sent, as Segment messages, read
    /// from the log.
    async fn export(&self, _principal: &Principal, subject: &Subject) -> DomainResult<Value> {
        let mut opener = self.opener_for(subject.workspace, Some(&subject.ids())).await?;
        let mut events = Vec::new();
        let mut total = 0u64;
        self.store
            .scan(subject.workspace, &mut |event| {
                if !subject.is(event.customer) {
                    return;
                }
                let opened = opener.open(event);
                let event = opened.view();
                total += 1;
                if events.len() < MAX_EXPORTED_EVENTS {
                    events.push(json!({
                        "type": format!("{:?}", event.kind).to_lowercase(),
                        "event": event.name,
                        "timestamp": instant(event.ts_us),
                        "receivedAt": instant(event.received_us),
                        "messageId": event.message_id,
                        "userId": (!event.user_id.is_empty()).then_some(event.user_id),
                        "anonymousId": (!event.anonymous_id.is_empty()).then_some(event.anonymous_id),
                        "properties": json_or_text(event.properties),
                        "context": json_or_text(event.context),
                    }));
                }
            })
            .await?;
        let truncated = total > events.len() as u64;
        Ok(json!({"total": total, "truncated": truncated, "events": events}))
    }

    /// The customers slice deleted the event keys with the profiles (every logged copy of their
    /// events' ids, properties and context is now unreadable); this forgets them in the ingestion
    /// path and rebuilds the live index and its snapshot without what they held.
    async fn erase(&self, _principal: &Principal, subject: &Subject) -> DomainResult<()> {
        self.profile_erased(subject.workspace, subject.customer).await
    }
}
