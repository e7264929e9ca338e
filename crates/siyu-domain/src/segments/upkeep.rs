//! Segment upkeep: members kept current as customers act. Appended batches of events and changed
//! profiles queue per workspace; a round of the upkeep worker ([`Segments::apply_upkeep`]) takes
//! the customers of the queued batches and re-evaluates them against the segments that test
//! events (one customer at a time, over the index snapshot plus the events that arrived since),
//! and the customers whose profiles changed against every segment (over their facts read anew);
//! a full pass on the schedule catches what time (sliding windows) and models change. Every entry
//! and exit is recorded as a `Segment Entered` / `Segment Exited` event of the customer by a round
//! of the recorder ([`Segments::record_upkeep`]; the log is the durable record; journeys and
//! webhooks read it), and members are saved as Roaring bitmaps with a size per day.
//!
//! Both are rounds of workers on the `siyu-jobs` runner, woken by [`UpkeepWakes`] when work is
//! queued; without a runner (tests, CLI commands) whoever needs the result runs the rounds.

use super::Segments;
use crate::error::{DomainError, DomainResult};
use crate::events::{EventKind, NewEvent};
use crate::events::{PositionedEvent, UpkeepView, ViewState};
use crate::segments::language::Condition;
use crate::segments::{Evaluation, Node};
use roaring::RoaringTreemap;
use siyu_analytics::props::Scalar;
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// The event recorded when a customer enters a segment.
pub const SEGMENT_ENTERED: &str = "Segment Entered";
/// The event recorded when a customer leaves a segment.
pub const SEGMENT_EXITED: &str = "Segment Exited";

/// What wakes the upkeep's two workers (the runner sleeps on them): `apply` when a batch is
/// queued, `record` when changes or a save are.
#[derive(Clone, Default)]
pub struct UpkeepWakes {
    /// Wakes the worker that runs [`Segments::apply_upkeep`].
    pub apply: Arc<tokio::sync::Notify>,
    /// Wakes the worker that runs [`Segments::record_upkeep`].
    pub record: Arc<tokio::sync::Notify>,
}

/// A workspace's upkeep: its queue and the live memberships.
pub(crate) struct Upkeep {
    queue: std::sync::Mutex<Queued>,
    state: tokio::sync::Mutex<UpkeepState>,
    /// Changes and saves to record, in the order they happened.
    recordings: std::sync::Mutex<std::collections::VecDeque<Recording>>,
    /// Held by whoever records (so changes are appended in order): the changes taken from
    /// `recordings` that are not durable yet, kept to be tried again.
    unrecorded: tokio::sync::Mutex<Unrecorded>,
    /// Microseconds from a batch's append to its entries and exits being durable, since last read.
    recorded_us: std::sync::Mutex<Vec<u64>>,
    /// A fresh view taken in the background after a fold, for the worker to swap in.
    fresh: std::sync::Mutex<Option<UpkeepView>>,
    refreshing: std::sync::atomic::AtomicBool,
    /// The queue outgrew its bound and was emptied: the next round runs a full pass instead.
    overflowed: std::sync::atomic::AtomicBool,
}

/// Customers the upkeep's queue holds at most by default (over all its batches): past it, when no
/// worker drains the queue (`jobs.enabled = false`) or it falls that far behind, the queue is
/// emptied and the next round runs a full pass, which finds every change the dropped batches held.
pub(crate) const QUEUE_LIMIT: usize = 1_000_000;

/// The batches waiting for the upkeep worker, and how many customers they name.
#[derive(Default)]
struct Queued {
    batches: Vec<Batch>,
    customers: usize,
}

/// Changes taken to record, with the appends they came from.
#[derive(Default)]
struct Unrecorded {
    changes: Vec<MemberChange>,
    since: Vec<Instant>,
}

/// What the recorder does, in the order it was sent.
enum Recording {
    /// Records changes (with the appends they came from).
    Changes { changes: Vec<MemberChange>, since: Vec<Instant> },
    /// Saves members as of every change sent before (so once those are durable), and the day's sizes.
    Save(Save),
}

struct Save {
    /// Segments whose members changed since their last save.
    members: Vec<(String, RoaringTreemap)>,
    /// Every segment's size.
    sizes: Vec<(String, u64)>,
    day: String,
    done: tokio::sync::oneshot::Sender<DomainResult<()>>,
}

