//! The journeys' use cases: drafts, publishing (the whole graph checked against the workspace),
//! pause, resume and archive, entering customers (by trigger or API), counts, the customers'
//! entries and agent tasks; and the listener on the events' feed that turns triggers and goals
//! into entries and conversions.

use super::definition::{Definition, Known, Node, Reentry, Trigger};
use super::pace::Pace;
use super::store::{EntryRule, JourneyStatus, JourneyStore, NewEntry, StoredEntry, StoredJourney, StoredTask};
use crate::FieldError;
use crate::access::{Access, Permission, Principal};
use crate::campaigns::Campaigns;
use crate::channels::guardrails::MessageClass;
use crate::channels::messaging::Messaging;
use crate::customers::Customers;
use crate::error::{DomainError, DomainResult};
use crate::events::{EventChange, EventChanges, Events, NewEvent};
use crate::feed::Subscriber;
use crate::segments::Segments;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// The event a customer's entry records.
pub const JOURNEY_ENTERED: &str = "Journey Entered";
/// The event a split's assignment records.
pub const JOURNEY_ARM_ASSIGNED: &str = "Journey Arm Assigned";
/// The event a conversion records.
pub const JOURNEY_CONVERTED: &str = "Journey Converted";
/// The most customers one API call enters.
pub const MAX_API_ENTRIES: usize = 1_000;
/// Trigger hits kept waiting for the entry worker before the oldest are dropped (and counted).
const MAX_PENDING: usize = 1_000_000;

/// A journey to save as a draft.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyInput {
    /// Its name.
    pub name: String,
    /// Its definition (checked as a whole when it is published).
    pub definition: Definition,
}

/// A journey as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct JourneyView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Status.
    pub status: JourneyStatus,
    /// The latest published version (0: none).
    pub version: i64,
    /// The definition being edited.
    pub draft: Definition,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

/// A journey's counts.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct JourneyStats {
    /// Per node: `entered`, `passed`, `waiting` (now), and for send nodes the messages' statuses
    /// (`sent`, `blocked`, `failed`, …).
    #[schema(value_type = Object)]
    pub nodes: BTreeMap<String, BTreeMap<String, i64>>,
    /// Entries by state (`active`, `done`, `exited`).
    pub entries: BTreeMap<String, i64>,
    /// Entries that reached the goal.
    pub converted: i64,
    /// Per split arm: entries and conversions.
    #[schema(value_type = Object)]
    pub arms: BTreeMap<String, BTreeMap<String, i64>>,
    /// A scheduled trigger's latest occurrences that fired (newest first, up to 20), with how many
    /// customers each entered.
    pub firings: Vec<Firing>,
    /// When these counts were made (a request reads the last counts while newer ones are made).
    #[schema(value_type = String, format = DateTime)]
    pub counted_at: jiff::Timestamp,
}

/// How long a journey's counts are shown before a request that reads them starts a new count.
pub const STATS_FRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Journeys' counts as last made, and whether a newer count is being made.
#[derive(Default)]
pub(crate) struct StatsCache(HashMap<(WorkspaceId, i64), Counted>);

struct Counted {
    at: std::time::Instant,
    stats: JourneyStats,
    counting: bool,
}

/// An occurrence of a scheduled trigger that fired.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Firing {
    /// The occurrence.
    #[schema(value_type = String, format = DateTime)]
    pub occurrence: jiff::Timestamp,
    /// Customers it entered.
    pub entered: u64,
}

/// A customer's entry as shown (their activity on journeys).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// The journey.
    pub journey_id: i64,
    /// Its version.
    pub version: i64,
    /// The node it is at (or ended at).
    pub node: String,
    /// `active`, `done` or `exited`.
    pub state: super::store::EntryState,
    /// Whether it waits at the node.
    pub waiting: bool,
    /// When its node runs next (active entries).
    #[schema(value_type = String, format = DateTime)]
    pub due_at: jiff::Timestamp,
    /// Its split arm.
    pub arm: Option<String>,
    /// Whether it reached the goal.
    pub converted: bool,
    /// When it entered.
    #[schema(value_type = String, format = DateTime)]
    pub entered_at: jiff::Timestamp,
}

impl From<StoredEntry> for EntryView {
    fn from(e: StoredEntry) -> Self {
        Self {
            journey_id: e.journey_id,
            version: e.version,
            node: e.node,
            state: e.state,
            waiting: e.waiting,
            due_at: e.due_at,
            arm: e.arm,
            converted: e.converted,
            entered_at: e.entered_at,
        }
    }
}

/// An active journey as the trigger listener knows it.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    pub(crate) id: i64,
    /// When it was last published or its status changed (a scheduled trigger fires no occurrence
    /// from before).
    pub(crate) since: jiff::Timestamp,
    /// The latest version's definition (its trigger and goal).
    pub(crate) definition: Arc<Definition>,
    /// Every version's event waits: (version, node, event, filter).
    pub(crate) waits: Vec<(i64, String, String, BTreeMap<String, Value>)>,
}

