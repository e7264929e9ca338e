//! The live analytics index of a workspace: loaded from its snapshot and the log, appended to as
//! events arrive, folded in the background, saved as snapshots, and remapped when profiles merge.

use super::Events;
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult};
use crate::events::{EventIndex, EventKind, EventView, NewEvent, ORDER_REFUNDED, order_cents, order_id, refund_cents};
use siyu_analytics::props::EMPTY_SET;
use siyu_analytics::{EventColumns, EventColumnsBuilder, EventNames, Index, PropTable, RawEvent};
use siyu_core::CustomerId;
use siyu_core::WorkspaceId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a sealed index snapshot is bound to.
const SNAPSHOT_CONTEXT: &str = "analytics index snapshot";

impl Events {
    /// Appends events to the workspace's log; returns once they are durable.
    pub async fn append_events(&self, principal: &Principal, events: &[NewEvent]) -> DomainResult<()> {
        principal.require(Permission::EventsWrite)?;
        self.append_and_index(principal.workspace_id(), events).await
    }

    /// Returns the workspace's analytics index: built from the whole log on first use, then kept
    /// current by the ingestion path (new events go into a small delta that is rebuilt on the
    /// next query, and folded into the base once it grows). Events of merged-away profiles count
    /// for the profile they were merged into.
    pub async fn event_index(&self, principal: &Principal) -> DomainResult<Arc<EventIndex>> {
        principal.require(Permission::AnalyticsRead)?;
        let live = self.live_index(principal.workspace_id());
        let (pending, merging) = {
            let state = live.read().await;
            (state.merges_pending.load(std::sync::atomic::Ordering::Acquire), state.merging.clone())
        };
        if pending || merging.try_lock().is_err() {
            // Queries see a merge at once: they wait for its events to move (appends do not).
            self.apply_merges(principal.workspace_id()).await?;
        }
        let foreign = self.store.foreign_version(principal.workspace_id()).await?;
        {
            let state = live.read().await;
            if state.loaded && !state.is_stale() && state.foreign == foreign {
                if state.wants_fold(self.fold_events()) {
                    self.start_fold(principal.workspace_id(), &state);
                }
                return Ok(state.snapshot().0);
            }
        }
        let mut state = live.write().await;
        if !state.loaded || state.is_stale() || state.foreign != foreign {
            *state = self.load_live(principal.workspace_id()).await?;
            state.foreign = foreign;
        }
        Ok(state.snapshot().0)
    }

    /// Sets how many events the live index's delta holds before it is folded into the base (at
    /// least; a large base waits for 1/32 of its size). For tests and tuning; default 1,000,000.
    pub fn set_index_fold_events(&self, events: usize) {
        self.ingest.fold_events.store(events, std::sync::atomic::Ordering::Relaxed);
    }

    fn fold_events(&self) -> usize {
        match self.ingest.fold_events.load(std::sync::atomic::Ordering::Relaxed) {
            0 => FOLD_EVENTS,
            n => n,
        }
    }

    fn live_index(&self, ws: WorkspaceId) -> Arc<tokio::sync::RwLock<LiveIndex>> {
        let mut all = self.live.lock().expect("live index map lock is never poisoned");
        all.entry(ws).or_default().clone()
    }

    /// Loads a workspace's index: from its snapshot plus the events appended since, when the
    /// snapshot is whole (profiles merged since it was taken have their events moved to their
    /// survivors); otherwise from the whole log, after which a new snapshot is saved (failing to
    /// save costs only the next start's speed, so it is logged).
    async fn load_live(&self, ws: WorkspaceId) -> DomainResult<LiveIndex> {
        // Another process (an import) may give customers event keys while the log is read: their
        // events read as unreadable, and the load runs again with the keys it missed.
        for _ in 0..3 {
            let (live, opener) = self.load_live_once(ws).await?;
            let missed: Vec<CustomerId> = opener.unreadable().collect();
            if missed.is_empty() || self.customers.stored_event_keys(ws, Some(&missed)).await?.is_empty() {
                return Ok(live);
            }
        }
        Ok(self.load_live_once(ws).await?.0)
    }

