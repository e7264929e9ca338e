//! Segments as use cases: definitions given as JSON or text, checked (errors name the place in the
//! tree or the line and column of the text; unknown names are warnings), stored, and evaluated into
//! a bitmap of members over the profile facts, the event index and the models.

use super::Segments;
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult, FieldError};
use crate::segments::language::{self, Condition};
use crate::segments::{Evaluation, Known, ProfileFacts, StoredSegment, check, exceeds_limits};
use roaring::RoaringTreemap;
use siyu_core::{CustomerId, Page, PageRequest, WorkspaceId};
use std::collections::HashMap;
use std::sync::Arc;

/// A definition as a caller gives it: the JSON tree or the text form (exactly one).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionInput {
    /// The JSON tree.
    #[serde(default)]
    pub definition: Option<Condition>,
    /// The text form, e.g. `tag("VIP") and did("Order Completed", within 30d)`.
    #[serde(default)]
    pub text: Option<String>,
}

impl DefinitionInput {
    /// Returns the tree, parsing the text; a parse error names `text` with its line and column.
    pub fn condition(&self) -> DomainResult<Condition> {
        match (&self.definition, &self.text) {
            (Some(_), Some(_)) => Err(DomainError::invalid("text", "give definition or text, not both")),
            (None, None) => Err(DomainError::invalid("definition", "is required (or give text)")),
            (Some(tree), None) => Ok(language::normalize(tree.clone())),
            (None, Some(text)) => language::parse(text).map_err(|e| DomainError::invalid("text", e.to_string())),
        }
    }
}

/// A segment to create or replace.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// Key, unique in the workspace: 1-64 lower-case letters, digits, `-` and `_`.
    pub key: String,
    /// Display name (default: the key).
    #[serde(default)]
    pub name: Option<String>,
    /// The JSON tree.
    #[serde(default)]
    pub definition: Option<Condition>,
    /// The text form.
    #[serde(default)]
    pub text: Option<String>,
}

/// A segment with its current size.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SegmentView {
    /// Key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// The JSON tree.
    pub definition: Condition,
    /// The text form of the same definition.
    pub text: String,
    /// Members now.
    pub size: u64,
    /// Unknown names the definition mentions.
    pub warnings: Vec<String>,
    /// Size at the end of each day it was kept (`[day, size]`, oldest first).
    pub history: Vec<(String, u64)>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

/// The live answer while a definition is edited.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SegmentPreview {
    /// The JSON tree.
    pub definition: Condition,
    /// Its canonical text.
    pub text: String,
    /// Customers it holds now.
    pub size: u64,
    /// Unknown names it mentions.
    pub warnings: Vec<String>,
    /// Milliseconds the evaluation took.
    pub elapsed_ms: f64,
}

fn check_key(key: &str) -> Result<(), FieldError> {
    let ok = (1..=64).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && key.as_bytes()[0] != b'-';
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("key", format!("\"{key}\" must be 1-64 lower-case letters, digits, - or _")))
    }
}

/// Every segment evaluated in full, with the facts and the index it was evaluated over.
pub(crate) struct Evaluated {
    /// Members by segment key (definitions that no longer check are left out).
    pub members: HashMap<String, RoaringTreemap>,
    pub facts: Arc<ProfileFacts>,
    pub index: Arc<crate::events::EventIndex>,
}

/// Each workspace's profile facts, with the customers changed since they were read.
#[derive(Default)]
pub(crate) struct FactsCache {
    workspaces: HashMap<WorkspaceId, KeptFacts>,
}

#[derive(Default)]
struct KeptFacts {
    facts: Option<Arc<ProfileFacts>>,
    /// When `facts` were last read whole.
    read_at: Option<std::time::Instant>,
    /// Customers whose profiles changed since `facts` were read.
    pending: RoaringTreemap,
    /// Whether every profile must be read anew (a change that names no customers).
    whole: bool,
    /// Whether an update of `facts` is under way (its customers are no longer in `pending`).
    in_flight: bool,
    /// Serialises the updates of `facts`, so that none is lost to a concurrent one.
    updating: Arc<tokio::sync::Mutex<()>>,
}