/// A trigger or goal that fired, waiting for the entry worker.
#[derive(Clone, Debug)]
pub(crate) enum Hit {
    /// Enter the customer (the trigger's key: the event's id).
    Enter { journey: i64, customer: CustomerId, key: String },
    /// The customer reached the journey's goal.
    Goal { journey: i64, customer: CustomerId },
    /// The customer did the event an entry waits for at `node` of `version`.
    Event { journey: i64, version: i64, node: String, customer: CustomerId },
}

/// Published definitions by (journey, version).
type Definitions = HashMap<(i64, i64), Arc<Definition>>;
/// Trigger hits waiting for the entry worker.
#[derive(Default)]
pub(crate) struct Pending {
    hits: std::collections::VecDeque<(WorkspaceId, Hit)>,
    /// Dropped because too many waited (since the last round reported them).
    dropped: u64,
    /// Hits ever queued, and how many of them (the oldest, in order) were applied: a position is
    /// saved only once the hits queued before it are applied.
    pub(crate) queued: u64,
    pub(crate) applied: u64,
}

/// A workspace's log checkpoints as the position worker read them.
#[derive(Default)]
pub(crate) struct Read {
    /// The checkpoint read on the last round (its events' hits are queued by the next).
    pub(crate) last: String,
    /// Older checkpoints whose events' hits are all queued, oldest first, each with how many hits
    /// had been queued by then: one is saved once that many are applied.
    pub(crate) ready: std::collections::VecDeque<(String, u64)>,
}

/// The triggers' positions in the event log ([`super::position`]).
#[derive(Default)]
pub(crate) struct Positions {
    /// Each workspace's log checkpoints as read by the position worker.
    pub(crate) read: HashMap<WorkspaceId, Read>,
    /// Workspaces whose hits were dropped: their events are read again from the saved position.
    pub(crate) replay: std::collections::BTreeSet<WorkspaceId>,
}

/// Journeys and their entries.
#[derive(Clone)]
pub struct Journeys {
    pub(crate) access: Access,
    pub(crate) customers: Customers,
    pub(crate) events: Events,
    pub(crate) segments: Segments,
    pub(crate) messaging: Messaging,
    pub(crate) campaigns: Campaigns,
    pub(crate) store: Arc<dyn JourneyStore>,
    /// Published definitions by (journey, version).
    pub(crate) definitions: Arc<Mutex<Definitions>>,
    /// Each workspace's active journeys (a workspace not here has none).
    pub(crate) live: Arc<Mutex<HashMap<WorkspaceId, Arc<Vec<Live>>>>>,
    /// Hits waiting for the entry worker, and how many were dropped because too many waited.
    pub(crate) pending: Arc<Mutex<Pending>>,
    /// The triggers' positions in the event log.
    pub(crate) positions: Arc<Mutex<Positions>>,
    /// Wakes the entry worker.
    enter_wake: Arc<tokio::sync::Notify>,
    /// Wakes the step worker.
    pub(crate) step_wake: Arc<tokio::sync::Notify>,
    /// Wakes the schedule worker (a journey published, resumed or paused).
    schedule_wake: Arc<tokio::sync::Notify>,
    /// What the step worker measured: node executions, and (when asked) each wait's lateness.
    pub(crate) probe: Arc<Probe>,
    /// The start slots promised to cohorts and the step worker's speed ([`super::pace`]).
    pub(crate) pace: Arc<Pace>,
    /// Each journey's counts as last made (they scan its entries and messages).
    stats_cache: Arc<Mutex<StatsCache>>,
}

/// What the step worker measured, for benchmarks and operators.
#[derive(Default)]
pub struct Probe {
    /// Node executions written.
    pub executions: std::sync::atomic::AtomicU64,
    /// The latest start slot given to a customer of a cohort, in Unix milliseconds (0: none yet).
    pub last_start_ms: std::sync::atomic::AtomicI64,
    /// How late each ended wait ran, in microseconds, while recording.
    lateness_us: Mutex<Option<Vec<i64>>>,
}

impl Probe {
    /// Starts recording how late ended waits run.
    pub fn record_lateness(&self) {
        *self.lateness_us.lock().expect("probe") = Some(Vec::new());
    }

    /// Returns the lateness recorded so far (and goes on recording).
    pub fn take_lateness(&self) -> Vec<i64> {
        self.lateness_us.lock().expect("probe").as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub(crate) fn late(&self, us: &[i64]) {
        if let Some(all) = self.lateness_us.lock().expect("probe").as_mut() {
            all.extend_from_slice(us);
        }
    }
}

fn parse_definition(journey: &StoredJourney, text: &str) -> DomainResult<Definition> {
    serde_json::from_str(text).map_err(|e| DomainError::internal(format!("journey {} definition: {e}", journey.id)))
}

impl Journeys {
    pub(crate) fn new(
        access: Access,
        customers: Customers,
        events: Events,
        segments: Segments,
        messaging: Messaging,
        campaigns: Campaigns,
        store: Arc<dyn JourneyStore>,
    ) -> Self {
        Self {
            access,
            customers,
            events,
            segments,
            messaging,
            campaigns,
            store,
            definitions: Arc::default(),
            live: Arc::default(),
            pending: Arc::default(),
            enter_wake: Arc::default(),
            step_wake: Arc::default(),
            schedule_wake: Arc::default(),
            positions: Arc::default(),
            probe: Arc::default(),
            pace: Arc::default(),
            stats_cache: Arc::default(),
        }
    }