    async fn load_live_once(&self, ws: WorkspaceId) -> DomainResult<(LiveIndex, super::EventOpener)> {
        let mut opener = self.opener_for(ws, None).await?;
        let merged = moves_of(self.customers.stores.customers.merged_customers(ws).await?);
        let merges = merges_hash(&merged);
        // A snapshot holds events' properties: it is sealed under the workspace's data key (one
        // that does not open — written before snapshots were sealed — is rebuilt from the log).
        let data_key = self.customers.access.data_key(ws).await?;
        if let Some(sealed) = self.store.load_snapshot(ws).await?
            && let Ok(bytes) = data_key.open_bytes(&sealed, SNAPSHOT_CONTEXT)
            && let Some((meta, mut columns, names, table)) = parse_snapshot(&bytes)
        {
            if meta.merges != merges {
                let moves = merged.clone();
                columns = tokio::task::spawn_blocking(move || columns.remapped(&moves))
                    .await
                    .map_err(|e| DomainError::internal_from("merging profiles' events failed", e))?;
            }
            let mut live = LiveIndex::loaded(names, table, columns, meta.unindexed);
            live.merges = merges;
            live.snapshot_events = live.base.event_count();
            let tail = live.tail.get_mut().expect("tail lock is never poisoned");
            let props = Arc::get_mut(&mut live.props)
                .expect("a new index is not shared yet")
                .get_mut()
                .expect("property table lock is never poisoned");
            let (mut unnamed, mut refunds) = (0u64, false);
            self.store
                .scan_since(ws, &meta.checkpoint, &mut |event| {
                    let opened = opener.open(event);
                    let event = opened.view();
                    refunds |= event.name == ORDER_REFUNDED;
                    if let Some(raw) = raw_event(&mut tail.names, props, &merged, &event) {
                        tail.events.push(raw);
                    } else if is_behaviour(event.kind) {
                        unnamed += 1;
                    }
                })
                .await?;
            live.unindexed += unnamed;
            // A refund after the snapshot may reverse an order inside it: then read the whole log.
            if !refunds {
                return Ok((live, opener));
            }
        }
        let mut names = EventNames::default();
        let mut props = PropTable::default();
        let mut builder = EventColumnsBuilder::default();
        let mut unnamed = 0u64;
        // Orders by order_id, and refunds (order_id, amount or whole) to apply once all is read.
        let mut orders: HashMap<(i64, String), Vec<usize>> = HashMap::new();
        let mut refunds: Vec<((i64, String), Option<i64>)> = Vec::new();
        let (_, checkpoint) = self
            .store
            .scan_since(ws, "", &mut |event| {
                let opened = opener.open(event);
                let event = opened.view();
                if let Some(raw) = raw_event(&mut names, &mut props, &merged, &event) {
                    let customer = raw.customer;
                    let is_order = raw.order_cents.is_some();
                    let position = builder.push(raw);
                    if is_order && let Some(id) = order_id(event.properties) {
                        orders.entry((customer, id)).or_default().push(position);
                    } else if event.name == ORDER_REFUNDED
                        && let Some(id) = order_id(event.properties)
                    {
                        refunds.push(((customer, id), refund_cents(event.properties)));
                    }
                } else if is_behaviour(event.kind) {
                    unnamed += 1;
                }
            })
            .await?;
        for (key, amount) in refunds {
            for position in orders.get(&key).into_iter().flatten() {
                let remaining = match (builder.order_cents(*position), amount) {
                    (Some(cents), Some(refunded)) if refunded < cents => Some(cents - refunded),
                    _ => None,
                };
                builder.set_order_cents(*position, remaining);
            }
        }
        let mut live = LiveIndex::loaded(names.clone(), props, builder.build(), unnamed);
        live.merges = merges;
        if live.base.event_count() >= SNAPSHOT_MIN_EVENTS {
            live.snapshot_events = live.base.event_count();
            let meta = SnapshotMeta { checkpoint, merges, unindexed: unnamed };
            self.save_index_snapshot(ws, meta, live.base.clone(), names, live.props.clone()).await;
        }
        Ok((live, opener))
    }

