//! Segment's HTTP Tracking API messages (track, identify, page, screen, group, alias): validated one
//! by one into what siyu stores, with clock-skew correction as Segment documents it.
//!
//! <https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/>

use super::model::EventKind;
use crate::error::FieldError;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use siyu_core::CustomerId;
use std::borrow::Cow;

/// Largest accepted message, in bytes of JSON (Segment's limit).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest accepted batch body, in bytes of JSON (Segment's limit).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// How far after its arrival an event's time may be before it is refused.
pub const MAX_FUTURE_US: i64 = 24 * 3_600 * 1_000_000;
/// The earliest accepted instant, 2000-01-01T00:00:00Z in microseconds: every instant field of a
/// message (and the event time after clock-skew correction) lies between it and 24 hours after
/// the request arrived (docs/EVENTS.md says why).
pub const EARLIEST_US: i64 = siyu_analytics::EARLIEST_US;
/// [`EARLIEST_US`] as text, for messages.
pub const EARLIEST: &str = "2000-01-01T00:00:00Z";
/// Where an exported message names siyu's own id of its customer: `context.siyu.customerId`
/// (docs/EVENTS.md). Segment allows any key in `context`; siyu reserves `siyu`.
pub const CUSTOMER_ID_FIELD: &str = "context.siyu.customerId";

/// A valid message, ready to be resolved to a customer.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackingMessage {
    /// Message type.
    pub kind: EventKind,
    /// The sender's id, or one generated for it.
    pub message_id: String,
    /// Segment `userId` (empty when absent).
    pub user_id: String,
    /// Segment `anonymousId` (empty when absent).
    pub anonymous_id: String,
    /// `alias`: the id being merged into `user_id`.
    pub previous_id: String,
    /// siyu's id of the customer, from [`CUSTOMER_ID_FIELD`] when the envelope allows reading it
    /// and the message has neither `userId` nor `anonymousId` (else `None`). It still has to be
    /// found in the importing workspace.
    pub customer_id: Option<CustomerId>,
    /// Event name (`Page Viewed`, `Screen Viewed`, `Identify`, `Group`, `Alias` for the other kinds).
    pub name: String,
    /// Skew-corrected event time, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// `properties` (track, page, screen) or `traits` (identify, group): the text of a JSON object.
    pub properties: String,
    /// `context` (under it, the batch's): the text of a JSON object.
    pub context: String,
}

impl TrackingMessage {
    /// `properties` (or `traits`) as a JSON map.
    pub fn properties_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.properties).unwrap_or_default()
    }

    /// `context` as a JSON map.
    pub fn context_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.context).unwrap_or_default()
    }
}

/// What applies to every message of a request: arrival time and the batch's shared fields.
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    /// When the request arrived, microseconds since the Unix epoch.
    pub received_us: i64,
    /// The batch's `sentAt`, used by messages without their own.
    pub sent_at_us: Option<i64>,
    /// The batch's `context`, merged under each message's own.
    pub context: Map<String, Value>,
    /// Whether [`CUSTOMER_ID_FIELD`] may name the customer of a message that has neither `userId`
    /// nor `anonymousId`, and is taken out of the stored `context`: true for `siyu import events`
    /// reading an export back, never for the Tracking API, whose senders name customers by their
    /// own ids only.
    pub reads_customer_id: bool,
}

/// Writes `customer` into a message's `context` at [`CUSTOMER_ID_FIELD`] (a JSON number), keeping
/// whatever else `context.siyu` holds.
pub fn set_customer_id(context: &mut Map<String, Value>, customer: CustomerId) {
    let siyu = context.entry("siyu").or_insert_with(|| Value::Object(Map::new()));
    if !siyu.is_object() {
        *siyu = Value::Object(Map::new());
    }
    siyu["customerId"] = Value::from(customer.0);
}

/// Takes [`CUSTOMER_ID_FIELD`] out of `context` (and `context.siyu` with it once empty); returns
/// the id, or the reason it is not one. A number or a string of digits, positive, is an id.
fn take_customer_id(context: &mut Map<String, Value>) -> Result<Option<CustomerId>, String> {
    let Some(Value::Object(siyu)) = context.get_mut("siyu") else { return Ok(None) };
    let value = siyu.remove("customerId");
    if siyu.is_empty() {
        context.remove("siyu");
    }
    let id = match &value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(text)) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse::<i64>().ok()
        }
        Some(_) => None,
    };
    match (id, value) {
        (Some(id), _) if id > 0 => Ok(Some(CustomerId(id))),
        (_, value) => Err(format!("must be a customer id (a positive integer), not {}", value.unwrap_or(Value::Null))),
    }
}

