//! Customer use cases: upsert with merge, read with masking and audit, search, tags, notes, consent.

use super::CustomerChange;
use super::Customers;
use crate::access::{Permission, Principal};
use crate::customers::consent::{Channel, ConsentRecord, Purpose, UNSUBSCRIBE_LINK_LIFETIME, current_state};
use crate::customers::tags::{Tag, TagFamily, TagGroup, check_name, check_tag_source};
use crate::customers::{
    AssignedTag, CustomerDraft, CustomerFilter, CustomerInput, Identity, IdentityKind, MergeRecord, Note, NoteBody,
    SealedDraft, SealedIdentity, SealedTrait, SealedValues, StoredCustomer, TraitPayload, UpsertOutcome, mask,
};
use crate::error::{DomainError, DomainResult, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use siyu_core::crypto::DataKey;
use siyu_core::{CustomerId, Page, PageRequest, TagId, WorkspaceId};
use std::collections::BTreeMap;

/// An identity as shown to a caller (masked unless the role may read personal data).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    /// Kind.
    #[serde(rename = "type")]
    pub kind: IdentityKind,
    /// Value, masked for personal kinds unless the caller holds `pii:read`.
    pub value: String,
    /// Whether `value` is masked.
    pub masked: bool,
    /// Source of the first write.
    pub source: String,
    /// When attached.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// A trait as shown to a caller.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TraitView {
    /// Typed JSON value (a masked string for personal traits unless `pii:read`).
    #[schema(value_type = Value)]
    pub value: Value,
    /// Whether `value` is masked.
    pub masked: bool,
    /// Source of the last write.
    pub source: String,
    /// Time of the last write.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

/// A customer profile as shown to a caller.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    /// Id.
    pub id: CustomerId,
    /// Identities.
    pub identities: Vec<IdentityView>,
    /// Traits by key.
    pub traits: BTreeMap<String, TraitView>,
    /// Tags.
    pub tags: Vec<AssignedTag>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

/// The result of one upsert.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UpsertResult {
    /// The surviving profile id.
    pub id: CustomerId,
    /// Whether a profile was created.
    pub created: bool,
    /// Profiles merged into it by this write.
    pub merged: Vec<CustomerId>,
}

impl From<UpsertOutcome> for UpsertResult {
    fn from(outcome: UpsertOutcome) -> Self {
        Self { id: outcome.customer_id, created: outcome.created, merged: outcome.merged }
    }
}

/// A customer search: identity (`phone:138…`), trait equality, tags, free text.
#[derive(Clone, Debug, Default)]
pub struct CustomerQuery {
    /// `type:value` identity lookups.
    pub identity: Option<String>,
    /// `key:value` or `key=value` trait equality.
    pub traits: Vec<String>,
    /// Tag names (all required).
    pub tags: Vec<String>,
    /// Free text: matched as a phone, e-mail or any exact identity value.
    pub q: Option<String>,
    /// Page.
    pub page: PageRequest,
}

/// A consent change request.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// Purpose (`marketing`, `analytics`, `profiling`, `third_party_sharing`).
    pub purpose: String,
    /// Channel (`wecom`, `sms`, `email`, `wechat_mp`, `phone`).
    pub channel: String,
    /// Granted (true) or withdrawn (false).
    pub granted: bool,
    /// Where the change came from (default `api`).
    #[serde(default)]
    pub source: Option<String>,
    /// Privacy-policy version the customer agreed to or withdrew from.
    pub policy_version: String,
}

/// Current consent state and full history.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    /// Latest record per purpose and channel.
    pub current: Vec<ConsentRecord>,
    /// Every record, oldest first.
    pub history: Vec<ConsentRecord>,
}

const IDENTITY_CONTEXT: &str = "identity";

fn trait_context(key: &str) -> String {
    format!("trait:{key}")
}

const NOTE_CONTEXT: &str = "note";

/// Every identity is personal data at rest: sealed, and found through its blind index.
fn seal_identity(key: &DataKey, identity: &Identity) -> DomainResult<SealedIdentity> {
    Ok(SealedIdentity {
        kind: identity.kind,
        lookup: identity_lookup(key, identity.kind, &identity.value),
        sealed: Some(key.seal_str(&identity.value, IDENTITY_CONTEXT)?),
    })
}

fn identity_lookup(key: &DataKey, kind: IdentityKind, value: &str) -> String {
    key.blind_index(kind.as_str(), value)
}

/// Identities and notes sealed per transaction when an older store is upgraded.
const SEAL_CHUNK: usize = 5_000;