    /// Reads the workspace's events appended after `checkpoint` (from [`Self::log_checkpoint`] or
    /// an earlier read), opened; returns the checkpoint after the last one.
    pub(crate) async fn read_log_since(
        &self,
        ws: WorkspaceId,
        checkpoint: &str,
        visit: &mut (dyn for<'e> FnMut(&EventView<'e>) + Send),
    ) -> DomainResult<String> {
        let mut opener = self.opener_for(ws, None).await?;
        let (_, after) = self
            .store
            .scan_since(ws, checkpoint, &mut |event| {
                let opened = opener.open(event);
                visit(&opened.view());
            })
            .await?;
        Ok(after)
    }

    /// The checkpoint after the last event appended to the workspace's log so far.
    pub(crate) async fn log_checkpoint(&self, ws: WorkspaceId) -> DomainResult<String> {
        Ok(self.store.checkpoint(ws).await?)
    }

    /// Appends events durably and adds them to the live index (if it is loaded), so they are
    /// queryable at once. The index's read lock is held across both steps: a full (re)load takes
    /// the write lock, so an event is either in the log it scans or added after it, never both.
    pub(crate) async fn append_and_index(&self, ws: WorkspaceId, events: &[NewEvent]) -> DomainResult<()> {
        // The log's copy is sealed; the index and the feed get the events as sent.
        let sealed = self.sealed_for_log(ws, events).await?;
        let live = self.live_index(ws);
        let state = live.read().await;
        self.store.append(ws, &sealed).await?;
        if !state.loaded {
            drop(state);
            self.feed.publish(ws, &super::EventChange::Appended { events, positioned: None });
            return Ok(());
        }
        let mut tail = state.tail.lock().expect("tail lock is never poisoned");
        if events.iter().any(|e| e.name == ORDER_REFUNDED) {
            // A refund may reverse an indexed order: reload on the next query. (Merges move the
            // merged-away profiles' indexed events themselves: see `profiles_merged`.)
            state.tail_stale.store(true, std::sync::atomic::Ordering::Release);
        }
        let mut props = state.props.write().expect("property table lock is never poisoned");
        let mut positioned: Vec<PositionedEvent> = Vec::new();
        for event in events {
            if let Some(raw) = raw_event(&mut tail.names, &mut props, &HashMap::new(), &event.view()) {
                positioned.push((
                    raw.customer,
                    tail.drained + tail.events.len() as u64,
                    raw.ts_us,
                    raw.event,
                    raw.props,
                ));
                tail.events.push(raw);
            }
        }
        tail.snapshot = None;
        drop(props);
        drop(tail);
        drop(state);
        self.feed.publish(ws, &super::EventChange::Appended { events, positioned: Some(&positioned) });
        Ok(())
    }
}

/// What segment upkeep evaluates against: an index snapshot and where in the live tail it ends.
#[derive(Clone)]
pub(crate) struct UpkeepView {
    /// The snapshot.
    pub index: Arc<EventIndex>,
    generation: u64,
    /// Folds of the live index when it was taken.
    folds: u64,
    /// Absolute tail position the snapshot includes (events from it on are not in it).
    pub position: u64,
}

/// How usable upkeep's view is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ViewState {
    /// Up to date.
    Current,
    /// Usable; a fold happened since, so a fresh one is cheap and lets upkeep drop kept events.
    Refresh,
    /// Must be replaced before use.
    Unusable,
}

/// An event as upkeep receives it: its customer, absolute tail position, time, event id and
/// property set (ids of the live index).
pub(crate) type PositionedEvent = (i64, u64, i64, u16, u32);

impl Events {
    /// Whether upkeep's view is usable: not when there is none, the index was reloaded or events
    /// with names the view does not know arrived; usable but worth refreshing (off the hot path)
    /// when a fold has moved most of the tail into the base since. Takes no tail lock (a snapshot
    /// holds it while it builds).
    pub(crate) async fn upkeep_view_stale(
        &self,
        ws: WorkspaceId,
        view: Option<&UpkeepView>,
        max_event: u16,
    ) -> ViewState {
        let Some(view) = view else { return ViewState::Unusable };
        let live = self.live_index(ws);
        let state = live.read().await;
        if !state.loaded
            || state.is_stale()
            || view.generation != state.generation
            || usize::from(max_event) >= view.index.names.names().len()
        {
            ViewState::Unusable
        } else if state.folds.load(std::sync::atomic::Ordering::Acquire) > view.folds {
            ViewState::Refresh
        } else {
            ViewState::Current
        }
    }