    /// The same slice sending through `messaging` (after its adapters were chosen).
    pub(crate) fn with_messaging(mut self, messaging: Messaging) -> Self {
        self.messaging = messaging;
        self
    }

    /// What wakes the entry worker.
    pub fn enter_wake(&self) -> Arc<tokio::sync::Notify> {
        self.enter_wake.clone()
    }

    /// What the step worker measured.
    pub fn probe(&self) -> Arc<Probe> {
        self.probe.clone()
    }

    /// The start slots promised to cohorts and the step worker's speed.
    pub fn pace(&self) -> Arc<Pace> {
        self.pace.clone()
    }

    /// What wakes the step worker.
    pub fn step_wake(&self) -> Arc<tokio::sync::Notify> {
        self.step_wake.clone()
    }

    /// What wakes the schedule worker.
    pub fn schedule_wake(&self) -> Arc<tokio::sync::Notify> {
        self.schedule_wake.clone()
    }

    async fn stored(&self, ws: WorkspaceId, id: i64) -> DomainResult<StoredJourney> {
        self.store.journey(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("journey {id}")))
    }

    fn view(stored: StoredJourney) -> DomainResult<JourneyView> {
        let draft = parse_definition(&stored, &stored.draft)?;
        Ok(JourneyView {
            id: stored.id,
            name: stored.name,
            status: stored.status,
            version: stored.version,
            draft,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        })
    }

    /// What a draft must be to be kept at all (the rest is checked when it is published): a name,
    /// and no more nodes than a journey may have.
    fn check_draft(input: &JourneyInput) -> DomainResult<()> {
        let mut errors = Vec::new();
        if input.name.trim().is_empty() || input.name.chars().count() > 100 {
            errors.push(FieldError::new("name", "must be 1 to 100 characters"));
        }
        if input.definition.nodes.len() > super::definition::MAX_NODES {
            errors.push(FieldError::new(
                "definition.nodes",
                format!(
                    "holds {} nodes; a journey has at most {}",
                    input.definition.nodes.len(),
                    super::definition::MAX_NODES
                ),
            ));
        }
        if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
    }

    /// Creates a draft journey (needs `journeys:manage`); it runs once published.
    pub async fn create(&self, principal: &Principal, input: &JourneyInput) -> DomainResult<JourneyView> {
        principal.require(Permission::JourneysManage)?;
        Self::check_draft(input)?;
        let ws = principal.workspace_id();
        let draft = serde_json::to_string(&input.definition).map_err(|e| DomainError::internal(e.to_string()))?;
        let id = self.store.insert_journey(ws, input.name.trim(), &draft, self.access.now()).await?;
        self.access.audit(principal, "journey.create", &format!("journey:{id}")).await?;
        Self::view(self.stored(ws, id).await?)
    }

    /// Replaces a journey's name and draft (needs `journeys:manage`); customers on it go on with the
    /// version they entered until the draft is published.
    pub async fn update(&self, principal: &Principal, id: i64, input: &JourneyInput) -> DomainResult<JourneyView> {
        principal.require(Permission::JourneysManage)?;
        Self::check_draft(input)?;
        let ws = principal.workspace_id();
        let draft = serde_json::to_string(&input.definition).map_err(|e| DomainError::internal(e.to_string()))?;
        self.store.update_draft(ws, id, input.name.trim(), &draft, self.access.now()).await?;
        Self::view(self.stored(ws, id).await?)
    }

    /// Every journey (needs `analytics:read`).
    pub async fn journeys(&self, principal: &Principal) -> DomainResult<Vec<JourneyView>> {
        principal.require(Permission::AnalyticsRead)?;
        self.store.journeys(principal.workspace_id()).await?.into_iter().map(Self::view).collect()
    }

    /// One journey (needs `analytics:read`).
    pub async fn journey(&self, principal: &Principal, id: i64) -> DomainResult<JourneyView> {
        principal.require(Permission::AnalyticsRead)?;
        Self::view(self.stored(principal.workspace_id(), id).await?)
    }

    /// Copies into each send node that names a saved template the template's class and text; a
    /// node that names one it cannot have is an error at the node (`nodes.welcome.saved_template`).
    async fn with_templates(&self, ws: WorkspaceId, definition: &mut Definition) -> DomainResult<Vec<FieldError>> {
        let mut errors = Vec::new();
        for (id, node) in definition.nodes.iter_mut() {
            let Node::Send { saved_template: Some(name), .. } = &*node else { continue };
            let (name, own) = (name.clone(), node.content().unwrap_or_default());
            let mut found = Vec::new();
            let (saved_class, content) =
                self.messaging.with_saved(ws, Some(&name), &format!("nodes.{id}."), own, &mut found).await?;
            if let (true, Some(saved_class)) = (found.is_empty(), saved_class)
                && let Node::Send { class, subject, body, html, data, template, params, en, .. } = node
            {
                *class = saved_class;
                (*subject, *body, *html, *data) = (content.subject, content.body, content.html, content.data);
                (*template, *params, *en) = (content.template, content.params, content.en);
            } else {
                // Its class is unknown: the channel is checked only for what every class needs.
                if let Node::Send { class, .. } = node {
                    *class = MessageClass::Transactional;
                }
                errors.extend(found);
            }
        }
        Ok(errors)
    }

