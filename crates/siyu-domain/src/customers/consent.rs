//! Consent per customer, purpose and channel, with full history and unsubscribe tokens.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// Why data is processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Marketing messages.
    Marketing,
    /// Behavioural analytics.
    Analytics,
    /// Profiling and models.
    Profiling,
    /// Sharing with third parties.
    ThirdPartySharing,
}

/// Where a customer is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// WeCom one-to-one and groups.
    Wecom,
    /// SMS.
    Sms,
    /// E-mail.
    Email,
    /// WeChat official account.
    WechatMp,
    /// Phone calls.
    Phone,
}

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];
            /// Returns the wire name.
            pub fn as_str(self) -> &'static str { match self { $(<$ty>::$variant => $name),* } }
            /// Parses a wire name.
            pub fn parse(text: &str) -> Option<Self> { match text { $($name => Some(<$ty>::$variant),)* _ => None } }
        }
    };
}
wire_names!(Purpose { Marketing => "marketing", Analytics => "analytics", Profiling => "profiling", ThirdPartySharing => "third_party_sharing" });
wire_names!(Channel { Wecom => "wecom", Sms => "sms", Email => "email", WechatMp => "wechat_mp", Phone => "phone" });

/// How long a one-click unsubscribe link works after it is made: long enough for any message it is put
/// in (the usual rule is at least 30 days after sending), short enough that a leaked link dies.
pub const UNSUBSCRIBE_LINK_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// One consent change, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsentRecord {
    /// Purpose.
    pub purpose: Purpose,
    /// Channel.
    pub channel: Channel,
    /// Granted (true) or withdrawn (false).
    pub granted: bool,
    /// Where the change came from (e.g. `api`, `unsubscribe_link`, `console`).
    pub source: String,
    /// Privacy-policy version the customer saw.
    pub policy_version: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: jiff::Timestamp,
}

/// Returns the current state (latest record per purpose and channel) from a history.
pub fn current_state(history: &[ConsentRecord]) -> Vec<ConsentRecord> {
    let mut latest: std::collections::BTreeMap<(Purpose, Channel), &ConsentRecord> = Default::default();
    for record in history {
        let entry = latest.entry((record.purpose, record.channel)).or_insert(record);
        if record.recorded_at >= entry.recorded_at {
            *entry = record;
        }
    }
    latest.into_values().cloned().collect()
}

/// Persists consent history.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Appends records for live customers in one transaction; `NotFound` (and nothing written) if
    /// any customer does not exist in the workspace.
    async fn record(&self, ws: WorkspaceId, records: &[(CustomerId, ConsentRecord)]) -> Result<(), StoreError>;
    /// Returns the full history, oldest first.
    async fn history(&self, ws: WorkspaceId, customer: CustomerId) -> Result<Vec<ConsentRecord>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(channel: Channel, granted: bool, at_ms: i64) -> ConsentRecord {
        ConsentRecord {
            purpose: Purpose::Marketing,
            channel,
            granted,
            source: "api".into(),
            policy_version: "v1".into(),
            recorded_at: jiff::Timestamp::from_millisecond(at_ms).unwrap(),
        }
    }

    #[test]
    fn latest_record_per_channel_wins() {
        let history = [record(Channel::Sms, true, 1), record(Channel::Email, true, 2), record(Channel::Sms, false, 3)];
        let state = current_state(&history);
        assert_eq!(state.len(), 2);
        assert!(state.iter().any(|r| r.channel == Channel::Sms && !r.granted));
        assert!(state.iter().any(|r| r.channel == Channel::Email && r.granted));
    }
}
