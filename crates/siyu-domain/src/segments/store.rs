//! The segments' persistence contract: stored definitions and their members.

/// A stored segment.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSegment {
    /// Key, unique in the workspace (lower-case letters, digits, `-` and `_`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// The definition's JSON tree.
    pub definition: String,
    /// Created.
    pub created_at: jiff::Timestamp,
    /// Last changed.
    pub updated_at: jiff::Timestamp,
}

/// Persists segment definitions.
#[async_trait::async_trait]
pub trait SegmentStore: Send + Sync {
    /// Reads what segments test of every live profile: plain traits, tags, identity kinds and
    /// consent records (in the order they were made).
    async fn profile_facts(&self, ws: siyu_core::WorkspaceId) -> Result<super::ProfileFacts, siyu_core::StoreError>;
    /// Reads the same of the given customers only (those not live are left out).
    async fn profile_facts_of(
        &self,
        ws: siyu_core::WorkspaceId,
        customers: &[siyu_core::CustomerId],
    ) -> Result<super::ProfileFacts, siyu_core::StoreError>;
    /// Inserts a segment; `Conflict` if the key is taken.
    async fn insert(&self, ws: siyu_core::WorkspaceId, segment: &StoredSegment) -> Result<(), siyu_core::StoreError>;
    /// Replaces a segment's name and definition; `NotFound` if absent.
    async fn update(&self, ws: siyu_core::WorkspaceId, segment: &StoredSegment) -> Result<(), siyu_core::StoreError>;
    /// Returns every segment of the workspace, by key.
    async fn list(&self, ws: siyu_core::WorkspaceId) -> Result<Vec<StoredSegment>, siyu_core::StoreError>;
    /// Deletes a segment (with its saved members and sizes); `NotFound` if absent.
    async fn delete(&self, ws: siyu_core::WorkspaceId, key: &str) -> Result<(), siyu_core::StoreError>;
    /// Returns the workspaces that have at least one segment.
    async fn workspaces(&self) -> Result<Vec<siyu_core::WorkspaceId>, siyu_core::StoreError>;
    /// Saves a segment's members (a serialized bitmap), if the segment still exists.
    async fn save_members(
        &self,
        ws: siyu_core::WorkspaceId,
        key: &str,
        members: &[u8],
        now: jiff::Timestamp,
    ) -> Result<(), siyu_core::StoreError>;
    /// Returns every segment's saved members, by key, with when they were saved.
    async fn members(
        &self,
        ws: siyu_core::WorkspaceId,
    ) -> Result<Vec<(String, Vec<u8>, jiff::Timestamp)>, siyu_core::StoreError>;
    /// Records a segment's size on a day (`YYYY-MM-DD`, replacing that day's earlier record), if
    /// the segment still exists.
    async fn record_size(
        &self,
        ws: siyu_core::WorkspaceId,
        key: &str,
        day: &str,
        size: u64,
    ) -> Result<(), siyu_core::StoreError>;
    /// Returns a segment's daily sizes, oldest first.
    async fn sizes(&self, ws: siyu_core::WorkspaceId, key: &str) -> Result<Vec<(String, u64)>, siyu_core::StoreError>;
}
