//! The persistence contract of profiles. Values arrive here already sealed: stores never see
//! plaintext personal data, only ciphertext and blind indexes.

use super::model::IdentityKind;
use async_trait::async_trait;
use siyu_core::{CustomerId, NoteId, Page, PageRequest, StoreError, TagId, WorkspaceId};

/// An identity as stored: `lookup` is its blind index (HMAC under the workspace's data key) and
/// `sealed` its encrypted value. Stores written before every kind was sealed may still hold a
/// clear value in `lookup` with no `sealed`, until [`CustomerStore::clear_values`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedIdentity {
    /// Kind.
    pub kind: IdentityKind,
    /// Exact-match key (unique per workspace and kind).
    pub lookup: String,
    /// Encrypted value (`None` only in rows written before every kind was sealed).
    pub sealed: Option<Vec<u8>>,
}

/// A trait write as stored: `value` is JSON text, or base64 ciphertext when `sealed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedTrait {
    /// Key.
    pub key: String,
    /// JSON text or, when sealed, the ciphertext bytes.
    pub value: TraitPayload,
}

/// The stored form of a trait value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraitPayload {
    /// Plain JSON text (searchable).
    Json(String),
    /// AES-GCM ciphertext of the JSON text.
    Sealed(Vec<u8>),
    /// Remove the trait.
    Remove,
}

/// One customer create-or-update, sealed and ready to apply in one transaction.
#[derive(Clone, Debug, Default)]
pub struct SealedDraft {
    /// Customer the write targets (its identities join the merge set), if addressed by id.
    pub target: Option<CustomerId>,
    /// Identities to attach.
    pub identities: Vec<SealedIdentity>,
    /// Traits to set or remove.
    pub traits: Vec<SealedTrait>,
    /// Tags to assign.
    pub tags: Vec<TagId>,
    /// Source recorded with identities, traits and tags.
    pub source: String,
    /// Tag assignment source (`rule`, `import`, `manual`, `model`).
    pub tag_source: String,
    /// The event key (wrapped by the workspace's data key) a profile this draft creates gets.
    pub event_key: Option<Vec<u8>>,
}

/// What an upsert did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpsertOutcome {
    /// The surviving profile.
    pub customer_id: CustomerId,
    /// Whether a new profile was created.
    pub created: bool,
    /// Profiles merged into the survivor by this write.
    pub merged: Vec<CustomerId>,
}

/// A stored identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIdentity {
    /// Kind.
    pub kind: IdentityKind,
    /// Lookup key: the blind index (the clear value in rows not yet sealed).
    pub lookup: String,
    /// Ciphertext (`None` in rows not yet sealed).
    pub sealed: Option<Vec<u8>>,
    /// Source of the first write.
    pub source: String,
    /// When it was attached.
    pub created_at: jiff::Timestamp,
}

/// A stored trait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTrait {
    /// Key.
    pub key: String,
    /// JSON text or ciphertext.
    pub value: TraitPayload,
    /// Source of the last write.
    pub source: String,
    /// Time of the last write.
    pub updated_at: jiff::Timestamp,
}

/// A tag assignment with the tag's names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AssignedTag {
    /// Tag id.
    pub tag_id: TagId,
    /// Tag name.
    pub name: String,
    /// Group name.
    pub group: String,
    /// Group family.
    pub family: String,
    /// `rule`, `import`, `manual` or `model`.
    pub source: String,
    /// Assignment time.
    #[schema(value_type = String, format = DateTime)]
    pub assigned_at: jiff::Timestamp,
}

/// A stored profile with everything attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCustomer {
    /// Id.
    pub id: CustomerId,
    /// Creation time (earliest of merged profiles).
    pub created_at: jiff::Timestamp,
    /// Last change.
    pub updated_at: jiff::Timestamp,
    /// Identities.
    pub identities: Vec<StoredIdentity>,
    /// Traits.
    pub traits: Vec<StoredTrait>,
    /// Tags.
    pub tags: Vec<AssignedTag>,
}

/// A filter for listing customers (all parts must hold).
#[derive(Clone, Debug, Default)]
pub struct CustomerFilter {
    /// Exact identity lookups (any may match).
    pub identities: Vec<(IdentityKind, String)>,
    /// Trait equality on plain traits: key and JSON text.
    pub traits: Vec<(String, String)>,
    /// Tags the customer must all carry.
    pub tags: Vec<TagId>,
}

/// A staff note.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Note {
    /// Id.
    pub id: NoteId,
    /// Author label (e.g. `user:li@brand.cn`).
    pub author: String,
    /// Text.
    pub body: String,
    /// Time written.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// A staff note as stored: its text sealed under the workspace's data key (or, written before
/// notes were sealed and not yet upgraded, in the clear).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredNote {
    /// Id.
    pub id: NoteId,
    /// Author label.
    pub author: String,
    /// The text: sealed, or clear in a row not yet upgraded.
    pub body: NoteBody,
    /// Time written.
    pub created_at: jiff::Timestamp,
}

/// A note's text as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoteBody {
    /// AES-GCM ciphertext of the text.
    Sealed(Vec<u8>),
    /// The text in the clear (rows written before notes were sealed).
    Clear(String),
}

