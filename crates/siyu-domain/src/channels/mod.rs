//! Channels: a message on its way out, and the port every channel adapter implements (the
//! adapters live in `siyu-channels`). An adapter sends one message once and says what
//! became of it; retrying, dead-lettering, guardrails (consent, quiet hours, caps) and the outbox
//! are the sender's, so that every adapter is held to the same rules; [`guardrails`] decides, at
//! the moment of sending, whether a message goes now, later or not at all; [`templates`] checks and
//! renders what it says; [`tracking`] signs its links and open pixel and records what they see.

pub mod guardrails;
pub mod templates;
pub mod tracking;

use async_trait::async_trait;
use siyu_core::{CustomerId, WorkspaceId};
use std::time::Duration;

/// A message to send, already rendered.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutgoingMessage {
    /// The same for every attempt at this message and for no other message: derived by the sender
    /// (journey, version, node, customer entry), passed to providers whose APIs take one, so a
    /// receiver can drop a repeated delivery.
    pub idempotency_key: String,
    /// The workspace sending it.
    pub workspace: WorkspaceId,
    /// The customer it is about, if any (internal notifications have none).
    pub customer: Option<CustomerId>,
    /// The address on the channel (an e-mail address, a phone number, an external user id); for a
    /// webhook, empty (the channel's URL is the address).
    pub to: String,
    /// Subject line, where the channel has one.
    pub subject: Option<String>,
    /// The rendered text.
    pub body: String,
    /// The rendered HTML, for channels that show it (e-mail); the text stays its plain version.
    pub html: Option<String>,
    /// Where the customer unsubscribes with one click (e-mail's `List-Unsubscribe`), for
    /// marketing messages.
    pub unsubscribe_url: Option<String>,
    /// Structured data passed along as it is (a webhook sends it; other channels ignore it).
    pub data: serde_json::Value,
}

/// What became of one attempt at sending a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The provider accepted the message; it must never be sent again.
    Accepted {
        /// The provider's id for it, when it gives one.
        provider_id: Option<String>,
    },
    /// Not delivered, and worth trying again: a timeout, a refused connection, a rate limit, a
    /// provider's own failure.
    Retry {
        /// Why, for the message log.
        reason: String,
        /// The wait the provider asked for (`Retry-After`), if any.
        after: Option<Duration>,
    },
    /// Refused for good (a bad address, bad credentials, a request the provider will never take):
    /// trying again cannot help, so the message goes to the dead letters with this reason.
    Rejected {
        /// Why, for the message log and the dead letters.
        reason: String,
    },
}

/// Sends messages over one configured channel.
#[async_trait]
pub trait ChannelAdapter: Send + Sync {
    /// Returns the channel's name as the message log shows it (`webhook`, `email`, …).
    fn name(&self) -> &'static str;

    /// Makes one attempt at delivering `message` and returns what became of it; never panics on
    /// what the provider answers, and returns within the adapter's timeout.
    async fn send(&self, message: &OutgoingMessage) -> Delivery;
}
