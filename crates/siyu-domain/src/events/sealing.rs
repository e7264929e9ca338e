//! The log keeps no personal data in the clear: each event's `userId`, `anonymousId`,
//! `properties` and `context` are sealed (AES-256-GCM) under its customer's event key, which the
//! customer's row holds wrapped by the workspace's data key. The name, the times, the message id
//! and the customer's id stay readable, so analytics keep counting an erased customer's events;
//! erasing the customer deletes the key, which makes every copy of what was sealed unreadable —
//! log files, PostgreSQL rows, backups of either (crypto-shredding).
//!
//! A sealed event is stored with empty ids and context and, as its properties, [`SEALED_PREFIX`]
//! followed by the base64 of the sealed fields `userId`, `anonymousId`, `properties`, `context`,
//! each as a 4-byte little-endian length and its UTF-8 bytes. Events logged before sealing
//! (properties that are a JSON object) read as they are.

use super::Events;
use super::model::{EventView, NewEvent};
use crate::access::{Permission, Principal};
use crate::error::DomainResult;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use siyu_core::crypto::{SealingKey, SecretKey};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::HashSet;

/// What a sealed event's properties start with (a JSON object never does).
pub const SEALED_PREFIX: &str = "#sealed1:";
/// What a sealed event is bound to.
const EVENT_CONTEXT: &[u8] = b"siyu event v1";

/// Appends the four fields, each length-prefixed, to `plain`.
fn frame(plain: &mut Vec<u8>, fields: [&str; 4]) {
    for field in fields {
        plain.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_le_bytes());
        plain.extend_from_slice(field.as_bytes());
    }
}

/// Reads the four fields back; `None` if the bytes are not four framed UTF-8 strings.
fn unframe(mut plain: &[u8]) -> Option<[String; 4]> {
    let mut fields: [String; 4] = Default::default();
    for field in &mut fields {
        let (length, rest) = plain.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_le_bytes(*length)).ok()?;
        let (bytes, rest) = (rest.get(..length)?, &rest[length..]);
        *field = std::str::from_utf8(bytes).ok()?.to_string();
        plain = rest;
    }
    plain.is_empty().then_some(fields)
}

fn seal_one(
    key: &SealingKey,
    event: EventView<'_>,
    plain: &mut Vec<u8>,
    sealed: &mut Vec<u8>,
) -> DomainResult<NewEvent> {
    plain.clear();
    frame(plain, [event.user_id, event.anonymous_id, event.properties, event.context]);
    sealed.clear();
    key.seal_into(plain, EVENT_CONTEXT, sealed)?;
    let mut properties = String::with_capacity(SEALED_PREFIX.len() + sealed.len().div_ceil(3) * 4);
    properties.push_str(SEALED_PREFIX);
    BASE64.encode_string(&sealed[..], &mut properties);
    Ok(without_personal_fields(event, properties, String::new()))
}

/// `event`'s customer, kind, name, times and message id, no ids, and the given properties and context.
fn without_personal_fields(event: EventView<'_>, properties: String, context: String) -> NewEvent {
    NewEvent {
        customer: event.customer,
        kind: event.kind,
        name: event.name.to_string(),
        ts_us: event.ts_us,
        received_us: event.received_us,
        message_id: event.message_id.to_string(),
        user_id: String::new(),
        anonymous_id: String::new(),
        properties,
        context,
    }
}

/// Seals events of a set of customers under their event keys; an event of a customer with no
/// key (erased) under a key nobody keeps, as if erased with them.
struct Sealer {
    keys: crate::customers::EventKeys,
    nobodys: SealingKey,
    plain: Vec<u8>,
    sealed: Vec<u8>,
}

impl Sealer {
    fn seal(&mut self, event: EventView<'_>) -> DomainResult<NewEvent> {
        let key = self.keys.get(&event.customer).map_or(&self.nobodys, |key| &**key);
        seal_one(key, event, &mut self.plain, &mut self.sealed)
    }
}

impl Events {
    /// A sealer with the event keys of `customers` (created for those that have none).
    async fn sealer(&self, ws: WorkspaceId, customers: &[CustomerId]) -> DomainResult<Sealer> {
        Ok(Sealer {
            keys: self.customers.event_keys(ws, customers).await?,
            nobodys: SealingKey::new(&SecretKey::generate()?),
            plain: Vec::new(),
            sealed: Vec::new(),
        })
    }

    /// Returns the events as the log keeps them: sealed under their customers' event keys. An
    /// event of a customer erased meanwhile is sealed under a key nobody keeps, as if erased with
    /// them.
    pub(crate) async fn sealed_for_log(&self, ws: WorkspaceId, events: &[NewEvent]) -> DomainResult<Vec<NewEvent>> {
        let mut ids: Vec<CustomerId> = events.iter().map(|e| e.customer).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut sealer = self.sealer(ws, &ids).await?;
        events.iter().map(|event| sealer.seal(event.view())).collect()
    }