struct Batch {
    /// The indexed events of the append (events of unknown senders or names are not indexed).
    events: Vec<PositionedEvent>,
    /// Every customer of the append, or whose profile changed.
    customers: Vec<i64>,
    /// Whether `customers` are profiles that changed (every segment may change for them), rather
    /// than senders of events (only segments that test events may).
    profiles: bool,
    at: Instant,
}

#[derive(Default)]
struct UpkeepState {
    segments: Vec<LiveSegment>,
    view: Option<UpkeepView>,
    /// Events appended after the view's snapshot, by customer: (position, time, event, properties).
    recent: HashMap<i64, Vec<(u64, i64, u16, u32)>>,
    /// Customers the worker updated while a full pass was computing (the pass leaves them be).
    touched: HashSet<i64>,
    pass_running: bool,
    /// Microseconds from a batch's append to its memberships being updated, since last read.
    latencies_us: Vec<u64>,
}

struct LiveSegment {
    key: String,
    name: String,
    definition: Condition,
    node: Node,
    members: RoaringTreemap,
    dirty: bool,
}

/// Drops the kept events the view's snapshot now holds.
fn prune(state: &mut UpkeepState) {
    let Some(position) = state.view.as_ref().map(|v| v.position) else { return };
    state.recent.values_mut().for_each(|events| events.retain(|e| e.0 >= position));
    state.recent.retain(|_, events| !events.is_empty());
}

/// Applies the entries and exits recorded at or after each segment's save to its saved members:
/// they were recorded, but a crash may have come before the members were saved again. (Replaying
/// from a little before the save is harmless: the last recorded change of each customer wins.)
fn replay_recorded(index: &crate::events::EventIndex, saved: &mut HashMap<String, (RoaringTreemap, i64)>) {
    let (Some(entered), Some(exited)) = (index.names.id(SEGMENT_ENTERED), index.names.id(SEGMENT_EXITED)) else {
        return;
    };
    let Some(since) = saved.values().map(|(_, at)| *at).min() else { return };
    let props = index.props.read().expect("property table lock is never poisoned");
    let Some(key) = props.key_id("segment_key") else { return };
    index.columns.for_each_customer(0..index.columns.customer_count(), |c| {
        for i in c.ts_us.partition_point(|t| *t < since)..c.ts_us.len() {
            let event = c.events[i];
            if event != entered && event != exited {
                continue;
            }
            let Some(value) = props.lookup(c.props[i], key) else { continue };
            let Scalar::Text(segment) = props.value(value) else { continue };
            if let Some((members, at)) = saved.get_mut(segment)
                && c.ts_us[i] >= *at
            {
                if event == entered {
                    members.insert(c.id as u64);
                } else {
                    members.remove(c.id as u64);
                }
            }
        }
    });
}

/// One change of membership.
struct MemberChange {
    customer: i64,
    entered: bool,
    key: String,
    name: String,
}

impl Segments {
    fn upkeep_of(&self, ws: WorkspaceId) -> Option<Arc<Upkeep>> {
        self.upkeep.lock().expect("upkeep lock is never poisoned").get(&ws).cloned()
    }

    /// Every running upkeep, with its workspace.
    fn all_upkeep(&self) -> Vec<(WorkspaceId, Arc<Upkeep>)> {
        self.upkeep.lock().expect("upkeep lock is never poisoned").iter().map(|(ws, u)| (*ws, u.clone())).collect()
    }

    /// Starts (once) the upkeep of a workspace's segments: saved members are loaded, and a full
    /// pass records what changed since they were saved.
    pub(crate) async fn start_upkeep(&self, ws: WorkspaceId) -> DomainResult<Arc<Upkeep>> {
        if let Some(upkeep) = self.upkeep_of(ws) {
            return Ok(upkeep);
        }
        let upkeep = Arc::new(Upkeep {
            queue: Default::default(),
            state: Default::default(),
            recordings: Default::default(),
            unrecorded: Default::default(),
            recorded_us: Default::default(),
            fresh: Default::default(),
            refreshing: Default::default(),
            overflowed: Default::default(),
        });
        {
            let mut all = self.upkeep.lock().expect("upkeep lock is never poisoned");
            if let Some(existing) = all.get(&ws) {
                return Ok(existing.clone());
            }
            all.insert(ws, upkeep.clone());
        }
        let segments = match self.load_live_segments(ws).await {
            Ok(segments) => segments,
            Err(error) => {
                // Not started: the next segment change or server start tries again.
                self.upkeep.lock().expect("upkeep lock is never poisoned").remove(&ws);
                return Err(error);
            }
        };
        upkeep.state.lock().await.segments = segments;
        self.segment_pass(ws).await?;
        Ok(upkeep)
    }