    /// Takes a fresh view for upkeep.
    pub(crate) async fn upkeep_view(&self, ws: WorkspaceId) -> DomainResult<UpkeepView> {
        let index = self.event_index(&Principal::system(ws)).await?;
        let live = self.live_index(ws);
        let state = live.read().await;
        let tail = state.tail.lock().expect("tail lock is never poisoned");
        let included = index.columns.delta().event_count() as u64;
        let position = (tail.drained + included).min(tail.drained + tail.events.len() as u64);
        let folds = state.folds.load(std::sync::atomic::Ordering::Acquire);
        Ok(UpkeepView { index, generation: state.generation, folds, position })
    }
}

impl Events {
    /// Tells the ingestion path and the live index about merges made by any profile write (the API,
    /// a CSV import, an `identify`): events of a merged-away profile belong to its survivor, and
    /// those already indexed move on the next query (which reloads the index).
    pub(crate) fn profiles_merged(&self, ws: siyu_core::WorkspaceId, merges: &[(CustomerId, CustomerId)]) {
        if merges.is_empty() {
            return;
        }
        self.forget_merged_senders(ws, merges);
        // The merged-away profiles' indexed events move to their survivors: in the background
        // now, and before the next query answers.
        let live = self.live_index(ws);
        let note = |state: &LiveIndex| state.merges_pending.store(true, std::sync::atomic::Ordering::Release);
        if live.try_read().map(|state| note(&state)).is_err() {
            // A load in progress holds the write lock; it may have read the merges before this one.
            tokio::spawn(async move { note(&*live.read().await) });
        }
        self.queue_index_work(ws, |work| work.merges = true);
    }

    /// Forgets an erased profile: its identities in the ingestion path (a later event of the same
    /// sender creates a new profile rather than pointing at the erased one); and
    /// since the live index and its snapshot hold its events' properties, deletes the snapshot and
    /// has the index rebuilt from the log now, where those events no longer open (they still count,
    /// by name and time, for no one).
    pub(crate) async fn profile_erased(&self, ws: WorkspaceId, customer: CustomerId) -> DomainResult<()> {
        // The identity cache maps merged-away profiles to this one: forgetting it forgets them.
        self.forget_deleted_sender(ws, customer);
        self.store.delete_snapshot(ws).await?;
        self.mark_index_stale(ws);
        self.queue_index_work(ws, |work| work.rebuild = true);
        Ok(())
    }

    pub(super) fn mark_index_stale(&self, ws: siyu_core::WorkspaceId) {
        let live = self.live_index(ws);
        // A load in progress holds the write lock and reads the merges after this write anyway.
        if let Ok(state) = live.try_read() {
            state.tail_stale.store(true, std::sync::atomic::Ordering::Release);
            return;
        }
        tokio::spawn(async move {
            let state = live.read().await;
            state.tail_stale.store(true, std::sync::atomic::Ordering::Release);
        });
    }
}

fn is_behaviour(kind: EventKind) -> bool {
    matches!(kind, EventKind::Track | EventKind::Page | EventKind::Screen)
}

/// The index's view of a logged event: `None` for identify, group and alias (not behaviour), or
/// when the workspace already has 65,536 other event names.
fn raw_event(
    names: &mut EventNames,
    props: &mut PropTable,
    merged: &HashMap<i64, i64>,
    event: &crate::events::EventView<'_>,
) -> Option<RawEvent> {
    if !is_behaviour(event.kind) {
        return None;
    }
    let name = names.intern(event.name)?;
    let customer = merged.get(&event.customer.0).copied().unwrap_or(event.customer.0);
    let properties = crate::events::filters::indexed_properties(event.properties);
    // A set the table has no room for leaves the event without indexed properties.
    let set = props.intern(properties.iter().map(|(k, v)| (k.as_str(), v.clone()))).unwrap_or(EMPTY_SET);
    Some(RawEvent {
        customer,
        ts_us: event.ts_us,
        event: name,
        order_cents: order_cents(event.name, event.properties),
        props: set,
    })
}

/// Indexes smaller than this are rebuilt from the log at start rather than kept as snapshots.
const SNAPSHOT_MIN_EVENTS: usize = 10_000;

/// Merged-away profile → its survivor (following a survivor that was merged later).
fn moves_of(merged: Vec<(CustomerId, CustomerId)>) -> HashMap<i64, i64> {
    let direct: HashMap<i64, i64> = merged.iter().map(|(from, to)| (from.0, to.0)).collect();
    let mut moves = direct.clone();
    for to in moves.values_mut() {
        let mut hops = 0;
        while let Some(next) = direct.get(to)
            && hops < direct.len()
        {
            *to = *next;
            hops += 1;
        }
    }
    moves
}