impl Customers {
    fn seal_draft(
        &self,
        key: &DataKey,
        draft: &CustomerDraft,
        tags: Vec<TagId>,
        target: Option<CustomerId>,
    ) -> DomainResult<SealedDraft> {
        let identities = draft.identities.iter().map(|i| seal_identity(key, i)).collect::<DomainResult<_>>()?;
        let mut traits = Vec::with_capacity(draft.traits.len());
        for (name, value) in &draft.traits {
            let value = match value {
                None => TraitPayload::Remove,
                Some(value) if crate::customers::is_pii_trait(name) => {
                    TraitPayload::Sealed(key.seal_str(&value.to_string(), &trait_context(name))?)
                }
                Some(value) => TraitPayload::Json(value.to_string()),
            };
            traits.push(SealedTrait { key: name.clone(), value });
        }
        Ok(SealedDraft {
            target,
            identities,
            traits,
            tags,
            source: draft.source.clone(),
            tag_source: if draft.source == "import" { "import".into() } else { "manual".into() },
            // A profile is created with its event key, so its first events need no second write.
            event_key: Some(
                key.wrap_key(&siyu_core::crypto::SecretKey::generate()?, super::personal_data::EVENT_KEY_CONTEXT)?,
            ),
        })
    }

    async fn resolve_tags(&self, ws: WorkspaceId, names: &[String], field: &str) -> DomainResult<Vec<TagId>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, unknown) = self.stores.tags.resolve_names(ws, names).await?;
        if let Some(name) = unknown.first() {
            return Err(DomainError::invalid(field, format!("unknown tag \"{name}\"; create it first")));
        }
        Ok(ids)
    }

    /// Validates and applies a batch of upserts: each item is validated on its own; all valid items
    /// are written in one transaction. Returns one result per input, in order.
    pub async fn upsert_customers(
        &self,
        principal: &Principal,
        inputs: Vec<CustomerInput>,
        default_source: &str,
        field_prefix: &str,
    ) -> DomainResult<Vec<Result<UpsertResult, Vec<FieldError>>>> {
        principal.require(Permission::CustomersWrite)?;
        self.write_customers(principal.workspace_id(), inputs, default_source, field_prefix).await
    }

    /// Writes customers as [`Self::upsert_customers`] does, for a caller that has already checked
    /// its own permission: ingestion creates the profiles of new senders under `events:write`.
    pub(crate) async fn write_customers(
        &self,
        ws: WorkspaceId,
        inputs: Vec<CustomerInput>,
        default_source: &str,
        field_prefix: &str,
    ) -> DomainResult<Vec<Result<UpsertResult, Vec<FieldError>>>> {
        let key = self.access.data_key(ws).await?;
        // Rejected items get their errors now; accepted ones are filled in after the write.
        let mut results: Vec<Option<Result<UpsertResult, Vec<FieldError>>>> = Vec::with_capacity(inputs.len());
        let mut sealed = Vec::with_capacity(inputs.len());
        let mut slots = Vec::with_capacity(inputs.len());
        let mut tag_cache: BTreeMap<String, Option<TagId>> = BTreeMap::new();
        for (i, input) in inputs.into_iter().enumerate() {
            let field = if field_prefix.is_empty() { String::new() } else { format!("{field_prefix}[{i}]") };
            let draft = match input.into_draft(&field, default_source, true) {
                Ok(draft) => draft,
                Err(errors) => {
                    results.push(Some(Err(errors)));
                    continue;
                }
            };
            let unknown: Vec<String> = draft.tags.iter().filter(|t| !tag_cache.contains_key(*t)).cloned().collect();
            if !unknown.is_empty() {
                let (ids, missing) = self.stores.tags.resolve_names(ws, &unknown).await?;
                let mut ids = ids.into_iter();
                for name in unknown {
                    let id = if missing.contains(&name) { None } else { ids.next() };
                    tag_cache.insert(name, id);
                }
            }
            let mut tag_ids = Vec::new();
            let mut errors = Vec::new();
            for (t, name) in draft.tags.iter().enumerate() {
                match tag_cache.get(name).copied().flatten() {
                    Some(id) => tag_ids.push(id),
                    None => errors.push(FieldError::new(
                        if field.is_empty() { format!("tags[{t}]") } else { format!("{field}.tags[{t}]") },
                        format!("unknown tag \"{name}\"; create it first"),
                    )),
                }
            }
            if !errors.is_empty() {
                results.push(Some(Err(errors)));
                continue;
            }
            sealed.push(self.seal_draft(&key, &draft, tag_ids, None)?);
            slots.push(results.len());
            results.push(None);
        }
        if !sealed.is_empty() {
            let event_keys: Vec<Option<Vec<u8>>> = sealed.iter().map(|draft| draft.event_key.clone()).collect();
            let outcomes = self.upsert_grouped(ws, sealed).await?;
            // A created profile's first events are sealed under the key it was just given.
            self.remember_event_keys(
                ws,
                &key,
                outcomes
                    .iter()
                    .zip(&event_keys)
                    .filter(|(outcome, _)| outcome.created)
                    .filter_map(|(outcome, wrapped)| wrapped.as_deref().map(|wrapped| (outcome.customer_id, wrapped))),
            )?;
            for (slot, outcome) in slots.into_iter().zip(outcomes) {
                results[slot] = Some(Ok(outcome.into()));
            }
        }
        Ok(results.into_iter().map(|r| r.expect("every accepted item has an outcome")).collect())
    }

    /// Upserts one customer; validation errors fail the whole call.
    pub async fn upsert_customer(&self, principal: &Principal, input: CustomerInput) -> DomainResult<UpsertResult> {
        let mut results = self.upsert_customers(principal, vec![input], "api", "").await?;
        results.pop().expect("one input gives one result").map_err(DomainError::Invalid)
    }

    async fn live_id(&self, ws: WorkspaceId, id: CustomerId) -> DomainResult<CustomerId> {
        self.stores.customers.resolve(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("customer {id}")))
    }

    /// Updates traits (null removes), adds identities (merging) and tags of an existing customer.
    pub async fn update_customer(
        &self,
        principal: &Principal,
        id: CustomerId,
        input: CustomerInput,
    ) -> DomainResult<UpsertResult> {
        principal.require(Permission::CustomersWrite)?;
        let ws = principal.workspace_id();
        let id = self.live_id(ws, id).await?;
        let draft = input.into_draft("", "api", false).map_err(DomainError::Invalid)?;
        let tags = self.resolve_tags(ws, &draft.tags, "tags").await?;
        let key = self.access.data_key(ws).await?;
        let sealed = self.seal_draft(&key, &draft, tags, Some(id))?;
        let mut outcomes = self.stores.customers.upsert(ws, &[sealed], self.access.now()).await?;
        self.publish_upserts(ws, &outcomes);
        Ok(outcomes.pop().expect("one draft gives one outcome").into())
    }

    /// Adds one identity to a customer; if it belongs to another profile, the two are merged.
    pub async fn add_identity(
        &self,
        principal: &Principal,
        id: CustomerId,
        kind: &str,
        value: &str,
    ) -> DomainResult<UpsertResult> {
        let identity = Identity::parse(kind, value, "")
            .map_err(|e| DomainError::Invalid(vec![FieldError::new(e.field.trim_start_matches('.'), e.reason)]))?;
        let input = CustomerInput {
            identities: vec![crate::customers::IdentityInput {
                kind: identity.kind.as_str().into(),
                value: identity.value,
            }],
            ..Default::default()
        };
        self.update_customer(principal, id, input).await
    }

    /// Detaches an identity from a customer.
    pub async fn remove_identity(
        &self,
        principal: &Principal,
        id: CustomerId,
        kind: &str,
        value: &str,
    ) -> DomainResult<()> {
        principal.require(Permission::CustomersWrite)?;
        let ws = principal.workspace_id();
        let id = self.live_id(ws, id).await?;
        let identity = Identity::parse(kind, value, "identity").map_err(|e| DomainError::Invalid(vec![e]))?;
        let key = self.access.data_key(ws).await?;
        let lookup = identity_lookup(&key, identity.kind, &identity.value);
        self.stores.customers.remove_identity(ws, id, identity.kind, &lookup).await?;
        self.feed.publish(ws, &CustomerChange::Changed(&[id]));
        Ok(())
    }

    /// Assigns tags by name with a source (`rule`, `import`, `manual`, `model`).
    pub async fn add_tags(
        &self,
        principal: &Principal,
        id: CustomerId,
        names: &[String],
        source: &str,
    ) -> DomainResult<()> {
        principal.require(Permission::CustomersWrite)?;
        check_tag_source(source)?;
        let ws = principal.workspace_id();
        let id = self.live_id(ws, id).await?;
        let tags = self.resolve_tags(ws, names, "tags").await?;
        let draft = SealedDraft {
            target: Some(id),
            tags,
            source: "api".into(),
            tag_source: source.into(),
            ..Default::default()
        };
        let outcomes = self.stores.customers.upsert(ws, &[draft], self.access.now()).await?;
        self.publish_upserts(ws, &outcomes);
        Ok(())
    }

    /// Removes a tag from a customer.
    pub async fn remove_tag(&self, principal: &Principal, id: CustomerId, name: &str) -> DomainResult<()> {
        principal.require(Permission::CustomersWrite)?;
        let ws = principal.workspace_id();
        let id = self.live_id(ws, id).await?;
        let tags = self.resolve_tags(ws, &[name.to_string()], "tag").await?;
        self.stores.customers.remove_tag(ws, id, tags[0], self.access.now()).await?;
        self.feed.publish(ws, &CustomerChange::Changed(&[id]));
        Ok(())
    }

    pub(crate) fn open_customer(
        &self,
        key: &DataKey,
        stored: StoredCustomer,
        unmasked: bool,
    ) -> DomainResult<CustomerView> {
        let mut identities = Vec::with_capacity(stored.identities.len());
        for identity in stored.identities {
            let plain = match &identity.sealed {
                Some(sealed) => key.open_str(sealed, IDENTITY_CONTEXT)?,
                // Not yet sealed (an older store, until the upgrade at start seals it).
                None => identity.lookup,
            };
            // Contact details are masked unless the role may see them; ids are shown.
            let (value, masked) = if unmasked || !identity.kind.is_pii() {
                (plain, false)
            } else {
                (mask(identity.kind.as_str(), &plain), true)
            };
            identities.push(IdentityView {
                kind: identity.kind,
                value,
                masked,
                source: identity.source,
                created_at: identity.created_at,
            });
        }
        let mut traits = BTreeMap::new();
        for stored_trait in stored.traits {
            let (value, masked) = match &stored_trait.value {
                TraitPayload::Json(text) => (
                    serde_json::from_str(text)
                        .map_err(|e| DomainError::internal(format!("trait {} is not JSON: {e}", stored_trait.key)))?,
                    false,
                ),
                TraitPayload::Sealed(sealed) => {
                    let text = key.open_str(sealed, &trait_context(&stored_trait.key))?;
                    let value: Value = serde_json::from_str(&text)
                        .map_err(|e| DomainError::internal(format!("trait {} is not JSON: {e}", stored_trait.key)))?;
                    if unmasked {
                        (value, false)
                    } else {
                        let plain = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                        (Value::String(mask(&stored_trait.key, &plain)), true)
                    }
                }
                TraitPayload::Remove => continue,
            };
            traits.insert(
                stored_trait.key,
                TraitView { value, masked, source: stored_trait.source, updated_at: stored_trait.updated_at },
            );
        }
        Ok(CustomerView {
            id: stored.id,
            identities,
            traits,
            tags: stored.tags,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        })
    }

    fn has_pii(stored: &StoredCustomer) -> bool {
        stored.identities.iter().any(|i| i.sealed.is_some())
            || stored.traits.iter().any(|t| matches!(t.value, TraitPayload::Sealed(_)))
    }

    /// Reads one customer, masked unless the principal holds `pii:read` (then the read is audited).
    pub async fn customer(&self, principal: &Principal, id: CustomerId) -> DomainResult<CustomerView> {
        principal.require(Permission::CustomersRead)?;
        let ws = principal.workspace_id();
        let stored =
            self.stores.customers.find(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("customer {id}")))?;
        let unmasked = principal.can_read_pii();
        if unmasked && Self::has_pii(&stored) {
            self.access.audit(principal, "pii.read", &format!("customer:{}", stored.id)).await?;
        }
        let key = self.access.data_key(ws).await?;
        self.open_customer(&key, stored, unmasked)
    }

    /// Reads the given customers in the given order (those gone are left out), masked unless the
    /// principal holds `pii:read`; an unmasked read is audited once for all of them.
    pub async fn customers_by_id(&self, principal: &Principal, ids: &[CustomerId]) -> DomainResult<Vec<CustomerView>> {
        principal.require(Permission::CustomersRead)?;
        let ws = principal.workspace_id();
        let mut stored = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(customer) = self.stores.customers.find(ws, *id).await? {
                stored.push(customer);
            }
        }
        let unmasked = principal.can_read_pii();
        let pii_ids: Vec<String> = stored.iter().filter(|c| Self::has_pii(c)).map(|c| c.id.to_string()).collect();
        if unmasked && !pii_ids.is_empty() {
            self.access.audit(principal, "pii.read", &format!("customers:{}", pii_ids.join(","))).await?;
        }
        let key = self.access.data_key(ws).await?;
        stored.into_iter().map(|c| self.open_customer(&key, c, unmasked)).collect()
    }

    /// Searches customers (newest first), masked per role; unmasked pages are audited.
    pub async fn search_customers(
        &self,
        principal: &Principal,
        query: &CustomerQuery,
    ) -> DomainResult<Page<CustomerView>> {
        principal.require(Permission::CustomersRead)?;
        let ws = principal.workspace_id();
        let key = self.access.data_key(ws).await?;
        let filter = self.customer_filter(ws, &key, query).await?;
        let page = self.stores.customers.list(ws, &filter, &query.page).await?;
        let unmasked = principal.can_read_pii();
        let pii_ids: Vec<String> = page.items.iter().filter(|c| Self::has_pii(c)).map(|c| c.id.to_string()).collect();
        if unmasked && !pii_ids.is_empty() {
            self.access.audit(principal, "pii.read", &format!("customers:{}", pii_ids.join(","))).await?;
        }
        let mut items = Vec::with_capacity(page.items.len());
        for stored in page.items {
            items.push(self.open_customer(&key, stored, unmasked)?);
        }
        Ok(Page { items, next_after: page.next_after })
    }

    /// Counts the customers a search finds (its page and cursor aside).
    pub async fn count_customers(&self, principal: &Principal, query: &CustomerQuery) -> DomainResult<i64> {
        principal.require(Permission::CustomersRead)?;
        let ws = principal.workspace_id();
        let key = self.access.data_key(ws).await?;
        let filter = self.customer_filter(ws, &key, query).await?;
        Ok(self.stores.customers.count_matching(ws, &filter).await?)
    }

    /// Turns a search into the store's filter: identities to blind-index lookups, trait tests
    /// checked, tag names to ids.
    async fn customer_filter(
        &self,
        ws: WorkspaceId,
        key: &DataKey,
        query: &CustomerQuery,
    ) -> DomainResult<CustomerFilter> {
        let mut filter = CustomerFilter::default();
        if let Some(spec) = query.identity.as_deref().filter(|s| !s.trim().is_empty()) {
            let (kind, value) = spec
                .split_once(':')
                .ok_or_else(|| DomainError::invalid("identity", format!("\"{spec}\" must look like type:value")))?;
            let identity = Identity::parse(kind, value, "identity").map_err(|e| DomainError::Invalid(vec![e]))?;
            filter.identities.push((identity.kind, identity_lookup(key, identity.kind, &identity.value)));
        }
        if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            for kind in IdentityKind::ALL {
                if let Ok(value) = kind.normalize(q) {
                    filter.identities.push((kind, identity_lookup(key, kind, &value)));
                }
            }
        }
        for spec in &query.traits {
            let (name, raw) = spec
                .split_once(['=', ':'])
                .ok_or_else(|| DomainError::invalid("trait", format!("\"{spec}\" must look like key=value")))?;
            crate::customers::check_trait_key(name).map_err(|reason| DomainError::invalid("trait", reason))?;
            if crate::customers::is_pii_trait(name) {
                return Err(DomainError::invalid(
                    "trait",
                    format!("\"{name}\" is personal data and cannot be searched"),
                ));
            }
            // A value that parses as JSON (number, boolean, quoted string) is compared typed; else as a string.
            let value = serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
            filter.traits.push((name.to_string(), value.to_string()));
        }
        filter.tags = self.resolve_tags(ws, &query.tags, "tag").await?;
        Ok(filter)
    }

    /// Counts live customers of the workspace.
    pub async fn customer_count(&self, principal: &Principal) -> DomainResult<i64> {
        principal.require(Permission::CustomersRead)?;
        Ok(self.stores.customers.count(principal.workspace_id()).await?)
    }

    /// Adds a staff note.
    pub async fn add_note(&self, principal: &Principal, id: CustomerId, body: &str) -> DomainResult<Note> {
        principal.require(Permission::NotesWrite)?;
        let body = body.trim();
        if body.is_empty() || body.chars().count() > 4000 {
            return Err(DomainError::invalid("body", "note must be 1-4000 characters"));
        }
        let ws = principal.workspace_id();
        let id = self.live_id(ws, id).await?;
        let sealed = self.access.data_key(ws).await?.seal_str(body, NOTE_CONTEXT)?;
        let (author, created_at) = (principal.actor().label(), self.access.now());
        let note_id = self.stores.customers.add_note(ws, id, &author, &sealed, created_at).await?;
        Ok(Note { id: note_id, author, body: body.to_string(), created_at })
    }

    /// Lists notes, newest first.
    pub async fn notes(&self, principal: &Principal, id: CustomerId) -> DomainResult<Vec<Note>> {
        principal.require(Permission::CustomersRead)?;
        let ws = principal.workspace_id();
        let id = self.live_id(ws, id).await?;
        let key = self.access.data_key(ws).await?;
        let mut notes = Vec::new();
        for stored in self.stores.customers.notes(ws, id).await? {
            let body = match stored.body {
                NoteBody::Sealed(sealed) => key.open_str(&sealed, NOTE_CONTEXT)?,
                NoteBody::Clear(text) => text,
            };
            notes.push(Note { id: stored.id, author: stored.author, body, created_at: stored.created_at });
        }
        Ok(notes)
    }

    /// Seals what a store written by an older siyu still holds in the clear (identities other
    /// than phone and e-mail, and notes), in every workspace; returns how many values it sealed.
    /// Runs at start, before anything is served, so no lookup meets a half-upgraded store; it
    /// is idempotent, and a crash midway leaves each value either clear or sealed.
    pub async fn seal_clear_values(&self) -> DomainResult<u64> {
        let mut sealed_count = 0;
        for ws in self.stores.customers.workspaces_with_clear_values().await? {
            let key = self.access.data_key(ws).await?;
            loop {
                let clear = self.stores.customers.clear_values(ws, SEAL_CHUNK).await?;
                if clear.identities.is_empty() && clear.notes.is_empty() {
                    break;
                }
                let mut sealed = SealedValues::default();
                for (customer, kind, value) in clear.identities {
                    let identity = seal_identity(&key, &Identity { kind, value: value.clone() })?;
                    sealed.identities.push((customer, value, identity));
                }
                for (id, body) in clear.notes {
                    sealed.notes.push((id, key.seal_str(&body, NOTE_CONTEXT)?));
                }
                sealed_count += (sealed.identities.len() + sealed.notes.len()) as u64;
                self.stores.customers.seal_values(ws, &sealed).await?;
            }
        }
        Ok(sealed_count)
    }

    /// Lists the merge history of a customer.
    pub async fn merges(&self, principal: &Principal, id: CustomerId) -> DomainResult<Vec<MergeRecord>> {
        principal.require(Permission::CustomersRead)?;
        let id = self.live_id(principal.workspace_id(), id).await?;
        Ok(self.stores.customers.merges(principal.workspace_id(), id).await?)
    }

    /// Returns consent state and history.
    pub async fn consent(&self, principal: &Principal, id: CustomerId) -> DomainResult<ConsentView> {
        principal.require(Permission::CustomersRead)?;
        let id = self.live_id(principal.workspace_id(), id).await?;
        let history = self.stores.consent.history(principal.workspace_id(), id).await?;
        Ok(ConsentView { current: current_state(&history), history })
    }

    /// Records consent changes (all or none).
    pub async fn change_consent(
        &self,
        principal: &Principal,
        id: CustomerId,
        changes: Vec<ConsentChange>,
    ) -> DomainResult<ConsentView> {
        principal.require(Permission::ConsentWrite)?;
        if changes.is_empty() {
            return Err(DomainError::invalid("changes", "at least one change is required"));
        }
        let now = self.access.now();
        let mut errors = Vec::new();
        let mut records = Vec::new();
        for (i, change) in changes.into_iter().enumerate() {
            let field = |name: &str| format!("changes[{i}].{name}");
            let purpose = Purpose::parse(&change.purpose);
            let channel = Channel::parse(&change.channel);
            if purpose.is_none() {
                errors.push(FieldError::new(field("purpose"), format!("unknown purpose \"{}\"", change.purpose)));
            }
            if channel.is_none() {
                errors.push(FieldError::new(field("channel"), format!("unknown channel \"{}\"", change.channel)));
            }
            let version = change.policy_version.trim();
            if version.is_empty() || version.len() > 32 {
                errors.push(FieldError::new(field("policy_version"), "must be 1-32 characters"));
            }
            let source = match change.source.as_deref().map(crate::customers::check_source).transpose() {
                Ok(source) => source.unwrap_or_else(|| "api".into()),
                Err(reason) => {
                    errors.push(FieldError::new(field("source"), reason));
                    continue;
                }
            };
            if let (Some(purpose), Some(channel)) = (purpose, channel) {
                records.push(ConsentRecord {
                    purpose,
                    channel,
                    granted: change.granted,
                    source,
                    policy_version: version.to_string(),
                    recorded_at: now,
                });
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let id = self.live_id(principal.workspace_id(), id).await?;
        let records: Vec<_> = records.into_iter().map(|r| (id, r)).collect();
        self.stores.consent.record(principal.workspace_id(), &records).await?;
        self.feed.publish(principal.workspace_id(), &CustomerChange::ConsentChanged(id));
        self.consent(principal, id).await
    }

    /// Makes a customer's one-click unsubscribe link token for a channel (to put in a message), valid
    /// for [`UNSUBSCRIBE_LINK_LIFETIME`]; returns it with its expiry. Needs `consent:write`, since
    /// whoever holds the link can withdraw the customer's consent.
    pub async fn unsubscribe_link(
        &self,
        principal: &Principal,
        id: CustomerId,
        channel: &str,
    ) -> DomainResult<(String, jiff::Timestamp)> {
        principal.require(Permission::ConsentWrite)?;
        let channel = Channel::parse(channel).ok_or_else(|| {
            DomainError::invalid(
                "channel",
                format!(
                    "unknown channel \"{channel}\"; expected one of {}",
                    Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let id = self.live_id(principal.workspace_id(), id).await?;
        let expires = self.access.now() + UNSUBSCRIBE_LINK_LIFETIME;
        Ok((self.unsubscribe_token(principal.workspace_id(), id, channel, expires).await?, expires))
    }

    /// Returns the signed token `ws.customer.channel.expiry.signature` (expiry in unix seconds).
    pub async fn unsubscribe_token(
        &self,
        ws: WorkspaceId,
        id: CustomerId,
        channel: Channel,
        expires: jiff::Timestamp,
    ) -> DomainResult<String> {
        let key = self.access.data_key(ws).await?;
        let payload = format!("{}.{}.{}.{}", ws.0, id.0, channel.as_str(), expires.as_second());
        let signature = key.blind_index("unsubscribe", &payload);
        Ok(format!("{payload}.{signature}"))
    }

    /// Checks an unsubscribe token (signature and expiry) and returns its workspace, live customer and
    /// channel; `NotFound` for anything forged, expired or about a customer who no longer exists.
    pub async fn check_unsubscribe_token(&self, token: &str) -> DomainResult<(WorkspaceId, CustomerId, Channel)> {
        let invalid = || DomainError::NotFound("unsubscribe link".into());
        // Valid only if it equals the token this workspace's key would mint for the same four parts.
        let parts: Vec<&str> = token.splitn(5, '.').collect();
        let [ws, id, channel, expires, _signature] = parts.as_slice() else {
            return Err(invalid());
        };
        let ws = WorkspaceId(ws.parse().map_err(|_| invalid())?);
        let id = CustomerId(id.parse().map_err(|_| invalid())?);
        let channel = Channel::parse(channel).ok_or_else(invalid)?;
        let expires =
            expires.parse::<i64>().ok().and_then(|s| jiff::Timestamp::from_second(s).ok()).ok_or_else(invalid)?;
        if expires <= self.access.now() || self.access.stores.workspaces.find(ws).await?.is_none() {
            return Err(invalid());
        }
        let expected = self.unsubscribe_token(ws, id, channel, expires).await?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), token.as_bytes())) {
            return Err(invalid());
        }
        let live = self.stores.customers.resolve(ws, id).await?.ok_or_else(invalid)?;
        Ok((ws, live, channel))
    }

    /// Withdraws marketing consent for the token's channel at once; returns the channel.
    pub async fn unsubscribe(&self, token: &str) -> DomainResult<(WorkspaceId, Channel)> {
        let (ws, live, channel) = self.check_unsubscribe_token(token).await?;
        let record = ConsentRecord {
            purpose: Purpose::Marketing,
            channel,
            granted: false,
            source: "unsubscribe_link".into(),
            policy_version: "-".into(),
            recorded_at: self.access.now(),
        };
        self.stores.consent.record(ws, &[(live, record)]).await?;
        self.feed.publish(ws, &CustomerChange::ConsentChanged(live));
        Ok((ws, channel))
    }

    /// Undoes an unsubscribe made through the same link: restores the marketing consent it withdrew,
    /// under the policy version of that grant. Only when the link's unsubscribe is still the latest
    /// change for the channel and a grant preceded it; otherwise `Conflict` (nothing to undo).
    pub async fn undo_unsubscribe(&self, token: &str) -> DomainResult<(WorkspaceId, Channel)> {
        let (ws, live, channel) = self.check_unsubscribe_token(token).await?;
        let history = self.stores.consent.history(ws, live).await?;
        let mut same = history.iter().rev().filter(|r| r.purpose == Purpose::Marketing && r.channel == channel);
        let (Some(last), Some(before)) = (same.next(), same.next()) else {
            return Err(DomainError::Conflict("nothing to undo".into()));
        };
        if last.granted || last.source != "unsubscribe_link" || !before.granted {
            return Err(DomainError::Conflict("nothing to undo".into()));
        }
        let record = ConsentRecord {
            purpose: Purpose::Marketing,
            channel,
            granted: true,
            source: "unsubscribe_undo".into(),
            policy_version: before.policy_version.clone(),
            recorded_at: self.access.now(),
        };
        self.stores.consent.record(ws, &[(live, record)]).await?;
        self.feed.publish(ws, &CustomerChange::ConsentChanged(live));
        Ok((ws, channel))
    }

    /// Creates a tag group.
    pub async fn create_tag_group(&self, principal: &Principal, name: &str, family: &str) -> DomainResult<TagGroup> {
        principal.require(Permission::TagsManage)?;
        let name = check_name("name", name)?;
        let family = TagFamily::parse(family).ok_or_else(|| {
            DomainError::invalid(
                "family",
                format!(
                    "unknown family \"{family}\"; expected one of {}",
                    TagFamily::ALL.map(TagFamily::as_str).join(", ")
                ),
            )
        })?;
        Ok(self.stores.tags.insert_group(principal.workspace_id(), &name, family, self.access.now()).await?)
    }

    /// Lists tag groups.
    pub async fn tag_groups(&self, principal: &Principal) -> DomainResult<Vec<TagGroup>> {
        principal.require(Permission::CustomersRead)?;
        Ok(self.stores.tags.groups(principal.workspace_id()).await?)
    }

    /// Creates a tag in a group named by `group`.
    pub async fn create_tag(&self, principal: &Principal, group: &str, name: &str) -> DomainResult<Tag> {
        principal.require(Permission::TagsManage)?;
        let name = check_name("name", name)?;
        let group = self
            .stores
            .tags
            .find_group(principal.workspace_id(), group.trim())
            .await?
            .ok_or_else(|| DomainError::invalid("group", format!("unknown tag group \"{}\"", group.trim())))?;
        Ok(self.stores.tags.insert_tag(principal.workspace_id(), group.id, &name, self.access.now()).await?)
    }

    /// Lists tags with customer counts.
    pub async fn tags(&self, principal: &Principal) -> DomainResult<Vec<Tag>> {
        principal.require(Permission::CustomersRead)?;
        Ok(self.stores.tags.tags(principal.workspace_id()).await?)
    }

    /// Deletes a tag and its assignments.
    pub async fn delete_tag(&self, principal: &Principal, id: TagId) -> DomainResult<()> {
        principal.require(Permission::TagsManage)?;
        self.stores.tags.delete_tag(principal.workspace_id(), id).await?;
        self.feed.publish(principal.workspace_id(), &CustomerChange::AllChanged);
        Ok(())
    }
}

impl Customers {
    /// Publishes what a batch of upserts did: merges first (their events move to the survivors),
    /// then the profiles created and the profiles changed.
    pub(crate) fn publish_upserts(&self, ws: WorkspaceId, outcomes: &[UpsertOutcome]) {
        let merges: Vec<(CustomerId, CustomerId)> =
            outcomes.iter().flat_map(|o| o.merged.iter().map(move |m| (*m, o.customer_id))).collect();
        let (created, changed): (Vec<&UpsertOutcome>, Vec<&UpsertOutcome>) = outcomes.iter().partition(|o| o.created);
        let created: Vec<CustomerId> = created.iter().map(|o| o.customer_id).collect();
        let changed: Vec<CustomerId> = changed.iter().map(|o| o.customer_id).collect();
        let feed = &self.feed;
        if !merges.is_empty() {
            feed.publish(ws, &CustomerChange::Merged(&merges));
        }
        if !created.is_empty() {
            feed.publish(ws, &CustomerChange::Created(&created));
        }
        if !changed.is_empty() {
            feed.publish(ws, &CustomerChange::Changed(&changed));
        }
    }
}
