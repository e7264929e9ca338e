//! Channels: a message on its way out, and the port every channel adapter implements (the
//! adapters live in `siyu-channels`). An adapter sends one message once and says what
//! became of it; retrying, dead-lettering, guardrails (consent, quiet hours, caps) and the outbox
//! are the sender's, so that every adapter is held to the same rules; [`guardrails`] decides, at
//! the moment of sending, whether a message goes now, later or not at all; [`templates`] checks and
//! renders what it says, and [`library`] keeps templates saved by name; [`tracking`] signs its
//! links and open pixel and records what they see; [`messaging`] keeps each workspace's configured
//! channels (built into adapters by a [`ChannelFactory`]) and sends its messages: queued with their
//! send job in one transaction ([`store`]), then at send time held to the guardrails, rendered,
//! handed to the adapter, and recorded as `Message Sent`, `Failed` or `Blocked`.

pub mod callbacks;
mod group;
pub mod guardrails;
pub mod library;
pub mod messaging;
mod personal_data;
pub mod store;
pub mod templates;
pub mod tracking;

use crate::FieldError;
use crate::customers::IdentityKind;
use crate::customers::consent::Channel as ConsentChannel;
use async_trait::async_trait;
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::BTreeMap;
use std::sync::Arc;
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
    /// The provider's registered template (an SMS template code, a WeChat template id), for
    /// channels that send them; `None`: the channel's own.
    pub template: Option<String>,
    /// The registered template's parameters, rendered.
    pub params: BTreeMap<String, String>,
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

/// A kind of channel a [`ChannelFactory`] builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelKind {
    /// Its name (`webhook`, `email`, …).
    pub name: &'static str,
    /// The settings it takes that are secrets (sealed at rest, never shown).
    pub secrets: &'static [&'static str],
    /// The identity that is a customer's address on it (`None`: the channel needs none — a
    /// webhook passes the customer's id and the receiver knows the rest).
    pub address: Option<IdentityKind>,
    /// Where its messages reach the customer, for marketing consent (`None`: the channel's
    /// `consent_channel` setting says; without it, it sends no marketing).
    pub consent: Option<ConsentChannel>,
    /// Whether it messages customers at all (group robots notify staff only).
    pub for_customers: bool,
}

/// A configured channel, as its adapter is built from it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Its name in the workspace.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its settings that are not secret.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Its secrets, by setting name.
    pub secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("settings", &self.settings)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A provider's signed callback to a channel, as it arrived.
#[derive(Clone, Debug)]
pub struct SignedCallback {
    /// The signature over token, timestamp, nonce and the encrypted payload.
    pub msg_signature: String,
    /// When the provider sent it, Unix seconds (as text, as it came).
    pub timestamp: String,
    /// The provider's nonce.
    pub nonce: String,
    /// What it carries.
    pub payload: CallbackPayload,
}

/// What a callback carries.
#[derive(Clone, Debug)]
pub enum CallbackPayload {
    /// A URL check's `echostr` (encrypted), to be answered with its plaintext.
    Echo(String),
    /// A WeChat official account's URL check: `echostr` in plaintext, answered as it is once the
    /// signature (over token, timestamp and nonce only) matches.
    PlainEcho(String),
    /// A message's body (XML holding the encrypted message).
    Body(String),
}

/// A callback opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenedCallback {
    /// A URL check's plaintext, the answer.
    Echo(String),
    /// A message's fields by name (`ChangeType`, `ExternalUserID`, …).
    Message(BTreeMap<String, String>),
}

/// Why a callback was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRefusal {
    /// The channel takes no callbacks (its kind has none, or it lacks the callback secrets).
    #[error("{0}")]
    NotConfigured(String),
    /// The signature does not match: not sent by the provider, or altered.
    #[error("{0}")]
    Forged(String),
    /// Signed, but it does not open (another key, another receiver, not the provider's format).
    #[error("{0}")]
    Unreadable(String),
}

impl CallbackRefusal {
    /// The outcome it is counted under.
    pub fn outcome(&self) -> &'static str {
        match self {
            CallbackRefusal::NotConfigured(_) => "not_configured",
            CallbackRefusal::Forged(_) => "forged",
            CallbackRefusal::Unreadable(_) => "unreadable",
        }
    }
}

/// A provider's receipt for a message it was sent: whether it reached the customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id for the message (what its send answered).
    pub provider_id: String,
    /// Whether it reached the customer.
    pub delivered: bool,
    /// The provider's words (a status code and its meaning).
    pub reason: Option<String>,
}

/// A provider's delivery report (an SMS gateway's 状态报告), read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Its receipts.
    pub receipts: Vec<Receipt>,
    /// The body the provider expects in answer (JSON).
    pub answer: String,
}

/// Builds adapters from configured channels (the adapters' crate implements it).
pub trait ChannelFactory: Send + Sync {
    /// The kinds it builds.
    fn kinds(&self) -> &[ChannelKind];

    /// Checks a channel's settings and builds its adapter; errors name the setting
    /// (`settings.url`, `secrets.secret`). Call it on a Tokio runtime.
    fn build(&self, spec: &ChannelSpec) -> Result<Arc<dyn ChannelAdapter>, Vec<FieldError>>;

    /// Checks a callback to the channel (its signature, before anything else) and opens it.
    fn open_callback(&self, spec: &ChannelSpec, _callback: &SignedCallback) -> Result<OpenedCallback, CallbackRefusal> {
        Err(CallbackRefusal::NotConfigured(format!("a {} channel takes no callbacks", spec.kind)))
    }

    /// Checks a delivery report posted to the channel (`token`: the secret its URL holds, checked
    /// before anything else) and reads it.
    fn open_report(&self, spec: &ChannelSpec, _token: &str, _body: &str) -> Result<DeliveryReport, CallbackRefusal> {
        Err(CallbackRefusal::NotConfigured(format!("a {} channel takes no delivery reports", spec.kind)))
    }
}

/// A factory that builds nothing (a siyu without adapters, e.g. a tool that only reads).
pub struct NoChannels;

impl ChannelFactory for NoChannels {
    fn kinds(&self) -> &[ChannelKind] {
        &[]
    }

    fn build(&self, spec: &ChannelSpec) -> Result<Arc<dyn ChannelAdapter>, Vec<FieldError>> {
        Err(vec![FieldError::new("kind", format!("this siyu builds no channels (\"{}\")", spec.kind))])
    }
}
