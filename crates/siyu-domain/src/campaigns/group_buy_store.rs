//! Group buying's persistence contract: activities (units reserved counted against the stock),
//! groups (members counted on the group's row, one member row per distinct customer), each
//! customer's groups in an activity, and the settling of groups: completed when the last place is
//! taken, in the same transaction as that join; failed when their time runs out, every reservation
//! given back. A group is complete only with as many distinct members as its size.

use super::group_buy::{StoredGroup, StoredGroupBuy};
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// What opening or joining a group did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Joined {
    /// The customer is in: the group as it is now, and its members when this join completed it.
    In {
        /// The group.
        group: StoredGroup,
        /// The members' live profiles, when the join completed the group.
        completed: Option<Vec<CustomerId>>,
        /// The customer's live profile.
        customer: CustomerId,
    },
    /// Every place is taken.
    Full,
    /// The group's time ran out (or it failed).
    Expired(jiff::Timestamp),
    /// The customer is in this group already.
    Already,
    /// Every unit is reserved.
    OutOfStock,
    /// The customer is in as many groups as the activity allows.
    LimitReached,
    /// The activity, the group or the customer is not there.
    Gone,
}

/// A group that failed, with its members (to tell them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedGroup {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// The group.
    pub group: StoredGroup,
    /// Its members.
    pub members: Vec<CustomerId>,
}

/// An activity's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupBuyCounts {
    /// Groups open now.
    pub open: i64,
    /// Groups completed.
    pub complete: i64,
    /// Groups failed.
    pub failed: i64,
    /// Customers in groups (each group's members, summed).
    pub members: i64,
    /// Orders confirmed (members of completed groups).
    pub confirmed: i64,
    /// Units reserved by open and completed groups.
    pub reserved: i64,
}

/// Group-buying activities, groups and members.
#[async_trait]
pub trait GroupBuyStore: Send + Sync {
    /// Inserts an activity; returns its id.
    async fn insert_group_buy(&self, ws: WorkspaceId, group_buy: &StoredGroupBuy) -> Result<i64, StoreError>;

    /// An activity.
    async fn group_buy(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredGroupBuy>, StoreError>;

    /// The workspace's activities, newest first.
    async fn group_buys(&self, ws: WorkspaceId) -> Result<Vec<StoredGroupBuy>, StoreError>;

    /// Opens a group led by the customer, who takes its first place; all or nothing.
    async fn open_group(
        &self,
        ws: WorkspaceId,
        group_buy: &StoredGroupBuy,
        customer: CustomerId,
        at: jiff::Timestamp,
    ) -> Result<Joined, StoreError>;

    /// Puts the customer in the group if it is open, unexpired at `at` and not full, the customer
    /// not in it, under the activity's limit and a unit is left; the last place completes the
    /// group and confirms every member's order. All or nothing.
    async fn join_group(
        &self,
        ws: WorkspaceId,
        group: i64,
        customer: CustomerId,
        at: jiff::Timestamp,
    ) -> Result<Joined, StoreError>;

    /// A group.
    async fn group(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredGroup>, StoreError>;

    /// The customer's groups in an activity, newest first.
    async fn groups_of(
        &self,
        ws: WorkspaceId,
        group_buy: i64,
        customer: CustomerId,
    ) -> Result<Vec<StoredGroup>, StoreError>;

    /// Fails up to `limit` open groups (of any workspace) whose time ran out by `now`: their
    /// reservations and the members' places are given back.
    async fn fail_expired_groups(&self, now: jiff::Timestamp, limit: usize) -> Result<Vec<FailedGroup>, StoreError>;

    /// An activity's counts.
    async fn group_buy_counts(&self, ws: WorkspaceId, group_buy: i64) -> Result<GroupBuyCounts, StoreError>;

    /// These customers' group memberships: (activity, group, customer, status of the member's order).
    async fn group_members_of(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> Result<Vec<(i64, i64, i64, String)>, StoreError>;

    /// Forgets these customers' memberships (erasure): they leave open groups (their places and
    /// units given back) and their rows go from settled ones.
    async fn erase_group_members(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError>;
}
