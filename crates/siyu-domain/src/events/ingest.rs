//! Ingestion: Segment-spec messages de-duplicated by `messageId`, their senders resolved to
//! customers through the identity cache (new senders, `identify` and `alias` go through the
//! customer write path), and the events appended to the durable log.

use super::Events;
use crate::access::{Permission, Principal};
use crate::customers::{CustomerInput, IdentityInput, IdentityKind};
use crate::error::{DomainError, DomainResult};
use crate::events::{EventKind, NewEvent, TrackingMessage};
use siyu_core::CustomerId;
use siyu_core::WorkspaceId;
use std::collections::HashMap;

/// Profiles created per write transaction when senders are resolved in bulk.
const RESOLVE_CHUNK: usize = 50_000;

impl Events {
    /// Returns the customer of each Segment `userId`, creating a profile for each one not seen before.
    pub async fn customers_for_user_ids(
        &self,
        principal: &Principal,
        user_ids: &[String],
    ) -> DomainResult<Vec<CustomerId>> {
        self.customers_for_senders(principal, IdentityKind::UserId, user_ids).await
    }

    /// Returns the customer of each Segment `anonymousId`, creating a profile for each one not seen
    /// before.
    pub async fn customers_for_anonymous_ids(
        &self,
        principal: &Principal,
        anonymous_ids: &[String],
    ) -> DomainResult<Vec<CustomerId>> {
        self.customers_for_senders(principal, IdentityKind::AnonymousId, anonymous_ids).await
    }

    /// Returns, for each of siyu's customer ids (as an export names them), the customer it is in
    /// the principal's workspace (its survivor, if it was merged away), or `None` when the
    /// workspace has no such customer: ids of another workspace are never found.
    pub async fn customers_in_workspace(
        &self,
        principal: &Principal,
        ids: &[CustomerId],
    ) -> DomainResult<Vec<Option<CustomerId>>> {
        principal.require(Permission::EventsWrite)?;
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.push(self.customers.stores.customers.resolve(principal.workspace_id(), *id).await?);
        }
        Ok(found)
    }

    async fn customers_for_senders(
        &self,
        principal: &Principal,
        kind: IdentityKind,
        senders: &[String],
    ) -> DomainResult<Vec<CustomerId>> {
        principal.require(Permission::EventsWrite)?;
        let field = if kind == IdentityKind::UserId { "userId" } else { "anonymousId" };
        let mut ids = Vec::with_capacity(senders.len());
        for chunk in senders.chunks(RESOLVE_CHUNK) {
            let inputs = chunk
                .iter()
                .map(|value| CustomerInput {
                    identities: vec![IdentityInput { kind: kind.as_str().into(), value: value.clone() }],
                    traits: Default::default(),
                    tags: Vec::new(),
                    source: Some("events".into()),
                })
                .collect();
            for (value, result) in
                chunk.iter().zip(self.customers.write_customers(principal.workspace_id(), inputs, "events", "").await?)
            {
                match result {
                    Ok(done) => ids.push(done.id),
                    Err(errors) => {
                        let reason = errors.first().map_or_else(String::new, |e| e.reason.clone());
                        return Err(DomainError::Invalid(vec![crate::FieldError::new(
                            field,
                            format!("\"{value}\": {reason}"),
                        )]));
                    }
                }
            }
        }
        Ok(ids)
    }
}

/// Per-workspace memory of the ingestion path: which customer each sender identity resolved to,
/// and which message ids arrived in the last 24 hours (Segment's de-duplication window).
#[derive(Default)]
pub(crate) struct IngestState {
    workspaces: std::sync::Mutex<HashMap<siyu_core::WorkspaceId, WorkspaceIngest>>,
    /// See [`Events::set_index_fold_events`](super::Events::set_index_fold_events); 0: the default.
    pub(super) fold_events: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct WorkspaceIngest {
    /// Sender ids (chosen by senders, so hashed with std's keyed SipHash) to their customers:
    /// `userId`s, then `anonymousId`s, looked up without copying the id.
    senders: [HashMap<String, CustomerId>; 2],
    merged: foldhash::HashMap<CustomerId, CustomerId>,
    /// 128-bit keyed hashes of recent message ids ([`message_hash`]), with their arrival time.
    seen: foldhash::HashMap<u128, i64>,
    seen_loaded: bool,
    purged_at_len: usize,
}

/// Follows merges from a profile to its survivor.
fn state_live(merged: &foldhash::HashMap<CustomerId, CustomerId>, mut id: CustomerId) -> CustomerId {
    while let Some(next) = merged.get(&id) {
        id = *next;
    }
    id
}

impl WorkspaceIngest {
    fn live(&self, id: CustomerId) -> CustomerId {
        state_live(&self.merged, id)
    }