    /// Checks a definition against the workspace — channels, saved and inline templates, tags,
    /// segments — and returns it as it would be published (saved templates copied in).
    pub async fn check(
        &self,
        ws: WorkspaceId,
        definition: &Definition,
    ) -> DomainResult<Result<Definition, Vec<FieldError>>> {
        let mut definition = definition.clone();
        let unresolved = self.with_templates(ws, &mut definition).await?;
        let (mut channels, mut webhooks) = (HashMap::new(), HashMap::new());
        for node in definition.nodes.values() {
            match node {
                Node::Send { channel, class, .. } if !channels.contains_key(&(channel.clone(), *class)) => {
                    let verdict = self.messaging.check_channel(ws, channel, *class).await?;
                    channels.insert((channel.clone(), *class), verdict);
                }
                Node::Webhook { channel, .. } if !webhooks.contains_key(channel) => {
                    let verdict = self.messaging.check_webhook_channel(ws, channel).await?;
                    webhooks.insert(channel.clone(), verdict);
                }
                _ => {}
            }
        }
        let vocabulary = self.messaging.vocabulary(ws).await?;
        let tags: BTreeSet<String> = self.customers.stores.tags.tags(ws).await?.into_iter().map(|t| t.name).collect();
        let segments: BTreeSet<String> =
            self.segments.segment_definitions(ws).await?.0.into_iter().map(|s| s.key).collect();
        let channel = |name: &str, class: MessageClass| channels.get(&(name.to_string(), class)).cloned().flatten();
        let content = |at: &str, content: &crate::channels::messaging::MessageContent| {
            let mut errors = Vec::new();
            Messaging::check_content(at, content, &vocabulary, &mut errors);
            errors
        };
        let webhook = |name: &str| webhooks.get(name).cloned().flatten();
        let (mut coupon_templates, mut lotteries) = (BTreeSet::new(), BTreeSet::new());
        for node in definition.nodes.values() {
            match node {
                Node::IssueCoupon { coupon_template, .. }
                    if self.campaigns.has_coupon_template(ws, *coupon_template).await? =>
                {
                    coupon_templates.insert(*coupon_template);
                }
                Node::GrantLotteryChance { lottery, .. } if self.campaigns.has_lottery(ws, *lottery).await? => {
                    lotteries.insert(*lottery);
                }
                _ => {}
            }
        }
        let known = Known {
            channel: &channel,
            tags: &tags,
            segments: &segments,
            content: &content,
            webhook: &webhook,
            coupon_templates: &coupon_templates,
            lotteries: &lotteries,
        };
        let mut errors = match definition.check(&known) {
            Ok(()) => Vec::new(),
            Err(errors) => errors,
        };
        // A node whose saved template is missing has no body: its one problem is the template.
        let missing: Vec<String> =
            unresolved.iter().map(|e| e.field.trim_end_matches("saved_template").to_string()).collect();
        errors.retain(|e| !missing.iter().any(|at| e.field == format!("{at}body")));
        errors.extend(unresolved);
        Ok(if errors.is_empty() { Ok(definition) } else { Err(errors) })
    }

    /// Checks a definition as publishing would, without saving it (needs `journeys:manage`): every
    /// problem named by its path under `definition`, none when it would publish. The console's
    /// editor shows them beside the nodes as they are edited.
    pub async fn validate(&self, principal: &Principal, definition: &Definition) -> DomainResult<Vec<FieldError>> {
        principal.require(Permission::JourneysManage)?;
        Ok(match self.check(principal.workspace_id(), definition).await? {
            Ok(_) => Vec::new(),
            Err(errors) => Self::under_definition(errors),
        })
    }

    fn under_definition(errors: Vec<FieldError>) -> Vec<FieldError> {
        errors.into_iter().map(|e| FieldError::new(format!("definition.{}", e.field), e.reason)).collect()
    }

    /// Publishes the draft as the next version and makes the journey active (needs
    /// `journeys:manage`): the whole graph is checked first, every problem named by its path
    /// (`nodes.welcome.body`). Customers already on it finish on the version they entered.
    pub async fn publish(&self, principal: &Principal, id: i64) -> DomainResult<JourneyView> {
        principal.require(Permission::JourneysManage)?;
        let ws = principal.workspace_id();
        let stored = self.stored(ws, id).await?;
        if stored.status == JourneyStatus::Archived {
            return Err(DomainError::Conflict(format!("journey {id} is archived")));
        }
        let definition = parse_definition(&stored, &stored.draft)?;
        let definition = self
            .check(ws, &definition)
            .await?
            .map_err(|errors| DomainError::Invalid(Self::under_definition(errors)))?;
        // The version holds what it sends: saved templates are copied in, so editing one later
        // changes nothing a customer already on the journey gets.
        let published = serde_json::to_string(&definition).map_err(|e| DomainError::internal(e.to_string()))?;
        let version = self.store.publish(ws, id, &published, self.access.now()).await?;
        self.definitions.lock().expect("definitions").insert((id, version), Arc::new(definition));
        self.access.audit(principal, "journey.publish", &format!("journey:{id}:v{version}")).await?;
        self.reload(ws).await?;
        Self::view(self.stored(ws, id).await?)
    }

