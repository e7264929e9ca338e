//! The log keeps no personal data in the clear: each event's `userId`, `anonymousId`,
//! `properties` and `context` are sealed (AES-256-GCM) under its customer's event key, which the
//! customer's row holds wrapped by the workspace's data key. The name, the times, the message id
//! and the customer's id stay readable, so analytics keep counting an erased customer's events;
//! erasing the customer deletes the key, which makes every copy of what was sealed unreadable —
//! log files, PostgreSQL rows, backups of either (crypto-shredding).
//!
//! A sealed event is stored with empty ids and context and, as its properties, [`SEALED_PREFIX`]
//! followed by the base64 of the sealed JSON array `[userId, anonymousId, properties, context]`.
//! Events logged before sealing (properties that are a JSON object) read as they are.

use super::Events;
use super::model::{EventView, NewEvent};
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use siyu_core::crypto::SecretKey;
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::{HashMap, HashSet};

/// What a sealed event's properties start with (a JSON object never does).
pub const SEALED_PREFIX: &str = "#sealed1:";
/// What a sealed event is bound to.
const EVENT_CONTEXT: &[u8] = b"siyu event v1";
/// Event keys kept in memory per workspace before the cache starts over.
const MAX_CACHED_KEYS: usize = 1_000_000;

/// The event keys the ingestion path has used lately, per workspace.
#[derive(Default)]
pub(crate) struct KeyCache {
    workspaces: std::sync::Mutex<HashMap<WorkspaceId, HashMap<CustomerId, SecretKey>>>,
}

impl KeyCache {
    fn with<T>(&self, ws: WorkspaceId, f: impl FnOnce(&mut HashMap<CustomerId, SecretKey>) -> T) -> T {
        let mut all = self.workspaces.lock().expect("event key cache lock is never poisoned");
        f(all.entry(ws).or_default())
    }

    /// Forgets the keys of erased customers.
    pub(crate) fn forget(&self, ws: WorkspaceId, ids: &[CustomerId]) {
        self.with(ws, |keys| {
            for id in ids {
                keys.remove(id);
            }
        });
    }
}

fn seal_one(key: &SecretKey, event: &NewEvent) -> DomainResult<NewEvent> {
    let plain = serde_json::to_vec(&(&event.user_id, &event.anonymous_id, &event.properties, &event.context))
        .map_err(|e| DomainError::internal_from("an event as JSON", e))?;
    let sealed = key.seal(&plain, EVENT_CONTEXT)?;
    let mut properties = String::with_capacity(SEALED_PREFIX.len() + sealed.len() * 4 / 3 + 4);
    properties.push_str(SEALED_PREFIX);
    BASE64.encode_string(&sealed, &mut properties);
    Ok(NewEvent {
        customer: event.customer,
        kind: event.kind,
        name: event.name.clone(),
        ts_us: event.ts_us,
        received_us: event.received_us,
        message_id: event.message_id.clone(),
        user_id: String::new(),
        anonymous_id: String::new(),
        properties,
        context: String::new(),
    })
}

impl Events {
    /// Returns the events as the log keeps them: sealed under their customers' event keys (given
    /// to customers on their first event). An event of a customer erased meanwhile is sealed under
    /// a key nobody keeps, as if erased with them.
    pub(crate) async fn sealed_for_log(&self, ws: WorkspaceId, events: &[NewEvent]) -> DomainResult<Vec<NewEvent>> {
        let mut ids: Vec<CustomerId> = events.iter().map(|e| e.customer).collect();
        ids.sort();
        ids.dedup();
        let mut keys: HashMap<CustomerId, SecretKey> = HashMap::with_capacity(ids.len());
        let missing: Vec<CustomerId> = self.keys.with(ws, |cached| {
            ids.iter()
                .filter(|id| match cached.get(id) {
                    Some(key) => {
                        keys.insert(**id, key.clone());
                        false
                    }
                    None => true,
                })
                .copied()
                .collect()
        });
        if !missing.is_empty() {
            let fetched = self.customers.event_keys(ws, &missing).await?;
            self.keys.with(ws, |cached| {
                if cached.len() + fetched.len() > MAX_CACHED_KEYS {
                    cached.clear();
                }
                cached.extend(fetched.iter().map(|(id, key)| (*id, key.clone())));
            });
            keys.extend(fetched);
        }
        let nobodys = SecretKey::generate()?;
        events.iter().map(|event| seal_one(keys.get(&event.customer).unwrap_or(&nobodys), event)).collect()
    }

    /// Returns an opener for the workspace's logged events (their ids, properties and context are
    /// personal data: `pii:read`), with every customer's key, or only those of `only`.
    pub async fn event_opener(&self, principal: &Principal, only: Option<&[CustomerId]>) -> DomainResult<EventOpener> {
        principal.require(Permission::PiiRead)?;
        self.opener_for(principal.workspace_id(), only).await
    }

    pub(crate) async fn opener_for(&self, ws: WorkspaceId, only: Option<&[CustomerId]>) -> DomainResult<EventOpener> {
        let keys = match only {
            None => self.customers.all_event_keys(ws).await?,
            Some(ids) => self.customers.existing_event_keys(ws, ids).await?,
        };
        Ok(EventOpener { keys, unreadable: HashSet::new() })
    }
}

/// Opens logged events with the event keys it was given.
pub struct EventOpener {
    keys: HashMap<CustomerId, SecretKey>,
    unreadable: HashSet<CustomerId>,
}

/// A logged event's personal fields, opened.
pub struct OpenedEvent<'a> {
    event: EventView<'a>,
    sealed: Option<(String, String, String, String)>,
}

impl OpenedEvent<'_> {
    /// The event as it was sent (an unreadable one with empty ids, properties and context).
    pub fn view(&self) -> EventView<'_> {
        match &self.sealed {
            None => self.event,
            Some((user_id, anonymous_id, properties, context)) => {
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
            let plain = key.open(&sealed, EVENT_CONTEXT).ok()?;
            serde_json::from_slice::<(String, String, String, String)>(&plain).ok()
        });
        let sealed = opened.unwrap_or_else(|| {
            self.unreadable.insert(event.customer);
            (String::new(), String::new(), "{}".into(), "{}".into())
        });
        OpenedEvent { event, sealed: Some(sealed) }
    }

    /// The customers whose events could not be opened so far.
    pub fn unreadable(&self) -> impl Iterator<Item = CustomerId> + '_ {
        self.unreadable.iter().copied()
    }

    /// Whether it holds a key for the customer.
    pub fn has_key(&self, customer: CustomerId) -> bool {
        self.keys.contains_key(&customer)
    }
}