impl EventKind {
    /// Parses a Segment `type`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "track" => Some(Self::Track),
            "identify" => Some(Self::Identify),
            "page" => Some(Self::Page),
            "screen" => Some(Self::Screen),
            "group" => Some(Self::Group),
            "alias" => Some(Self::Alias),
            _ => None,
        }
    }
}

/// Returns why an instant (`text`, `us` microseconds) is refused for a request that arrived at
/// `received_us`, if it is: before [`EARLIEST_US`] or more than [`MAX_FUTURE_US`] after arrival.
pub fn instant_refusal(text: &str, us: i64, received_us: i64) -> Option<String> {
    if us < EARLIEST_US {
        Some(format!("\"{text}\" is before {EARLIEST}, the earliest accepted instant"))
    } else if us > received_us.saturating_add(MAX_FUTURE_US) {
        Some(format!("\"{text}\" is more than 24 hours after it was received"))
    } else {
        None
    }
}

/// Parses an instant field: an ISO 8601 instant with a UTC offset, in the accepted range.
pub fn parse_instant(text: &str, received_us: i64) -> Result<i64, String> {
    match text.parse::<jiff::Timestamp>() {
        Ok(t) => match instant_refusal(text, t.as_microsecond(), received_us) {
            Some(reason) => Err(reason),
            None => Ok(t.as_microsecond()),
        },
        // Well formed, but past the instants jiff holds (9999-12-31T23:59:59Z is one): say so.
        Err(_) => match jiff::fmt::temporal::Pieces::parse(text) {
            Ok(pieces) if pieces.date().year() >= 2000 => {
                Err(instant_refusal(text, i64::MAX, received_us).unwrap_or_default())
            }
            Ok(_) => Err(instant_refusal(text, i64::MIN, received_us).unwrap_or_default()),
            // A signed or five-digit year is well formed too, past what any calendar here holds.
            Err(_) if text.trim_start().starts_with(['+', '-']) || text.find('-').is_some_and(|dash| dash > 4) => {
                Err(format!("\"{text}\" is outside the accepted range ({EARLIEST} to 24 hours after it was received)"))
            }
            Err(_) => Err(format!("\"{text}\" is not an ISO 8601 instant with a UTC offset")),
        },
    }
}

/// A field's name under the caller's prefix (`batch[3].userId`), made only when an error names it.
#[derive(Clone, Copy)]
struct Field<'a> {
    prefix: &'a str,
}

impl Field<'_> {
    fn name(self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn error(self, errors: &mut Vec<FieldError>, name: &str, reason: impl Into<String>) {
        errors.push(FieldError::new(self.name(name), reason));
    }
}

fn instant_us(
    value: &Value,
    field: Field<'_>,
    name: &str,
    received_us: i64,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    match value {
        Value::Null => None,
        Value::String(text) => match parse_instant(text, received_us) {
            Ok(us) => Some(us),
            Err(reason) => {
                field.error(errors, name, reason);
                None
            }
        },
        other => {
            field.error(errors, name, format!("must be an ISO 8601 string, not {other}"));
            None
        }
    }
}

fn id_text(value: Option<Value>, field: Field<'_>, name: &str, errors: &mut Vec<FieldError>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.len() <= 255 => trimmed(s),
        Some(Value::String(_)) => {
            field.error(errors, name, "must be at most 255 characters");
            String::new()
        }
        // Segment's libraries send strings, but numeric ids are common in hand-written calls.
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            field.error(errors, name, format!("must be a string, not {other}"));
            String::new()
        }
    }
}

fn object(value: Option<Value>, field: Field<'_>, name: &str, errors: &mut Vec<FieldError>) -> Map<String, Value> {
    match value {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            field.error(errors, name, format!("must be an object, not {other}"));
            Map::new()
        }
    }
}

/// `text` without surrounding whitespace (copied only when it has some).
fn trimmed(text: String) -> String {
    if text.trim().len() == text.len() { text } else { text.trim().to_string() }
}

/// A `track`'s event name, checked.
fn track_name(value: Option<Value>, field: Field<'_>, errors: &mut Vec<FieldError>) -> String {
    match value {
        // A NUL or another control character would end up in every chart, CSV and log line.
        Some(Value::String(e)) if e.chars().any(char::is_control) => {
            field.error(errors, "event", format!("{e:?} contains a control character"));
            String::new()
        }
        Some(Value::String(e)) if !e.trim().is_empty() && e.len() <= 200 => trimmed(e),
        Some(Value::String(e)) if !e.trim().is_empty() => {
            field.error(errors, "event", "must be at most 200 characters");
            String::new()
        }
        None | Some(Value::Null) => {
            field.error(errors, "event", "is required for track");
            String::new()
        }
        Some(other) => {
            field.error(errors, "event", format!("must be a non-empty string, not {other}"));
            String::new()
        }
    }
}