/// A fingerprint of a set of merges, so a snapshot tells whether its base reflects them.
fn merges_hash(moves: &HashMap<i64, i64>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut pairs: Vec<(i64, i64)> = moves.iter().map(|(from, to)| (*from, *to)).collect();
    pairs.sort_unstable();
    let mut hasher = std::hash::DefaultHasher::new();
    pairs.hash(&mut hasher);
    hasher.finish()
}

/// What a snapshot records besides the columns: where in the log it ends, and the state it assumed.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotMeta {
    /// The log checkpoint after the last event in the snapshot.
    checkpoint: String,
    /// [`merges_hash`] of the merges its base reflects (0 in older snapshots): other merges are
    /// applied to it on load.
    #[serde(default)]
    merges: u64,
    /// Events left out for lack of event-name ids.
    unindexed: u64,
}

fn snapshot_bytes(meta: &SnapshotMeta, columns: &EventColumns, names: &EventNames, props_table: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(meta).expect("snapshot metadata serialises");
    let mut bytes = (header.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&columns.to_bytes_with(names, props_table));
    bytes
}

fn parse_snapshot(bytes: &[u8]) -> Option<(SnapshotMeta, EventColumns, EventNames, PropTable)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let meta: SnapshotMeta = serde_json::from_slice(bytes.get(4..4 + len)?).ok()?;
    let (columns, names, props) = EventColumns::from_bytes(bytes.get(4 + len..)?)?;
    Some((meta, columns, names, props))
}

/// Events a delta may hold before they are folded into a new base (or 1/32 of the base, if more):
/// the delta is rebuilt on the first query after new events, so it must stay small.
const FOLD_EVENTS: usize = 1_000_000;

