//! The journeys' persistence contract: journeys with their draft and published versions, the
//! customers' entries (each the customer's place on a journey and, while it waits, its timer),
//! per-node counts, and agent tasks.

use crate::channels::store::StoredMessage;
use crate::jobs::NewJob;
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// Where a journey is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JourneyStatus {
    /// Never published.
    Draft,
    /// Running: its trigger enters customers and its entries move on.
    Active,
    /// Stopped for now: no one enters, entries wait where they are.
    Paused,
    /// Ended: no one enters, and entries still on it left when it was archived.
    Archived,
}

impl JourneyStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Archived => "archived",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Draft, Self::Active, Self::Paused, Self::Archived].into_iter().find(|s| s.as_str() == text)
    }
}

/// A journey as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredJourney {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Status.
    pub status: JourneyStatus,
    /// The definition being edited (JSON).
    pub draft: String,
    /// The latest published version (0: none).
    pub version: i64,
    /// Created.
    pub created_at: jiff::Timestamp,
    /// Last changed.
    pub updated_at: jiff::Timestamp,
}

/// Where an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// On the journey: its node runs at `due_at`.
    Active,
    /// Reached the end.
    Done,
    /// Left on the goal (a conversion) or when the journey was archived.
    Exited,
}

impl EntryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Done => "done",
            Self::Exited => "exited",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Active, Self::Done, Self::Exited].into_iter().find(|s| s.as_str() == text)
    }
}

/// A customer's entry on a journey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// Id (part of every action's idempotency key).
    pub id: i64,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The journey.
    pub journey_id: i64,
    /// The version it runs (customers finish on the version they entered).
    pub version: i64,
    /// The customer.
    pub customer: CustomerId,
    /// The node it is at.
    pub node: String,
    /// Whether it waits at that node (a wait already begun).
    pub waiting: bool,
    /// Whether the event it waits for happened (a `wait_for_event` node).
    pub event_seen: bool,
    /// Where it is.
    pub state: EntryState,
    /// When its node runs.
    pub due_at: jiff::Timestamp,
    /// The split arm it was assigned, if any.
    pub arm: Option<String>,
    /// Whether it left on the goal.
    pub converted: bool,
    /// When it entered.
    pub entered_at: jiff::Timestamp,
    /// Last changed.
    pub updated_at: jiff::Timestamp,
}

/// A customer to enter on a journey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// The customer.
    pub customer: CustomerId,
    /// What started it, unique per journey and customer (the triggering event's id, or the API
    /// call's key): the same trigger enters once.
    pub trigger_key: String,
    /// When its first step runs (its paced start slot); now when `None`.
    pub start_at: Option<jiff::Timestamp>,
}

/// When a customer may enter again, as the store applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRule {
    /// Not if the customer ever entered this journey.
    Once,
    /// Not while on it, nor if the last entry began after this instant.
    NotSince(jiff::Timestamp),
    /// Not while on it.
    NotWhileOn,
}

/// An entry's new place after a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryUpdate {
    /// The entry.
    pub id: i64,
    /// Its node.
    pub node: String,
    /// Whether it waits there.
    pub waiting: bool,
    /// Its state.
    pub state: EntryState,
    /// When it runs next.
    pub due_at: jiff::Timestamp,
    /// Its split arm.
    pub arm: Option<String>,
}

/// A follow-up task for an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    /// The customer.
    pub customer: CustomerId,
    /// The journey.
    pub journey_id: i64,
    /// The entry (with the node, unique: a step run twice makes one task).
    pub entry_id: i64,
    /// The node.
    pub node: String,
    /// What to do and why.
    pub reason: String,
}

/// An agent task as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StoredTask {
    /// Id.
    pub id: i64,
    /// The customer.
    #[schema(value_type = i64)]
    pub customer_id: CustomerId,
    /// The journey.
    pub journey_id: i64,
    /// The node.
    pub node: String,
    /// What to do and why.
    pub reason: String,
    /// `open` or `done`.
    pub status: String,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// One batch's writes: entries moved on, messages (with their send jobs) and tasks they made,
/// counts per node.
#[derive(Clone, Debug, Default)]
pub struct Advance {
    /// Entries moved on.
    pub entries: Vec<EntryUpdate>,
    /// Messages to queue, each with its job.
    pub messages: Vec<(StoredMessage, NewJob)>,
    /// Tasks to create.
    pub tasks: Vec<NewTask>,
    /// Counts to add: (journey, version, node, outcome, n); outcomes `entered` and `passed`.
    pub counts: Vec<(i64, i64, String, &'static str, i64)>,
}

/// Counts of one journey.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JourneyCounts {
    /// (version, node, outcome, n) from the counters.
    pub nodes: Vec<(i64, String, String, i64)>,
    /// (node, n): active entries waiting at a node.
    pub waiting: Vec<(String, i64)>,
    /// (node, message status, n): the messages its send nodes queued, by status.
    pub messages: Vec<(String, String, i64)>,
    /// (arm or "", entries, converted): entries and conversions per split arm.
    pub arms: Vec<(String, i64, i64)>,
    /// (state, n).
    pub states: Vec<(String, i64)>,
}