    /// Pauses, resumes or archives a journey (needs `journeys:manage`). Paused: nobody enters and
    /// entries wait where they are; resumed, they go on (a wait that ended meanwhile runs at once);
    /// archived: nobody enters and the entries on it leave.
    pub async fn set_status(&self, principal: &Principal, id: i64, status: JourneyStatus) -> DomainResult<JourneyView> {
        principal.require(Permission::JourneysManage)?;
        let ws = principal.workspace_id();
        let stored = self.stored(ws, id).await?;
        // Asking for the status a journey has is no change (so a retried call succeeds).
        if stored.status == status {
            return Self::view(stored);
        }
        let allowed = match (stored.status, status) {
            (JourneyStatus::Active, JourneyStatus::Paused) | (JourneyStatus::Paused, JourneyStatus::Active) => true,
            (JourneyStatus::Archived, _) => false,
            (_, JourneyStatus::Archived) => true,
            _ => false,
        };
        if !allowed {
            return Err(DomainError::Conflict(format!(
                "journey {id} is {} and cannot become {}",
                stored.status.as_str(),
                status.as_str()
            )));
        }
        self.store.set_status(ws, id, status, self.access.now()).await?;
        self.access.audit(principal, &format!("journey.{}", status.as_str()), &format!("journey:{id}")).await?;
        self.reload(ws).await?;
        self.step_wake.notify_one();
        Self::view(self.stored(ws, id).await?)
    }

    /// Reads the workspace's active journeys for the trigger listener.
    pub async fn reload(&self, ws: WorkspaceId) -> DomainResult<()> {
        let mut live = Vec::new();
        for journey in self.store.journeys(ws).await? {
            if journey.status == JourneyStatus::Active && journey.version > 0 {
                let definition = self.definition(ws, journey.id, journey.version).await?;
                // Customers finish on the version they entered: every version's event waits listen.
                let mut waits = Vec::new();
                for version in 1..=journey.version {
                    let old = self.definition(ws, journey.id, version).await?;
                    for (node, step) in &old.nodes {
                        if let Node::WaitForEvent { event, filter, .. } = step {
                            waits.push((version, node.clone(), event.clone(), filter.clone()));
                        }
                    }
                }
                live.push(Live { id: journey.id, since: journey.updated_at, definition, waits });
            }
        }
        self.live.lock().expect("live journeys").insert(ws, Arc::new(live));
        self.schedule_wake.notify_one();
        Ok(())
    }

    /// Reads every workspace's active journeys (at start, before events are served).
    pub async fn load(&self) -> DomainResult<()> {
        for ws in self.store.active_workspaces().await? {
            self.reload(ws).await?;
        }
        Ok(())
    }

    /// A published version's definition (kept once read).
    pub(crate) async fn definition(&self, ws: WorkspaceId, id: i64, version: i64) -> DomainResult<Arc<Definition>> {
        if let Some(found) = self.definitions.lock().expect("definitions").get(&(id, version)) {
            return Ok(found.clone());
        }
        let text = self
            .store
            .version(ws, id, version)
            .await?
            .ok_or_else(|| DomainError::internal(format!("journey {id} has no version {version}")))?;
        let definition: Definition =
            serde_json::from_str(&text).map_err(|e| DomainError::internal(format!("journey {id} v{version}: {e}")))?;
        let definition = Arc::new(definition);
        self.definitions.lock().expect("definitions").insert((id, version), definition.clone());
        Ok(definition)
    }