/// Distinguishes one load of an index from the next, so that a fold begun on an older load is dropped.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Events {
    /// Moves the indexed events of profiles merged since the index was loaded to their survivors
    /// (the log keeps them under the merged-away id; a load maps them). The base is remapped on the
    /// blocking pool and swapped in under the write lock, with the tail's events remapped, so
    /// appends wait only for the swap. Repeats while merges keep coming.
    pub(crate) async fn apply_merges(&self, ws: WorkspaceId) -> DomainResult<()> {
        use std::sync::atomic::Ordering;
        let live = self.live_index(ws);
        let merging = live.read().await.merging.clone();
        let _merging = merging.lock().await;
        loop {
            let (base, version, generation) = {
                let state = live.read().await;
                if !state.merges_pending.swap(false, Ordering::AcqRel) || !state.loaded || state.is_stale() {
                    // Not loaded or about to be reloaded: the load maps every merge.
                    return Ok(());
                }
                (state.base.clone(), state.base_version, state.generation)
            };
            let merged = match self.customers.stores.customers.merged_customers(ws).await {
                Ok(merged) => merged,
                Err(error) => {
                    live.read().await.merges_pending.store(true, Ordering::Release);
                    return Err(error.into());
                }
            };
            let moves = moves_of(merged);
            let merges = merges_hash(&moves);
            let moves = Arc::new(moves);
            let remap = moves.clone();
            let remapped = tokio::task::spawn_blocking(move || base.remapped(&remap))
                .await
                .map_err(|e| DomainError::internal_from("merging profiles' events failed", e))?;
            let mut state = live.write().await;
            if state.generation != generation || state.is_stale() {
                return Ok(());
            }
            if state.base_version != version {
                // A fold replaced the base meanwhile: move the events of the new one.
                state.merges_pending.store(true, Ordering::Release);
                continue;
            }
            let replaced = state.replace_base(remapped);
            state.merges = merges;
            let tail = state.tail.get_mut().expect("tail lock is never poisoned");
            for event in &mut tail.events {
                if let Some(to) = moves.get(&event.customer) {
                    event.customer = *to;
                }
            }
            drop(state);
            tokio::task::spawn_blocking(move || drop(replaced));
        }
    }

    /// Saves a snapshot of an index base (serialised on the blocking pool); a failure costs only
    /// the next start's speed, so it is logged. Whether it was saved.
    async fn save_index_snapshot(
        &self,
        ws: WorkspaceId,
        meta: SnapshotMeta,
        base: Arc<EventColumns>,
        names: EventNames,
        props: Arc<std::sync::RwLock<PropTable>>,
    ) -> bool {
        let data_key = match self.customers.access.data_key(ws).await {
            Ok(key) => key,
            Err(error) => {
                tracing::warn!(workspace = ws.0, error = %error.chain(), "could not seal the analytics index snapshot");
                return false;
            }
        };
        let bytes = crate::background::run("snapshot", move || {
            // Every append takes the table's write lock: it is held only while the table is
            // written, not the columns (hundreds of MiB).
            let mut table = Vec::new();
            props.read().expect("property table lock is never poisoned").write(&mut table);
            data_key.seal_bytes(&snapshot_bytes(&meta, &base, &names, &table), SNAPSHOT_CONTEXT)
        })
        .await;
        let saved = match bytes {
            Ok(Ok(bytes)) => self.store.save_snapshot(ws, bytes).await.map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(failed) => Err(format!("the snapshot's writer failed: {failed}")),
        };
        if let Err(error) = &saved {
            tracing::warn!(workspace = ws.0, %error, "could not save the analytics index snapshot");
        }
        saved.is_ok()
    }

    /// Folds the tail into a new base off the query path. Under the write lock (so that no append
    /// is between the log and the tail) it notes how many tail events the fold takes and, when a
    /// snapshot is due, the log's checkpoint after them; the fold runs on the blocking pool over a
    /// copy of those events; then, under the write lock and only if the index was not reloaded
    /// meanwhile, the new base replaces the old and the events it holds leave the tail (later ones
    /// stay). A due snapshot of the new base is saved afterwards, so that a restart reads only the
    /// log after it.
    ///
    /// Asking queues the fold for the `index.upkeep` worker ([`Events::upkeep_indexes`]).
    fn start_fold(&self, ws: WorkspaceId, state: &LiveIndex) {
        if state.folding.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        self.queue_index_work(ws, |work| work.fold = true);
    }

    /// Queues work on a workspace's index for the `index.upkeep` worker and wakes it.
    fn queue_index_work(&self, ws: WorkspaceId, add: impl FnOnce(&mut IndexWork)) {
        add(self.index_work.wanted.lock().expect("index work lock is never poisoned").entry(ws).or_default());
        self.index_work.wake.notify_one();
    }

    /// One round of the `index.upkeep` worker: for every workspace whose index has work queued,
    /// moves merged-away profiles' events to their survivors, rebuilds an index an erasure made
    /// stale, and folds a delta that asked for it — each of which the next query would otherwise
    /// do (or, for a fold, go without) itself. Returns whether there was any.
    pub async fn upkeep_indexes(&self) -> bool {
        let wanted: Vec<(WorkspaceId, IndexWork)> =
            self.index_work.wanted.lock().expect("index work lock is never poisoned").drain().collect();
        for (ws, work) in &wanted {
            if work.merges
                && let Err(error) = self.apply_merges(*ws).await
            {
                tracing::warn!(workspace = ws.0, error = %error.chain(), "could not move merged profiles' events in the index");
            }
            if work.rebuild
                && let Err(error) = self.event_index(&Principal::system(*ws)).await
            {
                tracing::warn!(workspace = ws.0, error = %error.chain(), "could not rebuild the index after an erasure");
            }
            if work.fold {
                self.fold(*ws).await;
            }
        }
        !wanted.is_empty()
    }

    async fn fold(&self, ws: WorkspaceId) {
        use std::sync::atomic::Ordering;
        let live = self.live_index(ws);
        let (taken, generation, checkpoint) = {
            let state = live.write().await;
            let taken = state.tail.lock().expect("tail lock is never poisoned").events.len();
            tracing::info!(
                workspace = ws.0,
                base = state.base.event_count(),
                taken,
                snapshot = state.snapshot_events,
                due = state.snapshot_due(taken),
                "folding the analytics index"
            );
            let mut checkpoint = None;
            if state.snapshot_due(taken) {
                let events = &self.store;
                if let (Ok(foreign), Ok(at)) = (events.foreign_version(ws).await, events.checkpoint(ws).await)
                    && foreign == state.foreign
                {
                    checkpoint = Some(at);
                }
            }
            (taken, state.generation, checkpoint)
        };
        let (base, events, version) = {
            let state = live.read().await;
            let length = state.tail.lock().expect("tail lock is never poisoned").events.len();
            if state.generation != generation || length < taken {
                // Reloaded meanwhile: this fold is moot (the new load has its own flag).
                return;
            }
            (state.base.clone(), state.tail_prefix(taken), state.base_version)
        };
        let folded = crate::background::run("fold", move || {
            let mut builder = EventColumnsBuilder::with_capacity(events.len());
            for event in events {
                builder.push(event);
            }
            // At most half of a core: on a small machine the fold must leave room for
            // appends and the segment upkeep (it takes seconds over a large base).
            let mut worked = std::time::Instant::now();
            Index::new(base, Arc::new(builder.build())).fold_paced(|| {
                let spent = worked.elapsed();
                if spent >= std::time::Duration::from_millis(2) {
                    std::thread::sleep(spent);
                    worked = std::time::Instant::now();
                }
            })
        })
        .await
        .inspect_err(|error| tracing::warn!(workspace = ws.0, %error, "the analytics fold failed"))
        .ok();
        let mut replaced = None;
        let to_save = {
            let mut state = live.write().await;
            let mut to_save = None;
            if let Some(folded) = folded
                && state.generation == generation
                && state.base_version == version
                && !state.is_stale()
            {
                replaced = Some(state.replace_base(folded));
                let tail = state.tail.get_mut().expect("tail lock is never poisoned");
                tail.events.drain(..taken);
                tail.drained += taken as u64;
                let names = tail.names.clone();
                if let Some(checkpoint) = checkpoint {
                    let meta = SnapshotMeta { checkpoint, merges: state.merges, unindexed: state.unindexed };
                    to_save = Some((meta, state.base.clone(), names, state.props.clone()));
                }
            }
            state.folding.store(false, Ordering::Release);
            to_save
        };
        // The old base is freed off the lock (and off the runtime): gigabytes on a large one.
        tokio::task::spawn_blocking(move || drop(replaced));
        if let Some((meta, base, names, props)) = to_save {
            let events = base.event_count();
            if self.save_index_snapshot(ws, meta, base, names, props).await {
                tracing::info!(workspace = ws.0, events, "saved the analytics index snapshot after a fold");
                let mut state = live.write().await;
                if state.generation == generation {
                    state.snapshot_events = events;
                }
            }
        }
    }
}