/// The event's time from its `timestamp`, `originalTimestamp`, `sentAt` and `receivedAt`: every
/// instant field is checked, used or not, so that none can carry an absurd time; the device's
/// clock is corrected as Segment does.
fn event_time(
    [timestamp, original, sent_at, received_at]: [Option<&Value>; 4],
    envelope: &Envelope,
    field: Field<'_>,
    errors: &mut Vec<FieldError>,
) -> i64 {
    let received = envelope.received_us;
    let mut instant =
        |value: Option<&Value>, name: &str| value.and_then(|v| instant_us(v, field, name, received, errors));
    let (timestamp, original) = (instant(timestamp, "timestamp"), instant(original, "originalTimestamp"));
    let (sent_at, _received_at) = (instant(sent_at, "sentAt"), instant(received_at, "receivedAt"));
    let (time_field, timestamp) = match (timestamp, original) {
        (Some(t), _) => ("timestamp", Some(t)),
        (None, t) => ("originalTimestamp", t),
    };
    let sent_at = sent_at.or(envelope.sent_at_us);
    // Segment: timestamp = receivedAt − (sentAt − originalTimestamp) corrects the device's clock.
    match (timestamp, sent_at) {
        (Some(t), Some(sent)) => {
            let corrected = received - (sent - t);
            if let Some(reason) = instant_refusal(&jiff_text(corrected), corrected, received) {
                field.error(errors, time_field, format!("{reason} (after clock-skew correction by sentAt)"));
            }
            corrected
        }
        (Some(t), None) => t,
        (None, _) => received,
    }
}

/// Writes an instant in microseconds as RFC 3339 (its number when jiff cannot hold it).
fn jiff_text(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map_or_else(|_| format!("{us} µs"), |t| t.to_string())
}

/// Returns a fresh message id for a message that came without one.
pub fn new_message_id() -> String {
    let bytes: [u8; 16] = siyu_core::crypto::random_bytes().expect("the thread CSPRNG does not fail");
    format!("siyu-{}", hex::encode(bytes))
}