    /// Enters customers on an active journey now (needs `journeys:manage`), each unless the
    /// re-entry policy says no; `key` makes the call idempotent (the same key enters a customer
    /// once). Returns how many entered.
    pub async fn enter_customers(
        &self,
        principal: &Principal,
        id: i64,
        customers: &[CustomerId],
        key: &str,
    ) -> DomainResult<usize> {
        principal.require(Permission::JourneysManage)?;
        let ws = principal.workspace_id();
        if customers.is_empty() || customers.len() > MAX_API_ENTRIES {
            return Err(DomainError::invalid("customer_ids", format!("must name 1 to {MAX_API_ENTRIES} customers")));
        }
        if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError::invalid("key", "must be 1 to 200 printable ASCII characters"));
        }
        let stored = self.stored(ws, id).await?;
        if stored.status != JourneyStatus::Active {
            return Err(DomainError::Conflict(format!("journey {id} is {}, not active", stored.status.as_str())));
        }
        let mut live = Vec::new();
        let mut errors = Vec::new();
        for (i, customer) in customers.iter().enumerate() {
            match self.customers.stores.customers.resolve(ws, *customer).await? {
                Some(id) => live.push(NewEntry { customer: id, trigger_key: format!("api:{key}"), start_at: None }),
                None => errors.push(FieldError::new(format!("customer_ids.{i}"), format!("no customer {customer}"))),
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let definition = self.definition(ws, id, stored.version).await?;
        let entered = self.enter(ws, id, &definition, &live).await?;
        self.access.audit(principal, "journey.enter", &format!("journey:{id}")).await?;
        Ok(entered)
    }

    /// Enters customers on a journey under its re-entry policy, records `Journey Entered` for each
    /// new entry and wakes the step worker; returns how many entered. Several customers entered
    /// at once whose first wait is known start in paced slots ([`super::pace`]).
    pub(crate) async fn enter(
        &self,
        ws: WorkspaceId,
        id: i64,
        definition: &Definition,
        entries: &[NewEntry],
    ) -> DomainResult<usize> {
        let now = self.access.now();
        let rule = match definition.reentry {
            Reentry::Never => EntryRule::Once,
            Reentry::Always => EntryRule::NotWhileOn,
            Reentry::AfterDays { days } => EntryRule::NotSince(
                now.checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(days))).unwrap_or(jiff::Timestamp::MIN),
            ),
        };
        let first_wait = if entries.len() > 1 { definition.first_wait() } else { None };
        let paced: Option<Vec<NewEntry>> = first_wait.map(|first| {
            let slots = self.pace.starts(now, first.wait, first.cost(), entries.len());
            if let Some(last) = slots.last() {
                self.probe.last_start_ms.fetch_max(last.as_millisecond(), std::sync::atomic::Ordering::Relaxed);
            }
            entries.iter().zip(slots).map(|(entry, slot)| NewEntry { start_at: Some(slot), ..entry.clone() }).collect()
        });
        let entries = paced.as_deref().unwrap_or(entries);
        let mut entered = Vec::new();
        for chunk in entries.chunks(5_000) {
            entered.extend(self.store.enter(ws, id, chunk, rule, now).await?);
        }
        if let Some(first) = first_wait {
            // Slots of customers kept out (and of a customer named twice) are given back.
            let mut on: HashSet<CustomerId> = entered.iter().map(|(_, customer)| *customer).collect();
            let unused: Vec<jiff::Timestamp> =
                entries.iter().filter(|e| !on.remove(&e.customer)).filter_map(|e| e.start_at).collect();
            self.pace.release(&unused, first.wait, first.cost());
        }
        if !entered.is_empty() {
            self.step_wake.notify_one();
            let properties = json!({"journey": id}).to_string();
            let events: Vec<NewEvent> = entered
                .iter()
                .map(|(_, customer)| self.event(*customer, JOURNEY_ENTERED, properties.clone()))
                .collect();
            self.events.append_and_index(ws, &events).await?;
        }
        Ok(entered.len())
    }

    pub(crate) fn event(&self, customer: CustomerId, name: &str, properties: String) -> NewEvent {
        NewEvent::recorded(customer, name, properties, self.access.now())
    }

    /// Enters the customers whose events fired a trigger and converts those who reached a goal;
    /// returns whether there was anything to do.
    pub async fn apply_hits(&self) -> DomainResult<bool> {
        self.apply_some_hits(usize::MAX).await
    }

    /// The entry worker's round: applies the oldest `limit` hits waiting (a trigger that fires for
    /// a million customers enters them a batch a round, so that the step worker's timers can go
    /// first between rounds); returns whether there was anything to do.
    pub async fn apply_some_hits(&self, limit: usize) -> DomainResult<bool> {
        let (hits, dropped) = {
            let mut pending = self.pending.lock().expect("pending hits");
            let take = limit.min(pending.hits.len());
            let taken: Vec<_> = pending.hits.drain(..take).collect();
            (taken, std::mem::take(&mut pending.dropped))
        };
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "journey trigger hits dropped (more waited than the entry worker keeps): read again from the log"
            );
        }
        if hits.is_empty() {
            return Ok(false);
        }
        let (count, workspaces): (u64, BTreeSet<WorkspaceId>) = (hits.len() as u64, hits.iter().map(|h| h.0).collect());
        let applied = self.apply(hits).await;
        if applied.is_err() {
            // Lost with the error: their workspaces read the log again from the saved position.
            self.positions.lock().expect("positions").replay.extend(workspaces);
        }
        self.pending.lock().expect("pending hits").applied += count;
        applied.map(|()| true)
    }

    /// Applies hits: event waits ended, goals converted, customers entered.
    pub(crate) async fn apply(&self, hits: Vec<(WorkspaceId, Hit)>) -> DomainResult<()> {
        let mut enters: BTreeMap<(WorkspaceId, i64), Vec<NewEntry>> = BTreeMap::new();
        let mut goals: BTreeMap<(WorkspaceId, i64), Vec<CustomerId>> = BTreeMap::new();
        let mut seen: BTreeMap<(WorkspaceId, i64, i64, String), Vec<CustomerId>> = BTreeMap::new();
        for (ws, hit) in hits {
            match hit {
                Hit::Enter { journey, customer, key } => enters.entry((ws, journey)).or_default().push(NewEntry {
                    customer,
                    trigger_key: key,
                    start_at: None,
                }),
                Hit::Goal { journey, customer } => goals.entry((ws, journey)).or_default().push(customer),
                Hit::Event { journey, version, node, customer } => {
                    seen.entry((ws, journey, version, node)).or_default().push(customer)
                }
            }
        }
        let mut woke = false;
        for ((ws, journey, version, node), customers) in seen {
            woke |= self.store.event_seen(ws, journey, version, &node, &customers, self.access.now()).await? > 0;
        }
        if woke {
            self.step_wake.notify_one();
        }
        for ((ws, journey), customers) in goals {
            let converted = self.store.convert(ws, &[journey], &customers, self.access.now()).await?;
            let properties = json!({"journey": journey}).to_string();
            let events: Vec<NewEvent> = converted
                .iter()
                .map(|(_, customer)| self.event(*customer, JOURNEY_CONVERTED, properties.clone()))
                .collect();
            if !events.is_empty() {
                self.events.append_and_index(ws, &events).await?;
            }
        }
        for ((ws, journey), entries) in enters {
            let Some(stored) = self.store.journey(ws, journey).await? else { continue };
            if stored.status != JourneyStatus::Active {
                continue;
            }
            let definition = self.definition(ws, journey, stored.version).await?;
            self.enter(ws, journey, &definition, &entries).await?;
        }
        Ok(())
    }

    /// A journey's counts (needs `analytics:read`), as last made: counts older than
    /// [`STATS_FRESH`] are shown while a new count is made in the background, so the journey
    /// list, its page and the editor's live check never wait for a scan of a large journey (only
    /// the first request after a start does).
    pub async fn stats(&self, principal: &Principal, id: i64) -> DomainResult<JourneyStats> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        self.stored(ws, id).await?;
        let (shown, recount) = {
            let mut cache = self.stats_cache.lock().expect("stats cache");
            match cache.0.get_mut(&(ws, id)) {
                Some(counted) => {
                    let stale = counted.at.elapsed() >= STATS_FRESH && !counted.counting;
                    counted.counting |= stale;
                    (Some(counted.stats.clone()), stale)
                }
                None => (None, false),
            }
        };
        let Some(stats) = shown else {
            // Nothing counted yet: this request waits for the first count.
            return self.recount(ws, id).await;
        };
        if recount {
            let journeys = self.clone();
            tokio::spawn(async move {
                if let Err(error) = journeys.recount(ws, id).await {
                    tracing::warn!(journey = id, error = %error.chain(), "the journey's counts were not made");
                }
            });
        }
        Ok(stats)
    }

    /// Counts a journey now and keeps the counts for the requests that follow.
    async fn recount(&self, ws: WorkspaceId, id: i64) -> DomainResult<JourneyStats> {
        let counted = self.count(ws, id).await;
        let mut cache = self.stats_cache.lock().expect("stats cache");
        match &counted {
            Ok(stats) => {
                let entry = Counted { at: std::time::Instant::now(), stats: stats.clone(), counting: false };
                cache.0.insert((ws, id), entry);
            }
            Err(_) => {
                if let Some(entry) = cache.0.get_mut(&(ws, id)) {
                    entry.counting = false;
                }
            }
        }
        counted
    }

    /// A journey's counts as they are now (needs `analytics:read`): they scan its entries and
    /// messages, so requests read [`Self::stats`] instead; for benchmarks and tests.
    pub async fn stats_now(&self, principal: &Principal, id: i64) -> DomainResult<JourneyStats> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        self.stored(ws, id).await?;
        self.recount(ws, id).await
    }

    async fn count(&self, ws: WorkspaceId, id: i64) -> DomainResult<JourneyStats> {
        let counts = self.store.counts(ws, id).await?;
        let mut stats = JourneyStats { counted_at: self.access.now(), ..JourneyStats::default() };
        for (_, node, outcome, n) in counts.nodes {
            *stats.nodes.entry(node).or_default().entry(outcome).or_default() += n;
        }
        for (node, n) in counts.waiting {
            *stats.nodes.entry(node).or_default().entry("waiting".into()).or_default() += n;
        }
        for (node, status, n) in counts.messages {
            *stats.nodes.entry(node).or_default().entry(status).or_default() += n;
        }
        for (state, n) in counts.states {
            stats.entries.insert(state, n);
        }
        for (arm, entries, converted) in counts.arms {
            stats.converted += converted;
            if !arm.is_empty() {
                let arm = stats.arms.entry(arm).or_default();
                arm.insert("entries".into(), entries);
                arm.insert("converted".into(), converted);
            }
        }
        stats.firings = self
            .store
            .firings(ws, id, 20)
            .await?
            .into_iter()
            .map(|(occurrence, entered)| Firing { occurrence, entered })
            .collect();
        Ok(stats)
    }

    /// A customer's journeys, newest first (needs `customers:read`).
    pub async fn customer_entries(&self, principal: &Principal, customer: CustomerId) -> DomainResult<Vec<EntryView>> {
        principal.require(Permission::CustomersRead)?;
        let subject = self.customers.subject(principal.workspace_id(), customer).await?;
        let entries = self.store.entries_of(principal.workspace_id(), &subject.ids()).await?;
        Ok(entries.into_iter().map(EntryView::from).collect())
    }

    /// The agent tasks, newest first (needs `notes:write`, as agents follow customers up).
    pub async fn tasks(&self, principal: &Principal, open_only: bool) -> DomainResult<Vec<StoredTask>> {
        principal.require(Permission::NotesWrite)?;
        Ok(self.store.tasks(principal.workspace_id(), open_only, 500).await?)
    }

    /// Marks an agent task done (needs `notes:write`).
    pub async fn complete_task(&self, principal: &Principal, id: i64) -> DomainResult<()> {
        principal.require(Permission::NotesWrite)?;
        self.store.complete_task(principal.workspace_id(), id, self.access.now()).await?;
        Ok(())
    }

    pub(crate) fn queue(&self, ws: WorkspaceId, hits: Vec<Hit>) {
        if hits.is_empty() {
            return;
        }
        {
            let mut pending = self.pending.lock().expect("pending hits");
            let room = MAX_PENDING.saturating_sub(pending.hits.len());
            let dropped = hits.len().saturating_sub(room);
            pending.dropped += dropped as u64;
            pending.queued += (hits.len() - dropped) as u64;
            if dropped > 0 {
                self.positions.lock().expect("positions").replay.insert(ws);
            }
            pending.hits.extend(hits.into_iter().take(room).map(|hit| (ws, hit)));
        }
        self.enter_wake.notify_one();
    }
}

