//! Configured channels and the messages sent on them.
//!
//! A workspace configures channels by name (`PUT /api/v1/channels/{name}`): a kind, its settings
//! and its secrets, which are sealed under the workspace's data key and never shown again (a
//! replacement that leaves a secret out keeps the stored one). The settings are checked by
//! building the adapter, so a channel that cannot send is refused when it is saved.
//!
//! A message is queued with its send job in one transaction ([`Messaging::enqueue`]): its
//! templates (checked then) and data are sealed in the row; nothing is rendered and no address is
//! looked up until it is sent. Then [`Messaging::deliver`], run by the send job:
//! 1. a final message is left alone (a job run twice sends once);
//! 2. a marketing message needs the customer's consent on the channel (else `blocked`), waits out
//!    quiet hours (deferred to the minute they end), and is reserved against the frequency cap —
//!    the count and the reservation are one transaction, so concurrent sends cannot both pass;
//! 3. it is rendered for the customer as they are now, addressed, and handed to the adapter (or,
//!    on a dry-run channel, recorded as what would have been sent);
//! 4. the outcome is recorded: `sent` (never sent again), back to `queued` to be retried, or
//!    `failed`; `Message Sent`, `Message Failed` and `Message Blocked` events follow.

pub use super::ChannelFactory;
use super::group::Groups;
use super::guardrails::{ConsentState, FrequencyCap, Guardrails, MessageClass, QuietHours, Verdict};
use super::store::{
    CapCheck, MessageFilter, MessageStatus, MessageStore, Reservation, StatusUpdate, StoredChannel, StoredMessage,
};
use super::templates::{self, Vocabulary};
use super::{ChannelAdapter, ChannelKind, ChannelSpec, Delivery, OutgoingMessage};
use crate::FieldError;
use crate::access::{Access, Permission, Principal};
use crate::customers::Customers;
use crate::customers::consent::{Channel as ConsentChannel, Purpose, current_state};
use crate::error::{DomainError, DomainResult};
use crate::events::{Events, NewEvent};
use crate::jobs::NewJob;
use crate::models::Models;
use crate::segments::Segments;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use utoipa::ToSchema;

/// The kind of a send job.
pub const SEND_KIND: &str = "channels.send";
/// Attempts a message gets before it fails for good (with back-off from 10 s doubling to an hour,
/// about a day; a deferral to the end of quiet hours takes one).
pub const SEND_ATTEMPTS: u32 = 30;
/// The event a sent message records.
pub const MESSAGE_SENT: &str = "Message Sent";
/// The event a failed message records.
pub const MESSAGE_FAILED: &str = "Message Failed";
/// The event a message records when the provider's receipt says it reached the customer.
pub const MESSAGE_DELIVERED: &str = "Message Delivered";
/// The event a message records when the provider's receipt says it did not reach the customer.
pub const MESSAGE_UNDELIVERED: &str = "Message Undelivered";
/// The event a blocked message records.
pub const MESSAGE_BLOCKED: &str = "Message Blocked";
/// The most messages one request queues.
pub const MAX_BATCH: usize = 1_000;
/// The longest idempotency key.
pub const MAX_KEY: usize = 200;
/// The most messages a log read returns.
pub const MAX_PAGE: usize = 500;
/// The largest `data` of a message, in bytes of JSON.
pub const MAX_DATA: usize = 16 * 1024;
/// The most parameters a message's registered template takes.
pub const MAX_PARAMS: usize = 32;
/// The longest parameter name.
pub const MAX_PARAM_NAME: usize = 64;
/// The longest registered template id.
pub const MAX_TEMPLATE_ID: usize = 128;

const SECRETS_CONTEXT: &str = "channel secrets";
const CONTENT_CONTEXT: &str = "message content";

/// A channel to configure.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// `webhook`, `email`, `sms`, `wecom`, `wecom_app`, `wechat_mp`, `wechat_mini`, `dingtalk` or
    /// `feishu`.
    pub kind: String,
    /// Settings by name (see docs/CHANNELS.md for each kind's), plus `dry_run` (record, do not
    /// send) and `consent_channel` (where a webhook's messages reach the customer).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, Value>,
    /// Secrets by name; left out on a replacement, the stored one is kept.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// A configured channel as shown (secrets never are: only which are set).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Settings.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, Value>,
    /// The secrets that are set.
    pub secrets: Vec<String>,
    /// Callbacks the provider sent to the channel, by outcome (`accepted`, `repeated`,
    /// `verified`, `forged`, `stale`, `unreadable`).
    pub callbacks: BTreeMap<String, u64>,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// What a message says: minijinja templates over the customer (see docs/CHANNELS.md) and data
/// passed along as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageContent {
    /// Subject line (e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Text.
    pub body: String,
    /// HTML (e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Structured data for the receiver (a webhook sends it).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schema(value_type = Object)]
    pub data: Value,
    /// The provider's registered template (an SMS template code, a WeChat template id) for
    /// channels that send registered templates; the channel's own when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The registered template's parameters by name, each a template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The English text, for customers whose language is English ([`Language::of`]); the rest
    /// get the text above (简体中文).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<Translation>,
}

/// A message's text in another language: it replaces the subject, text and HTML, and its
/// parameters replace those of the same name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    /// Subject line (e-mail), a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Text, a template.
    #[serde(default)]
    pub body: String,
    /// HTML (e-mail), a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Registered templates' parameters by name, each a template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// The language a customer is written to in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// 简体中文 (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Language {
    /// A customer's language: English when their `language` (else `locale`) trait begins with
    /// `en` (`en`, `en-US`, `en_GB`), 简体中文 otherwise.
    pub fn of(traits: &BTreeMap<String, crate::customers::TraitView>) -> Self {
        let stated = ["language", "locale"].iter().find_map(|key| traits.get(*key)?.value.as_str());
        match stated {
            Some(tag) if tag.trim().get(..2).is_some_and(|p| p.eq_ignore_ascii_case("en")) => Language::En,
            _ => Language::Zh,
        }
    }
}

impl MessageContent {
    /// The content as a customer of `language` gets it: the English text in place of the rest
    /// where there is one.
    pub fn in_language(mut self, language: Language) -> MessageContent {
        if let (Language::En, Some(en)) = (language, self.en.take()) {
            self.subject = en.subject;
            self.body = en.body;
            self.html = en.html;
            self.params.extend(en.params);
        }
        self.en = None;
        self
    }

    /// Whether it says anything of its own (a send that names a saved template may not).
    pub(super) fn has_text(&self) -> bool {
        !self.body.trim().is_empty()
            || self.subject.as_ref().is_some_and(|s| !s.trim().is_empty())
            || self.html.as_ref().is_some_and(|s| !s.trim().is_empty())
            || self.template.is_some()
            || !self.params.is_empty()
            || self.en.is_some()
    }
}

/// A test message, sent on a channel at once.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestMessage {
    /// The address on the channel (an e-mail address, a phone number, an external user id); none
    /// for a webhook or robot.
    #[serde(default)]
    pub to: String,
    /// The text.
    pub body: String,
    /// The provider's registered template (SMS template code, WeChat template id); the channel's
    /// own when left out.
    #[serde(default)]
    pub template: Option<String>,
    /// The registered template's parameters, as sent.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// A message to send to a customer.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// The channel's name.
    pub channel: String,
    /// The customer.
    #[schema(value_type = i64)]
    pub customer_id: CustomerId,
    /// `marketing` (held to consent, the cap and quiet hours) or `transactional`; with a saved
    /// template, the template's (and if given, it must be the same).
    #[serde(default)]
    pub class: Option<MessageClass>,
    /// A saved template's name (`/api/v1/templates`): the message takes its text, class and
    /// English text, and has none of its own.
    #[serde(default)]
    pub saved_template: Option<String>,
    /// Subject line (e-mail), a template.
    #[serde(default)]
    pub subject: Option<String>,
    /// Text, a template (unless a saved template is named).
    #[serde(default)]
    pub body: String,
    /// HTML (e-mail), a template.
    #[serde(default)]
    pub html: Option<String>,
    /// Structured data for the receiver (a webhook sends it).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
    /// The provider's registered template (SMS template code, WeChat template id); the channel's
    /// own when left out.
    #[serde(default)]
    pub template: Option<String>,
    /// The registered template's parameters by name, each a template.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The English text, for customers whose language is English.
    #[serde(default)]
    pub en: Option<Translation>,
    /// Idempotency key: the same key sends once (default: a new one).
    #[serde(default)]
    pub key: Option<String>,
}