/// Values a store written by an older siyu still holds in the clear, to be sealed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClearValues {
    /// Identities: the customer, the kind and the clear value (its present lookup).
    pub identities: Vec<(CustomerId, IdentityKind, String)>,
    /// Notes: id and clear text.
    pub notes: Vec<(NoteId, String)>,
}

/// The same values sealed, to replace them.
#[derive(Clone, Debug, Default)]
pub struct SealedValues {
    /// Identities: the customer, the old (clear) lookup, and the sealed identity replacing it.
    pub identities: Vec<(CustomerId, String, SealedIdentity)>,
    /// Notes: id and sealed text.
    pub notes: Vec<(NoteId, Vec<u8>)>,
}

/// A merge of one profile into another.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MergeRecord {
    /// The profile that survived.
    pub survivor_id: CustomerId,
    /// The profile merged away (its id now resolves to the survivor).
    pub merged_id: CustomerId,
    /// The identity kind that linked them.
    pub reason: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub merged_at: jiff::Timestamp,
}

/// Persists profiles, identities, traits, tag assignments, notes and merges.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Applies drafts in one transaction, each resolving identities and merging profiles they join.
    async fn upsert(
        &self,
        ws: WorkspaceId,
        drafts: &[SealedDraft],
        now: jiff::Timestamp,
    ) -> Result<Vec<UpsertOutcome>, StoreError>;
    /// Returns every merged-away profile of the workspace with the live profile it now belongs to.
    async fn merged_customers(&self, ws: WorkspaceId) -> Result<Vec<(CustomerId, CustomerId)>, StoreError>;
    /// Returns the id a (possibly merged-away) id resolves to, if the profile exists.
    async fn resolve(&self, ws: WorkspaceId, id: CustomerId) -> Result<Option<CustomerId>, StoreError>;
    /// Finds a profile by id (following merges).
    async fn find(&self, ws: WorkspaceId, id: CustomerId) -> Result<Option<StoredCustomer>, StoreError>;
    /// Lists profiles matching a filter, newest first.
    async fn list(
        &self,
        ws: WorkspaceId,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredCustomer>, StoreError>;
    /// Counts live profiles.
    async fn count(&self, ws: WorkspaceId) -> Result<i64, StoreError>;
    /// Counts the live profiles `list` would page through with the same filter.
    async fn count_matching(&self, ws: WorkspaceId, filter: &CustomerFilter) -> Result<i64, StoreError>;
    /// Detaches an identity; `NotFound` unless the customer has it.
    async fn remove_identity(
        &self,
        ws: WorkspaceId,
        id: CustomerId,
        kind: IdentityKind,
        lookup: &str,
    ) -> Result<(), StoreError>;
    /// Removes a tag assignment (idempotent).
    async fn remove_tag(
        &self,
        ws: WorkspaceId,
        id: CustomerId,
        tag: TagId,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Deletes a profile and everything attached to it (erasure); `NotFound` if absent.
    async fn delete(&self, ws: WorkspaceId, id: CustomerId) -> Result<(), StoreError>;
    /// Adds a staff note (its text sealed); returns its id.
    async fn add_note(
        &self,
        ws: WorkspaceId,
        id: CustomerId,
        author: &str,
        sealed_body: &[u8],
        now: jiff::Timestamp,
    ) -> Result<NoteId, StoreError>;
    /// Lists notes, newest first.
    async fn notes(&self, ws: WorkspaceId, id: CustomerId) -> Result<Vec<StoredNote>, StoreError>;
    /// Returns the wrapped event keys (each customer's key for its events in the log) of the given
    /// customers that have one, or of every customer of the workspace (merged-away ones included)
    /// when `ids` is `None`.
    async fn event_keys(
        &self,
        ws: WorkspaceId,
        ids: Option<&[CustomerId]>,
    ) -> Result<Vec<(CustomerId, Vec<u8>)>, StoreError>;
    /// Gives each customer that has no event key the wrapped key offered for it, in one
    /// transaction; a customer that has one keeps it, and ids of no customer are ignored.
    async fn set_event_keys(&self, ws: WorkspaceId, keys: &[(CustomerId, Vec<u8>)]) -> Result<(), StoreError>;
    /// Returns the workspaces whose identities or notes include values not yet sealed (written by
    /// an older siyu). Global by nature: the upgrade at start runs before any workspace is chosen.
    async fn workspaces_with_clear_values(&self) -> Result<Vec<WorkspaceId>, StoreError>;
    /// Returns up to `limit` identities and up to `limit` notes of the workspace still in the clear.
    async fn clear_values(&self, ws: WorkspaceId, limit: usize) -> Result<ClearValues, StoreError>;
    /// Replaces clear values by their sealed form, in one transaction.
    async fn seal_values(&self, ws: WorkspaceId, sealed: &SealedValues) -> Result<(), StoreError>;
    /// Lists merges into this profile (including merges into profiles later merged into it).
    async fn merges(&self, ws: WorkspaceId, id: CustomerId) -> Result<Vec<MergeRecord>, StoreError>;
}
