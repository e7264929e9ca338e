//! Fuzzes the Tracking API message decoder: any JSON object is validated as each message type and,
//! when it holds a `batch`, each item as a batch message. A valid message is never more than the
//! allowed skew in the future and has a name; a batch item read from its text (the fast path for
//! `track`s) means what the general decoder makes of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use siyu_domain::events::tracking::MAX_FUTURE_US;
use siyu_domain::events::{Envelope, EventKind, TrackingMessage, parse_batch_message, parse_message};

const RECEIVED_US: i64 = 1_767_600_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    same_either_way(text);
    if let Ok(batch) = serde_json::from_str::<Batch<'_>>(text) {
        for item in batch.batch {
            same_either_way(item.get());
        }
    }
    let Ok(Value::Object(raw)) = serde_json::from_str::<Value>(text) else { return };
    let context = match raw.get("context") {
        Some(Value::Object(context)) => context.clone(),
        _ => Map::new(),
    };
    // A batch's own sentAt, as the web layer reads it (an RFC 3339 instant); else three seconds ago.
    let sent_at_us = raw
        .get("sentAt")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .map_or(RECEIVED_US - 3_000_000, |t| t.as_microsecond());
    let envelope =
        Envelope { received_us: RECEIVED_US, sent_at_us: Some(sent_at_us), context, reads_customer_id: false };
    let kinds = [
        None,
        Some(EventKind::Track),
        Some(EventKind::Identify),
        Some(EventKind::Page),
        Some(EventKind::Screen),
        Some(EventKind::Group),
        Some(EventKind::Alias),
    ];
    for kind in kinds {
        decode(&raw, kind, &envelope, "");
    }
    if let Some(Value::Array(items)) = raw.get("batch") {
        for (i, item) in items.iter().enumerate() {
            if let Value::Object(item) = item {
                decode(item, None, &envelope, &format!("batch[{i}]."));
            }
        }
    }
});

fn decode(raw: &Map<String, Value>, kind: Option<EventKind>, envelope: &Envelope, prefix: &str) {
    match parse_message(raw.clone(), kind, envelope, prefix, || "generated".into()) {
        Ok(message) => {
            assert!(message.ts_us <= RECEIVED_US + MAX_FUTURE_US, "{message:?}");
            assert!(!message.name.is_empty(), "{message:?}");
            assert!(!message.message_id.is_empty(), "{message:?}");
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in errors {
                assert!(error.field.starts_with(prefix), "{error:?}");
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    batch: Vec<&'a serde_json::value::RawValue>,
}

/// What a message means: its JSON texts read back, since the fast path keeps them as sent.
type Meaning = (EventKind, [String; 5], Option<i64>, i64, Value, Value);

fn meaning(m: &TrackingMessage) -> Meaning {
    let read = |text: &str| serde_json::from_str::<Value>(text).expect("a kept text is JSON");
    let texts = [&m.message_id, &m.user_id, &m.anonymous_id, &m.previous_id, &m.name].map(String::clone);
    (m.kind, texts, m.customer_id.map(|id| id.0), m.ts_us, read(&m.properties), read(&m.context))
}

/// A batch item read from its text means what the general decoder makes of its JSON tree.
fn same_either_way(item: &str) {
    let mut context = Map::new();
    context.insert("ip".into(), Value::String("10.0.0.1".into()));
    let envelope = Envelope { received_us: RECEIVED_US, sent_at_us: None, context, reads_customer_id: false };
    let general = match serde_json::from_str::<Value>(item) {
        Ok(Value::Object(map)) => parse_message(map, None, &envelope, "", || "generated".into()),
        _ => return,
    };
    let fast = parse_batch_message(item, &envelope, || "generated".into());
    match (&fast, &general) {
        (Ok(fast), Ok(general)) => assert_eq!(meaning(fast), meaning(general), "{item}"),
        _ => assert_eq!(fast, general, "{item}"),
    }
}