/// The unsubscribe link a preview shows in place of a customer's own.
const PREVIEW_UNSUBSCRIBE: &str = "https://siyu.example/u/preview";

/// A message's templates to render for a customer.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The customer the templates are rendered for.
    #[schema(value_type = i64)]
    pub customer_id: CustomerId,
    /// A saved template to render (then no text of its own).
    #[serde(default)]
    pub saved_template: Option<String>,
    /// Subject line, a template.
    #[serde(default)]
    pub subject: Option<String>,
    /// Text, a template.
    #[serde(default)]
    pub body: String,
    /// HTML, a template.
    #[serde(default)]
    pub html: Option<String>,
    /// A registered template's parameters by name, each a template.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The English text.
    #[serde(default)]
    pub en: Option<Translation>,
    /// The language to render in; by default the customer's.
    #[serde(default)]
    pub language: Option<Language>,
}

/// A message rendered for one customer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Preview {
    /// Subject line.
    pub subject: Option<String>,
    /// Text.
    pub body: String,
    /// HTML (values escaped).
    pub html: Option<String>,
    /// The parameters, rendered.
    pub params: BTreeMap<String, String>,
    /// The language it is in (the customer's, unless one was asked for).
    pub language: Language,
    /// Whether personal data in it is masked (the role may not see it).
    pub masked: bool,
    /// The text's length as SMS gateways count it (characters).
    pub sms_characters: usize,
    /// The SMS messages the text would be sent as.
    pub sms_messages: usize,
}

/// Renders every template of `content` with `context`: body, subject, HTML and parameters.
#[allow(clippy::type_complexity)]
fn render_content(
    content: &MessageContent,
    context: &Value,
) -> Result<(String, Option<String>, Option<String>, BTreeMap<String, String>), templates::RenderError> {
    let body = templates::render(&content.body, context, false)?;
    let subject = content.subject.as_deref().map(|s| templates::render(s, context, false)).transpose()?;
    let html = content.html.as_deref().map(|s| templates::render(s, context, true)).transpose()?;
    let params = content
        .params
        .iter()
        .map(|(name, source)| Ok((name.clone(), templates::render(source, context, false)?)))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok((body, subject, html, params))
}

/// A message as the log shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// Its place in the log (the next page's cursor).
    #[serde(skip)]
    pub id: i64,
    /// Idempotency key.
    pub key: String,
    /// Channel.
    pub channel: String,
    /// Customer.
    #[schema(value_type = Option<i64>)]
    pub customer_id: Option<CustomerId>,
    /// Class.
    pub class: MessageClass,
    /// Status.
    pub status: MessageStatus,
    /// The guardrail that blocked it.
    pub guardrail: Option<String>,
    /// Why it failed, was blocked or waits.
    pub reason: Option<String>,
    /// The provider's id.
    pub provider_id: Option<String>,
    /// Who sent it.
    #[schema(value_type = Object)]
    pub source: Value,
    /// Queued.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// When its send began.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
}

impl From<StoredMessage> for MessageView {
    fn from(m: StoredMessage) -> Self {
        Self {
            id: m.id,
            key: m.key,
            channel: m.channel,
            customer_id: m.customer,
            class: m.class,
            status: m.status,
            guardrail: m.guardrail,
            reason: m.reason,
            provider_id: m.provider_id,
            source: serde_json::from_str(&m.source).unwrap_or(Value::Null),
            created_at: m.created_at,
            updated_at: m.updated_at,
            sent_at: m.sent_at,
        }
    }
}

/// A test message's outcome.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TestOutcome {
    /// `accepted`, `retry`, `rejected`, or `dry_run` (a dry-run channel sends nothing, not even a
    /// test).
    pub outcome: String,
    /// Why it was not accepted.
    pub reason: Option<String>,
    /// The provider's id, when accepted.
    pub provider_id: Option<String>,
}

/// Quiet hours as set: local times `HH:MM`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursInput {
    /// When they begin (inclusive).
    pub start: String,
    /// When they end (exclusive; earlier than `start`: across midnight).
    pub end: String,
}

/// The frequency cap as set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCapInput {
    /// At most this many marketing messages per customer and channel…
    pub max: u32,
    /// …in this many days (rolling).
    pub days: u32,
}

fn default_quiet_hours() -> Option<QuietHoursInput> {
    Some(QuietHoursInput { start: "21:00".into(), end: "09:00".into() })
}

fn default_frequency_cap() -> FrequencyCapInput {
    FrequencyCapInput { max: 2, days: 7 }
}

/// A workspace's guardrails for marketing messages, in its time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagingSettings {
    /// Quiet hours (default 21:00–09:00; `null`: none).
    #[serde(default = "default_quiet_hours")]
    pub quiet_hours: Option<QuietHoursInput>,
    /// The frequency cap (default 2 in 7 days).
    #[serde(default = "default_frequency_cap")]
    pub frequency_cap: FrequencyCapInput,
    /// The channel (a DingTalk or Feishu group robot, or a WeCom application) that tells staff of
    /// each new follow-up task and of messages that failed; none by default.
    #[serde(default)]
    pub staff_channel: Option<String>,
}

impl Default for MessagingSettings {
    fn default() -> Self {
        Self { quiet_hours: default_quiet_hours(), frequency_cap: default_frequency_cap(), staff_channel: None }
    }
}

impl MessagingSettings {
    /// The guardrails these settings make; errors name the setting.
    pub fn guardrails(&self) -> Result<Guardrails, Vec<FieldError>> {
        let quiet = match &self.quiet_hours {
            Some(q) => QuietHours::parse(&q.start, &q.end),
            None => Ok(QuietHours::none()),
        };
        let cap = FrequencyCap::new(self.frequency_cap.max, self.frequency_cap.days);
        match (quiet, cap) {
            (Ok(quiet_hours), Ok(frequency_cap)) => Ok(Guardrails { quiet_hours, frequency_cap }),
            (quiet, cap) => Err(quiet.err().into_iter().chain(cap.err()).flatten().collect()),
        }
    }
}

/// A message for a sender inside siyu (a journey) to queue.
#[derive(Clone, Debug)]
pub struct MessageRequest {
    /// Idempotency key (journey, version, node, entry).
    pub key: String,
    /// The channel's name.
    pub channel: String,
    /// The customer.
    pub customer: CustomerId,
    /// Marketing or transactional.
    pub class: MessageClass,
    /// What it says.
    pub content: MessageContent,
    /// Who sends it (JSON object).
    pub source: Value,
    /// When to send it.
    pub at: Timestamp,
}

/// What became of a send job's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Nothing more to do (sent, blocked, recorded as a dry run, or gone).
    Done,
    /// Try again later (no sooner than `after`, when given).
    Retry {
        /// Why.
        reason: String,
        /// The provider's requested wait.
        after: Option<Duration>,
    },
    /// Try again at `until` (quiet hours).
    Defer {
        /// When.
        until: Timestamp,
    },
    /// Failed for good (the job is buried with the reason: the dead letters).
    Failed {
        /// Why.
        reason: String,
    },
}

type AdapterCache = HashMap<(WorkspaceId, String), (Timestamp, Arc<dyn ChannelAdapter>)>;

/// Configured channels and their messages.
#[derive(Clone)]
pub struct Messaging {
    pub(super) access: Access,
    pub(super) customers: Customers,
    pub(super) events: Events,
    models: Models,
    segments: Segments,
    pub(super) store: Arc<dyn MessageStore>,
    pub(super) factory: Arc<dyn ChannelFactory>,
    /// The server's public base URL (for unsubscribe links), without a trailing slash.
    public_url: Option<Arc<str>>,
    adapters: Arc<Mutex<AdapterCache>>,
    /// Wakes the send worker when a message is queued.
    wake: Arc<tokio::sync::Notify>,
    /// Concurrent sends' reservations, committed together per workspace.
    reservations: Arc<Groups<(String, Option<CapCheck>), Reservation>>,
    /// Concurrent sends' outcomes, committed together per workspace.
    outcomes: Arc<Groups<(String, MessageStatus, StatusUpdate), bool>>,
    /// Each workspace's messaging settings (guardrails, staff channel) as last read, and when.
    settled: Arc<Mutex<HashMap<WorkspaceId, (std::time::Instant, Settled)>>>,
    /// Each rate-limited channel's next free slot and the slots given to waiting messages.
    paces: Arc<Mutex<HashMap<(WorkspaceId, String), Pace>>>,
}