    /// Where [`Self::senders`] keeps a kind: user ids first, anonymous ids second.
    fn slot(kind: IdentityKind) -> usize {
        usize::from(kind != IdentityKind::UserId)
    }

    /// The customer a sender id was resolved to (not followed through merges).
    fn sender(&self, (kind, value): (IdentityKind, &str)) -> Option<CustomerId> {
        self.senders[Self::slot(kind)].get(value).copied()
    }

    fn remember(&mut self, (kind, value): (IdentityKind, &str), customer: CustomerId) {
        let senders = &mut self.senders[Self::slot(kind)];
        match senders.get_mut(value) {
            Some(known) => *known = customer,
            None => {
                senders.insert(value.to_string(), customer);
            }
        }
    }

    fn customer_of(&self, identities: &[(IdentityKind, &str)]) -> Option<CustomerId> {
        let mut found = None;
        for key in identities {
            let id = self.live(self.sender(*key)?);
            if found.is_some_and(|f| f != id) {
                return None;
            }
            found = Some(id);
        }
        found
    }

    /// Forgets message ids older than the window, once the map has doubled since the last purge.
    fn purge(&mut self, now_us: i64) {
        if self.seen.len() > 2 * self.purged_at_len.max(100_000) {
            self.seen.retain(|_, at| *at >= now_us - DEDUP_WINDOW_US);
            self.purged_at_len = self.seen.len();
        }
    }
}

/// Segment de-duplicates within about 24 hours; so does siyu.
const DEDUP_WINDOW_US: i64 = 24 * 3_600 * 1_000_000;

/// A message id's 128-bit hash, keyed by two secrets of this process (std's SipHash), so that
/// nobody can choose ids whose hashes collide; the window is rebuilt from the log at start.
fn message_hash(message_id: &str) -> u128 {
    use std::hash::BuildHasher;
    static KEYS: std::sync::LazyLock<[std::hash::RandomState; 2]> =
        std::sync::LazyLock::new(|| [std::hash::RandomState::new(), std::hash::RandomState::new()]);
    let [high, low] = &*KEYS;
    (u128::from(high.hash_one(message_id)) << 64) | u128::from(low.hash_one(message_id))
}

/// What became of a request's messages.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    /// Messages stored (durably) by this request.
    pub accepted: usize,
    /// Messages whose `messageId` was already stored in the last 24 hours; not stored again.
    pub duplicates: usize,
    /// Refused messages: their index in the request and why.
    pub rejected: Vec<RejectedMessage>,
}

/// A refused message.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RejectedMessage {
    /// Position in the request (0 for a single-message endpoint).
    pub index: usize,
    /// The offending fields.
    pub errors: Vec<crate::FieldError>,
}