/// Validates one message, taking its fields out of `raw`. `kind` is the endpoint's type (`None`
/// for batch items, which carry a `type`); `prefix` is prepended to field names (`batch[3].`).
/// `new_id` makes a message id when the sender gave none.
pub fn parse_message(
    mut raw: Map<String, Value>,
    kind: Option<EventKind>,
    envelope: &Envelope,
    prefix: &str,
    new_id: impl FnOnce() -> String,
) -> Result<TrackingMessage, Vec<FieldError>> {
    let field = Field { prefix };
    let mut errors = Vec::new();
    let kind = match (kind, raw.get("type")) {
        (Some(kind), _) => Some(kind),
        (None, Some(Value::String(t))) => {
            let parsed = EventKind::parse(t);
            if parsed.is_none() {
                field.error(
                    &mut errors,
                    "type",
                    format!("unknown type \"{t}\"; expected track, identify, page, screen, group or alias"),
                );
            }
            parsed
        }
        (None, _) => {
            field.error(&mut errors, "type", "is required in a batch");
            None
        }
    };
    let user_id = id_text(raw.remove("userId"), field, "userId", &mut errors);
    let anonymous_id = id_text(raw.remove("anonymousId"), field, "anonymousId", &mut errors);
    let previous_id = id_text(raw.remove("previousId"), field, "previousId", &mut errors);
    let message_id = id_text(raw.remove("messageId"), field, "messageId", &mut errors);
    if kind == Some(EventKind::Alias) {
        if user_id.is_empty() {
            field.error(&mut errors, "userId", "is required for alias");
        }
        if previous_id.is_empty() {
            field.error(&mut errors, "previousId", "is required for alias");
        }
    }
    let mut context = object(raw.remove("context"), field, "context", &mut errors);
    // An export read back names the customer of siyu's own events (segment entries and exits, which
    // have no sender) by siyu's id; with a userId or an anonymousId that id is not needed.
    let mut customer_id = None;
    if envelope.reads_customer_id {
        match take_customer_id(&mut context) {
            Ok(id) => customer_id = id.filter(|_| user_id.is_empty() && anonymous_id.is_empty()),
            Err(reason) => field.error(&mut errors, CUSTOMER_ID_FIELD, reason),
        }
    }
    if kind != Some(EventKind::Alias) && user_id.is_empty() && anonymous_id.is_empty() && customer_id.is_none() {
        let reason = if envelope.reads_customer_id {
            "userId, anonymousId or context.siyu.customerId is required"
        } else {
            "userId or anonymousId is required"
        };
        field.error(&mut errors, "userId", reason);
    }
    let name = match kind {
        Some(EventKind::Track) => track_name(raw.remove("event"), field, &mut errors),
        Some(EventKind::Page) => "Page Viewed".into(),
        Some(EventKind::Screen) => "Screen Viewed".into(),
        Some(EventKind::Identify) => "Identify".into(),
        Some(EventKind::Group) => "Group".into(),
        Some(EventKind::Alias) | None => "Alias".into(),
    };
    let properties_key = match kind {
        Some(EventKind::Identify | EventKind::Group) => "traits",
        _ => "properties",
    };
    let mut properties = object(raw.remove(properties_key), field, properties_key, &mut errors);
    for key in properties.keys().filter(|key| key.chars().any(char::is_control)) {
        field.error(&mut errors, properties_key, format!("key {key:?} contains a control character"));
    }
    if matches!(kind, Some(EventKind::Page | EventKind::Screen)) {
        if let Some(Value::String(page)) = raw.remove("name") {
            properties.entry("name").or_insert(Value::String(page));
        }
        if let Some(Value::String(category)) = raw.remove("category") {
            properties.entry("category").or_insert(Value::String(category));
        }
    }
    if kind == Some(EventKind::Group) {
        let group_id = id_text(raw.remove("groupId"), field, "groupId", &mut errors);
        if group_id.is_empty() {
            field.error(&mut errors, "groupId", "is required for group");
        }
        properties.insert("groupId".into(), Value::String(group_id));
    }
    // Money must be a number, or RFM, LTV and GMV would silently miss it.
    for money in ["revenue", "total", "value", "price"] {
        if let Some(value) = properties.get(money)
            && !(value.is_number() || value.is_null())
        {
            errors.push(FieldError::new(
                format!("{}.{money}", field.name(properties_key)),
                format!("must be a number, not {value}"),
            ));
        }
    }
    // The batch's context lies under the message's own: the message's keys win.
    for (key, value) in &envelope.context {
        if !context.contains_key(key) {
            context.insert(key.clone(), value.clone());
        }
    }
    if envelope.reads_customer_id {
        // Read above; the importing workspace's customers are named by its own ids, not the file's.
        let _ = take_customer_id(&mut context);
    }
    let instants = ["timestamp", "originalTimestamp", "sentAt", "receivedAt"].map(|name| raw.get(name));
    let ts_us = event_time(instants, envelope, field, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let message_id = if message_id.is_empty() { new_id() } else { message_id };
    Ok(TrackingMessage {
        kind: kind.expect("no errors means a kind"),
        message_id,
        user_id,
        anonymous_id,
        previous_id,
        customer_id,
        name,
        ts_us,
        properties: serde_json::to_string(&properties).expect("a JSON map serialises"),
        context: serde_json::to_string(&context).expect("a JSON map serialises"),
    })
}

/// Validates one message of a batch, given as its JSON text: a `track` (most of what senders
/// send) is read without building JSON trees — its `properties` and `context` are checked as they
/// stream by and kept as sent (the batch's context entries that the message lacks put in front)
/// —; anything else, and any message with an error, goes through [`parse_message`], which gives
/// the same answer for every message the fast path takes (tested, and fuzzed against each other).
pub fn parse_batch_message(
    text: &str,
    envelope: &Envelope,
    new_id: impl FnOnce() -> String,
) -> Result<TrackingMessage, Vec<FieldError>> {
    if !envelope.reads_customer_id
        && let Some(mut message) = fast_track(text, envelope)
    {
        if message.message_id.is_empty() {
            message.message_id = new_id();
        }
        return Ok(message);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => parse_message(map, None, envelope, "", new_id),
        Ok(_) => Err(vec![FieldError::new("", "must be a JSON object")]),
        Err(e) => Err(vec![FieldError::new("", e.to_string())]),
    }
}

/// The fields [`parse_message`] reads from a `track`, borrowed where they can be. A duplicate or
/// mistyped field fails to deserialize, and the message takes the general path.
#[derive(serde::Deserialize)]
struct TrackItem<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    #[serde(rename = "userId")]
    user_id: Option<Value>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<Value>,
    #[serde(rename = "previousId")]
    previous_id: Option<Value>,
    #[serde(rename = "messageId")]
    message_id: Option<Value>,
    event: Option<Value>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
    timestamp: Option<Value>,
    #[serde(rename = "originalTimestamp")]
    original_timestamp: Option<Value>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(rename = "receivedAt")]
    received_at: Option<Value>,
}