    /// One round of the upkeep worker: applies the batches queued in every workspace. Returns
    /// whether there were any. A workspace's batches that fail are logged and dropped (the next
    /// full pass corrects what they would have changed); the round then fails with the last error.
    pub async fn apply_upkeep(&self) -> DomainResult<bool> {
        let all = self.all_upkeep();
        let (mut worked, mut failed) = (false, None);
        for (ws, upkeep) in all {
            let batches = {
                let mut queue = upkeep.queue.lock().expect("queue lock is never poisoned");
                queue.customers = 0;
                std::mem::take(&mut queue.batches)
            };
            if upkeep.overflowed.swap(false, std::sync::atomic::Ordering::AcqRel) {
                worked = true;
                if let Err(error) = self.segment_pass(ws).await {
                    tracing::warn!(workspace = ws.0, error = %error.chain(), "segment upkeep's catch-up pass failed");
                    upkeep.overflowed.store(true, std::sync::atomic::Ordering::Release);
                    failed = Some(error);
                }
                continue;
            }
            if batches.is_empty() {
                continue;
            }
            worked = true;
            if let Err(error) = self.apply_batches(ws, &upkeep, batches).await {
                tracing::warn!(workspace = ws.0, error = %error.chain(), "segment upkeep could not apply a batch");
                failed = Some(error);
            }
        }
        failed.map_or(Ok(worked), Err)
    }

    /// One round of the recorder: records every workspace's queued entries and exits, in order,
    /// and saves members once the changes they include are durable. Returns whether there was
    /// anything to record; fails (keeping what could not be recorded, in order, for the next
    /// round) when the log refused the changes.
    pub async fn record_upkeep(&self) -> DomainResult<bool> {
        let all = self.all_upkeep();
        let (mut worked, mut failed) = (false, None);
        for (ws, upkeep) in all {
            match self.record_queued(ws, &upkeep).await {
                Ok(done) => worked |= done,
                Err(error) => failed = Some(error),
            }
        }
        failed.map_or(Ok(worked), Err)
    }

    /// Records a workspace's queued changes and saves (see [`Segments::record_upkeep`]).
    async fn record_queued(&self, ws: WorkspaceId, upkeep: &Upkeep) -> DomainResult<bool> {
        let mut unrecorded = upkeep.unrecorded.lock().await;
        let queued: Vec<Recording> =
            upkeep.recordings.lock().expect("recordings lock is never poisoned").drain(..).collect();
        if queued.is_empty() && unrecorded.changes.is_empty() {
            return Ok(false);
        }
        for item in queued {
            match item {
                Recording::Changes { changes, since } => {
                    unrecorded.changes.extend(changes);
                    unrecorded.since.extend(since);
                }
                Recording::Save(save) => {
                    // Members are saved only once the changes they include are durable.
                    let saved = match self.record(ws, upkeep, &mut unrecorded).await {
                        Ok(()) => self.save_kept(ws, &save).await,
                        Err(error) => Err(error),
                    };
                    let _ = save.done.send(saved);
                }
            }
        }
        self.record(ws, upkeep, &mut unrecorded).await?;
        Ok(true)
    }

    /// Reads a workspace's segments with their saved members, compiled for upkeep.
    async fn load_live_segments(&self, ws: WorkspaceId) -> DomainResult<Vec<LiveSegment>> {
        let mut saved: HashMap<String, (RoaringTreemap, i64)> = self
            .store
            .members(ws)
            .await?
            .into_iter()
            .filter_map(|(key, bytes, at)| {
                RoaringTreemap::deserialize_from(&bytes[..]).ok().map(|m| (key, (m, at.as_microsecond())))
            })
            .collect();
        let (stored, definitions) = self.segment_definitions(ws).await?;
        // A segment never saved was empty when it was created.
        for s in &stored {
            saved.entry(s.key.clone()).or_insert_with(|| (RoaringTreemap::new(), s.created_at.as_microsecond()));
        }
        let index = self.events.event_index(&crate::access::Principal::system(ws)).await?;
        replay_recorded(&index, &mut saved);
        Ok(stored
            .into_iter()
            .map(|s| {
                let definition = definitions[&s.key].clone();
                LiveSegment {
                    node: Node::compile(&definition, &definitions, &index),
                    members: saved.remove(&s.key).map(|(m, _)| m).unwrap_or_default(),
                    key: s.key,
                    name: s.name,
                    definition,
                    dirty: false,
                }
            })
            .collect())
    }

