//! The bundle of stores a running siyu holds, one trait object per domain.

use crate::access::api_keys::ApiKeyStore;
use crate::access::audit::AuditStore;
use crate::access::users::UserStore;
use crate::access::workspaces::WorkspaceStore;
use crate::campaigns::coupon_store::CouponStore;
use crate::campaigns::store::CampaignStore;
use crate::channels::store::MessageStore;
use crate::customers::CustomerStore;
use crate::customers::consent::ConsentStore;
use crate::customers::tags::TagStore;
use crate::events::EventStore;
use crate::jobs::JobStore;
use crate::journeys::store::JourneyStore;
use crate::segments::SegmentStore;
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
    /// Customers (profiles, identities, traits, notes).
    pub customers: Arc<dyn CustomerStore>,
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
    /// Configured channels and messages.
    pub messages: Arc<dyn MessageStore>,
    /// Journeys and their entries.
    pub journeys: Arc<dyn JourneyStore>,
    /// Campaigns: flash sales, their buyers and orders.
    pub campaigns: Arc<dyn CampaignStore>,
    /// Coupon templates, coupons and bulk issues.
    pub coupons: Arc<dyn CouponStore>,
    /// Lotteries, their players and draws.
    pub lotteries: Arc<dyn crate::campaigns::lottery_store::LotteryStore>,
    /// Check-in activities, customers' days and milestones.
    pub checkins: Arc<dyn crate::campaigns::checkin_store::CheckinStore>,
    /// Group-buying activities, groups and members.
    pub group_buys: Arc<dyn crate::campaigns::group_buy_store::GroupBuyStore>,
    /// Quizzes and attempts.
    pub quizzes: Arc<dyn crate::campaigns::quiz_store::QuizStore>,
    /// Upkeep of the storage itself.
    pub maintenance: Arc<dyn Maintenance>,
}

/// Upkeep of the storage itself, run by the `store.checkpoint` worker every half second.
#[async_trait::async_trait]
pub trait Maintenance: Send + Sync {
    /// Copies the write-ahead log's committed pages into the database file without waiting for
    /// any lock, and resets the log once it is large and fully copied (SQLite); nothing on
    /// PostgreSQL, whose own checkpointer does this.
    async fn checkpoint(&self) -> Result<(), siyu_core::StoreError>;
}
