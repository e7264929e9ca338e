//! The audit log: who read personal data unmasked, and who changed access.

use async_trait::async_trait;
use serde::Serialize;
use siyu_core::{Page, PageRequest, StoreError, WorkspaceId};

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Sequence id.
    pub id: i64,
    /// Actor label, e.g. `user:li@brand.cn` or `key:sy_sk_1a2b`.
    pub actor: String,
    /// What was done, e.g. `pii.read`, `key.create`.
    pub action: String,
    /// What it was done to, e.g. `customer:42`.
    pub target: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
}

/// Persists the audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry.
    async fn append(
        &self,
        ws: WorkspaceId,
        actor: &str,
        action: &str,
        target: &str,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Lists entries, newest first.
    async fn list(&self, ws: WorkspaceId, page: &PageRequest) -> Result<Page<AuditEntry>, StoreError>;
}
