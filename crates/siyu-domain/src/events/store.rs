//! Where events are kept: an append-only, durable log per workspace.

use super::model::{EventView, NewEvent};
use async_trait::async_trait;
use siyu_core::{StoreError, WorkspaceId};

/// The durable event log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends events of one workspace; returns once they are durable (fsync'd), never half-written.
    async fn append(&self, ws: WorkspaceId, events: &[NewEvent]) -> Result<(), StoreError>;

    /// Calls `visit` with every event of the workspace, in the order they were appended (within
    /// one writer), and returns how many there were. `visit` runs on the calling task: it is the
    /// index builder's loop, which is CPU work by design.
    /// Returns a number that changes whenever another process appends to the workspace's log, so a
    /// live index can notice events it did not see arrive (a CLI import next to a server). Stores
    /// that cannot tell return 0.
    async fn foreign_version(&self, ws: WorkspaceId) -> Result<u64, StoreError>;

    async fn scan(
        &self,
        ws: WorkspaceId,
        visit: &mut (dyn for<'e> FnMut(EventView<'e>) + Send),
    ) -> Result<u64, StoreError>;
}