/// Whether an event's properties hold every value of `filter`.
fn matches_filter(properties: &str, filter: &BTreeMap<String, Value>) -> bool {
    if filter.is_empty() {
        return true;
    }
    let Ok(Value::Object(properties)) = serde_json::from_str::<Value>(properties) else { return false };
    filter.iter().all(|(key, value)| properties.get(key) == Some(value))
}

/// The key that makes an event's trigger enter a customer once.
/// The trigger key of an event: its `messageId`, else its name and time.
pub(crate) fn trigger_key(message_id: &str, name: &str, ts_us: i64) -> String {
    if message_id.is_empty() { format!("{name}@{ts_us}") } else { format!("event:{message_id}") }
}

impl Subscriber<EventChanges> for Journeys {
    /// Notes the appended events that fire a trigger or reach a goal of an active journey of the
    /// workspace, and wakes the entry worker.
    fn changed(&self, ws: WorkspaceId, change: &EventChange<'_>) {
        let EventChange::Appended { events, .. } = change;
        let Some(live) = self.live.lock().expect("live journeys").get(&ws).cloned() else { return };
        if live.is_empty() {
            return;
        }
        let mut hits = Vec::new();
        for event in events.iter() {
            let heard = Heard { customer: event.customer, name: &event.name, properties: &event.properties };
            hits_of(live.iter(), &heard, || trigger_key(&event.message_id, &event.name, event.ts_us), &mut hits);
        }
        self.queue(ws, hits);
    }
}