impl KeptFacts {
    /// The facts, if they are current: nothing changed since, and no update is under way.
    fn current(&self) -> Option<Arc<ProfileFacts>> {
        let fresh = self.read_at.is_some_and(|at| at.elapsed() < WHOLE_READ_EVERY);
        (self.pending.is_empty() && !self.whole && !self.in_flight && fresh).then(|| self.facts.clone()).flatten()
    }
}

/// Changed customers read one by one up to this many (or 1/20 of the live ones, if more); beyond,
/// the facts are read anew in one scan.
const PATCH_CUSTOMERS: u64 = 20_000;

/// The facts are read whole at least this often, so that profile writes the server does not hear
/// of (another process's CSV import) reach segments.
const WHOLE_READ_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Segments {
    /// Notes that profiles of a workspace changed (traits, tags, identities, consent, merges,
    /// deletions): the facts of those customers are read anew before the next evaluation, and the
    /// segment upkeep re-evaluates them at once.
    pub(crate) fn profiles_changed(&self, ws: WorkspaceId, customers: impl IntoIterator<Item = CustomerId>) {
        let customers: Vec<i64> = customers.into_iter().map(|c| c.0).collect();
        {
            let mut cache = self.facts.lock().expect("facts lock is never poisoned");
            let kept = cache.workspaces.entry(ws).or_default();
            kept.pending.extend(customers.iter().map(|c| *c as u64));
        }
        self.note_profiles(ws, customers);
    }

    /// Notes a change to profiles that names no customers (a tag deleted from everyone who had
    /// it): the facts are read anew whole, and the next full pass reconciles the members.
    pub(crate) fn all_profiles_changed(&self, ws: WorkspaceId) {
        let mut cache = self.facts.lock().expect("facts lock is never poisoned");
        cache.workspaces.entry(ws).or_default().whole = true;
    }

    /// Returns the workspace's kept profile facts even when profiles changed since (the upkeep's
    /// hot path for events must not wait for a read), or reads them.
    pub(crate) async fn kept_profile_facts(&self, ws: WorkspaceId) -> DomainResult<Arc<ProfileFacts>> {
        let kept =
            self.facts.lock().expect("facts lock is never poisoned").workspaces.get(&ws).and_then(|k| k.facts.clone());
        match kept {
            Some(facts) => Ok(facts),
            None => self.profile_facts(ws).await,
        }
    }

    /// Returns the workspace's current profile facts: the kept ones with the changed customers'
    /// facts read anew (or all read anew: the first time, after many changes, or an hour after
    /// the last whole read). A caller that arrives while an update is under way waits for it.
    pub(crate) async fn profile_facts(&self, ws: WorkspaceId) -> DomainResult<Arc<ProfileFacts>> {
        let updating = {
            let mut cache = self.facts.lock().expect("facts lock is never poisoned");
            let kept = cache.workspaces.entry(ws).or_default();
            if let Some(facts) = kept.current() {
                return Ok(facts);
            }
            kept.updating.clone()
        };
        // The update runs as a task of its own: a caller that goes away does not cancel it halfway
        // (which would lose the changed customers it took).
        let services = self.clone();
        tokio::spawn(async move {
            let _updating = updating.lock().await;
            let (kept, pending, whole) = {
                let mut cache = services.facts.lock().expect("facts lock is never poisoned");
                let kept = cache.workspaces.entry(ws).or_default();
                if let Some(facts) = kept.current() {
                    return Ok(facts);
                }
                kept.in_flight = true;
                let stale = kept.whole || kept.read_at.is_none_or(|at| at.elapsed() >= WHOLE_READ_EVERY);
                kept.whole = false;
                (kept.facts.clone().filter(|_| !stale), std::mem::take(&mut kept.pending), stale)
            };
            let facts = services.updated_facts(ws, kept, &pending).await;
            let mut cache = services.facts.lock().expect("facts lock is never poisoned");
            let kept = cache.workspaces.entry(ws).or_default();
            kept.in_flight = false;
            match facts {
                Ok((facts, read_whole)) => {
                    kept.facts = Some(facts.clone());
                    if read_whole {
                        kept.read_at = Some(std::time::Instant::now());
                    }
                    Ok(facts)
                }
                Err(error) => {
                    // Read them again next time.
                    kept.pending |= pending;
                    kept.whole |= whole;
                    Err(error)
                }
            }
        })
        .await
        .map_err(|e| DomainError::internal_from("profile facts update failed", e))?
    }

    /// The kept facts with `pending` customers read anew, or every profile read (`None` kept, or
    /// too many changes); also whether every profile was read.
    async fn updated_facts(
        &self,
        ws: WorkspaceId,
        kept: Option<Arc<ProfileFacts>>,
        pending: &RoaringTreemap,
    ) -> DomainResult<(Arc<ProfileFacts>, bool)> {
        match kept {
            Some(kept) if pending.is_empty() => Ok((kept, false)),
            Some(kept) if pending.len() <= PATCH_CUSTOMERS.max(kept.all.len() / 20) => {
                let ids: Vec<CustomerId> = pending.iter().map(|c| CustomerId(c as i64)).collect();
                let fresh = self.store.profile_facts_of(ws, &ids).await?;
                let pending = pending.clone();
                let patched = tokio::task::spawn_blocking(move || kept.replaced(&pending, fresh))
                    .await
                    .map_err(|e| DomainError::internal_from("profile facts update failed", e))?;
                Ok((Arc::new(patched), false))
            }
            _ => {
                let mut facts = self.store.profile_facts(ws).await?;
                facts.sort();
                Ok((Arc::new(facts), true))
            }
        }
    }

    pub(crate) async fn segment_definitions(
        &self,
        ws: WorkspaceId,
    ) -> DomainResult<(Vec<StoredSegment>, HashMap<String, Condition>)> {
        let stored = self.store.list(ws).await?;
        let mut definitions = HashMap::new();
        for s in &stored {
            let tree = language::read_saved(&s.definition)
                .map_err(|e| DomainError::internal(format!("segment {} definition is unreadable: {e}", s.key)))?;
            definitions.insert(s.key.clone(), tree);
        }
        Ok((stored, definitions))
    }

    /// Checks a definition (errors refuse it: `Invalid` naming the place) and evaluates it.
    async fn evaluate(
        &self,
        ws: WorkspaceId,
        condition: &Condition,
        key: Option<&str>,
        definitions: HashMap<String, Condition>,
    ) -> DomainResult<(RoaringTreemap, Vec<String>)> {
        let facts = self.profile_facts(ws).await?;
        let index = self.events.event_index(&Principal::system(ws)).await?;
        let checked = check(condition, key, &Known { events: &index, facts: &facts, segments: &definitions });
        if !checked.errors.is_empty() {
            return Err(DomainError::Invalid(checked.errors));
        }
        let models = if checked.uses_models { Some(self.models.models_of(ws).await?) } else { None };
        let now_us = self.access.now().as_microsecond();
        let condition = condition.clone();
        let members = tokio::task::spawn_blocking(move || {
            Evaluation { facts: &facts, events: &index, models: models.as_deref(), segments: &definitions, now_us }
                .members(&condition)
        })
        .await
        .map_err(|e| DomainError::internal_from("segment evaluation failed", e))?;
        Ok((members, checked.warnings))
    }

    /// Evaluates every definition in full (for the upkeep's pass); definitions that no longer
    /// check (e.g. a referenced segment was deleted) are left out.
    pub(crate) async fn evaluate_all(
        &self,
        ws: WorkspaceId,
        definitions: &HashMap<String, Condition>,
    ) -> DomainResult<Evaluated> {
        let facts = self.profile_facts(ws).await?;
        let index = self.events.event_index(&Principal::system(ws)).await?;
        let mut usable = Vec::new();
        let mut uses_models = false;
        for (key, condition) in definitions {
            let checked = check(condition, Some(key), &Known { events: &index, facts: &facts, segments: definitions });
            if checked.errors.is_empty() {
                uses_models |= checked.uses_models;
                usable.push((key.clone(), condition.clone()));
            }
        }
        let models = if uses_models { Some(self.models.models_of(ws).await?) } else { None };
        let now_us = self.access.now().as_microsecond();
        let definitions = definitions.clone();
        let (read_facts, read_index) = (facts.clone(), index.clone());
        let members = tokio::task::spawn_blocking(move || {
            let evaluation =
                Evaluation { facts: &facts, events: &index, models: models.as_deref(), segments: &definitions, now_us };
            usable.into_iter().map(|(key, condition)| (key, evaluation.members(&condition))).collect()
        })
        .await
        .map_err(|e| DomainError::internal_from("segment evaluation failed", e))?;
        Ok(Evaluated { members, facts: read_facts, index: read_index })
    }

    /// Evaluates a definition without saving it: its size and warnings (the builder's live count).
    pub async fn preview_segment(
        &self,
        principal: &Principal,
        input: &DefinitionInput,
    ) -> DomainResult<SegmentPreview> {
        principal.require(Permission::AnalyticsRead)?;
        let condition = input.condition()?;
        let (_, definitions) = self.segment_definitions(principal.workspace_id()).await?;
        let started = std::time::Instant::now();
        let (members, warnings) = self.evaluate(principal.workspace_id(), &condition, None, definitions).await?;
        Ok(SegmentPreview {
            text: language::print(&condition),
            definition: condition,
            size: members.len(),
            warnings,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Creates a segment (or, with `replace`, changes an existing one); refused whole when the key,
    /// the name or the definition is invalid, or when it would make segments refer to each other.
    pub async fn save_segment(
        &self,
        principal: &Principal,
        input: &SegmentInput,
        replace: bool,
    ) -> DomainResult<SegmentView> {
        principal.require(Permission::SegmentsManage)?;
        let mut errors = Vec::new();
        if let Err(e) = check_key(&input.key) {
            errors.push(e);
        }
        let name = input.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&input.key).to_string();
        if name.chars().count() > 100 {
            errors.push(FieldError::new("name", "must be at most 100 characters"));
        }
        let condition = DefinitionInput { definition: input.definition.clone(), text: input.text.clone() }.condition();
        let condition = match condition {
            Ok(c) => Some(c),
            Err(DomainError::Invalid(found)) => {
                errors.extend(found);
                None
            }
            Err(other) => return Err(other),
        };
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let condition = condition.expect("checked above");
        let (_, mut definitions) = self.segment_definitions(principal.workspace_id()).await?;
        if replace && !definitions.contains_key(&input.key) {
            return Err(DomainError::NotFound(format!("segment \"{}\"", input.key)));
        }
        // The evaluation refuses a cycle through this segment, naming it; then segments that refer to
        // this one must stay within the limits with its new definition.
        let mut changed = definitions.clone();
        changed.insert(input.key.clone(), condition.clone());
        let originals = definitions.clone();
        definitions.remove(&input.key);
        let (members, warnings) =
            self.evaluate(principal.workspace_id(), &condition, Some(&input.key), definitions).await?;
        for (key, definition) in &originals {
            if key != &input.key
                && exceeds_limits(definition, &originals).is_none()
                && let Some(reason) = exceeds_limits(definition, &changed)
            {
                let field = if input.text.is_some() { "text" } else { "definition" };
                return Err(DomainError::invalid(
                    field,
                    format!("segment \"{key}\" refers to this one and would {reason} with it"),
                ));
            }
        }
        let now = self.access.now();
        let stored = StoredSegment {
            key: input.key.clone(),
            name,
            definition: serde_json::to_string(&condition)
                .map_err(|e| DomainError::internal_from("writing a segment definition failed", e))?,
            created_at: now,
            updated_at: now,
        };
        if replace {
            self.store.update(principal.workspace_id(), &stored).await?;
        } else {
            self.store.insert(principal.workspace_id(), &stored).await?;
        }
        self.access.audit(principal, if replace { "segment.update" } else { "segment.create" }, &input.key).await?;
        self.segments_changed(principal.workspace_id()).await?;
        Ok(SegmentView {
            key: stored.key,
            name: stored.name,
            text: language::print(&condition),
            definition: condition,
            size: members.len(),
            warnings,
            history: Vec::new(),
            created_at: now.to_string(),
            updated_at: now.to_string(),
        })
    }

    /// Deletes a segment; refused while another segment refers to it.
    pub async fn delete_segment(&self, principal: &Principal, key: &str) -> DomainResult<()> {
        principal.require(Permission::SegmentsManage)?;
        let (_, definitions) = self.segment_definitions(principal.workspace_id()).await?;
        let users: Vec<&String> =
            definitions.iter().filter(|(k, d)| k.as_str() != key && refers_to(d, key)).map(|(k, _)| k).collect();
        if let Some(user) = users.first() {
            return Err(DomainError::Conflict(format!("segment \"{user}\" refers to \"{key}\"")));
        }
        self.store.delete(principal.workspace_id(), key).await?;
        self.access.audit(principal, "segment.delete", key).await?;
        self.segments_changed(principal.workspace_id()).await
    }

    /// Returns a segment's members and warnings: the members upkeep keeps while it runs (they
    /// follow every event), else evaluated now.
    pub(crate) async fn current_members(
        &self,
        ws: WorkspaceId,
        key: &str,
        definitions: &HashMap<String, Condition>,
    ) -> DomainResult<(RoaringTreemap, Vec<String>)> {
        let condition = definitions.get(key).ok_or_else(|| DomainError::NotFound(format!("segment \"{key}\"")))?;
        match self.kept_members(ws, key).await {
            Some(kept) => {
                let facts = self.profile_facts(ws).await?;
                let index = self.events.event_index(&Principal::system(ws)).await?;
                let known = Known { events: &index, facts: &facts, segments: definitions };
                Ok((kept, check(condition, Some(key), &known).warnings))
            }
            None => self.evaluate(ws, condition, Some(key), definitions.clone()).await,
        }
    }

    /// Returns every segment with its size and daily sizes.
    pub async fn segments(&self, principal: &Principal) -> DomainResult<Vec<SegmentView>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let (stored, definitions) = self.segment_definitions(ws).await?;
        let mut out = Vec::new();
        for s in stored {
            let (members, warnings) = self.current_members(ws, &s.key, &definitions).await?;
            let history = self.store.sizes(ws, &s.key).await?;
            let condition = definitions[&s.key].clone();
            out.push(SegmentView { history, ..view(s, condition, members.len(), warnings) });
        }
        Ok(out)
    }

    /// Returns a segment with its size and daily sizes.
    pub async fn segment(&self, principal: &Principal, key: &str) -> DomainResult<SegmentView> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let (stored, definitions) = self.segment_definitions(ws).await?;
        let s = stored
            .into_iter()
            .find(|s| s.key == key)
            .ok_or_else(|| DomainError::NotFound(format!("segment \"{key}\"")))?;
        let (members, warnings) = self.current_members(ws, key, &definitions).await?;
        let history = self.store.sizes(ws, key).await?;
        Ok(SegmentView { history, ..view(s, definitions[key].clone(), members.len(), warnings) })
    }

    /// Returns a page of a segment's members (customer ids, ascending; the cursor is the last id).
    pub async fn segment_members(
        &self,
        principal: &Principal,
        key: &str,
        page: PageRequest,
    ) -> DomainResult<(u64, Page<CustomerId>)> {
        principal.require(Permission::AnalyticsRead)?;
        principal.require(Permission::CustomersRead)?;
        let (_, definitions) = self.segment_definitions(principal.workspace_id()).await?;
        let (members, _) = self.current_members(principal.workspace_id(), key, &definitions).await?;
        let after = page.after.map_or(0, |a| a.max(0) as u64 + 1);
        let items: Vec<CustomerId> = members
            .iter()
            .skip_while(|id| *id < after)
            .take(page.limit as usize + 1)
            .map(|id| CustomerId(id as i64))
            .collect();
        Ok((members.len(), Page::from_overfetch(items, page.limit, |c| c.0)))
    }
}