/// The identities a message names, and the one customer they resolve to when the message writes
/// no profile (`None`: the message asks for a profile write: an unknown sender, `identify`, `alias`).
fn identities_of<'a>(
    message: &'a TrackingMessage,
    known: &WorkspaceIngest,
) -> (Vec<(IdentityKind, &'a str)>, Option<CustomerId>) {
    let mut identities = Vec::with_capacity(2);
    if !message.user_id.is_empty() {
        identities.push((IdentityKind::UserId, message.user_id.as_str()));
    }
    if !message.anonymous_id.is_empty() {
        identities.push((IdentityKind::AnonymousId, message.anonymous_id.as_str()));
    }
    if message.kind == EventKind::Alias {
        // previousId is the user's earlier id: a known user id, otherwise an anonymous id.
        let previous = message.previous_id.as_str();
        let kind = if known.sender((IdentityKind::UserId, previous)).is_some() {
            IdentityKind::UserId
        } else {
            IdentityKind::AnonymousId
        };
        identities.push((kind, previous));
    }
    identities.dedup();
    // A message named only by siyu's customer id (an export read back) writes no profile.
    let found = match message.kind {
        _ if identities.is_empty() => None,
        EventKind::Identify | EventKind::Alias => None,
        _ => known.customer_of(&identities),
    };
    (identities, found)
}

/// Names the message field a customer-write error is about, relative to the message (the caller
/// places it, e.g. under `batch[3]`): the input's traits are the message's `traits`, and its
/// identities come from `userId`, `anonymousId` or `previousId`.
fn message_field(message: &TrackingMessage, identities: &[(IdentityKind, &str)], field: &str) -> String {
    let identity = field
        .strip_prefix("identities[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|index| index.parse::<usize>().ok())
        .and_then(|index| identities.get(index));
    match identity {
        Some((_, value)) if *value == message.user_id => "userId".into(),
        Some((_, value)) if *value == message.anonymous_id => "anonymousId".into(),
        Some((_, value)) if *value == message.previous_id => "previousId".into(),
        _ => field.to_string(),
    }
}

impl Events {
    /// Points the identity cache's merged-away profiles at their survivors.
    pub(super) fn forget_merged_senders(&self, ws: WorkspaceId, merges: &[(CustomerId, CustomerId)]) {
        self.with_ingest(ws, |state| {
            for (merged, survivor) in merges {
                state.merged.insert(*merged, *survivor);
            }
        });
    }

    /// Forgets a deleted profile's identities, so a later event of the same sender creates a new
    /// profile rather than pointing at the erased one.
    pub(super) fn forget_deleted_sender(&self, ws: WorkspaceId, id: CustomerId) {
        self.with_ingest(ws, |state| {
            for senders in &mut state.senders {
                senders.retain(|_, customer| state_live(&state.merged, *customer) != id);
            }
            state.merged.retain(|from, to| *from != id && *to != id);
        });
    }

    fn with_ingest<T>(&self, ws: siyu_core::WorkspaceId, f: impl FnOnce(&mut WorkspaceIngest) -> T) -> T {
        let mut all = self.ingest.workspaces.lock().expect("ingest state lock is never poisoned");
        f(all.entry(ws).or_default())
    }

    /// Stores Segment messages: de-duplicates by `messageId`, resolves senders to customers
    /// (`identify` and `alias` merge profiles and set traits), appends the events durably, and
    /// reports per message. Messages that failed validation are passed in as their errors.
    pub async fn ingest(
        &self,
        principal: &Principal,
        messages: Vec<Result<TrackingMessage, Vec<crate::FieldError>>>,
        received_us: i64,
    ) -> DomainResult<IngestOutcome> {
        principal.require(Permission::EventsWrite)?;
        let ws = principal.workspace_id();
        if !self.with_ingest(ws, |state| state.seen_loaded) {
            // After a restart the window is rebuilt from the log, so a client's retry of a batch that
            // was stored just before a crash is still recognised.
            let mut recent = Vec::new();
            self.store
                .scan_received_since(ws, received_us - DEDUP_WINDOW_US, &mut |event| {
                    if event.received_us >= received_us - DEDUP_WINDOW_US && !event.message_id.is_empty() {
                        recent.push((message_hash(event.message_id), event.received_us));
                    }
                })
                .await?;
            self.with_ingest(ws, |state| {
                if !state.seen_loaded {
                    state.seen.extend(recent);
                    state.seen_loaded = true;
                }
            });
        }
        let mut outcome = IngestOutcome::default();
        let mut pending: Vec<(usize, TrackingMessage, u128)> = Vec::with_capacity(messages.len());
        self.with_ingest(ws, |state| {
            state.purge(received_us);
            for (index, message) in messages.into_iter().enumerate() {
                match message {
                    Err(errors) => outcome.rejected.push(RejectedMessage { index, errors }),
                    Ok(message) => {
                        let hash = message_hash(&message.message_id);
                        // Reserve the id now, so a concurrent retry of the same message is a duplicate.
                        if state.seen.insert(hash, received_us).is_some() {
                            outcome.duplicates += 1;
                        } else {
                            pending.push((index, message, hash));
                        }
                    }
                }
            }
        });
        let result = self.store_messages(principal, &mut pending, &mut outcome, received_us).await;
        if result.is_err() {
            self.with_ingest(ws, |state| {
                for (_, _, hash) in &pending {
                    state.seen.remove(hash);
                }
            });
        }
        result?;
        outcome.rejected.sort_by_key(|r| r.index);
        Ok(outcome)
    }

    /// Stores the pending messages, moving their fields into the events; their hashes stay, for
    /// the caller to forget if storing fails.
    async fn store_messages(
        &self,
        principal: &Principal,
        pending: &mut [(usize, TrackingMessage, u128)],
        outcome: &mut IngestOutcome,
        received_us: i64,
    ) -> DomainResult<()> {
        let ws = principal.workspace_id();
        // Each message's identities, named once: the upsert below writes them into the cache, and
        // the events are then resolved through exactly these keys.
        let mut writes: Vec<usize> = Vec::new();
        let mut inputs = Vec::new();
        // Known senders' customers as found now; a merge meanwhile is followed below.
        let mut resolved: Vec<Option<CustomerId>> = Vec::with_capacity(pending.len());
        let identities: Vec<Vec<(IdentityKind, &str)>> = self.with_ingest(ws, |state| {
            pending
                .iter()
                .enumerate()
                .map(|(position, (_, message, _))| {
                    let (identities, found) = identities_of(message, state);
                    resolved.push(found);
                    // Unknown senders and messages that change profiles go through one upsert batch.
                    if found.is_none() && !identities.is_empty() {
                        let traits = if message.kind == EventKind::Identify {
                            message.properties_map()
                        } else {
                            Default::default()
                        };
                        inputs.push(CustomerInput {
                            identities: identities
                                .iter()
                                .map(|(kind, value)| IdentityInput {
                                    kind: kind.as_str().into(),
                                    value: (*value).to_string(),
                                })
                                .collect(),
                            traits,
                            tags: Vec::new(),
                            source: Some("events".into()),
                        });
                        writes.push(position);
                    }
                    identities
                })
                .collect()
        });
        let mut refused = vec![false; pending.len()];
        if !inputs.is_empty() {
            // New senders become profiles under the ingestion's own permission (`events:write`).
            let results = self.customers.write_customers(ws, inputs, "events", "").await?;
            self.with_ingest(ws, |state| {
                for (position, result) in writes.iter().zip(results) {
                    match result {
                        Ok(done) => {
                            // (`upsert_customers` noted the merges: `profiles_merged`.)
                            for key in &identities[*position] {
                                state.remember(*key, done.id);
                            }
                        }
                        Err(errors) => {
                            let (index, message, _) = &pending[*position];
                            let errors = errors
                                .into_iter()
                                .map(|e| {
                                    crate::FieldError::new(
                                        message_field(message, &identities[*position], &e.field),
                                        e.reason,
                                    )
                                })
                                .collect();
                            outcome.rejected.push(RejectedMessage { index: *index, errors });
                            refused[*position] = true;
                        }
                    }
                }
            });
        }
        // Messages named only by siyu's customer id (an export read back) go to that customer if
        // this workspace has it, and are refused otherwise: ids are global, and another
        // workspace's customer must never receive them.
        let mut named_ids: Vec<CustomerId> = pending.iter().filter_map(|(_, message, _)| message.customer_id).collect();
        named_ids.sort_unstable();
        named_ids.dedup();
        let found: HashMap<CustomerId, Option<CustomerId>> =
            named_ids.iter().copied().zip(self.customers_in_workspace(principal, &named_ids).await?).collect();
        // Each message's customer, or `None` when refused; the events are built once the borrowed
        // identities are gone, moving each message's fields rather than copying them.
        let mut customers: Vec<Option<CustomerId>> = Vec::with_capacity(pending.len());
        let mut refused_hashes = Vec::new();
        let mut missing = None;
        self.with_ingest(ws, |state| {
            for (position, (index, message, hash)) in pending.iter().enumerate() {
                customers.push(None);
                if refused[position] {
                    refused_hashes.push(*hash);
                    continue;
                }
                let identities = &identities[position];
                let customer = match message.customer_id {
                    _ if resolved[position].is_some() => resolved[position].map(|id| state.live(id)),
                    Some(named) if identities.is_empty() => match found.get(&named).copied().flatten() {
                        Some(id) => Some(state.live(id)),
                        None => {
                            let reason = format!("\"{named}\" names no customer of this workspace");
                            let errors =
                                vec![crate::FieldError::new(crate::events::tracking::CUSTOMER_ID_FIELD, reason)];
                            outcome.rejected.push(RejectedMessage { index: *index, errors });
                            refused_hashes.push(*hash);
                            continue;
                        }
                    },
                    _ => state
                        .customer_of(identities)
                        .or_else(|| identities.first().and_then(|key| state.sender(*key)).map(|id| state.live(id))),
                };
                if customer.is_none() {
                    missing = Some(message.message_id.clone());
                }
                customers[position] = customer;
            }
            for hash in &refused_hashes {
                state.seen.remove(hash);
            }
        });
        if let Some(message_id) = missing {
            // Every sender was resolved above; storing the rest without it would lose it silently.
            return Err(crate::DomainError::internal(format!("message {message_id} resolved to no customer")));
        }
        drop(identities);
        let events: Vec<NewEvent> = pending
            .iter_mut()
            .zip(customers)
            .filter_map(|((_, message, _), customer)| {
                let take = std::mem::take;
                Some(NewEvent {
                    customer: customer?,
                    kind: message.kind,
                    name: take(&mut message.name),
                    ts_us: message.ts_us,
                    received_us,
                    message_id: take(&mut message.message_id),
                    user_id: take(&mut message.user_id),
                    anonymous_id: take(&mut message.anonymous_id),
                    properties: take(&mut message.properties),
                    context: take(&mut message.context),
                })
            })
            .collect();
        self.append_and_index(ws, &events).await?;
        outcome.accepted += events.len();
        Ok(())
    }
}
