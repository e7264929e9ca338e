//! The lotteries' persistence contract: lotteries (seed sealed), each prize's count given (its
//! stock a condition on it), each player's draws (today's and in all) and extra chances, and every
//! draw recorded with the customer's draw number. Draws are committed in batches (one commit for
//! many), each draw checked in its turn and a lottery's batches one at a time, so no prize is given
//! past its stock and no customer draws past a limit however draws interleave.

use super::lottery::{DrawRecord, Prize, StoredLottery};
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// What a draw did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drawn {
    /// The draw, recorded.
    Recorded(DrawRecord),
    /// The customer has no draw left today.
    DailyLimit,
    /// The customer has no draw left at all.
    TotalLimit,
    /// The lottery or the customer is not there.
    Gone,
}

/// The limits a draw is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrawLimits {
    /// The workspace's local day of the draw (days since 1970-01-01).
    pub day: i64,
    /// Draws a day.
    pub per_day: i64,
    /// Draws in all before extra chances, if limited.
    pub total: Option<i64>,
    /// When the draw is made.
    pub at: jiff::Timestamp,
}

/// A player's standing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Player {
    /// Draws made.
    pub draws: i64,
    /// The local day of the last draw.
    pub day: i64,
    /// Draws made that day.
    pub day_draws: i64,
    /// Extra chances earned.
    pub extra: i64,
}

/// Lotteries, their prizes' counts, players and draws.
#[async_trait]
pub trait LotteryStore: Send + Sync {
    /// Inserts a lottery (its prizes' counts at zero); returns its id.
    async fn insert_lottery(&self, ws: WorkspaceId, lottery: &StoredLottery) -> Result<i64, StoreError>;

    /// A lottery.
    async fn lottery(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredLottery>, StoreError>;

    /// The workspace's lotteries, newest first.
    async fn lotteries(&self, ws: WorkspaceId) -> Result<Vec<StoredLottery>, StoreError>;

    /// Draws once for each `(customer, limits)` (the customer followed to the live profile), in
    /// order, in one transaction (one commit for many draws): each only if its limits allow, `pick`
    /// giving the prize (an index into `prizes`) of the customer's next draw number, given only while
    /// under its stock, and the draw recorded.
    async fn draw_many(
        &self,
        ws: WorkspaceId,
        lottery: i64,
        draws: &[(CustomerId, DrawLimits)],
        prizes: &[Prize],
        pick: &(dyn Fn(i64, i64) -> Option<usize> + Send + Sync),
    ) -> Result<Vec<Drawn>, StoreError>;

    /// Adds extra chances to a customer's total (an invite, a check-in, a task); with a grant key,
    /// once for that key. Returns whether they were added (not when the key was used before).
    async fn add_chances(
        &self,
        ws: WorkspaceId,
        lottery: i64,
        customer: CustomerId,
        n: i64,
        grant_key: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// A customer's standing in a lottery.
    async fn player(&self, ws: WorkspaceId, lottery: i64, customer: CustomerId) -> Result<Player, StoreError>;

    /// Each prize's count given, by key.
    async fn awarded(&self, ws: WorkspaceId, lottery: i64) -> Result<Vec<(String, i64)>, StoreError>;

    /// Every draw of a lottery, in order, at most `limit` after draw id `after`.
    async fn draws(
        &self,
        ws: WorkspaceId,
        lottery: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<DrawRecord>, StoreError>;

    /// The draws of these customers in every lottery, as (lottery, draw) (export).
    async fn draws_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<(i64, DrawRecord)>, StoreError>;

    /// Forgets these customers' draws and standings (erasure).
    async fn erase_draws(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError>;
}
