//! The channels' persistence contract: each workspace's configured channels (secrets sealed) and
//! its messages — the outbox a send job works from and the message log in one table.

use super::guardrails::MessageClass;
use crate::jobs::NewJob;
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// A configured channel as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChannel {
    /// Name, unique in the workspace.
    pub name: String,
    /// The adapter kind (`webhook`, `email`, …).
    pub kind: String,
    /// The settings that are not secret (JSON object).
    pub settings: String,
    /// The secrets (a JSON object of strings) sealed under the workspace's data key.
    pub secrets: Vec<u8>,
    /// Created.
    pub created_at: jiff::Timestamp,
    /// Last changed (an adapter built from older settings is built again).
    pub updated_at: jiff::Timestamp,
}

impl StoredChannel {
    /// Its settings as a JSON object (empty if the stored text is not one).
    pub fn settings_map(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.settings).unwrap_or_default()
    }
}

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for its send (or for quiet hours to end, or for a retry).
    Queued,
    /// Being sent: it counts toward the frequency cap, and a send cut short is made again under the
    /// same idempotency key.
    Sending,
    /// The provider accepted it.
    Sent,
    /// Refused by the provider, or undeliverable (no address, a template that does not render).
    Failed,
    /// Held back by a guardrail (consent, frequency cap).
    Blocked,
    /// Recorded, not sent: the channel is in dry-run mode.
    DryRun,
    /// Sent, and the provider's receipt says it reached the customer.
    Delivered,
    /// Sent, and the provider's receipt says it did not reach the customer (the reason says why).
    Undelivered,
}

impl MessageStatus {
    /// Every status.
    pub const ALL: [MessageStatus; 8] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Failed,
        MessageStatus::Blocked,
        MessageStatus::DryRun,
        MessageStatus::Delivered,
        MessageStatus::Undelivered,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Blocked => "blocked",
            MessageStatus::DryRun => "dry_run",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether nothing more happens to a message in this status.
    pub fn is_final(self) -> bool {
        !matches!(self, MessageStatus::Queued | MessageStatus::Sending)
    }
}

/// A message as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Store-wide id.
    pub id: i64,
    /// Idempotency key, unique in the workspace.
    pub key: String,
    /// The channel's name.
    pub channel: String,
    /// The customer it goes to (none for internal notifications).
    pub customer: Option<CustomerId>,
    /// Marketing or transactional.
    pub class: MessageClass,
    /// Its templates and data (JSON), sealed under the workspace's data key.
    pub content: Vec<u8>,
    /// Who sent it (JSON object: `{"api": …}` or the journey, version and node), shown in the log
    /// and copied into its events.
    pub source: String,
    /// Where it is.
    pub status: MessageStatus,
    /// The guardrail that blocked it.
    pub guardrail: Option<String>,
    /// Why it failed, was blocked or waits.
    pub reason: Option<String>,
    /// The provider's id for it.
    pub provider_id: Option<String>,
    /// Queued.
    pub created_at: jiff::Timestamp,
    /// Last changed.
    pub updated_at: jiff::Timestamp,
    /// When its send began (it counts toward the cap from then).
    pub sent_at: Option<jiff::Timestamp>,
}

/// A saved message template as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTemplate {
    /// Name, unique in the workspace.
    pub name: String,
    /// What operators call it.
    pub title: String,
    /// Marketing or transactional.
    pub class: MessageClass,
    /// Its text and data (a `MessageContent`, JSON).
    pub content: String,
    /// Created.
    pub created_at: jiff::Timestamp,
    /// Last changed.
    pub updated_at: jiff::Timestamp,
}

/// Which messages a log read returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// On this channel.
    pub channel: Option<String>,
    /// In this status.
    pub status: Option<MessageStatus>,
    /// To these customers (a profile and those merged into it).
    pub customers: Option<Vec<CustomerId>>,
    /// Whose source has this journey id.
    pub journey: Option<i64>,
    /// With an id below this (the previous page's last).
    pub before_id: Option<i64>,
}

/// What reserving a message's send found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The message is now `sending` (or was, by an attempt cut short).
    Reserved(Box<StoredMessage>),
    /// The customer's marketing messages on the channel since the window began fill the cap.
    Capped {
        /// How many.
        count: u64,
    },
    /// Nothing more to do: it is final, or gone (erased with its customer).
    Finished,
}

/// The frequency cap a reservation is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapCheck {
    /// At most this many marketing messages on the channel to the customer…
    pub max: u32,
    /// …whose send began after this.
    pub since: jiff::Timestamp,
}