/// How long a workspace's guardrails are used before they are read again (a change made on
/// another node takes effect within this).
const SETTINGS_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// A workspace's messaging settings as sends apply them.
#[derive(Clone, Debug, Default)]
struct Settled {
    rails: Guardrails,
    staff_channel: Option<String>,
}

/// How long one failure notice to staff stands for a channel's failures: later failures of the
/// window are in the message log, not in a notice each.
const FAILURE_NOTICE_WINDOW_S: i64 = 600;

/// A channel's send rate in this process: the next free slot, and the slots booked by messages
/// that wait for theirs.
#[derive(Default)]
struct Pace {
    next: Option<Timestamp>,
    booked: HashMap<String, Timestamp>,
}

impl Pace {
    /// `None` when message `key` may go at `now`, else the slot it waits for (booked once).
    fn turn(&mut self, key: &str, per_minute: u64, now: Timestamp) -> Option<Timestamp> {
        let interval = jiff::SignedDuration::from_micros(60_000_000 / per_minute.max(1) as i64);
        if let Some(slot) = self.booked.get(key).copied() {
            if slot <= now {
                self.booked.remove(key);
                return None;
            }
            return Some(slot);
        }
        match self.next {
            Some(next) if next > now => {
                self.next = next.checked_add(interval).ok();
                self.booked.insert(key.to_string(), next);
                Some(next)
            }
            _ => {
                self.next = now.checked_add(interval).ok();
                None
            }
        }
    }
}

/// Checks a channel name: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
pub(super) fn check_name(name: &str) -> DomainResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(DomainError::invalid("name", "must be 1 to 64 of a-z, 0-9, - and _")) }
}

/// The idempotency key's rule: 1 to [`MAX_KEY`] printable ASCII characters.
fn check_key(field: &str, key: &str) -> Result<(), FieldError> {
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(field, format!("must be 1 to {MAX_KEY} printable ASCII characters")));
    }
    Ok(())
}

impl Messaging {
    pub(crate) fn new(
        access: Access,
        customers: Customers,
        events: Events,
        models: Models,
        segments: Segments,
        store: Arc<dyn MessageStore>,
    ) -> Self {
        Self {
            access,
            customers,
            events,
            models,
            segments,
            store,
            factory: Arc::new(super::NoChannels),
            public_url: None,
            adapters: Arc::default(),
            wake: Arc::default(),
            settled: Arc::default(),
            paces: Arc::default(),
            reservations: Arc::default(),
            outcomes: Arc::default(),
        }
    }

    /// What wakes the send worker (notified when a message is queued).
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// The same slice building adapters with `factory` and making links under `public_url`.
    pub fn with_factory(mut self, factory: Arc<dyn ChannelFactory>, public_url: Option<&str>) -> Self {
        self.factory = factory;
        self.public_url = public_url.map(|u| Arc::from(u.trim_end_matches('/')));
        self.adapters = Arc::default();
        self
    }

    /// The kinds of channel this siyu builds.
    pub fn kinds(&self) -> &[ChannelKind] {
        self.factory.kinds()
    }

    fn kind(&self, name: &str) -> Option<&ChannelKind> {
        self.factory.kinds().iter().find(|k| k.name == name)
    }

    pub(super) async fn spec(&self, ws: WorkspaceId, stored: &StoredChannel) -> DomainResult<ChannelSpec> {
        let key = self.access.data_key(ws).await?;
        let secrets = key.open_str(&stored.secrets, &format!("{SECRETS_CONTEXT}:{}", stored.name))?;
        Ok(ChannelSpec {
            name: stored.name.clone(),
            kind: stored.kind.clone(),
            settings: serde_json::from_str(&stored.settings)
                .map_err(|e| DomainError::internal(format!("channel {} settings: {e}", stored.name)))?,
            secrets: serde_json::from_str(&secrets)
                .map_err(|e| DomainError::internal(format!("channel {} secrets: {e}", stored.name)))?,
        })
    }

