//! Where events are kept: an append-only, durable log per workspace.

use super::model::{EventView, NewEvent};
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// The durable event log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends events of one workspace; returns once they are durable (fsync'd), never half-written.
    async fn append(&self, ws: WorkspaceId, events: &[NewEvent]) -> Result<(), StoreError>;

    /// Returns a number that changes whenever another process appends to the workspace's log, so a
    /// live index can notice events it did not see arrive (a CLI import next to a server). Stores
    /// that cannot tell return 0.
    async fn foreign_version(&self, ws: WorkspaceId) -> Result<u64, StoreError>;

    /// Calls `visit` with every event of the workspace, in the order they were appended (within
    /// one writer), and returns how many there were. `visit` runs on the calling task: it is the
    /// index builder's loop, which is CPU work by design.
    async fn scan(
        &self,
        ws: WorkspaceId,
        visit: &mut (dyn for<'e> FnMut(EventView<'e>) + Send),
    ) -> Result<u64, StoreError> {
        Ok(self.scan_since(ws, "", visit).await?.0)
    }

    /// Calls `visit` with (at least) every event received at or after `since_us`; stores may skip
    /// older parts of the log they can rule out. Used to rebuild the de-duplication window.
    async fn scan_received_since(
        &self,
        ws: WorkspaceId,
        since_us: i64,
        visit: &mut (dyn for<'e> FnMut(EventView<'e>) + Send),
    ) -> Result<u64, StoreError> {
        self.scan(ws, &mut |event| {
            if event.received_us >= since_us {
                visit(event)
            }
        })
        .await
    }

    /// Like [`EventStore::scan`], but only the events appended after `checkpoint` (from an earlier
    /// scan; empty: from the start); returns the count and the checkpoint after the last event visited.
    async fn scan_since(
        &self,
        ws: WorkspaceId,
        checkpoint: &str,
        visit: &mut (dyn for<'e> FnMut(EventView<'e>) + Send),
    ) -> Result<(u64, String), StoreError>;

    /// Returns the checkpoint after the last event appended so far (as [`EventStore::scan_since`]
    /// would return after reading everything), for a snapshot of the index taken while no append
    /// is in progress.
    async fn checkpoint(&self, ws: WorkspaceId) -> Result<String, StoreError>;

    /// Keeps a snapshot of the workspace's analytics index (opaque bytes), replacing the last one.
    /// Stores that keep none ignore it.
    async fn save_snapshot(&self, ws: WorkspaceId, bytes: Vec<u8>) -> Result<(), StoreError>;

    /// Deletes the workspace's snapshot (it holds an erased customer's events); the next load
    /// reads the whole log.
    async fn delete_snapshot(&self, ws: WorkspaceId) -> Result<(), StoreError>;

    /// Returns the last snapshot saved, if any.
    async fn load_snapshot(&self, ws: WorkspaceId) -> Result<Option<Vec<u8>>, StoreError>;

    /// Returns the workspaces whose log may hold events an older siyu kept in the clear (properties
    /// not starting with [`SEALED_PREFIX`](super::SEALED_PREFIX)): the upgrade at start. Cheap once
    /// [`EventStore::seal_clear_events`] has run for every workspace.
    async fn workspaces_with_clear_events(&self) -> Result<Vec<WorkspaceId>, StoreError>;

    /// Returns the customers that have events in the clear in the workspace's log (each once).
    async fn clear_event_customers(&self, ws: WorkspaceId) -> Result<Vec<CustomerId>, StoreError>;

    /// Replaces every event of the workspace kept in the clear by what `seal` returns for it, in
    /// place and in order, and deletes the index snapshot (it holds what they held); returns how
    /// many were replaced. After a crash each part of the log (a file, a row) is either as it was
    /// or wholly replaced; the workspace is no longer listed by
    /// [`EventStore::workspaces_with_clear_events`] once every clear event is replaced. (What the
    /// file system or PostgreSQL keeps of the old bytes — freed blocks, dead row versions until
    /// VACUUM reuses their space — is beyond the store's reach.)
    async fn seal_clear_events(
        &self,
        ws: WorkspaceId,
        seal: &mut (dyn for<'e> FnMut(EventView<'e>) -> NewEvent + Send),
    ) -> Result<u64, StoreError>;
}