/// Persists journeys and their entries.
#[async_trait]
pub trait JourneyStore: Send + Sync {
    /// Creates a draft journey; returns its id.
    async fn insert_journey(
        &self,
        ws: WorkspaceId,
        name: &str,
        draft: &str,
        now: jiff::Timestamp,
    ) -> Result<i64, StoreError>;
    /// Replaces a journey's name and draft; `NotFound` if absent.
    async fn update_draft(
        &self,
        ws: WorkspaceId,
        id: i64,
        name: &str,
        draft: &str,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Returns a journey.
    async fn journey(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredJourney>, StoreError>;
    /// Returns every journey of the workspace, newest first.
    async fn journeys(&self, ws: WorkspaceId) -> Result<Vec<StoredJourney>, StoreError>;
    /// Publishes `definition` as the journey's next version and makes it active; returns the
    /// version.
    async fn publish(
        &self,
        ws: WorkspaceId,
        id: i64,
        definition: &str,
        now: jiff::Timestamp,
    ) -> Result<i64, StoreError>;
    /// Sets a journey's status; archiving also ends its active entries (`exited`).
    async fn set_status(
        &self,
        ws: WorkspaceId,
        id: i64,
        status: JourneyStatus,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Returns the workspaces with an active journey (global: read at start).
    async fn active_workspaces(&self) -> Result<Vec<WorkspaceId>, StoreError>;
    /// Returns a published version's definition (JSON).
    async fn version(&self, ws: WorkspaceId, id: i64, version: i64) -> Result<Option<String>, StoreError>;
    /// Enters customers on an active journey's latest version at `now`, each unless `rule` or an
    /// entry of the same trigger key says no, decided while no other enter of the journey can
    /// commit; returns the new entries' (id, customer).
    async fn enter(
        &self,
        ws: WorkspaceId,
        journey: i64,
        entries: &[NewEntry],
        rule: EntryRule,
        now: jiff::Timestamp,
    ) -> Result<Vec<(i64, CustomerId)>, StoreError>;
    /// Claims up to `limit` active entries of active journeys due at `now` whose lease (if any)
    /// ended, earliest first, for `owner` until `lease_until` (global: a worker serves every
    /// workspace).
    async fn claim_entries(
        &self,
        owner: &str,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<StoredEntry>, StoreError>;
    /// Returns when the earliest active entry of an active journey is due (global).
    async fn next_entry_due(&self) -> Result<Option<jiff::Timestamp>, StoreError>;
    /// Applies a batch's writes in one transaction: every entry must still be `owner`'s (else
    /// nothing is written and the answer is `Conflict`).
    async fn advance(
        &self,
        ws: WorkspaceId,
        owner: &str,
        advance: &Advance,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Ends the customers' active entries on these journeys as conversions; returns the entries'
    /// (id, customer) that ended.
    async fn convert(
        &self,
        ws: WorkspaceId,
        journeys: &[i64],
        customers: &[CustomerId],
        now: jiff::Timestamp,
    ) -> Result<Vec<(i64, CustomerId)>, StoreError>;
    /// Marks the customers' entries waiting at `node` of `version` as having seen the event they
    /// wait for, due now; returns how many.
    async fn event_seen(
        &self,
        ws: WorkspaceId,
        journey: i64,
        version: i64,
        node: &str,
        customers: &[CustomerId],
        now: jiff::Timestamp,
    ) -> Result<u64, StoreError>;
    /// Returns a journey's counts.
    async fn counts(&self, ws: WorkspaceId, journey: i64) -> Result<JourneyCounts, StoreError>;
    /// Returns the entries of these customers, newest first.
    async fn entries_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<StoredEntry>, StoreError>;
    /// Returns the open (or all) agent tasks, newest first, up to `limit`.
    async fn tasks(&self, ws: WorkspaceId, open_only: bool, limit: usize) -> Result<Vec<StoredTask>, StoreError>;
    /// Marks a task done; `NotFound` if absent.
    async fn complete_task(&self, ws: WorkspaceId, id: i64, now: jiff::Timestamp) -> Result<(), StoreError>;
    /// Deletes these customers' entries and tasks (an erasure).
    async fn erase_entries(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError>;
    /// The workspace's triggers' saved position in its event log, if any.
    async fn trigger_position(&self, ws: WorkspaceId) -> Result<Option<String>, StoreError>;
    /// Saves the workspace's triggers' position in its event log.
    async fn set_trigger_position(
        &self,
        ws: WorkspaceId,
        checkpoint: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Whether the journey's scheduled trigger fired for the occurrence at `occurrence`.
    async fn fired(&self, ws: WorkspaceId, journey: i64, occurrence: jiff::Timestamp) -> Result<bool, StoreError>;
    /// Records that the journey's scheduled trigger fired for `occurrence`, entering `entered`.
    async fn note_fired(
        &self,
        ws: WorkspaceId,
        journey: i64,
        occurrence: jiff::Timestamp,
        entered: u64,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// The journey's latest firings, newest first: (occurrence, customers entered).
    async fn firings(
        &self,
        ws: WorkspaceId,
        journey: i64,
        limit: usize,
    ) -> Result<Vec<(jiff::Timestamp, u64)>, StoreError>;
}