    fn view(stored: &StoredChannel, spec: &ChannelSpec, callbacks: BTreeMap<String, u64>) -> ChannelView {
        ChannelView {
            name: stored.name.clone(),
            kind: stored.kind.clone(),
            settings: spec.settings.clone(),
            secrets: spec.secrets.keys().cloned().collect(),
            callbacks,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }

    /// Where a channel's messages reach the customer, for consent: the kind's, or the channel's
    /// `consent_channel` setting.
    fn consent_channel(kind: &ChannelKind, settings: &serde_json::Map<String, Value>) -> Option<ConsentChannel> {
        kind.consent.or_else(|| settings.get("consent_channel").and_then(Value::as_str).and_then(ConsentChannel::parse))
    }

    /// Creates or replaces a channel (needs `workspace:manage`): its settings are checked by
    /// building its adapter; a secret left out keeps the stored one.
    pub async fn save_channel(
        &self,
        principal: &Principal,
        name: &str,
        input: ChannelInput,
    ) -> DomainResult<ChannelView> {
        principal.require(Permission::WorkspaceManage)?;
        let ws = principal.workspace_id();
        check_name(name)?;
        let kind = self.kind(&input.kind).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.factory.kinds().iter().map(|k| k.name).collect();
            DomainError::invalid(
                "kind",
                format!("unknown kind \"{}\"; expected one of {}", input.kind, known.join(", ")),
            )
        })?;
        let mut errors = Vec::new();
        for secret in input.secrets.keys() {
            if !kind.secrets.contains(&secret.as_str()) {
                errors.push(FieldError::new(
                    format!("secrets.{secret}"),
                    format!("is not a secret of a {} channel (its secrets: {})", kind.name, kind.secrets.join(", ")),
                ));
            }
        }
        for setting in input.settings.keys() {
            if kind.secrets.contains(&setting.as_str()) {
                errors.push(FieldError::new(format!("settings.{setting}"), "is a secret: give it under secrets"));
            }
        }
        match input.settings.get("rate_per_minute") {
            None => {}
            Some(value) if value.as_u64().is_some_and(|n| (1..=1_000_000).contains(&n)) => {}
            Some(_) => {
                errors.push(FieldError::new("settings.rate_per_minute", "must be a whole number from 1 to 1000000"))
            }
        }
        match input.settings.get("dry_run") {
            None | Some(Value::Bool(_)) => {}
            Some(_) => errors.push(FieldError::new("settings.dry_run", "must be true or false")),
        }
        if let Some(consent) = input.settings.get("consent_channel") {
            if kind.consent.is_some() {
                errors.push(FieldError::new("settings.consent_channel", format!("a {} channel's is fixed", kind.name)));
            } else if consent.as_str().and_then(ConsentChannel::parse).is_none() {
                let known: Vec<&str> = ConsentChannel::ALL.iter().map(|c| c.as_str()).collect();
                errors
                    .push(FieldError::new("settings.consent_channel", format!("must be one of {}", known.join(", "))));
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        // A template among the settings (a WeCom channel's welcome) is checked like a message's,
        // its problems reported with the adapter's.
        if let Some(Value::String(welcome)) = input.settings.get("welcome") {
            let vocabulary = self.vocabulary(ws).await?;
            if let Err(found) = templates::check("settings.welcome", welcome, &vocabulary) {
                errors.extend(found);
            }
        }
        let existing = self.store.channel(ws, name).await?;
        let mut secrets = input.secrets;
        if let Some(existing) = &existing
            && existing.kind == kind.name
        {
            for (secret, value) in self.spec(ws, existing).await?.secrets {
                secrets.entry(secret).or_insert(value);
            }
        }
        let spec =
            ChannelSpec { name: name.to_string(), kind: kind.name.to_string(), settings: input.settings, secrets };
        if let Err(found) = self.factory.build(&spec) {
            errors.extend(found);
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let now = self.access.now();
        let key = self.access.data_key(ws).await?;
        let secrets_json = serde_json::to_string(&spec.secrets).map_err(|e| DomainError::internal(e.to_string()))?;
        let stored = StoredChannel {
            name: name.to_string(),
            kind: spec.kind.clone(),
            settings: Value::Object(spec.settings.clone()).to_string(),
            secrets: key.seal_str(&secrets_json, &format!("{SECRETS_CONTEXT}:{name}"))?,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        self.store.save_channel(ws, &stored).await?;
        self.access.audit(principal, "channel.save", &format!("channel:{name}")).await?;
        let callbacks = self.store.callback_counts(ws, name).await?;
        Ok(Self::view(&stored, &spec, callbacks))
    }

    /// Every channel of the workspace (needs `messages:send`; secrets are never shown).
    pub async fn channels(&self, principal: &Principal) -> DomainResult<Vec<ChannelView>> {
        principal.require(Permission::MessagesSend)?;
        let ws = principal.workspace_id();
        let mut views = Vec::new();
        for stored in self.store.channels(ws).await? {
            let spec = self.spec(ws, &stored).await?;
            let callbacks = self.store.callback_counts(ws, &stored.name).await?;
            views.push(Self::view(&stored, &spec, callbacks));
        }
        Ok(views)
    }

    /// Deletes a channel (needs `workspace:manage`); its queued messages then fail when sent.
    pub async fn delete_channel(&self, principal: &Principal, name: &str) -> DomainResult<()> {
        principal.require(Permission::WorkspaceManage)?;
        let ws = principal.workspace_id();
        if !self.store.delete_channel(ws, name).await? {
            return Err(DomainError::NotFound(format!("channel \"{name}\"")));
        }
        self.adapters.lock().expect("adapter cache").remove(&(ws, name.to_string()));
        self.access.audit(principal, "channel.delete", &format!("channel:{name}")).await
    }

    /// The adapter of a stored channel, built once per version of its settings.
    async fn adapter(&self, ws: WorkspaceId, stored: &StoredChannel) -> Result<Arc<dyn ChannelAdapter>, String> {
        let cache_key = (ws, stored.name.clone());
        if let Some((version, adapter)) = self.adapters.lock().expect("adapter cache").get(&cache_key)
            && *version == stored.updated_at
        {
            return Ok(adapter.clone());
        }
        let spec = self.spec(ws, stored).await.map_err(|e| e.to_string())?;
        let adapter = self.factory.build(&spec).map_err(|errors| {
            let reasons: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect();
            format!("channel \"{}\" cannot be set up: {}", stored.name, reasons.join("; "))
        })?;
        self.adapters.lock().expect("adapter cache").insert(cache_key, (stored.updated_at, adapter.clone()));
        Ok(adapter)
    }

    /// Sends a test message on a channel at once, to `to` (an address on the channel; nothing for
    /// a webhook or robot), and says what the provider answered (needs `workspace:manage`).
    pub async fn test_channel(
        &self,
        principal: &Principal,
        name: &str,
        test: TestMessage,
    ) -> DomainResult<TestOutcome> {
        principal.require(Permission::WorkspaceManage)?;
        let ws = principal.workspace_id();
        let mut errors = Vec::new();
        if test.body.trim().is_empty() || test.body.len() > templates::MAX_OUTPUT {
            errors.push(FieldError::new("body", format!("must be 1 to {} bytes", templates::MAX_OUTPUT)));
        }
        if test.to.len() > MAX_KEY {
            errors.push(FieldError::new("to", format!("must be at most {MAX_KEY} bytes")));
        }
        if test.template.as_ref().is_some_and(|t| t.trim().is_empty() || t.len() > MAX_TEMPLATE_ID) {
            errors.push(FieldError::new("template", format!("must be 1 to {MAX_TEMPLATE_ID} bytes")));
        }
        if test.params.len() > MAX_PARAMS
            || test.params.iter().any(|(k, v)| k.len() > MAX_PARAM_NAME || v.len() > templates::MAX_OUTPUT)
        {
            errors.push(FieldError::new(
                "params",
                format!("must hold at most {MAX_PARAMS} parameters with names of at most {MAX_PARAM_NAME} bytes"),
            ));
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let stored =
            self.store.channel(ws, name).await?.ok_or_else(|| DomainError::NotFound(format!("channel \"{name}\"")))?;
        let settings: serde_json::Map<String, Value> = stored.settings_map();
        if dry_run(&settings) {
            self.access.audit(principal, "channel.test", &format!("channel:{name}")).await?;
            return Ok(TestOutcome {
                outcome: "dry_run".into(),
                reason: Some("the channel is in dry-run mode: nothing is sent".into()),
                provider_id: None,
            });
        }
        let adapter = self.adapter(ws, &stored).await.map_err(|reason| DomainError::invalid("channel", reason))?;
        let nonce: [u8; 8] = siyu_core::crypto::random_bytes().map_err(DomainError::from)?;
        let message = OutgoingMessage {
            idempotency_key: format!("test-{}", hex::encode(nonce)),
            workspace: ws,
            customer: None,
            to: test.to,
            subject: Some("siyu test message".into()),
            body: test.body,
            html: None,
            unsubscribe_url: None,
            data: json!({"test": true}),
            template: test.template,
            params: test.params,
        };
        self.access.audit(principal, "channel.test", &format!("channel:{name}")).await?;
        Ok(match adapter.send(&message).await {
            Delivery::Accepted { provider_id } => TestOutcome { outcome: "accepted".into(), reason: None, provider_id },
            Delivery::Retry { reason, .. } => {
                TestOutcome { outcome: "retry".into(), reason: Some(reason), provider_id: None }
            }
            Delivery::Rejected { reason } => {
                TestOutcome { outcome: "rejected".into(), reason: Some(reason), provider_id: None }
            }
        })
    }

    /// Reserves a message with whatever other sends of the workspace wait to (one transaction).
    async fn reserve_grouped(
        &self,
        ws: WorkspaceId,
        key: &str,
        cap: Option<CapCheck>,
        now: Timestamp,
    ) -> DomainResult<Reservation> {
        let store = self.store.clone();
        let commit = move |requests: Vec<(String, Option<CapCheck>)>| async move {
            store.reserve_many(ws, &requests, now).await
        };
        Ok(self.reservations.run(ws, (key.to_string(), cap), commit).await?)
    }

    /// Records a message's status with whatever other sends of the workspace wait to (one
    /// transaction); returns whether it changed (it was not final yet).
    async fn set_status_grouped(
        &self,
        ws: WorkspaceId,
        key: &str,
        status: MessageStatus,
        update: StatusUpdate,
    ) -> DomainResult<bool> {
        let (store, now) = (self.store.clone(), self.access.now());
        let commit = move |updates: Vec<(String, MessageStatus, StatusUpdate)>| async move {
            store.set_statuses(ws, &updates, now).await
        };
        Ok(self.outcomes.run(ws, (key.to_string(), status, update), commit).await?)
    }

    /// The workspace's messaging settings (needs `messages:send`).
    pub async fn messaging_settings(&self, principal: &Principal) -> DomainResult<MessagingSettings> {
        principal.require(Permission::MessagesSend)?;
        self.read_settings(principal.workspace_id()).await
    }

    async fn read_settings(&self, ws: WorkspaceId) -> DomainResult<MessagingSettings> {
        match self.store.settings(ws).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| DomainError::internal(format!("messaging settings of workspace {ws}: {e}"))),
            None => Ok(MessagingSettings::default()),
        }
    }

    /// Replaces the workspace's messaging settings (needs `workspace:manage`; audited); they
    /// apply to every message sent from then on, queued before or not.
    pub async fn set_messaging_settings(
        &self,
        principal: &Principal,
        settings: &MessagingSettings,
    ) -> DomainResult<MessagingSettings> {
        principal.require(Permission::WorkspaceManage)?;
        let ws = principal.workspace_id();
        let mut errors = Vec::new();
        let guardrails = settings.guardrails().unwrap_or_else(|e| {
            errors.extend(e);
            Guardrails::default()
        });
        if let Some(name) = &settings.staff_channel
            && let Some(reason) = self.check_staff_channel(ws, name).await?
        {
            errors.push(FieldError::new("staff_channel", reason));
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let text = serde_json::to_string(settings).map_err(|e| DomainError::internal(e.to_string()))?;
        self.store.set_settings(ws, &text, self.access.now()).await?;
        let settled = Settled { rails: guardrails, staff_channel: settings.staff_channel.clone() };
        self.settled.lock().expect("settled").insert(ws, (std::time::Instant::now(), settled));
        self.access.audit(principal, "messaging.settings", &format!("workspace:{ws}")).await?;
        Ok(settings.clone())
    }

    /// The workspace's settings as they apply (read again once they are [`SETTINGS_TTL`] old).
    async fn settled(&self, ws: WorkspaceId) -> DomainResult<Settled> {
        if let Some((read, settled)) = self.settled.lock().expect("settled").get(&ws)
            && read.elapsed() < SETTINGS_TTL
        {
            return Ok(settled.clone());
        }
        let settings = self.read_settings(ws).await?;
        let settled =
            Settled { rails: settings.guardrails().unwrap_or_default(), staff_channel: settings.staff_channel };
        self.settled.lock().expect("settled").insert(ws, (std::time::Instant::now(), settled.clone()));
        Ok(settled)
    }

    /// The workspace's guardrails.
    async fn guardrails_of(&self, ws: WorkspaceId) -> DomainResult<Guardrails> {
        Ok(self.settled(ws).await?.rails)
    }

    /// The trait keys templates of the workspace may name.
    pub(crate) async fn vocabulary(&self, ws: WorkspaceId) -> DomainResult<Vocabulary> {
        // Sealed traits (name, birthday, address) are not among the facts segments test, but every
        // workspace has them.
        let facts = self.segments.profile_facts(ws).await?;
        let sealed = crate::customers::PII_TRAITS.iter().map(|k| k.to_string());
        Ok(Vocabulary { trait_keys: facts.traits.keys().cloned().chain(sealed).collect() })
    }

    /// Checks what a message says (every template against `vocabulary`, under `field.…`) for
    /// `channel` (the kind's length rule on a text without variables).
    pub(crate) fn check_content(
        field: &str,
        content: &MessageContent,
        vocabulary: &Vocabulary,
        errors: &mut Vec<FieldError>,
    ) {
        Self::check_text(
            field,
            &content.body,
            content.subject.as_deref(),
            content.html.as_deref(),
            &content.params,
            vocabulary,
            errors,
        );
        if let Some(en) = &content.en {
            let field = format!("{field}en.");
            Self::check_text(
                &field,
                &en.body,
                en.subject.as_deref(),
                en.html.as_deref(),
                &en.params,
                vocabulary,
                errors,
            );
        }
        if content.data.to_string().len() > MAX_DATA {
            errors.push(FieldError::new(format!("{field}data"), format!("is larger than {MAX_DATA} bytes of JSON")));
        }
        if let Some(template) = &content.template
            && (template.trim().is_empty() || template.len() > MAX_TEMPLATE_ID)
        {
            errors.push(FieldError::new(format!("{field}template"), format!("must be 1 to {MAX_TEMPLATE_ID} bytes")));
        }
    }

    /// Checks one language's text: a body, and templates that parse and name known variables.
    fn check_text(
        field: &str,
        body: &str,
        subject: Option<&str>,
        html: Option<&str>,
        params: &BTreeMap<String, String>,
        vocabulary: &Vocabulary,
        errors: &mut Vec<FieldError>,
    ) {
        if body.trim().is_empty() {
            errors.push(FieldError::new(format!("{field}body"), "must not be empty"));
        }
        let sources = [("body", Some(body)), ("subject", subject), ("html", html)];
        for (name, source) in sources {
            if let Some(source) = source.filter(|s| !s.trim().is_empty())
                && let Err(found) = templates::check(&format!("{field}{name}"), source, vocabulary)
            {
                errors.extend(found);
            }
        }
        if params.len() > MAX_PARAMS {
            errors.push(FieldError::new(format!("{field}params"), format!("may hold at most {MAX_PARAMS} parameters")));
        }
        for (name, source) in params.iter().take(MAX_PARAMS) {
            let param = format!("{field}params.{name}");
            let well_named = !name.is_empty()
                && name.len() <= MAX_PARAM_NAME
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
            if !well_named {
                errors.push(FieldError::new(
                    param,
                    format!("a parameter's name is 1 to {MAX_PARAM_NAME} letters, digits, '_', '.' or '-'"),
                ));
            } else if let Err(found) = templates::check(&param, source, vocabulary) {
                errors.extend(found);
            }
        }
    }

    /// Checks that `name` is a configured webhook channel (a journey's webhook call goes there);
    /// returns the error's reason otherwise.
    pub(crate) async fn check_webhook_channel(&self, ws: WorkspaceId, name: &str) -> DomainResult<Option<String>> {
        Ok(match self.store.channel(ws, name).await? {
            None => Some(format!("no channel \"{name}\" is configured")),
            Some(stored) if stored.kind != "webhook" => Some(format!("channel \"{name}\" is not a webhook")),
            Some(_) => None,
        })
    }

    /// Checks that `name` is a channel that notifies staff; returns the error's reason otherwise.
    async fn check_staff_channel(&self, ws: WorkspaceId, name: &str) -> DomainResult<Option<String>> {
        let Some(stored) = self.store.channel(ws, name).await? else {
            return Ok(Some(format!("no channel \"{name}\" is configured")));
        };
        Ok(match self.kind(&stored.kind) {
            None => Some(format!("this siyu does not build {} channels", stored.kind)),
            Some(kind) if kind.for_customers => Some(
                "the channel messages customers; staff are told through a group robot (dingtalk, feishu) or a \
                 WeCom application (wecom_app)"
                    .into(),
            ),
            Some(_) => None,
        })
    }

    /// A notice to staff on the workspace's staff channel (plain text, sent as written, exempt from
    /// the guardrails), sealed into a row and its send job for whatever writes them; `None` when
    /// the workspace names no staff channel. `key` makes it once.
    pub(crate) async fn staff_notice(
        &self,
        ws: WorkspaceId,
        key: String,
        text: String,
        source: Value,
    ) -> DomainResult<Option<(StoredMessage, NewJob)>> {
        let Some(channel) = self.settled(ws).await?.staff_channel else { return Ok(None) };
        let data_key = self.access.data_key(ws).await?;
        let now = self.access.now();
        let content = MessageContent { body: text, ..Default::default() };
        let sealed = seal_content(&data_key, &key, &content)?;
        Ok(Some(queued_row(key, channel, None, MessageClass::Transactional, sealed, &source, now, now)))
    }

    /// Checks that `channel` exists and may carry a message of `class` to a customer; returns the
    /// error's reason otherwise.
    pub(crate) async fn check_channel(
        &self,
        ws: WorkspaceId,
        channel: &str,
        class: MessageClass,
    ) -> DomainResult<Option<String>> {
        let Some(stored) = self.store.channel(ws, channel).await? else {
            return Ok(Some(format!("no channel \"{channel}\" is configured")));
        };
        let Some(kind) = self.kind(&stored.kind) else {
            return Ok(Some(format!("this siyu does not build {} channels", stored.kind)));
        };
        if !kind.for_customers {
            return Ok(Some(format!("a {} channel notifies staff, not customers", kind.name)));
        }
        let settings: serde_json::Map<String, Value> = stored.settings_map();
        if class == MessageClass::Marketing && Self::consent_channel(kind, &settings).is_none() {
            return Ok(Some(format!(
                "channel \"{channel}\" has no consent_channel setting, so it cannot check marketing consent"
            )));
        }
        Ok(None)
    }

    /// Queues a message to a customer (needs `messages:send`): checked now — the channel, the
    /// templates, the customer — and sent by a worker, held to the guardrails when it is sent. The
    /// same key queues once (the first message is returned).
    pub async fn send(&self, principal: &Principal, input: MessageInput) -> DomainResult<MessageView> {
        principal.require(Permission::MessagesSend)?;
        let ws = principal.workspace_id();
        let mut errors = Vec::new();
        let key = match input.key {
            Some(key) => {
                if let Err(error) = check_key("key", &key) {
                    errors.push(error);
                }
                key
            }
            None => {
                let nonce: [u8; 12] = siyu_core::crypto::random_bytes().map_err(DomainError::from)?;
                format!("api-{}", hex::encode(nonce))
            }
        };
        let own = MessageContent {
            subject: input.subject,
            body: input.body,
            html: input.html,
            data: input.data,
            template: input.template,
            params: input.params,
            en: input.en,
        };
        let (saved_class, content) = self.with_saved(ws, input.saved_template.as_deref(), "", own, &mut errors).await?;
        // Without a class (none given, or a saved template that cannot be had) the channel is
        // checked only for what every class needs: the missing class or template is the problem.
        let missing = input.saved_template.is_some() && saved_class.is_none();
        let class = match (saved_class, input.class) {
            (Some(saved), Some(given)) if saved != given => {
                let reason = format!("the saved template is {}", saved.as_str());
                errors.push(FieldError::new("class", reason));
                None
            }
            (Some(class), _) | (None, Some(class)) => Some(class),
            (None, None) => {
                if !missing {
                    errors.push(FieldError::new("class", "must be marketing or transactional"));
                }
                None
            }
        };
        let checked = class.unwrap_or(MessageClass::Transactional);
        if let Some(reason) = self.check_channel(ws, &input.channel, checked).await? {
            errors.push(FieldError::new("channel", reason));
        }
        let vocabulary = self.vocabulary(ws).await?;
        if input.saved_template.is_none() || errors.is_empty() {
            Self::check_content("", &content, &vocabulary, &mut errors);
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let customer = self
            .customers
            .stores
            .customers
            .resolve(ws, input.customer_id)
            .await?
            .ok_or_else(|| DomainError::invalid("customer_id", format!("no customer {}", input.customer_id)))?;
        let request = MessageRequest {
            key: key.clone(),
            channel: input.channel,
            customer,
            class: class.unwrap_or(MessageClass::Marketing),
            content,
            source: json!({"api": principal.actor().label()}),
            at: self.access.now(),
        };
        self.enqueue(ws, &[request]).await?;
        let stored =
            self.store.message(ws, &key).await?.ok_or_else(|| DomainError::internal("queued message is gone"))?;
        Ok(stored.into())
    }

    /// Seals messages of a sender inside siyu (already checked) into rows to queue, each with its
    /// send job, for a store that writes them in the sender's own transaction.
    pub fn prepare(
        &self,
        key: &siyu_core::crypto::DataKey,
        requests: &[MessageRequest],
    ) -> DomainResult<Vec<(StoredMessage, NewJob)>> {
        let now = self.access.now();
        let mut prepared = Vec::with_capacity(requests.len());
        for request in requests {
            let sealed = seal_content(key, &request.key, &request.content)?;
            let (customer, class) = (Some(request.customer), request.class);
            let row = queued_row(
                request.key.clone(),
                request.channel.clone(),
                customer,
                class,
                sealed,
                &request.source,
                now,
                request.at,
            );
            prepared.push(row);
        }
        Ok(prepared)
    }

    /// Wakes the send worker (after messages were queued in another slice's transaction).
    pub fn queued(&self) {
        self.wake.notify_one();
    }

    /// Queues messages of a sender inside siyu (already checked), each with its send job, in one
    /// transaction; a key the workspace has is skipped. Returns how many were new.
    pub async fn enqueue(&self, ws: WorkspaceId, requests: &[MessageRequest]) -> DomainResult<u64> {
        let key = self.access.data_key(ws).await?;
        let (messages, jobs): (Vec<_>, Vec<_>) = self.prepare(&key, requests)?.into_iter().unzip();
        let new = self.store.enqueue(ws, &messages, &jobs, self.access.now()).await?;
        if new > 0 {
            self.wake.notify_one();
        }
        Ok(new)
    }

    /// The message log, newest first (needs `messages:read`), `limit` at most [`MAX_PAGE`].
    pub async fn messages(
        &self,
        principal: &Principal,
        mut filter: MessageFilter,
        limit: usize,
    ) -> DomainResult<Vec<MessageView>> {
        principal.require(Permission::MessagesRead)?;
        let ws = principal.workspace_id();
        if let Some(customers) = &filter.customers {
            let mut all = Vec::new();
            for customer in customers {
                all.extend(self.customers.subject(ws, *customer).await?.ids());
            }
            filter.customers = Some(all);
        }
        let stored = self.store.messages(ws, &filter, limit.clamp(1, MAX_PAGE)).await?;
        Ok(stored.into_iter().map(MessageView::from).collect())
    }

    /// Sends the message `key` of `ws` once, as its send job's run `attempt` of `max_attempts`
    /// (see the module's doc).
    pub async fn deliver(&self, ws: WorkspaceId, key: &str, last_attempt: bool) -> DomainResult<Attempt> {
        let Some(message) = self.store.message(ws, key).await? else { return Ok(Attempt::Done) };
        if message.status.is_final() {
            return Ok(Attempt::Done);
        }
        let now = self.access.now();
        let Some(stored) = self.store.channel(ws, &message.channel).await? else {
            return self.fail(ws, &message, format!("no channel \"{}\" is configured", message.channel)).await;
        };
        let Some(kind) = self.kind(&stored.kind).cloned() else {
            return self.fail(ws, &message, format!("this siyu does not build {} channels", stored.kind)).await;
        };
        let settings: serde_json::Map<String, Value> = stored.settings_map();
        let customer = match message.customer {
            Some(customer) => match self.customers.stores.customers.resolve(ws, customer).await? {
                Some(live) => live,
                // Erased since it was queued: nothing to send, nobody to record it for.
                None => {
                    self.store
                        .set_status(ws, key, MessageStatus::Failed, &reason("the customer was erased"), now)
                        .await?;
                    return Ok(Attempt::Done);
                }
            },
            None if !kind.for_customers => {
                return self.deliver_to_staff(ws, &message, &stored, &settings, last_attempt).await;
            }
            None => return self.fail(ws, &message, "a message to a customer names none".into()).await,
        };
        let consent_channel = Self::consent_channel(&kind, &settings);
        let tz = self.access.time_zone(ws).await?;
        let rails = self.guardrails_of(ws).await?;
        let mut cap = None;
        if message.class == MessageClass::Marketing {
            let consent = match consent_channel {
                Some(channel) => {
                    let history = self.customers.stores.consent.history(ws, customer).await?;
                    match current_state(&history)
                        .iter()
                        .find(|r| r.purpose == Purpose::Marketing && r.channel == channel)
                    {
                        Some(record) if record.granted => ConsentState::Granted,
                        Some(_) => ConsentState::Withdrawn,
                        None => ConsentState::Unknown,
                    }
                }
                None => ConsentState::Unknown,
            };
            let shown = consent_channel.map_or(message.channel.as_str(), |c| c.as_str());
            match rails.check(message.class, shown, consent, &[], now, &tz) {
                Verdict::Send => {}
                Verdict::Defer { until } => {
                    let why = format!("quiet hours: deferred to {}", until.to_zoned(tz.clone()).datetime());
                    self.set_status_grouped(ws, key, MessageStatus::Queued, reason(&why)).await?;
                    return Ok(Attempt::Defer { until });
                }
                Verdict::Block { guardrail, reason } => {
                    return self.block(ws, &message, guardrail_name(guardrail), reason).await;
                }
            }
            let since = now.checked_sub(rails.frequency_cap.window()).unwrap_or(Timestamp::MIN);
            cap = Some(CapCheck { max: rails.frequency_cap.max(), since });
        }
        // The channel's send rate (`rate_per_minute`), in this process: a message waits for its
        // slot without losing an attempt.
        if let Some(per_minute) = settings.get("rate_per_minute").and_then(Value::as_u64) {
            let slot = self
                .paces
                .lock()
                .expect("paces")
                .entry((ws, message.channel.clone()))
                .or_default()
                .turn(key, per_minute, now);
            if let Some(until) = slot {
                return Ok(Attempt::Defer { until });
            }
        }
        let message = match self.reserve_grouped(ws, key, cap, now).await? {
            Reservation::Reserved(message) => *message,
            Reservation::Finished => return Ok(Attempt::Done),
            Reservation::Capped { count } => {
                let why = format!(
                    "{count} marketing messages on {} in the last {} days (at most {})",
                    message.channel,
                    rails.frequency_cap.window().as_hours() / 24,
                    rails.frequency_cap.max()
                );
                return self.block(ws, &message, "frequency_cap", why).await;
            }
        };
        let outgoing = match self.render(ws, &message, customer, &kind, consent_channel).await? {
            Ok(outgoing) => outgoing,
            Err(reason) => return self.fail(ws, &message, reason).await,
        };
        if dry_run(&settings) {
            self.set_status_grouped(ws, key, MessageStatus::DryRun, reason("dry run: recorded, not sent")).await?;
            return Ok(Attempt::Done);
        }
        let adapter = match self.adapter(ws, &stored).await {
            Ok(adapter) => adapter,
            Err(reason) => return self.fail(ws, &message, reason).await,
        };
        self.attempt(ws, &message, Some(customer), adapter.send(&outgoing).await, last_attempt).await
    }

    /// Records what the provider answered to a reserved message's attempt.
    async fn attempt(
        &self,
        ws: WorkspaceId,
        message: &StoredMessage,
        customer: Option<CustomerId>,
        delivery: Delivery,
        last_attempt: bool,
    ) -> DomainResult<Attempt> {
        match delivery {
            Delivery::Accepted { provider_id } => {
                let update = StatusUpdate { provider_id, ..Default::default() };
                if self.set_status_grouped(ws, &message.key, MessageStatus::Sent, update).await?
                    && let Some(customer) = customer
                {
                    self.record(ws, message, customer, MESSAGE_SENT, json!({})).await?;
                }
                Ok(Attempt::Done)
            }
            Delivery::Rejected { reason } => self.fail(ws, message, reason).await,
            Delivery::Retry { reason, .. } if last_attempt => {
                self.fail(ws, message, format!("{reason} (gave up after {SEND_ATTEMPTS} attempts)")).await
            }
            Delivery::Retry { reason: why, after } => {
                // Back to queued: an attempt that did not send does not count toward the cap.
                self.set_status_grouped(ws, &message.key, MessageStatus::Queued, reason(&why)).await?;
                Ok(Attempt::Retry { reason: why, after })
            }
        }
    }

    /// Sends a notice to staff: as written, to the channel's own recipients, held to no guardrail
    /// (staff gave no consent to withdraw); a robot's own rate limit is retried as its adapter says.
    async fn deliver_to_staff(
        &self,
        ws: WorkspaceId,
        message: &StoredMessage,
        stored: &StoredChannel,
        settings: &serde_json::Map<String, Value>,
        last_attempt: bool,
    ) -> DomainResult<Attempt> {
        let key = self.access.data_key(ws).await?;
        let content: MessageContent =
            serde_json::from_str(&key.open_str(&message.content, &format!("{CONTENT_CONTEXT}:{}", message.key))?)
                .map_err(|e| DomainError::internal(format!("message {} content: {e}", message.key)))?;
        let now = self.access.now();
        let message = match self.reserve_grouped(ws, &message.key, None, now).await? {
            Reservation::Reserved(message) => *message,
            Reservation::Finished | Reservation::Capped { .. } => return Ok(Attempt::Done),
        };
        if dry_run(settings) {
            self.set_status_grouped(ws, &message.key, MessageStatus::DryRun, reason("dry run: recorded, not sent"))
                .await?;
            return Ok(Attempt::Done);
        }
        let adapter = match self.adapter(ws, stored).await {
            Ok(adapter) => adapter,
            Err(reason) => return self.fail(ws, &message, reason).await,
        };
        let outgoing = OutgoingMessage {
            idempotency_key: message.key.clone(),
            workspace: ws,
            customer: None,
            to: String::new(),
            subject: None,
            body: content.body,
            html: None,
            unsubscribe_url: None,
            data: Value::Null,
            template: None,
            params: BTreeMap::new(),
        };
        self.attempt(ws, &message, None, adapter.send(&outgoing).await, last_attempt).await
    }

    /// Renders and addresses a reserved message for the customer as they are now; `Err` with the
    /// reason it cannot be sent.
    async fn render(
        &self,
        ws: WorkspaceId,
        message: &StoredMessage,
        customer: CustomerId,
        kind: &ChannelKind,
        consent_channel: Option<ConsentChannel>,
    ) -> DomainResult<Result<OutgoingMessage, String>> {
        let key = self.access.data_key(ws).await?;
        let content: MessageContent =
            serde_json::from_str(&key.open_str(&message.content, &format!("{CONTENT_CONTEXT}:{}", message.key))?)
                .map_err(|e| DomainError::internal(format!("message {} content: {e}", message.key)))?;
        let Some(stored) = self.customers.stores.customers.find(ws, customer).await? else {
            return Ok(Err("the customer was erased".into()));
        };
        let view = self.customers.open_customer(&key, stored, true)?;
        let content = content.in_language(Language::of(&view.traits));
        let to = match kind.address {
            Some(address) => match view.identities.iter().find(|i| i.kind == address) {
                Some(identity) => identity.value.clone(),
                None => return Ok(Err(format!("the customer has no {} to send to", address.as_str()))),
            },
            None => String::new(),
        };
        let unsubscribe_url = match (message.class, consent_channel, &self.public_url) {
            (MessageClass::Marketing, Some(channel), Some(base)) => {
                let expires = self.access.now() + crate::customers::consent::UNSUBSCRIBE_LINK_LIFETIME;
                let token = self.customers.unsubscribe_token(ws, customer, channel, expires).await?;
                Some(format!("{base}/u/{token}"))
            }
            _ => None,
        };
        let context = self.template_context(ws, customer, view, &content, unsubscribe_url.as_deref()).await?;
        let (body, subject, html, params) = match render_content(&content, &context) {
            Ok(rendered) => rendered,
            Err(error) => return Ok(Err(format!("the message does not render: {error}"))),
        };
        if let Err(reason) = templates::check_length(kind.name, &body) {
            return Ok(Err(reason));
        }
        Ok(Ok(OutgoingMessage {
            idempotency_key: message.key.clone(),
            workspace: ws,
            customer: Some(customer),
            to,
            subject,
            body,
            html,
            unsubscribe_url,
            data: content.data,
            template: content.template,
            params,
        }))
    }

    /// What a message's templates see of a customer: `customer` (id, traits, tags and the models'
    /// scores when a template names one), `coupon` (from the data) and `unsubscribe_url`.
    async fn template_context(
        &self,
        ws: WorkspaceId,
        customer: CustomerId,
        view: crate::customers::CustomerView,
        content: &MessageContent,
        unsubscribe_url: Option<&str>,
    ) -> DomainResult<Value> {
        let mut scores = json!({"rfm": null, "lifecycle": null, "churn_risk": null});
        let sources = [Some(&content.body), content.subject.as_ref(), content.html.as_ref()];
        let names_a_score = sources
            .into_iter()
            .flatten()
            .chain(content.params.values())
            .any(|s| s.contains("rfm") || s.contains("lifecycle") || s.contains("churn_risk"));
        let model = match names_a_score {
            true => self.models.customer_model(&Principal::system(ws), customer).await?,
            false => None,
        };
        if let Some(model) = model {
            scores = json!({
                "rfm": model.rfm_class.map(|c| c.key),
                "lifecycle": model.stage.key,
                "churn_risk": model.churn_risk,
            });
        }
        let traits: serde_json::Map<String, Value> = view.traits.into_iter().map(|(k, t)| (k, t.value)).collect();
        Ok(json!({
            "customer": {
                "id": customer.0,
                "traits": traits,
                "tags": view.tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                "rfm": scores["rfm"], "lifecycle": scores["lifecycle"], "churn_risk": scores["churn_risk"],
            },
            "coupon": content.data.get("coupon").cloned().unwrap_or(Value::Null),
            "unsubscribe_url": unsubscribe_url.unwrap_or_default(),
        }))
    }

    /// Renders a message's templates for one customer, as it would be sent now (needs
    /// `messages:send` and `customers:read`): the customer's personal data masked unless the
    /// principal holds `pii:read` (an unmasked preview is audited as a read), the unsubscribe link a
    /// placeholder. A template naming a variable no customer has, or failing to render, is a 422
    /// naming the field.
    pub async fn preview(&self, principal: &Principal, input: &PreviewInput) -> DomainResult<Preview> {
        principal.require(Permission::MessagesSend)?;
        let ws = principal.workspace_id();
        let own = MessageContent {
            subject: input.subject.clone().filter(|s| !s.trim().is_empty()),
            body: input.body.clone(),
            html: input.html.clone().filter(|s| !s.trim().is_empty()),
            params: input.params.clone(),
            en: input.en.clone(),
            ..MessageContent::default()
        };
        let mut errors = Vec::new();
        let (_, content) = self.with_saved(ws, input.saved_template.as_deref(), "", own, &mut errors).await?;
        if errors.is_empty() {
            Self::check_content("", &content, &self.vocabulary(ws).await?, &mut errors);
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let view = self.customers.customer(principal, input.customer_id).await?;
        let language = input.language.unwrap_or_else(|| Language::of(&view.traits));
        let content = content.in_language(language);
        let context = self.template_context(ws, input.customer_id, view, &content, Some(PREVIEW_UNSUBSCRIBE)).await?;
        let (body, subject, html, params) = render_content(&content, &context)
            .map_err(|e| DomainError::Invalid(vec![FieldError::new("body", e.to_string())]))?;
        let sms = templates::sms_length(&body);
        Ok(Preview {
            subject,
            html,
            params,
            language,
            masked: !principal.can_read_pii(),
            sms_characters: sms.units,
            sms_messages: sms.segments,
            body,
        })
    }

    async fn finish(
        &self,
        ws: WorkspaceId,
        message: &StoredMessage,
        status: MessageStatus,
        update: StatusUpdate,
    ) -> DomainResult<()> {
        if self.set_status_grouped(ws, &message.key, status, update.clone()).await?
            && let Some(customer) = message.customer
            && let Some(live) = self.customers.stores.customers.resolve(ws, customer).await?
        {
            let name = if status == MessageStatus::Blocked { MESSAGE_BLOCKED } else { MESSAGE_FAILED };
            let extra = json!({"reason": update.reason, "guardrail": update.guardrail});
            self.record(ws, message, live, name, extra).await?;
        }
        Ok(())
    }

    async fn fail(&self, ws: WorkspaceId, message: &StoredMessage, reason: String) -> DomainResult<Attempt> {
        let update = StatusUpdate { reason: Some(reason.clone()), ..Default::default() };
        self.finish(ws, message, MessageStatus::Failed, update).await?;
        // Staff hear of a customer's message that failed (not of a notice to them that did), once
        // per channel and window.
        if let Some(customer) = message.customer
            && let Err(error) = self.notify_failure(ws, message, customer, &reason).await
        {
            tracing::warn!(%error, channel = %message.channel, "the failure notice to staff was not queued");
        }
        Ok(Attempt::Failed { reason })
    }

    /// Queues the notice to staff that a message on its channel failed (the first of the window).
    async fn notify_failure(
        &self,
        ws: WorkspaceId,
        message: &StoredMessage,
        customer: CustomerId,
        why: &str,
    ) -> DomainResult<()> {
        let window = self.access.now().as_second().div_euclid(FAILURE_NOTICE_WINDOW_S);
        // A group reads the notice: a provider's answer may quote the customer's address.
        let why = redact_addresses(why);
        let text = format!(
            "【siyu】渠道「{channel}」的消息发送失败（客户 #{id}）：{why}\n\
             Channel \"{channel}\" failed to send a message (customer #{id}): {why}\n\
             此后 {minutes} 分钟内该渠道的失败见消息记录 / later failures within {minutes} minutes: see the message log{link}",
            channel = message.channel,
            id = customer.0,
            minutes = FAILURE_NOTICE_WINDOW_S / 60,
            link = self
                .console_url(&format!("/messages?channel={}&status=failed", message.channel))
                .map(|url| format!("\n{url}"))
                .unwrap_or_default(),
        );
        let key = format!("staff:failed:{}:{window}", message.channel);
        let source = json!({"notice": "failed", "channel": message.channel, "message": message.key});
        if let Some((notice, job)) = self.staff_notice(ws, key, text, source).await? {
            self.store.enqueue(ws, &[notice], &[job], self.access.now()).await?;
            self.queued();
        }
        Ok(())
    }

    /// The console's address of `path`, when siyu knows its public URL.
    pub(crate) fn console_url(&self, path: &str) -> Option<String> {
        self.public_url.as_ref().map(|base| format!("{base}{path}"))
    }

    async fn block(
        &self,
        ws: WorkspaceId,
        message: &StoredMessage,
        guardrail: &str,
        why: String,
    ) -> DomainResult<Attempt> {
        let update = StatusUpdate { guardrail: Some(guardrail.to_string()), reason: Some(why), provider_id: None };
        self.finish(ws, message, MessageStatus::Blocked, update).await?;
        Ok(Attempt::Done)
    }

    /// Records a message event for the customer: the message's key, channel, class and source,
    /// and `extra`.
    pub(super) async fn record(
        &self,
        ws: WorkspaceId,
        message: &StoredMessage,
        customer: CustomerId,
        name: &str,
        extra: Value,
    ) -> DomainResult<()> {
        let mut properties = json!({
            "message_key": message.key,
            "channel": message.channel,
            "class": message.class,
        });
        if let (Some(props), Ok(Value::Object(source))) =
            (properties.as_object_mut(), serde_json::from_str::<Value>(&message.source))
        {
            for (k, v) in source {
                props.insert(k, v);
            }
            if let Value::Object(extra) = extra {
                props.extend(extra.into_iter().filter(|(_, v)| !v.is_null()));
            }
        }
        let event = NewEvent::recorded(customer, name, properties.to_string(), self.access.now());
        self.events.append_and_index(ws, &[event]).await
    }

    /// Erases the messages to the given customers (part of a customer's erasure).
    pub(crate) async fn erase(&self, ws: WorkspaceId, customers: &[CustomerId]) -> DomainResult<()> {
        self.store.erase_messages(ws, customers).await?;
        Ok(())
    }

    /// The messages to the given customers, for an export.
    pub(crate) async fn of_customers(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> DomainResult<Vec<MessageView>> {
        let filter = MessageFilter { customers: Some(customers.to_vec()), ..Default::default() };
        let mut all = Vec::new();
        loop {
            let page = self.store.messages(ws, &filter_before(&filter, all.last()), MAX_PAGE).await?;
            let done = page.len() < MAX_PAGE;
            all.extend(page);
            if done {
                break;
            }
        }
        Ok(all.into_iter().map(MessageView::from).collect())
    }
}

fn filter_before(filter: &MessageFilter, last: Option<&StoredMessage>) -> MessageFilter {
    MessageFilter { before_id: last.map(|m| m.id), ..filter.clone() }
}

/// Whether a channel's settings put it in dry-run mode (record, send nothing).
fn dry_run(settings: &serde_json::Map<String, Value>) -> bool {
    settings.get("dry_run").and_then(Value::as_bool) == Some(true)
}

fn reason(text: &str) -> StatusUpdate {
    StatusUpdate { reason: Some(text.to_string()), ..Default::default() }
}

/// `text` with what looks like an address left out: a word holding `@` (an e-mail) or a run of
/// seven or more digits (a phone number), as a provider's answer may quote the recipient.
fn redact_addresses(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut run = 0;
            let long_digits = word.chars().any(|c| {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                run >= 7
            });
            if word.contains('@') || long_digits { "***" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A message's content sealed under the workspace's data key, bound to its key.
fn seal_content(key: &siyu_core::crypto::DataKey, message: &str, content: &MessageContent) -> DomainResult<Vec<u8>> {
    let text = serde_json::to_string(content).map_err(|e| DomainError::internal(e.to_string()))?;
    Ok(key.seal_str(&text, &format!("{CONTENT_CONTEXT}:{message}"))?)
}

/// A queued message's row and its send job (due at `run_at`).
#[allow(clippy::too_many_arguments)]
fn queued_row(
    key: String,
    channel: String,
    customer: Option<CustomerId>,
    class: MessageClass,
    content: Vec<u8>,
    source: &Value,
    now: Timestamp,
    run_at: Timestamp,
) -> (StoredMessage, NewJob) {
    let job = NewJob {
        kind: SEND_KIND.into(),
        key: key.clone(),
        payload: json!({"key": key}).to_string(),
        run_at,
        max_attempts: SEND_ATTEMPTS,
    };
    let message = StoredMessage {
        id: 0,
        key,
        channel,
        customer,
        class,
        content,
        source: source.to_string(),
        status: MessageStatus::Queued,
        guardrail: None,
        reason: None,
        provider_id: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
    };
    (message, job)
}

fn guardrail_name(guardrail: super::guardrails::Guardrail) -> &'static str {
    match guardrail {
        super::guardrails::Guardrail::Consent => "consent",
        super::guardrails::Guardrail::FrequencyCap => "frequency_cap",
        super::guardrails::Guardrail::QuietHours => "quiet_hours",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_to_staff_leaves_out_what_looks_like_an_address() {
        let smtp = "550 5.1.1 <wang@example.com>: Recipient address rejected";
        assert_eq!(redact_addresses(smtp), "550 5.1.1 *** Recipient address rejected");
        assert_eq!(redact_addresses("invalid mobile +8613800138000, code 40001"), "invalid mobile *** code 40001");
        assert_eq!(redact_addresses("HTTP 503 from crm.example.com"), "HTTP 503 from crm.example.com");
    }
}