impl Segments {
    /// Calls `visit` with each member of a segment as the principal may see them (personal data
    /// masked without `pii:read`); the export is audited once, as `segment.export` and — when
    /// unmasked — `pii.read`. `masked` masks even for a role that may see personal data.
    pub async fn export_segment(
        &self,
        principal: &Principal,
        key: &str,
        masked: bool,
        visit: &mut (dyn FnMut(crate::customers::CustomerView) -> DomainResult<()> + Send),
    ) -> DomainResult<u64> {
        principal.require(Permission::AnalyticsRead)?;
        principal.require(Permission::CustomersRead)?;
        let ws = principal.workspace_id();
        let (_, definitions) = self.segment_definitions(ws).await?;
        let (members, _) = self.current_members(ws, key, &definitions).await?;
        let unmasked = principal.can_read_pii() && !masked;
        self.access.audit(principal, "segment.export", key).await?;
        if unmasked {
            self.access.audit(principal, "pii.read", &format!("segment:{key}")).await?;
        }
        let data_key = self.access.data_key(ws).await?;
        let mut exported = 0;
        for id in members.iter() {
            let Some(stored) = self.customers.stores.customers.find(ws, CustomerId(id as i64)).await? else { continue };
            visit(self.customers.open_customer(&data_key, stored, unmasked)?)?;
            exported += 1;
        }
        Ok(exported)
    }
}