/// A valid `track` read by the fast path, or `None` for the general path to read (and explain).
fn fast_track(text: &str, envelope: &Envelope) -> Option<TrackingMessage> {
    let item: TrackItem<'_> = serde_json::from_str(text).ok()?;
    if item.kind != Some("track") {
        return None;
    }
    let field = Field { prefix: "" };
    let mut errors = Vec::new();
    let user_id = id_text(item.user_id, field, "userId", &mut errors);
    let anonymous_id = id_text(item.anonymous_id, field, "anonymousId", &mut errors);
    let previous_id = id_text(item.previous_id, field, "previousId", &mut errors);
    let message_id = id_text(item.message_id, field, "messageId", &mut errors);
    let name = track_name(item.event, field, &mut errors);
    let instants = [&item.timestamp, &item.original_timestamp, &item.sent_at, &item.received_at].map(Option::as_ref);
    let ts_us = event_time(instants, envelope, field, &mut errors);
    if !errors.is_empty() || (user_id.is_empty() && anonymous_id.is_empty()) {
        return None;
    }
    let properties = match item.properties {
        None => "{}".to_string(),
        Some(raw) => {
            let keys = object_keys(raw, true)?;
            if keys.iter().any(|key| key.chars().any(char::is_control)) {
                return None;
            }
            raw.get().to_string()
        }
    };
    Some(TrackingMessage {
        kind: EventKind::Track,
        message_id,
        user_id,
        anonymous_id,
        previous_id,
        customer_id: None,
        name,
        ts_us,
        properties,
        context: merged_context(item.context, &envelope.context)?,
    })
}

/// The message's context text with the batch's entries it lacks put in front; `None` if it is not
/// an object [`parse_message`] would take.
fn merged_context(raw: Option<&RawValue>, batch: &Map<String, Value>) -> Option<String> {
    let (text, keys) = match raw {
        None => ("{}", Vec::new()),
        Some(raw) => (raw.get(), object_keys(raw, false)?),
    };
    let mut merged = String::with_capacity(text.len() + 32);
    merged.push('{');
    let mut added = false;
    let lacks = |key: &str| keys.binary_search_by(|k| (**k).cmp(key)).is_err();
    for (key, value) in batch.iter().filter(|(key, _)| lacks(key)) {
        if added {
            merged.push(',');
        }
        merged.push_str(&serde_json::to_string(key).ok()?);
        merged.push(':');
        merged.push_str(&serde_json::to_string(value).ok()?);
        added = true;
    }
    if added && !keys.is_empty() {
        merged.push(',');
    }
    // An object's text starts with its brace.
    merged.push_str(text.get(1..)?);
    Some(merged)
}

/// The keys of a JSON object's text, if it is an object that serde_json's `Value` reads (numbers
/// in range, strings well escaped, nesting within its limit) with no key twice; with `money`,
/// only if `revenue`, `total`, `value` and `price` are numbers or null. Sorted, to be searched.
fn object_keys(raw: &RawValue, money: bool) -> Option<Vec<Cow<'_, str>>> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    let mut keys = serde::Deserializer::deserialize_map(&mut deserializer, TopKeys { money }).ok()??;
    keys.sort_unstable();
    if keys.windows(2).any(|pair| pair[0] == pair[1]) {
        return None;
    }
    Some(keys)
}

/// Reads a top-level object's keys; its values are walked, not kept.
struct TopKeys {
    money: bool,
}

impl<'de> Visitor<'de> for TopKeys {
    type Value = Option<Vec<Cow<'de, str>>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = Vec::new();
        let mut clean = true;
        while let Some(key) = map.next_key_seed(Key)? {
            let shape = map.next_value_seed(Shallow)?;
            if self.money && MONEY.contains(&&*key) && !matches!(shape, Shape::Number | Shape::Null) {
                clean = false;
            }
            keys.push(key);
        }
        Ok(clean.then_some(keys))
    }
}

/// The properties that must be numbers (or null).
const MONEY: [&str; 4] = ["revenue", "total", "value", "price"];

/// An object key, borrowed from the text unless it had escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// What a walked value was.
enum Shape {
    Null,
    Number,
    Other,
}

