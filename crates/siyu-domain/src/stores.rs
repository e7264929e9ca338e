//! The bundle of stores a running siyu holds, one trait object per domain.

use crate::api_keys::ApiKeyStore;
use crate::audit::AuditStore;
use crate::consent::ConsentStore;
use crate::events::EventStore;
use crate::jobs::JobStore;
use crate::profiles::ProfileStore;
use crate::segments::SegmentStore;
use crate::tags::TagStore;
use crate::users::UserStore;
use crate::workspaces::WorkspaceStore;
use std::sync::Arc;

/// All stores, chosen once at start-up (SQLite or PostgreSQL).
#[derive(Clone)]
pub struct Stores {
    /// Workspaces.
    pub workspaces: Arc<dyn WorkspaceStore>,
    /// Users, memberships, sessions.
    pub users: Arc<dyn UserStore>,
    /// API keys.
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// Profiles.
    pub profiles: Arc<dyn ProfileStore>,
    /// Tags.
    pub tags: Arc<dyn TagStore>,
    /// Consent.
    pub consent: Arc<dyn ConsentStore>,
    /// Segments.
    pub segments: Arc<dyn SegmentStore>,
    /// Audit log.
    pub audit: Arc<dyn AuditStore>,
    /// Event log.
    pub events: Arc<dyn EventStore>,
    /// Durable jobs.
    pub jobs: Arc<dyn JobStore>,
}