/// The columns of a member export.
pub const MEMBER_COLUMNS: [&str; 5] = ["customer_id", "identities", "traits", "tags", "created_at"];

/// One exported member: id, identities and traits as JSON objects, tags comma-separated, creation time.
pub fn member_row(c: &crate::customers::CustomerView) -> [String; 5] {
    let mut identities: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for i in &c.identities {
        identities.entry(i.kind.as_str()).or_default().push(&i.value);
    }
    let traits: std::collections::BTreeMap<&str, &serde_json::Value> =
        c.traits.iter().map(|(k, v)| (k.as_str(), &v.value)).collect();
    [
        c.id.0.to_string(),
        serde_json::to_string(&identities).unwrap_or_default(),
        serde_json::to_string(&traits).unwrap_or_default(),
        c.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(","),
        c.created_at.to_string(),
    ]
}

fn view(s: StoredSegment, condition: Condition, size: u64, warnings: Vec<String>) -> SegmentView {
    SegmentView {
        key: s.key,
        name: s.name,
        text: language::print(&condition),
        definition: condition,
        size,
        warnings,
        history: Vec::new(),
        created_at: s.created_at.to_string(),
        updated_at: s.updated_at.to_string(),
    }
}

fn refers_to(condition: &Condition, key: &str) -> bool {
    match condition {
        Condition::And(items) | Condition::Or(items) => items.iter().any(|c| refers_to(c, key)),
        Condition::Not(inner) => refers_to(inner, key),
        Condition::Segment(k) => k == key,
        _ => false,
    }
}
