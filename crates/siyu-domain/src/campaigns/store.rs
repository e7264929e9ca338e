//! The campaigns' persistence contract: flash sales with their stock, buyers and orders.
//!
//! A purchase is one transaction that takes a unit of stock only while one is left, counts the
//! customer's purchases only while they are under the sale's limit, and writes the order; it
//! commits all three or none, so no interleaving of purchases (threads, processes, nodes) sells
//! more than the stock or more than the limit to one customer.

use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// A flash sale as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFlashSale {
    /// Id.
    pub id: i64,
    /// Name (for operators).
    pub name: String,
    /// The item's SKU.
    pub sku: String,
    /// The item's title (shown to customers).
    pub title: String,
    /// Price in fen (分).
    pub price_fen: i64,
    /// Units for sale.
    pub stock: i64,
    /// Units taken by orders not released (reserved or paid).
    pub sold: i64,
    /// Opens.
    pub starts_at: jiff::Timestamp,
    /// Closes.
    pub ends_at: jiff::Timestamp,
    /// Purchases one customer may make.
    pub per_customer: i64,
    /// Only members of this segment may buy (its key), if set.
    pub segment: Option<String>,
    /// Minutes an order may stay unpaid before its unit goes back on sale.
    pub pay_minutes: i64,
    /// Created.
    pub created_at: jiff::Timestamp,
}

/// Where an order is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Holds a unit until it is paid or its time to pay runs out.
    Reserved,
    /// Paid: the unit is the customer's.
    Paid,
    /// Not paid in time (or cancelled): its unit went back on sale.
    Released,
}

impl OrderStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Paid => "paid",
            Self::Released => "released",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Reserved, Self::Paid, Self::Released].into_iter().find(|s| s.as_str() == text)
    }
}

/// An order of a flash sale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOrder {
    /// Id.
    pub id: i64,
    /// The sale.
    pub sale_id: i64,
    /// The buyer.
    pub customer: CustomerId,
    /// Where it is.
    pub status: OrderStatus,
    /// Placed.
    pub created_at: jiff::Timestamp,
    /// Released unless paid by then.
    pub pay_by: jiff::Timestamp,
    /// When it was paid or released.
    pub settled_at: Option<jiff::Timestamp>,
    /// The payment's reference (the payment provider's transaction id), once paid.
    pub payment_ref: Option<String>,
}

/// What a purchase did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purchase {
    /// An order reserved a unit.
    Placed(StoredOrder),
    /// No unit was left; `sold` is the sale's count as the store saw it.
    SoldOut {
        /// Units taken.
        sold: i64,
    },
    /// The customer already made as many purchases as the sale allows.
    LimitReached,
    /// The sale or the customer is not (or no longer) there.
    Gone,
}

/// Refusals and attempts counted since the last flush, added to the sale's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    /// Purchase attempts.
    pub attempts: i64,
    /// Refused: sold out.
    pub sold_out: i64,
    /// Refused: the customer's limit was reached.
    pub limit_reached: i64,
    /// Refused: not in the sale's segment.
    pub not_eligible: i64,
    /// Refused: before the start or after the end.
    pub closed: i64,
    /// Refused: too many attempts (per customer or address).
    pub rate_limited: i64,
}

impl AttemptCounts {
    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A sale's orders by status and its counted attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaleCounts {
    /// Orders holding a unit until paid.
    pub reserved: i64,
    /// Paid orders.
    pub paid: i64,
    /// Released orders.
    pub released: i64,
    /// Distinct buyers with an order not released.
    pub buyers: i64,
    /// Attempts and refusals as flushed.
    pub attempts: AttemptCounts,
}

/// Flash sales, their buyers and orders.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Inserts a flash sale (its `id` and `sold` are ignored) and returns its id.
    async fn insert_flash_sale(&self, ws: WorkspaceId, sale: &StoredFlashSale) -> Result<i64, StoreError>;

    /// Returns a flash sale.
    async fn flash_sale(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredFlashSale>, StoreError>;

    /// Lists the workspace's flash sales, newest first.
    async fn flash_sales(&self, ws: WorkspaceId) -> Result<Vec<StoredFlashSale>, StoreError>;

    /// The customers holding units of a sale and how many each (orders not released).
    async fn flash_buyers(&self, ws: WorkspaceId, sale: i64) -> Result<Vec<(CustomerId, i64)>, StoreError>;

    /// Takes a unit for `customer` (the live profile: a merged-away id is followed to its survivor)
    /// if one is left and the customer is under the limit, and reserves it with an order due to be
    /// paid by `pay_by`; all or nothing.
    async fn purchase(
        &self,
        ws: WorkspaceId,
        sale: i64,
        customer: CustomerId,
        at: jiff::Timestamp,
        pay_by: jiff::Timestamp,
    ) -> Result<Purchase, StoreError>;

    /// Marks a reserved order paid (a paid one stays paid, its first reference kept); returns the
    /// order as it is now, or `None` when there is no such order of the sale.
    async fn pay_order(
        &self,
        ws: WorkspaceId,
        sale: i64,
        order: i64,
        payment_ref: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<Option<StoredOrder>, StoreError>;

    /// Releases up to `limit` reserved orders of the workspace not paid by `now`: each order
    /// released, its unit back in stock and its buyer's count lowered, in one transaction.
    /// Returns the orders released.
    async fn release_unpaid(
        &self,
        ws: WorkspaceId,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<StoredOrder>, StoreError>;

    /// The workspaces with a reserved order not paid by `now` (the release worker serves all).
    async fn workspaces_with_unpaid(&self, now: jiff::Timestamp) -> Result<Vec<WorkspaceId>, StoreError>;

    /// The first instant an order of any workspace must be paid by, if one is reserved.
    async fn next_pay_by(&self) -> Result<Option<jiff::Timestamp>, StoreError>;

    /// Adds counted attempts to a sale's totals.
    async fn add_attempts(&self, ws: WorkspaceId, sale: i64, counts: &AttemptCounts) -> Result<(), StoreError>;

    /// A sale's orders by status and its flushed attempt counts.
    async fn sale_counts(&self, ws: WorkspaceId, sale: i64) -> Result<SaleCounts, StoreError>;

    /// A sale's orders, newest first, at most `limit` after the order id `before` (if given).
    async fn orders(
        &self,
        ws: WorkspaceId,
        sale: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredOrder>, StoreError>;

    /// Every order of these customers (export).
    async fn orders_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<StoredOrder>, StoreError>;

    /// Forgets these customers' orders and purchase counts (erasure); the units their reserved
    /// orders held go back on sale, paid ones stay sold.
    async fn erase_orders(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError>;
}