    /// Seals what an older siyu logged in the clear, in every workspace (the upgrade at start,
    /// before anything is served; cheap once done): each event under its customer's event key
    /// (created for customers that have none), an erased customer's under a key nobody keeps, so
    /// that the log keeps no personal data in the clear. Returns how many events were sealed.
    pub async fn seal_clear_events(&self) -> DomainResult<u64> {
        let mut total = 0;
        for ws in self.store.workspaces_with_clear_events().await? {
            total += self.seal_clear_events_of(ws).await?;
        }
        Ok(total)
    }

    async fn seal_clear_events_of(&self, ws: WorkspaceId) -> DomainResult<u64> {
        let customers = self.store.clear_event_customers(ws).await?;
        if customers.is_empty() {
            return Ok(0);
        }
        tracing::info!(
            workspace = ws.0,
            customers = customers.len(),
            "sealing events an older siyu logged in the clear"
        );
        let mut sealer = self.sealer(ws, &customers).await?;
        let mut failed = None;
        let count = self
            .store
            .seal_clear_events(ws, &mut |event| {
                sealer.seal(event).unwrap_or_else(|error| {
                    // Sealing with a valid key does not fail; if it ever did, the event keeps no
                    // personal field rather than its clear one.
                    failed = Some(error);
                    without_personal_fields(event, "{}".into(), "{}".into())
                })
            })
            .await?;
        if let Some(error) = failed {
            tracing::error!(workspace = ws.0, error = %error.chain(), "an event could not be sealed; its personal fields were dropped");
        }
        self.mark_index_stale(ws);
        Ok(count)
    }

    /// Returns an opener for the workspace's logged events (their ids, properties and context are
    /// personal data: `pii:read`), with every customer's key, or only those of `only`.
    pub async fn event_opener(&self, principal: &Principal, only: Option<&[CustomerId]>) -> DomainResult<EventOpener> {
        principal.require(Permission::PiiRead)?;
        self.opener_for(principal.workspace_id(), only).await
    }

    pub(crate) async fn opener_for(&self, ws: WorkspaceId, only: Option<&[CustomerId]>) -> DomainResult<EventOpener> {
        Ok(EventOpener { keys: self.customers.stored_event_keys(ws, only).await?, unreadable: HashSet::new() })
    }
}

/// Opens logged events with the event keys it was given.
pub struct EventOpener {
    keys: crate::customers::EventKeys,
    unreadable: HashSet<CustomerId>,
}

/// A logged event's personal fields, opened.
pub struct OpenedEvent<'a> {
    event: EventView<'a>,
    sealed: Option<[String; 4]>,
}

impl OpenedEvent<'_> {
    /// The event as it was sent (an unreadable one with empty ids, properties and context).
    pub fn view(&self) -> EventView<'_> {
        match &self.sealed {
            None => self.event,
            Some([user_id, anonymous_id, properties, context]) => {
                EventView { user_id, anonymous_id, properties, context, ..self.event }
            }
        }
    }
}

impl EventOpener {
    /// Opens one logged event. One whose key is gone (its customer was erased, or had no key when
    /// the opener was made) reads as `{}` properties and context and no ids.
    pub fn open<'a>(&mut self, event: EventView<'a>) -> OpenedEvent<'a> {
        let Some(encoded) = event.properties.strip_prefix(SEALED_PREFIX) else {
            return OpenedEvent { event, sealed: None };
        };
        let opened = self.keys.get(&event.customer).and_then(|key| {
            let sealed = BASE64.decode(encoded).ok()?;
            unframe(&key.open(&sealed, EVENT_CONTEXT).ok()?)
        });
        let sealed = opened.unwrap_or_else(|| {
            self.unreadable.insert(event.customer);
            [String::new(), String::new(), "{}".into(), "{}".into()]
        });
        OpenedEvent { event, sealed: Some(sealed) }
    }

    /// The customers whose events could not be opened so far.
    pub fn unreadable(&self) -> impl Iterator<Item = CustomerId> + '_ {
        self.unreadable.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_fields_read_back_and_bad_frames_do_not() {
        let mut plain = Vec::new();
        frame(&mut plain, ["u-1", "", r#"{"sku":"茶"}"#, "{}"]);
        assert_eq!(unframe(&plain).unwrap(), ["u-1".to_string(), String::new(), r#"{"sku":"茶"}"#.into(), "{}".into()]);
        assert!(unframe(&plain[..plain.len() - 1]).is_none(), "truncated");
        let mut longer = plain.clone();
        longer.push(0);
        assert!(unframe(&longer).is_none(), "trailing bytes");
        assert!(unframe(&[255, 255, 255, 255]).is_none(), "a length past the end");
    }
}