/// Work queued on workspaces' indexes, and what wakes the `index.upkeep` worker.
#[derive(Default)]
pub(crate) struct IndexWorkQueue {
    wanted: Mutex<HashMap<WorkspaceId, IndexWork>>,
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

/// What one workspace's index has queued.
#[derive(Clone, Copy, Default)]
struct IndexWork {
    /// Merged-away profiles' events to move.
    merges: bool,
    /// Rebuild after an erasure.
    rebuild: bool,
    /// Fold the delta into the base.
    fold: bool,
}

/// One workspace's live index.
#[derive(Default)]
pub(crate) struct LiveIndex {
    loaded: bool,
    /// The log's [`EventStore::foreign_version`](crate::events::EventStore::foreign_version) when loaded.
    foreign: u64,
    stale: bool,
    base: Arc<EventColumns>,
    /// Property sets of base and tail events; appended to by ingestion, read by queries.
    props: Arc<std::sync::RwLock<PropTable>>,
    unindexed: u64,
    tail: std::sync::Mutex<Tail>,
    /// This load's number (see [`GENERATION`]).
    generation: u64,
    /// Whether a fold is running.
    folding: std::sync::atomic::AtomicBool,
    /// Set when events already indexed must move (a merge) or an order was refunded: reload.
    tail_stale: std::sync::atomic::AtomicBool,
    /// Bases put in place on this load, by folds and merges (read without the tail lock).
    folds: std::sync::atomic::AtomicU64,
    /// [`merges_hash`] of the merges whose events the base holds under their survivors.
    merges: u64,
    /// Set by a merge, until its events moved ([`Events::apply_merges`]).
    merges_pending: std::sync::atomic::AtomicBool,
    /// Serialises the moves of merged profiles' events.
    merging: Arc<tokio::sync::Mutex<()>>,
    /// Changes each time the base is replaced (a fold, a merge), so that a job over an older base
    /// does not replace a newer one.
    base_version: u64,
    /// Events in the base of the last snapshot saved or loaded (0: none).
    snapshot_events: usize,
}

/// Events that arrived since the base was built, and the last snapshot made with them.
#[derive(Default)]
struct Tail {
    names: EventNames,
    events: Vec<RawEvent>,
    /// Events drained from the front of `events` by folds (so positions stay absolute).
    drained: u64,
    snapshot: Option<Arc<EventIndex>>,
}

impl LiveIndex {
    fn is_stale(&self) -> bool {
        self.stale || self.tail_stale.load(std::sync::atomic::Ordering::Acquire)
    }