/// An event as the triggers read it.
pub(crate) struct Heard<'a> {
    pub(crate) customer: CustomerId,
    pub(crate) name: &'a str,
    pub(crate) properties: &'a str,
}

/// What `event` does on the active journeys `live`: the triggers it fires (keyed by `key`), the
/// goals it reaches, the event waits it ends.
pub(crate) fn hits_of<'a>(
    live: impl IntoIterator<Item = &'a Live>,
    event: &Heard<'_>,
    key: impl Fn() -> String,
    hits: &mut Vec<Hit>,
) {
    for journey in live {
        let definition = &journey.definition;
        let fires = match &definition.trigger {
            Trigger::Event { event: name, filter } => event.name == name && matches_filter(event.properties, filter),
            Trigger::SegmentEntered { segment } => {
                event.name == crate::segments::SEGMENT_ENTERED
                    && matches_filter(event.properties, &[("segment_key".into(), json!(segment))].into())
            }
            Trigger::SegmentExited { segment } => {
                event.name == crate::segments::SEGMENT_EXITED
                    && matches_filter(event.properties, &[("segment_key".into(), json!(segment))].into())
            }
            Trigger::Api | Trigger::Broadcast { .. } | Trigger::Anniversary { .. } => false,
        };
        if fires {
            hits.push(Hit::Enter { journey: journey.id, customer: event.customer, key: key() });
        }
        if definition.goal.as_ref().is_some_and(|goal| goal.event == event.name) {
            hits.push(Hit::Goal { journey: journey.id, customer: event.customer });
        }
        for (version, node, name, filter) in &journey.waits {
            if name == event.name && matches_filter(event.properties, filter) {
                hits.push(Hit::Event {
                    journey: journey.id,
                    version: *version,
                    node: node.clone(),
                    customer: event.customer,
                });
            }
        }
    }
}
