//! The coupons' persistence contract: templates with the count issued, coupons, each customer's
//! claims per template, and bulk issues with their progress.
//!
//! A claim is one transaction that takes a coupon from the template's stock only while one is
//! left and counts the customer's claims only while under the template's limit; a redemption
//! changes a coupon only while it is issued and valid, and an order id redeems at most one coupon
//! (a unique index), so retries and races cannot redeem twice.

use super::coupon::StoredCouponTemplate;
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// Where a coupon is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    /// Held by its customer, usable in its window.
    Issued,
    /// Used on an order.
    Redeemed,
    /// Its window passed unused.
    Expired,
}

impl CouponStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Redeemed => "redeemed",
            Self::Expired => "expired",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Issued, Self::Redeemed, Self::Expired].into_iter().find(|s| s.as_str() == text)
    }
}

/// A coupon as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCoupon {
    /// Id (its code is derived from it).
    pub id: i64,
    /// Its template.
    pub template_id: i64,
    /// Its holder.
    pub customer: CustomerId,
    /// Where it is.
    pub status: CouponStatus,
    /// How it came: `claim`, `grant`, `issue` (bulk), `journey`, `reward`.
    pub source: String,
    /// Issued.
    pub issued_at: jiff::Timestamp,
    /// Usable from.
    pub valid_from: jiff::Timestamp,
    /// Usable until (excluded).
    pub valid_until: jiff::Timestamp,
    /// When its `Coupon Expiring` event is due, if any and not recorded yet.
    pub remind_at: Option<jiff::Timestamp>,
    /// Redeemed.
    pub redeemed_at: Option<jiff::Timestamp>,
    /// The order it was used on.
    pub order_id: Option<String>,
    /// The order's amount, in fen.
    pub order_amount_fen: Option<i64>,
    /// The fen it took off.
    pub discount_fen: Option<i64>,
}

/// The terms coupons are issued on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CouponTerms {
    /// How they came.
    pub source: &'static str,
    /// Issued.
    pub issued_at: jiff::Timestamp,
    /// Usable from.
    pub valid_from: jiff::Timestamp,
    /// Usable until.
    pub valid_until: jiff::Timestamp,
    /// When to record `Coupon Expiring`.
    pub remind_at: Option<jiff::Timestamp>,
    /// An automation's key: one coupon per key, however often the grant is asked for.
    pub grant_key: Option<String>,
}

/// What a claim did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The coupon issued.
    Issued(Box<StoredCoupon>),
    /// The coupon issued earlier under the same grant key.
    Already(Box<StoredCoupon>),
    /// The template's stock is all issued.
    OutOfStock,
    /// The customer claimed as many as the template allows.
    LimitReached,
    /// The template or the customer is not there.
    Gone,
}

/// A redemption to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redemption<'a> {
    /// The order.
    pub order_id: &'a str,
    /// Its amount, in fen.
    pub amount_fen: i64,
    /// The fen off.
    pub discount_fen: i64,
    /// When.
    pub at: jiff::Timestamp,
}

/// A bulk issue of a template to a segment's members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIssue {
    /// Id.
    pub id: i64,
    /// The template.
    pub template_id: i64,
    /// The segment's key.
    pub segment: String,
    /// The members when it was asked for (a serialized roaring bitmap of customer ids).
    pub members: Vec<u8>,
    /// Members in all.
    pub total: i64,
    /// Coupons issued so far.
    pub issued: i64,
    /// The last customer handled (members after it remain).
    pub after_customer: i64,
    /// `running`, `done` or `out_of_stock`.
    pub status: String,
    /// Asked for.
    pub created_at: jiff::Timestamp,
    /// Ended.
    pub finished_at: Option<jiff::Timestamp>,
}

/// A template's coupons by status, with what their orders brought.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CouponCounts {
    /// Issued in all (any status now).
    pub issued: i64,
    /// Issued by customers' claims.
    pub claimed: i64,
    /// Redeemed.
    pub redeemed: i64,
    /// Expired.
    pub expired: i64,
    /// Orders' amounts of the redeemed, in fen.
    pub revenue_fen: i64,
    /// Fen taken off.
    pub discount_fen: i64,
}

/// Coupon templates, coupons, claims and bulk issues.
#[async_trait]
pub trait CouponStore: Send + Sync {
    /// Inserts a template (its `id` and `issued` are ignored); returns its id.
    async fn insert_coupon_template(&self, ws: WorkspaceId, template: &StoredCouponTemplate)
    -> Result<i64, StoreError>;