/// Walks a JSON value as serde_json's `Value` reads it (the same checks), keeping nothing.
struct Shallow;

impl<'de> DeserializeSeed<'de> for Shallow {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shallow {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Number)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Number)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Number)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_none<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element_seed(Shallow)?.is_some() {}
        Ok(Shape::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        while map.next_key_seed(Key)?.is_some() {
            map.next_value_seed(Shallow)?;
        }
        Ok(Shape::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_767_600_000_000_000;

    fn parse(raw: Value, kind: Option<EventKind>) -> Result<TrackingMessage, Vec<FieldError>> {
        let envelope = Envelope { received_us: NOW, ..Default::default() };
        parse_message(raw.as_object().unwrap().clone(), kind, &envelope, "batch[0].", || "generated".into())
    }

    fn fields(result: Result<TrackingMessage, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_track_keeps_its_parts_and_corrects_the_clock() {
        let message = parse(
            json!({"type": "track", "userId": 42, "event": "Order Completed", "messageId": "m-1",
                   "properties": {"revenue": 12.5}, "context": {"ip": "10.0.0.1"},
                   "timestamp": "2026-01-05T08:00:00Z", "sentAt": "2026-01-05T08:00:10Z"}),
            None,
        )
        .unwrap();
        assert_eq!(
            (message.kind, message.user_id.as_str(), message.name.as_str()),
            (EventKind::Track, "42", "Order Completed")
        );
        // The device was 10 s behind sending; the event happened 10 s before arrival.
        assert_eq!(message.ts_us, NOW - 10_000_000);
        assert_eq!(message.context_map()["ip"], "10.0.0.1");
        let message = parse(json!({"anonymousId": "a", "event": "X"}), Some(EventKind::Track)).unwrap();
        assert_eq!((message.ts_us, message.message_id.as_str()), (NOW, "generated"));
    }

    #[test]
    fn bad_messages_name_every_field() {
        assert_eq!(
            fields(parse(json!({"type": "track", "properties": {}}), None)),
            vec!["batch[0].userId", "batch[0].event"]
        );
        assert_eq!(fields(parse(json!({"userId": "u"}), None)), vec!["batch[0].type"]);
        assert_eq!(
            fields(parse(
                json!({"userId": "u", "event": "E", "properties": {"revenue": "12"}}),
                Some(EventKind::Track)
            )),
            vec!["batch[0].properties.revenue"]
        );
        assert_eq!(
            fields(parse(
                json!({"userId": "u", "event": "E", "timestamp": "2099-01-01T00:00:00Z"}),
                Some(EventKind::Track)
            )),
            vec!["batch[0].timestamp"]
        );
        assert_eq!(
            fields(parse(json!({"userId": "u", "event": "E", "timestamp": "monday"}), Some(EventKind::Track))),
            vec!["batch[0].timestamp"]
        );
        assert_eq!(fields(parse(json!({"userId": "u"}), Some(EventKind::Alias))), vec!["batch[0].previousId"]);
        assert_eq!(
            fields(parse(json!({"userId": "u", "traits": []}), Some(EventKind::Identify))),
            vec!["batch[0].traits"]
        );
    }

    fn reasons(result: Result<TrackingMessage, Vec<FieldError>>) -> Vec<(String, String)> {
        result.unwrap_err().into_iter().map(|e| (e.field, e.reason)).collect()
    }

    #[test]
    fn ingestion_refuses_instants_before_2000_or_more_than_a_day_ahead_in_every_field() {
        let track = |extra: Value| {
            let mut raw = json!({"userId": "u", "event": "E"});
            raw.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            parse(raw, Some(EventKind::Track))
        };
        for field in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
            for ancient in ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "-005000-01-01T00:00:00Z"] {
                let found = reasons(track(json!({ field: ancient })));
                assert_eq!(found.len(), 1, "{field} {ancient}");
                assert_eq!(found[0].0, format!("batch[0].{field}"));
                let expected = format!("\"{ancient}\" is before 2000-01-01T00:00:00Z, the earliest accepted instant");
                assert_eq!(found[0].1, expected);
            }
            let found = reasons(track(json!({ field: "9999-12-31T23:59:59Z" })));
            assert_eq!(
                found,
                vec![(
                    format!("batch[0].{field}"),
                    "\"9999-12-31T23:59:59Z\" is more than 24 hours after it was received".into()
                )]
            );
        }
        let found = reasons(track(json!({"timestamp": "-009999-01-01T00:00:00Z"})));
        assert!(found[0].1.contains("is before 2000-01-01T00:00:00Z"), "{found:?}");
        let found = reasons(track(json!({"timestamp": "+10000-01-01T00:00:00Z"})));
        assert!(found[0].1.contains("outside the accepted range"), "{found:?}");
        // Both fields in range, but the corrected time is not: the message says why.
        let found = reasons(track(json!({"timestamp": "2000-01-01T12:00:00Z", "sentAt": "2026-01-06T07:00:00Z"})));
        assert_eq!(found[0].0, "batch[0].timestamp");
        assert!(found[0].1.ends_with("(after clock-skew correction by sentAt)"), "{found:?}");
        // The edges are accepted.
        assert_eq!(track(json!({"timestamp": "2000-01-01T00:00:00Z"})).unwrap().ts_us, EARLIEST_US);
        assert_eq!(track(json!({"timestamp": "2026-01-06T08:00:00Z"})).unwrap().ts_us, NOW + MAX_FUTURE_US);
    }

    #[test]
    fn event_names_and_property_keys_refuse_control_characters() {
        let found = reasons(parse(json!({"userId": "u", "event": "Order\u{0}Completed"}), Some(EventKind::Track)));
        assert_eq!(found, vec![("batch[0].event".into(), "\"Order\\0Completed\" contains a control character".into())]);
        let found = reasons(parse(
            json!({"userId": "u", "event": "E", "properties": {"a\u{7}b": 1, "ok": 2}}),
            Some(EventKind::Track),
        ));
        assert_eq!(found, vec![("batch[0].properties".into(), "key \"a\\u{7}b\" contains a control character".into())]);
        let found = reasons(parse(json!({"userId": "u", "traits": {"line\nbreak": 1}}), Some(EventKind::Identify)));
        assert_eq!(found[0].0, "batch[0].traits");
    }

    #[test]
    fn an_export_read_back_names_its_customer_by_siyu_id_and_the_tracking_api_never_does() {
        let entered = json!({"type": "track", "event": "Segment Entered",
                             "context": {"siyu": {"customerId": 42}, "ip": "10.0.0.1"}});
        // The Tracking API's senders name customers by their own ids only.
        assert_eq!(fields(parse(entered.clone(), None)), vec!["batch[0].userId"]);
        let import = Envelope { received_us: NOW, reads_customer_id: true, ..Default::default() };
        let read = |raw: Value| {
            parse_message(raw.as_object().unwrap().clone(), Some(EventKind::Track), &import, "", || "generated".into())
        };
        let message = read(entered).unwrap();
        assert_eq!(message.customer_id, Some(CustomerId(42)));
        assert_eq!(Value::Object(message.context_map()), json!({"ip": "10.0.0.1"}), "the file's id is not stored");
        // A sender's id names the customer; the file's id is left out all the same.
        let message =
            read(json!({"userId": "u", "event": "E", "context": {"siyu": {"customerId": "42", "other": 1}}})).unwrap();
        assert_eq!((message.customer_id, Value::Object(message.context_map())), (None, json!({"siyu": {"other": 1}})));
        for bad in [json!(0), json!(-3), json!("4x"), json!(1.5), json!({"id": 1})] {
            let found = reasons(read(json!({"event": "E", "context": {"siyu": {"customerId": bad}}})));
            let expected = format!("must be a customer id (a positive integer), not {bad}");
            assert_eq!(found[0], ("context.siyu.customerId".to_string(), expected));
        }
        assert_eq!(
            reasons(read(json!({"event": "E"}))),
            vec![("userId".to_string(), "userId, anonymousId or context.siyu.customerId is required".to_string())]
        );
        let mut context = serde_json::Map::new();
        context.insert("siyu".into(), json!("not an object"));
        set_customer_id(&mut context, CustomerId(7));
        assert_eq!(Value::Object(context), json!({"siyu": {"customerId": 7}}));
    }

    #[test]
    fn pages_and_groups_get_names_and_ids() {
        let page = parse(json!({"type": "page", "anonymousId": "a", "name": "Menu"}), None).unwrap();
        assert_eq!((page.name.as_str(), &page.properties_map()["name"]), ("Page Viewed", &json!("Menu")));
        let group = parse(json!({"type": "group", "userId": "u", "groupId": "store-9"}), None).unwrap();
        assert_eq!(group.properties_map()["groupId"], "store-9");
    }
    /// What a parsed message means, its JSON texts read back (the fast path keeps them as sent).
    type Meaning = (EventKind, String, String, String, String, String, i64, Value, Value);

    fn meaning(message: &TrackingMessage) -> Meaning {
        (
            message.kind,
            message.message_id.clone(),
            message.user_id.clone(),
            message.anonymous_id.clone(),
            message.previous_id.clone(),
            message.name.clone(),
            message.ts_us,
            Value::Object(message.properties_map()),
            Value::Object(message.context_map()),
        )
    }

    #[test]
    fn the_fast_path_means_what_the_general_path_means_or_leaves_the_message_to_it() {
        let mut context = Map::new();
        context.insert("ip".into(), json!("10.0.0.9"));
        context.insert("library".into(), json!({"name": "batch"}));
        let envelope =
            Envelope { received_us: NOW, sent_at_us: Some(NOW - 5_000_000), context, reads_customer_id: false };
        let items = [
            r#"{"type":"track","userId":"u-1","event":"Order Completed","messageId":"m1","properties":{"revenue":12.5,"sku":"a"},"context":{"ip":"1.2.3.4"},"timestamp":"2026-01-05T08:00:00Z"}"#,
            r#"{"type":"track","anonymousId":" a-1 ","event":" Viewed ","properties":{},"context":{}}"#,
            r#"{"type":"track","userId":42,"event":"X","properties":null,"context":null,"sentAt":"2026-01-05T08:00:10Z","originalTimestamp":"2026-01-05T08:00:00Z"}"#,
            r#"{"type":"track","userId":"u","event":"X","context":{"library":{"name":"own"},"locale":"zh-CN"}}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"a":{"b":[1,2,{"c":null}]},"price":null,"t":"\u00e9\n"}}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"a":1,"a":2}}"#,
            r#"{"type":"track","userId":"u","event":"X","context":{"ip":"x","ip":"y"}}"#,
            r#"{"type":"track","userId":"u","userId":"v","event":"X"}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"revenue":"12"}}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"a\u0007b":1}}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"big":1e400}}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"s":"\ud800"}}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":[1]}"#,
            r#"{"type":"track","userId":"u","event":"X","context":"no"}"#,
            r#"{"type":"track","userId":"u","event":"X","timestamp":"1999-01-01T00:00:00Z"}"#,
            r#"{"type":"track","userId":"u","event":"X","timestamp":"2026-01-05T08:00:00Z","sentAt":"2020-01-01T00:00:00Z"}"#,
            r#"{"type":"track","userId":"","event":"X"}"#,
            r#"{"type":"track","userId":"u","event":""}"#,
            r#"{"type":"track","userId":"u","event":"X\u0000"}"#,
            r#"{"type":"tr\u0061ck","userId":"u","event":"X"}"#,
            r#"{"type":"identify","userId":"u","traits":{"name":"n"}}"#,
            r#"{"type":"page","userId":"u","name":"Menu"}"#,
            r#"{"userId":"u","event":"X"}"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"k":{"k":{"k":{"k":{}}}}},"extra":[1,{"a":2}]}"#,
            r#"[1]"#,
            r#"{"type":"track","userId":"u","event":"X","properties":{"n":-0.0,"m":18446744073709551616}}"#,
        ];
        for item in items {
            let slow = match serde_json::from_str::<Value>(item) {
                Ok(Value::Object(map)) => parse_message(map, None, &envelope, "", || "generated".into()),
                Ok(_) => Err(vec![FieldError::new("", "must be a JSON object")]),
                Err(e) => Err(vec![FieldError::new("", e.to_string())]),
            };
            let fast = parse_batch_message(item, &envelope, || "generated".into());
            match (&fast, &slow) {
                (Ok(fast), Ok(slow)) => assert_eq!(meaning(fast), meaning(slow), "{item}"),
                _ => assert_eq!(fast, slow, "{item}"),
            }
            if fast_track(item, &envelope).is_some() {
                assert!(slow.is_ok(), "the fast path took a message the general path refuses: {item}");
            }
        }
        // Nesting past serde_json's limit is refused either way, never walked to the bottom.
        let (open, close) = ("[".repeat(100_000), "]".repeat(100_000));
        let deep = format!(r#"{{"type":"track","userId":"u","event":"X","properties":{{"a":{open}1{close}}}}}"#);
        assert!(fast_track(&deep, &envelope).is_none());
        assert!(parse_batch_message(&deep, &envelope, || "generated".into()).is_err());
        // The fast path keeps a message's context as sent, with the batch's missing entries in front.
        let message = fast_track(items[0], &envelope).expect("a plain track takes the fast path");
        assert_eq!(message.context, r#"{"library":{"name":"batch"},"ip":"1.2.3.4"}"#);
        assert!(fast_track(items[5], &envelope).is_none(), "a property named twice goes the general way");
    }
}