    /// Hands an append's events to the upkeep (if the workspace has segments); its own
    /// `Segment Entered` / `Segment Exited` events are left out.
    pub(crate) fn note_events(&self, ws: WorkspaceId, events: &[NewEvent], positioned: &[PositionedEvent]) {
        let Some(upkeep) = self.upkeep_of(ws) else { return };
        if events.iter().all(|e| e.name == SEGMENT_ENTERED || e.name == SEGMENT_EXITED) {
            return;
        }
        let customers: Vec<i64> = events.iter().map(|e| e.customer.0).collect();
        let batch = Batch { events: positioned.to_vec(), customers, profiles: false, at: Instant::now() };
        self.queue_batch(&upkeep, batch);
    }

    /// Hands customers whose profiles changed to the upkeep (if the workspace has segments).
    pub(crate) fn note_profiles(&self, ws: WorkspaceId, customers: Vec<i64>) {
        let Some(upkeep) = self.upkeep_of(ws) else { return };
        if !customers.is_empty() {
            let batch = Batch { events: Vec::new(), customers, profiles: true, at: Instant::now() };
            self.queue_batch(&upkeep, batch);
        }
    }

    async fn apply_batches(&self, ws: WorkspaceId, upkeep: &Upkeep, batches: Vec<Batch>) -> DomainResult<()> {
        let customers: HashSet<i64> = batches.iter().flat_map(|b| b.customers.iter().copied()).collect();
        let profiles: HashSet<i64> =
            batches.iter().filter(|b| b.profiles).flat_map(|b| b.customers.iter().copied()).collect();
        // Changed profiles need their facts read anew; events alone do not wait for that.
        let facts =
            if profiles.is_empty() { self.kept_profile_facts(ws).await? } else { self.profile_facts(ws).await? };
        let models = self.models.computed.current(ws);
        let mut state = upkeep.state.lock().await;
        if profiles.is_empty() && !state.segments.iter().any(|s| s.node.uses_events()) {
            return Ok(());
        }
        let max_event = batches.iter().flat_map(|b| b.events.iter().map(|e| e.3)).max().unwrap_or(0);
        if let Some(fresh) = upkeep.fresh.lock().expect("view lock is never poisoned").take() {
            state.view = Some(fresh);
            prune(&mut state);
        }
        match self.events.upkeep_view_stale(ws, state.view.as_ref(), max_event).await {
            ViewState::Current => {}
            ViewState::Refresh => {
                if !upkeep.refreshing.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    // A snapshot rebuilds the delta: off the hot path; the worker swaps it in.
                    let services = self.clone();
                    tokio::spawn(async move {
                        let fresh = services.events.upkeep_view(ws).await;
                        if let Some(upkeep) = services.upkeep_of(ws) {
                            if let Ok(view) = fresh {
                                *upkeep.fresh.lock().expect("view lock is never poisoned") = Some(view);
                            }
                            upkeep.refreshing.store(false, std::sync::atomic::Ordering::Release);
                        }
                    });
                }
            }
            ViewState::Unusable => {
                state.view = Some(self.events.upkeep_view(ws).await?);
                prune(&mut state);
            }
        }
        let view = state.view.clone().expect("a view was just taken");
        for (customer, position, ts, event, props) in batches.iter().flat_map(|b| b.events.iter().copied()) {
            if position >= view.position {
                state.recent.entry(customer).or_default().push((position, ts, event, props));
            }
        }
        let now_us = self.access.now().as_microsecond();
        let index = &view.index;
        let mut changes = Vec::new();
        // Compiled nodes have the segments they refer to inlined: one customer's evaluation looks
        // up no definition.
        let no_definitions: HashMap<String, Condition> = HashMap::new();
        let evaluation =
            Evaluation { facts: &facts, events: index, models: models.as_deref(), segments: &no_definitions, now_us };
        let mut events: Vec<(i64, u16, u32)> = Vec::new();
        let pass_running = state.pass_running;
        let state = &mut *state;
        for segment in state.segments.iter_mut().filter(|s| !profiles.is_empty() || s.node.uses_events()) {
            segment.node.prepare(index, now_us);
        }
        for customer in &customers {
            events.clear();
            if let Some(unit) = index.columns.unit_of(*customer) {
                index.columns.for_each_customer(unit..unit + 1, |c| {
                    events.extend(c.ts_us.iter().zip(c.events).zip(c.props).map(|((t, e), p)| (*t, *e, *p)));
                });
            }
            if let Some(more) = state.recent.get(customer) {
                events.extend(more.iter().map(|(_, t, e, p)| (*t, *e, *p)));
                events.sort_by_key(|(t, _, _)| *t);
            }
            let profile = profiles.contains(customer);
            if !facts.all.contains(*customer as u64) {
                // Deleted (erased) or merged away: no longer a member of anything, and no event
                // is recorded about a profile that is gone.
                for segment in &mut state.segments {
                    segment.dirty |= segment.members.remove(*customer as u64);
                }
                continue;
            }
            for segment in state.segments.iter_mut().filter(|s| profile || s.node.uses_events()) {
                let holds = segment.node.holds(*customer, &events, &evaluation);
                let was = segment.members.contains(*customer as u64);
                if holds != was {
                    if holds {
                        segment.members.insert(*customer as u64);
                    } else {
                        segment.members.remove(*customer as u64);
                    }
                    segment.dirty = true;
                    changes.push(MemberChange {
                        customer: *customer,
                        entered: holds,
                        key: segment.key.clone(),
                        name: segment.name.clone(),
                    });
                }
            }
            if pass_running {
                state.touched.insert(*customer);
            }
        }
        let done = Instant::now();
        state.latencies_us.extend(batches.iter().map(|b| done.duration_since(b.at).as_micros() as u64));
        if !changes.is_empty() {
            let since = batches.iter().map(|b| b.at).collect();
            self.queue_recording(upkeep, Recording::Changes { changes, since });
        }
        Ok(())
    }

    /// Sets how many customers the upkeep's queue holds before it is emptied for a full pass (for
    /// tests; default 1,000,000).
    pub fn set_upkeep_queue_limit(&self, customers: usize) {
        self.queue_limit.store(customers, std::sync::atomic::Ordering::Relaxed);
    }

    /// Queues a batch and wakes the upkeep worker; past [`QUEUE_LIMIT`] customers the queue is
    /// emptied and a full pass asked for instead.
    fn queue_batch(&self, upkeep: &Upkeep, batch: Batch) {
        let mut queue = upkeep.queue.lock().expect("queue lock is never poisoned");
        if queue.customers + batch.customers.len() > self.queue_limit.load(std::sync::atomic::Ordering::Relaxed) {
            *queue = Queued::default();
            upkeep.overflowed.store(true, std::sync::atomic::Ordering::Release);
        } else {
            queue.customers += batch.customers.len();
            queue.batches.push(batch);
        }
        drop(queue);
        self.wakes.apply.notify_one();
    }

    /// Queues a recording and wakes the recorder.
    fn queue_recording(&self, upkeep: &Upkeep, recording: Recording) {
        upkeep.recordings.lock().expect("recordings lock is never poisoned").push_back(recording);
        self.wakes.record.notify_one();
    }

    /// Records the unrecorded changes and empties them; notes the latencies. If it fails they are
    /// kept, to be tried again by the recorder's next round (after the runner's back-off).
    async fn record(&self, ws: WorkspaceId, upkeep: &Upkeep, unrecorded: &mut Unrecorded) -> DomainResult<()> {
        match self.record_changes(ws, &unrecorded.changes).await {
            Ok(()) => {
                unrecorded.changes.clear();
                let done = Instant::now();
                let mut recorded = upkeep.recorded_us.lock().expect("latency lock is never poisoned");
                recorded.extend(unrecorded.since.drain(..).map(|at| done.duration_since(at).as_micros() as u64));
                Ok(())
            }
            Err(error) => {
                tracing::error!(workspace = ws.0, error = %error.chain(), "segment entries and exits could not be recorded; will retry");
                Err(error)
            }
        }
    }

    /// Saves the members and sizes of a [`Save`].
    async fn save_kept(&self, ws: WorkspaceId, save: &Save) -> DomainResult<()> {
        for (key, members) in &save.members {
            let mut bytes = Vec::with_capacity(members.serialized_size());
            members
                .serialize_into(&mut bytes)
                .map_err(|e| DomainError::internal_from("saving segment members failed", e))?;
            self.store.save_members(ws, key, &bytes, self.access.now()).await?;
        }
        for (key, size) in &save.sizes {
            self.store.record_size(ws, key, &save.day, *size).await?;
        }
        Ok(())
    }

    /// Appends the `Segment Entered` / `Segment Exited` events of `changes`.
    async fn record_changes(&self, ws: WorkspaceId, changes: &[MemberChange]) -> DomainResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let now_us = self.access.now().as_microsecond();
        let events: Vec<NewEvent> = changes
            .iter()
            .enumerate()
            .map(|(i, c)| NewEvent {
                customer: CustomerId(c.customer),
                kind: EventKind::Track,
                name: if c.entered { SEGMENT_ENTERED } else { SEGMENT_EXITED }.into(),
                ts_us: now_us,
                received_us: now_us,
                message_id: format!("segment-{}-{}-{now_us}-{i}", c.key, c.customer),
                user_id: String::new(),
                anonymous_id: String::new(),
                properties: serde_json::json!({"segment_key": c.key, "segment_name": c.name}).to_string(),
                context: "{}".into(),
            })
            .collect();
        for chunk in events.chunks(10_000) {
            self.events.append_and_index(ws, chunk).await?;
        }
        // Durable now: tell whoever acts on entries and exits, one segment at a time.
        let mut by_segment: std::collections::BTreeMap<&str, (Vec<CustomerId>, Vec<CustomerId>)> = Default::default();
        for change in changes {
            let (entered, exited) = by_segment.entry(change.key.as_str()).or_default();
            if change.entered { entered } else { exited }.push(CustomerId(change.customer));
        }
        for (segment, (entered, exited)) in &by_segment {
            self.feed.publish(ws, &super::SegmentChange::Membership { segment, entered, exited });
        }
        Ok(())
    }

    /// Evaluates every segment of the workspace in full, records entries and exits against the
    /// kept members, saves the members that changed and today's sizes.
    pub(crate) async fn segment_pass(&self, ws: WorkspaceId) -> DomainResult<()> {
        let Some(upkeep) = self.upkeep_of(ws) else { return Ok(()) };
        let definitions: HashMap<String, Condition> = {
            let mut state = upkeep.state.lock().await;
            state.pass_running = true;
            state.touched.clear();
            state.segments.iter().map(|s| (s.key.clone(), s.definition.clone())).collect()
        };
        let evaluated = self.evaluate_all(ws, &definitions).await;
        let mut state = upkeep.state.lock().await;
        state.pass_running = false;
        let super::service::Evaluated { members: computed, facts, index } = evaluated?;
        let mut changes = Vec::new();
        let touched = std::mem::take(&mut state.touched);
        for segment in &mut state.segments {
            let Some(now) = computed.get(&segment.key) else { continue };
            segment.node = Node::compile(&segment.definition, &definitions, &index);
            let before = changes.len();
            for (entered, diff) in [(true, now - &segment.members), (false, &segment.members - now)] {
                for c in diff.iter().filter(|c| !touched.contains(&(*c as i64))) {
                    if entered {
                        segment.members.insert(c);
                    } else {
                        segment.members.remove(c);
                        if !facts.all.contains(c) {
                            // Gone (erased or merged away): nothing is recorded about it.
                            segment.dirty = true;
                            continue;
                        }
                    }
                    changes.push(MemberChange {
                        customer: c as i64,
                        entered,
                        key: segment.key.clone(),
                        name: segment.name.clone(),
                    });
                }
            }
            segment.dirty |= changes.len() > before;
        }
        if !changes.is_empty() {
            self.queue_recording(&upkeep, Recording::Changes { changes, since: Vec::new() });
        }
        let tz = self.access.time_zone(ws).await?;
        let day = self.access.now().to_zoned(tz).date().to_string();
        // Members are saved by the recorder once the changes they include are durable.
        let (done, saved) = tokio::sync::oneshot::channel();
        let mut members = Vec::new();
        for segment in &mut state.segments {
            if std::mem::take(&mut segment.dirty) {
                members.push((segment.key.clone(), segment.members.clone()));
            }
        }
        let save = Save {
            members,
            sizes: state.segments.iter().map(|s| (s.key.clone(), s.members.len())).collect(),
            day,
            done,
        };
        self.queue_recording(&upkeep, Recording::Save(save));
        drop(state);
        // Recorded here rather than by waiting for the recorder's round, so a pass completes
        // without a runner; whoever records first handles the save (it is answered either way).
        // The members are kept and current either way: a save that waits for a recording to
        // succeed is logged, not failed (the segment's own change was stored).
        if let Err(error) = self.record_queued(ws, &upkeep).await {
            tracing::warn!(workspace = ws.0, error = %error.chain(), "segment entries and exits not recorded yet");
        }
        match saved.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(workspace = ws.0, error = %error.chain(), "segment members not saved yet"),
            Err(_) => tracing::warn!(workspace = ws.0, "the segment recorder stopped"),
        }
        Ok(())
    }

    /// Re-reads the workspace's segment definitions into a running upkeep (after a segment was
    /// saved or deleted) and runs a full pass; starts the upkeep if it is not running.
    pub(crate) async fn segments_changed(&self, ws: WorkspaceId) -> DomainResult<()> {
        let Some(upkeep) = self.upkeep_of(ws) else {
            self.start_upkeep(ws).await?;
            return Ok(());
        };
        {
            let mut state = upkeep.state.lock().await;
            let (stored, definitions) = self.segment_definitions(ws).await?;
            let index = self.events.event_index(&crate::access::Principal::system(ws)).await?;
            let mut kept: HashMap<String, LiveSegment> = state.segments.drain(..).map(|s| (s.key.clone(), s)).collect();
            for s in stored {
                let definition = definitions[&s.key].clone();
                let node = Node::compile(&definition, &definitions, &index);
                let members = kept.remove(&s.key).map(|k| k.members).unwrap_or_default();
                state.segments.push(LiveSegment { key: s.key, name: s.name, definition, node, members, dirty: true });
            }
        }
        self.segment_pass(ws).await
    }

    /// Runs the full pass of every workspace whose segments are kept (the schedule).
    pub async fn refresh_segments(&self) {
        let workspaces: Vec<WorkspaceId> =
            self.upkeep.lock().expect("upkeep lock is never poisoned").keys().copied().collect();
        for ws in workspaces {
            if let Err(error) = self.segment_pass(ws).await {
                tracing::warn!(workspace = ws.0, error = %error.chain(), "scheduled segment pass failed");
            }
        }
    }

    /// Starts the upkeep of every workspace that has segments (at server start).
    pub async fn start_all_upkeep(&self) -> DomainResult<()> {
        for ws in self.store.workspaces().await? {
            self.start_upkeep(ws).await?;
        }
        Ok(())
    }

    /// Returns, and forgets, the latencies (µs) from each event batch's append to its memberships
    /// being updated, and to its entries and exits being durably recorded, measured since the last
    /// call (for `siyu bench`).
    pub async fn take_upkeep_latencies(&self, ws: WorkspaceId) -> (Vec<u64>, Vec<u64>) {
        match self.upkeep_of(ws) {
            Some(upkeep) => {
                let updated = std::mem::take(&mut upkeep.state.lock().await.latencies_us);
                let recorded = std::mem::take(&mut *upkeep.recorded_us.lock().expect("latency lock is never poisoned"));
                (updated, recorded)
            }
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Returns a segment's kept members (after upkeep started), or `None`.
    pub(crate) async fn kept_members(&self, ws: WorkspaceId, key: &str) -> Option<RoaringTreemap> {
        let upkeep = self.upkeep_of(ws)?;
        let state = upkeep.state.lock().await;
        state.segments.iter().find(|s| s.key == key).map(|s| s.members.clone())
    }

    /// A segment's members now: the kept ones, or evaluated when the upkeep keeps none.
    pub(crate) async fn members_now(&self, ws: WorkspaceId, key: &str) -> crate::error::DomainResult<RoaringTreemap> {
        if let Some(kept) = self.kept_members(ws, key).await {
            return Ok(kept);
        }
        let (_, definitions) = self.segment_definitions(ws).await?;
        Ok(self.current_members(ws, key, &definitions).await?.0)
    }
}