    /// A template.
    async fn coupon_template(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredCouponTemplate>, StoreError>;

    /// The workspace's templates, newest first.
    async fn coupon_templates(&self, ws: WorkspaceId) -> Result<Vec<StoredCouponTemplate>, StoreError>;

    /// Issues one coupon of `template` on `terms` to `customer` (followed to the live profile) if
    /// the stock has one left and, when `per_customer` is set, the customer is under it; all or
    /// nothing. With a grant key, the coupon is issued once for that key: asked again, the store
    /// gives the coupon issued the first time.
    async fn claim(
        &self,
        ws: WorkspaceId,
        template: i64,
        per_customer: Option<i64>,
        customer: CustomerId,
        terms: &CouponTerms,
    ) -> Result<Claimed, StoreError>;

    /// A coupon.
    async fn coupon(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredCoupon>, StoreError>;

    /// The coupon an order redeemed, if any.
    async fn coupon_of_order(&self, ws: WorkspaceId, order_id: &str) -> Result<Option<StoredCoupon>, StoreError>;

    /// Marks coupon `id` redeemed on an order if it is issued and valid at the redemption's time;
    /// `false` if it is not (any more). An order that redeemed another coupon is a `Conflict`.
    async fn redeem(&self, ws: WorkspaceId, id: i64, redemption: &Redemption<'_>) -> Result<bool, StoreError>;

    /// Gives back the coupon an order redeemed (the order was refunded): issued again while its
    /// window lasts, expired after; returns it as it is now.
    async fn release(
        &self,
        ws: WorkspaceId,
        order_id: &str,
        at: jiff::Timestamp,
    ) -> Result<Option<StoredCoupon>, StoreError>;

    /// A customer's coupons, newest first.
    async fn coupons_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<StoredCoupon>, StoreError>;

    /// Expires up to `limit` issued coupons of any workspace whose window ended by `now`; returns them.
    async fn expire_due(
        &self,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<(WorkspaceId, StoredCoupon)>, StoreError>;

    /// Takes up to `limit` issued coupons of any workspace whose reminder is due by `now` (each
    /// reminder is taken once); returns them.
    async fn take_reminders(
        &self,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<(WorkspaceId, StoredCoupon)>, StoreError>;

    /// A template's coupons by status.
    async fn coupon_counts(&self, ws: WorkspaceId, template: i64) -> Result<CouponCounts, StoreError>;

    /// Forgets these customers' coupons, claim counts and the grants made to them (erasure).
    async fn erase_coupons(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError>;

    /// Records a bulk issue, running; returns its id.
    async fn insert_issue(&self, ws: WorkspaceId, issue: &StoredIssue) -> Result<i64, StoreError>;

    /// A bulk issue.
    async fn issue(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredIssue>, StoreError>;

    /// Takes the oldest running bulk issue of any workspace whose lease is free (or ran out), leased
    /// to `owner` until `until`.
    async fn lease_issue(
        &self,
        owner: &str,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Option<(WorkspaceId, StoredIssue)>, StoreError>;

    /// Issues one coupon of the issue's template on `terms` to each of `customers` that is a live
    /// profile (ascending; as many as the stock has left, in order), moves the issue past the last
    /// of them and its count on, and ends it (`done`, or `out_of_stock` once the stock ran out) when
    /// `last` — in one transaction, while `owner` still holds its lease (`Conflict` if not). Returns
    /// the coupons issued.
    #[allow(clippy::too_many_arguments)]
    async fn issue_batch(
        &self,
        ws: WorkspaceId,
        issue: i64,
        owner: &str,
        customers: &[i64],
        terms: &CouponTerms,
        last: bool,
    ) -> Result<usize, StoreError>;

    /// The workspace's running bulk issues (an erasure takes the customer out of their members).
    async fn running_issues(&self, ws: WorkspaceId) -> Result<Vec<StoredIssue>, StoreError>;

    /// Adds refusals counted in memory: `(reason, count)` of an activity (`coupon`, …) of the
    /// workspace (`activity_id` 0: none known, e.g. a code that names no coupon).
    async fn add_refusals(
        &self,
        ws: WorkspaceId,
        activity: &str,
        activity_id: i64,
        counts: &[(&str, i64)],
    ) -> Result<(), StoreError>;

    /// The refusals saved for an activity, by reason.
    async fn refusals(
        &self,
        ws: WorkspaceId,
        activity: &str,
        activity_id: i64,
    ) -> Result<Vec<(String, i64)>, StoreError>;

    /// Replaces a bulk issue's members.
    async fn set_issue_members(&self, ws: WorkspaceId, issue: i64, members: &[u8]) -> Result<(), StoreError>;
}