/// Persists channels and messages.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Inserts or replaces a channel.
    async fn save_channel(&self, ws: WorkspaceId, channel: &StoredChannel) -> Result<(), StoreError>;
    /// Returns a channel.
    async fn channel(&self, ws: WorkspaceId, name: &str) -> Result<Option<StoredChannel>, StoreError>;
    /// Returns every channel of the workspace, by name.
    async fn channels(&self, ws: WorkspaceId) -> Result<Vec<StoredChannel>, StoreError>;
    /// Deletes a channel; returns whether it existed.
    async fn delete_channel(&self, ws: WorkspaceId, name: &str) -> Result<bool, StoreError>;

    /// Inserts or replaces a saved template.
    async fn save_template(&self, ws: WorkspaceId, template: &StoredTemplate) -> Result<(), StoreError>;
    /// Returns a saved template.
    async fn template(&self, ws: WorkspaceId, name: &str) -> Result<Option<StoredTemplate>, StoreError>;
    /// Returns every saved template of the workspace, by name.
    async fn templates(&self, ws: WorkspaceId) -> Result<Vec<StoredTemplate>, StoreError>;
    /// Deletes a saved template; returns whether it existed.
    async fn delete_template(&self, ws: WorkspaceId, name: &str) -> Result<bool, StoreError>;

    /// Inserts messages and their send jobs in one transaction, each unless the workspace has a
    /// message of its key (then neither it nor its job is added); returns how many were new.
    /// `messages[i]`'s job is `jobs[i]`.
    async fn enqueue(
        &self,
        ws: WorkspaceId,
        messages: &[StoredMessage],
        jobs: &[NewJob],
        now: jiff::Timestamp,
    ) -> Result<u64, StoreError>;
    /// Returns a message by key.
    async fn message(&self, ws: WorkspaceId, key: &str) -> Result<Option<StoredMessage>, StoreError>;
    /// Marks a queued message `sending` from `now`, unless `cap` says the customer's marketing
    /// messages on its channel (sending or sent after `cap.since`, this one excepted) are full —
    /// decided while no other reservation for the customer can commit. A message already
    /// `sending` (an attempt cut short) is reserved again as it is.
    async fn reserve(
        &self,
        ws: WorkspaceId,
        key: &str,
        cap: Option<CapCheck>,
        now: jiff::Timestamp,
    ) -> Result<Reservation, StoreError>;
    /// Sets a message's status (final, or back to `queued` with the reason it waits, which ends
    /// its count toward the cap), unless it is already final; returns whether it did.
    async fn set_status(
        &self,
        ws: WorkspaceId,
        key: &str,
        status: MessageStatus,
        update: &StatusUpdate,
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError>;
    /// Reserves several messages in one transaction, in order (a later one sees the earlier ones'
    /// reservations), as [`Self::reserve`] does each.
    async fn reserve_many(
        &self,
        ws: WorkspaceId,
        requests: &[(String, Option<CapCheck>)],
        now: jiff::Timestamp,
    ) -> Result<Vec<Reservation>, StoreError>;
    /// Sets several messages' statuses in one transaction, as [`Self::set_status`] does each.
    async fn set_statuses(
        &self,
        ws: WorkspaceId,
        updates: &[(String, MessageStatus, StatusUpdate)],
        now: jiff::Timestamp,
    ) -> Result<Vec<bool>, StoreError>;
    /// Returns up to `limit` messages matching `filter`, newest first.
    async fn messages(
        &self,
        ws: WorkspaceId,
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// Returns the workspace's messaging settings (JSON), if it set any.
    async fn settings(&self, ws: WorkspaceId) -> Result<Option<String>, StoreError>;
    /// Replaces the workspace's messaging settings.
    async fn set_settings(&self, ws: WorkspaceId, settings: &str, now: jiff::Timestamp) -> Result<(), StoreError>;
    /// Whether a callback with this signature was accepted by the channel (a repeat).
    async fn callback_seen(&self, ws: WorkspaceId, channel: &str, signature: &str) -> Result<bool, StoreError>;
    /// Records a callback accepted by the channel, by its signature, and forgets those accepted
    /// before `forget_before` (older ones are refused for their timestamp anyway).
    async fn note_callback(
        &self,
        ws: WorkspaceId,
        channel: &str,
        signature: &str,
        at: jiff::Timestamp,
        forget_before: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Adds one to the channel's count of callbacks with `outcome`.
    async fn count_callback(
        &self,
        ws: WorkspaceId,
        channel: &str,
        outcome: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// The channel's callback counts by outcome.
    async fn callback_counts(
        &self,
        ws: WorkspaceId,
        channel: &str,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError>;
    /// Applies a provider's receipt to the message it knows as `provider_id` on `channel`: a `sent`
    /// message becomes `status` (`delivered` or `undelivered`, with the provider's `reason`).
    async fn apply_receipt(
        &self,
        ws: WorkspaceId,
        channel: &str,
        provider_id: &str,
        status: MessageStatus,
        reason: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<ReceiptOutcome, StoreError>;
    /// Deletes the messages to these customers (an erasure), with their pending send jobs.
    async fn erase_messages(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<u64, StoreError>;
}

/// What became of a provider's receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The message it names was `sent` and now has the receipt's status (the message as it now is).
    Applied(Box<StoredMessage>),
    /// The message it names has had its receipt already.
    Already,
    /// No message has that provider id: not sent by siyu, or its send's answer not recorded yet.
    Unknown,
}

/// What a status change records beside the status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The guardrail that blocked it.
    pub guardrail: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The provider's id.
    pub provider_id: Option<String>,
}