    fn loaded(names: EventNames, props: PropTable, base: EventColumns, unindexed: u64) -> Self {
        let tail = Tail { names, ..Default::default() };
        Self {
            loaded: true,
            foreign: 0,
            stale: false,
            base: Arc::new(base),
            props: Arc::new(std::sync::RwLock::new(props)),
            unindexed,
            tail: std::sync::Mutex::new(tail),
            generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            folding: Default::default(),
            tail_stale: Default::default(),
            folds: Default::default(),
            merges: 0,
            merges_pending: Default::default(),
            merging: Default::default(),
            base_version: 0,
            snapshot_events: 0,
        }
    }

    /// Returns the current snapshot, rebuilding the delta from the tail if events arrived, and the
    /// number of tail events it holds (all of them: a new event drops the cached snapshot).
    /// The tail is copied in short holds of its lock and the delta built without it, so appends
    /// do not wait for a large tail's rebuild; events appended meanwhile are in the next one.
    fn snapshot(&self) -> (Arc<EventIndex>, usize) {
        let (taken, names) = {
            let tail = self.tail.lock().expect("tail lock is never poisoned");
            if let Some(snapshot) = &tail.snapshot {
                return (snapshot.clone(), tail.events.len());
            }
            (tail.events.len(), tail.names.clone())
        };
        let events = self.tail_prefix(taken);
        let mut builder = EventColumnsBuilder::with_capacity(events.len());
        for event in events {
            builder.push(event);
        }
        let columns = Index::new(self.base.clone(), Arc::new(builder.build()));
        let snapshot =
            Arc::new(EventIndex { names, props: self.props.clone(), columns, unindexed_events: self.unindexed });
        let mut tail = self.tail.lock().expect("tail lock is never poisoned");
        if tail.events.len() == taken {
            tail.snapshot = Some(snapshot.clone());
        }
        (snapshot, taken)
    }

    /// A copy of the tail's first `n` events, taken in pieces so that appends interleave. Only
    /// folds and merges (under the write lock) change events already in the tail, so the caller
    /// holds at least the read lock.
    fn tail_prefix(&self, n: usize) -> Vec<RawEvent> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let tail = self.tail.lock().expect("tail lock is never poisoned");
            let end = n.min(events.len() + 65_536).min(tail.events.len());
            if end <= events.len() {
                break;
            }
            events.extend_from_slice(&tail.events[events.len()..end]);
        }
        events
    }

    /// Puts a new base in place (a fold's, a merge's): jobs begun over the old one are dropped,
    /// queries rebuild their delta, and the upkeep takes a fresh view. Returns the old base, to be
    /// freed off the lock.
    fn replace_base(&mut self, base: EventColumns) -> Arc<EventColumns> {
        self.base_version += 1;
        self.tail.get_mut().expect("tail lock is never poisoned").snapshot = None;
        self.folds.fetch_add(1, std::sync::atomic::Ordering::Release);
        std::mem::replace(&mut self.base, Arc::new(base))
    }

    /// Whether a fold of `taken` tail events should save a snapshot: once the base it makes holds
    /// an eighth more than the last snapshot (so a restart reads at most that much of the log).
    fn snapshot_due(&self, taken: usize) -> bool {
        let events = self.base.event_count() + taken;
        events >= SNAPSHOT_MIN_EVENTS && events - self.snapshot_events.min(events) >= (events / 8).max(1)
    }

    /// Whether the tail has grown enough to fold it into a new base.
    fn wants_fold(&self, fold_events: usize) -> bool {
        let tail = self.tail.lock().expect("tail lock is never poisoned");
        tail.events.len() > fold_events.max(self.base.event_count() / 32)
    }
}
