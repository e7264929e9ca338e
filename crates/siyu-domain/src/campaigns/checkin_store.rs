//! The check-ins' persistence contract: activities, each customer's check-in days (one row a day,
//! so a day is checked in once however requests race), make-up cards used (counted under the
//! activity's allowance in the same transaction) and the streak milestones each customer reached.

use super::checkin::StoredCheckin;
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// What a check-in did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckedIn {
    /// Recorded: the customer (followed to the live profile) and their check-in days, newest
    /// first (at most [`super::checkin::MAX_DAYS`] + 1).
    Recorded {
        /// The live profile.
        customer: CustomerId,
        /// Days checked in, newest first.
        days: Vec<i64>,
    },
    /// The customer had checked in on that day already (nothing changed, no card used).
    Already,
    /// The customer has used every make-up card the activity allows.
    NoCards,
    /// The activity or the customer is not there.
    Gone,
}

/// A customer's standing in an activity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckinStanding {
    /// Days checked in, newest first (at most [`super::checkin::MAX_DAYS`] + 1).
    pub days: Vec<i64>,
    /// Make-up cards used.
    pub cards_used: i64,
    /// Milestones reached, by streak.
    pub reached: Vec<i64>,
}

/// An activity's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckinCounts {
    /// Customers who checked in at least once.
    pub participants: i64,
    /// Per day from the day asked for: (day, check-ins, of which make-ups).
    pub days: Vec<(i64, i64, i64)>,
    /// Customers whose first check-in was on each day (day, customers), every day.
    pub first_days: Vec<(i64, i64)>,
    /// Customers who reached each milestone (streak, customers).
    pub milestones: Vec<(i64, i64)>,
}

/// Check-in activities, days, cards and milestones.
#[async_trait]
pub trait CheckinStore: Send + Sync {
    /// Inserts an activity; returns its id.
    async fn insert_checkin(&self, ws: WorkspaceId, checkin: &StoredCheckin) -> Result<i64, StoreError>;

    /// An activity.
    async fn checkin(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredCheckin>, StoreError>;

    /// The workspace's activities, newest first.
    async fn checkins(&self, ws: WorkspaceId) -> Result<Vec<StoredCheckin>, StoreError>;

    /// Records the customer's check-in on `day` at `at`, all or nothing: a make-up when
    /// `makeup_cards` is set, then only while the customer has used fewer cards than that (one is
    /// used).
    async fn check_in(
        &self,
        ws: WorkspaceId,
        checkin: i64,
        customer: CustomerId,
        day: i64,
        makeup_cards: Option<i64>,
        at: jiff::Timestamp,
    ) -> Result<CheckedIn, StoreError>;

    /// The customer's standing (an empty one for a customer who never checked in).
    async fn standing(
        &self,
        ws: WorkspaceId,
        checkin: i64,
        customer: CustomerId,
    ) -> Result<CheckinStanding, StoreError>;

    /// Records that the customer reached these milestones; returns those not reached before.
    async fn reach_milestones(
        &self,
        ws: WorkspaceId,
        checkin: i64,
        customer: CustomerId,
        streaks: &[i64],
        at: jiff::Timestamp,
    ) -> Result<Vec<i64>, StoreError>;

    /// The activity's counts, its days from `from_day` on.
    async fn checkin_counts(&self, ws: WorkspaceId, checkin: i64, from_day: i64) -> Result<CheckinCounts, StoreError>;

    /// These customers' check-in days in every activity: (activity, customer, day, make-up).
    async fn checkin_days_of(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> Result<Vec<(i64, i64, i64, bool)>, StoreError>;

    /// Forgets these customers' days, cards and milestones (erasure).
    async fn erase_checkins(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError>;
}
