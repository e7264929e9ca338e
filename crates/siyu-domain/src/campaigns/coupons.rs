//! The coupons' use cases: templates created and watched, coupons issued in bulk to a segment (a
//! job with its progress, run by the `campaigns.upkeep` worker in batches), granted one at a time
//! (the API, a journey, a reward) or claimed by the customer, looked up by code, redeemed against
//! an order (idempotent by the order's id), given back when the order is refunded, expired on time
//! with a reminder before. Every refusal is its own error and is counted per template.

use super::Campaigns;
use super::coupon::{self, Benefit, StoredCouponTemplate, TemplateInput};
use super::coupon_store::{Claimed, CouponCounts, CouponStatus, CouponTerms, Redemption, StoredCoupon, StoredIssue};
use super::service::CustomerPass;
use crate::access::{Permission, Principal};
use crate::error::{CampaignError, DomainError, DomainResult};
use crate::events::NewEvent;
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::HashMap;
use utoipa::ToSchema;

/// The event a claimed (or granted) coupon records.
pub const COUPON_ISSUED: &str = "Coupon Issued";
/// The event a redemption records (with the order's amount as `revenue`, in yuan).
pub const COUPON_REDEEMED: &str = "Coupon Redeemed";
/// The event a refunded order's coupon records when it is given back.
pub const COUPON_RELEASED: &str = "Coupon Released";
/// The event an expired coupon records.
pub const COUPON_EXPIRED: &str = "Coupon Expired";
/// The event recorded `remind_days_before` a coupon expires (a journey's trigger).
pub const COUPON_EXPIRING: &str = "Coupon Expiring";
/// Customers a bulk issue handles per transaction.
const ISSUE_BATCH: usize = 50_000;
/// Coupons the upkeep expires or reminds per transaction.
const UPKEEP_BATCH: usize = 5_000;
/// How long a bulk issue's worker holds it before another may take over.
const ISSUE_LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// A template with its counts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// What a coupon is worth.
    pub benefit: Benefit,
    /// The least order amount, in fen (its own and its threshold's).
    pub min_spend_fen: i64,
    /// Coupons that may exist (absent: no limit).
    pub stock: Option<i64>,
    /// Claims per customer.
    pub per_customer: i64,
    /// Valid from (a dates validity).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_from: Option<jiff::Timestamp>,
    /// Valid until (a dates validity).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_until: Option<jiff::Timestamp>,
    /// Days valid from issue (a days validity).
    pub valid_days: Option<i64>,
    /// Channels it may be used on (empty: any).
    pub channels: Vec<String>,
    /// Stores it may be used in (empty: any).
    pub stores: Vec<String>,
    /// Whether customers may claim it.
    pub claimable: bool,
    /// Days before expiry of the `Coupon Expiring` event.
    pub remind_days_before: Option<i64>,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Coupons issued (claimed, granted and bulk).
    pub issued: i64,
    /// Of them, claimed by customers.
    pub claimed: i64,
    /// Redeemed.
    pub redeemed: i64,
    /// Expired unused.
    pub expired: i64,
    /// Redeemed per issued (0 to 1).
    pub redemption_rate: f64,
    /// The redeeming orders' amounts, in fen (revenue attributed to the coupon).
    pub revenue_fen: i64,
    /// Fen taken off by the redeemed.
    pub discount_fen: i64,
    /// Refusals by reason (claims and redemptions).
    pub refusals: HashMap<String, i64>,
}

impl TemplateView {
    fn new(t: StoredCouponTemplate, counts: CouponCounts, refusals: Vec<(String, i64)>) -> Self {
        Self {
            id: t.id,
            min_spend_fen: t.least_order_fen(),
            name: t.name,
            benefit: t.benefit,
            stock: t.stock,
            per_customer: t.per_customer,
            valid_from: t.valid_from,
            valid_until: t.valid_until,
            valid_days: t.valid_days,
            channels: t.channels,
            stores: t.stores,
            claimable: t.claimable,
            remind_days_before: t.remind_days,
            created_at: t.created_at,
            issued: counts.issued,
            claimed: counts.claimed,
            redeemed: counts.redeemed,
            expired: counts.expired,
            redemption_rate: if counts.issued == 0 { 0.0 } else { counts.redeemed as f64 / counts.issued as f64 },
            revenue_fen: counts.revenue_fen,
            discount_fen: counts.discount_fen,
            refusals: refusals.into_iter().collect(),
        }
    }
}

/// A coupon.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CouponView {
    /// Id.
    pub id: i64,
    /// Its code, to type or scan in a store (14 characters of Crockford's base32).
    pub code: String,
    /// Its template.
    pub template_id: i64,
    /// Its holder.
    pub customer_id: i64,
    /// Where it is.
    pub status: CouponStatus,
    /// How it came: `claim`, `grant`, `issue` (bulk), `journey` or `reward` (a lottery prize).
    pub source: String,
    /// Issued.
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: jiff::Timestamp,
    /// Usable from.
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: jiff::Timestamp,
    /// Usable until (excluded).
    #[schema(value_type = String, format = DateTime)]
    pub valid_until: jiff::Timestamp,
    /// Redeemed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub redeemed_at: Option<jiff::Timestamp>,
    /// The order it was used on.
    pub order_id: Option<String>,
    /// The order's amount, in fen.
    pub order_amount_fen: Option<i64>,
    /// Fen it took off.
    pub discount_fen: Option<i64>,
}

impl CouponView {
    fn new(c: StoredCoupon, key: &siyu_core::crypto::DataKey) -> Self {
        Self {
            id: c.id,
            code: coupon::code(c.id, key),
            template_id: c.template_id,
            customer_id: c.customer.0,
            status: c.status,
            source: c.source,
            issued_at: c.issued_at,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            redeemed_at: c.redeemed_at,
            order_id: c.order_id,
            order_amount_fen: c.order_amount_fen,
            discount_fen: c.discount_fen,
        }
    }
}

/// A coupon to redeem against an order.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemInput {
    /// The coupon's code.
    pub code: String,
    /// The order's id in the brand's order system (an order redeems at most one coupon; the same
    /// order and code again answer as the first time).
    pub order_id: String,
    /// The order's amount before the coupon, in fen.
    pub amount_fen: i64,
    /// The channel the order came through (checked against the template's channels).
    #[serde(default)]
    pub channel: Option<String>,
    /// The store (checked against the template's stores).
    #[serde(default)]
    pub store: Option<String>,
    /// The ordering customer, if known: a coupon of another customer is refused.
    #[serde(default)]
    pub customer_id: Option<i64>,
}

/// What a redemption did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RedemptionView {
    /// The coupon, now redeemed.
    pub coupon: CouponView,
    /// What it gives.
    pub benefit: Benefit,
    /// Fen off the order.
    pub discount_fen: i64,
    /// What the customer pays, in fen.
    pub pay_fen: i64,
}

/// A bulk issue.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IssueView {
    /// Id.
    pub id: i64,
    /// The template.
    pub template_id: i64,
    /// The segment whose members (when it was asked for) get one coupon each.
    pub segment: String,
    /// Members in all.
    pub total: i64,
    /// Coupons issued so far.
    pub issued: i64,
    /// `running`, `done` or `out_of_stock`.
    pub status: String,
    /// Asked for.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Ended.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<jiff::Timestamp>,
}

impl From<StoredIssue> for IssueView {
    fn from(i: StoredIssue) -> Self {
        Self {
            id: i.id,
            template_id: i.template_id,
            segment: i.segment,
            total: i.total,
            issued: i.issued,
            status: i.status,
            created_at: i.created_at,
            finished_at: i.finished_at,
        }
    }
}

/// Refusals counted in memory, by (workspace, activity, its id or 0) and reason.
pub(crate) type Refusals = HashMap<(WorkspaceId, &'static str, i64), HashMap<&'static str, i64>>;

/// The activity name coupon refusals are saved under.
const ACTIVITY: &str = "coupon";

fn fen_text(fen: i64) -> f64 {
    fen as f64 / 100.0
}

impl Campaigns {
    /// Counts the campaign refusal `result` ends in, if any, against an activity (`coupon`,
    /// `lottery`) and its id.
    pub(crate) fn count_refusal<T>(
        &self,
        ws: WorkspaceId,
        activity: &'static str,
        id: i64,
        result: DomainResult<T>,
    ) -> DomainResult<T> {
        if let Err(DomainError::Campaigns(error)) = &result {
            let mut refusals = self.refusal_counts.lock().expect("refusals lock is never poisoned");
            *refusals.entry((ws, activity, id)).or_default().entry(error.reason()).or_default() += 1;
        }
        result
    }

    fn counted<T>(&self, ws: WorkspaceId, template: i64, result: DomainResult<T>) -> DomainResult<T> {
        self.count_refusal(ws, ACTIVITY, template, result)
    }

    /// Saves the refusals counted since the last call.
    pub(crate) async fn save_refusals(&self) -> DomainResult<()> {
        let taken = std::mem::take(&mut *self.refusal_counts.lock().expect("refusals lock is never poisoned"));
        for ((ws, activity, id), reasons) in taken {
            let counts: Vec<(&str, i64)> = reasons.into_iter().collect();
            self.coupons.add_refusals(ws, activity, id, &counts).await?;
        }
        Ok(())
    }

    async fn template_view(&self, ws: WorkspaceId, t: StoredCouponTemplate) -> DomainResult<TemplateView> {
        let counts = self.coupons.coupon_counts(ws, t.id).await?;
        let refusals = self.coupons.refusals(ws, ACTIVITY, t.id).await?;
        Ok(TemplateView::new(t, counts, refusals))
    }

    async fn stored_template(&self, ws: WorkspaceId, id: i64) -> DomainResult<StoredCouponTemplate> {
        self.coupons
            .coupon_template(ws, id)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("coupon template {id}")))
    }

    /// Creates a coupon template.
    pub async fn create_coupon_template(
        &self,
        principal: &Principal,
        input: TemplateInput,
    ) -> DomainResult<TemplateView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let mut template = input.into_template(self.access.now())?;
        template.id = self.coupons.insert_coupon_template(ws, &template).await?;
        self.access.audit(principal, "coupon_template.create", &format!("coupon_template:{}", template.id)).await?;
        Ok(TemplateView::new(template, CouponCounts::default(), Vec::new()))
    }

    /// The workspace's coupon templates with their counts, newest first.
    pub async fn coupon_templates(&self, principal: &Principal) -> DomainResult<Vec<TemplateView>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let mut views = Vec::new();
        for template in self.coupons.coupon_templates(ws).await? {
            views.push(self.template_view(ws, template).await?);
        }
        Ok(views)
    }

    /// A coupon template with its counts: issued, claimed, redeemed, expired, the redemption rate,
    /// the revenue of the orders that used it and the refusals by reason.
    pub async fn coupon_template(&self, principal: &Principal, id: i64) -> DomainResult<TemplateView> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let template = self.stored_template(ws, id).await?;
        self.template_view(ws, template).await
    }

    fn terms(template: &StoredCouponTemplate, source: &'static str, now: jiff::Timestamp) -> CouponTerms {
        let (valid_from, valid_until) = template.window(now);
        CouponTerms {
            source,
            issued_at: now,
            valid_from,
            valid_until,
            remind_at: template.remind_at(valid_until),
            grant_key: None,
        }
    }

    async fn issue_one(
        &self,
        ws: WorkspaceId,
        template: &StoredCouponTemplate,
        customer: CustomerId,
        source: &'static str,
    ) -> DomainResult<CouponView> {
        self.issue_keyed(ws, template, customer, source, None).await
    }

    /// Issues one coupon; with a grant key, once for that key (asked again: the same coupon, and
    /// no second `Coupon Issued`).
    async fn issue_keyed(
        &self,
        ws: WorkspaceId,
        template: &StoredCouponTemplate,
        customer: CustomerId,
        source: &'static str,
        grant_key: Option<String>,
    ) -> DomainResult<CouponView> {
        let now = self.access.now();
        if template.valid_until.is_some_and(|until| until <= now) {
            return Err(CampaignError::CouponExpired(template.valid_until.unwrap_or(now)).into());
        }
        let terms = CouponTerms { grant_key, ..Self::terms(template, source, now) };
        let limit = (source == "claim").then_some(template.per_customer);
        match self.coupons.claim(ws, template.id, limit, customer, &terms).await? {
            Claimed::Already(coupon) => {
                let key = self.access.data_key(ws).await?;
                Ok(CouponView::new(*coupon, &key))
            }
            Claimed::Issued(coupon) => {
                let properties = serde_json::json!({
                    "coupon_id": coupon.id,
                    "template_id": template.id,
                    "name": template.name,
                    "source": source,
                    "valid_until": coupon.valid_until.to_string(),
                });
                let event = NewEvent::recorded(coupon.customer, COUPON_ISSUED, properties.to_string(), now);
                self.events.append_and_index(ws, &[event]).await?;
                let key = self.access.data_key(ws).await?;
                Ok(CouponView::new(*coupon, &key))
            }
            Claimed::OutOfStock => Err(CampaignError::OutOfStock.into()),
            Claimed::LimitReached => Err(CampaignError::ClaimLimitReached(template.per_customer).into()),
            Claimed::Gone => Err(DomainError::NotFound(format!("customer {customer}"))),
        }
    }

    /// Whether the workspace has the coupon template (a journey's action names it).
    pub(crate) async fn has_coupon_template(&self, ws: WorkspaceId, id: i64) -> DomainResult<bool> {
        Ok(self.coupons.coupon_template(ws, id).await?.is_some())
    }

    /// A journey's coupon: one per grant key (the journey's entry and node), so a step run again
    /// after a crash gives no second coupon. Refusals (stock gone, template expired) are counted
    /// as the template's.
    pub(crate) async fn issue_for_journey(
        &self,
        ws: WorkspaceId,
        template: i64,
        customer: CustomerId,
        grant_key: String,
    ) -> DomainResult<CouponView> {
        let stored = self.stored_template(ws, template).await?;
        let result = self.issue_keyed(ws, &stored, customer, "journey", Some(grant_key)).await;
        self.counted(ws, template, result)
    }

    /// Gives a reward's coupon once for its grant key (a check-in milestone's); returns its code.
    pub(crate) async fn issue_keyed_reward(
        &self,
        ws: WorkspaceId,
        template: &StoredCouponTemplate,
        customer: CustomerId,
        grant_key: String,
    ) -> DomainResult<String> {
        Ok(self.issue_keyed(ws, template, customer, "reward", Some(grant_key)).await?.code)
    }

    /// Gives a reward's coupon (a lottery's prize); returns its code.
    pub(crate) async fn issue_reward(
        &self,
        ws: WorkspaceId,
        template: &StoredCouponTemplate,
        customer: CustomerId,
    ) -> DomainResult<String> {
        Ok(self.issue_one(ws, template, customer, "reward").await?.code)
    }

    /// Gives one coupon of a template to a customer (the API, a journey's action, a reward): held
    /// to the stock, not to the per-customer limit, which is the customers' own claims'.
    pub async fn grant_coupon(
        &self,
        principal: &Principal,
        template: i64,
        customer: CustomerId,
    ) -> DomainResult<CouponView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let stored = self.stored_template(ws, template).await?;
        let result = self.issue_one(ws, &stored, customer, "grant").await;
        self.counted(ws, template, result)
    }

    /// A customer claims a coupon of a claimable template: held to the stock and to the template's
    /// per-customer limit.
    pub async fn claim_coupon(&self, pass: &CustomerPass, template: i64) -> DomainResult<CouponView> {
        let ws = pass.workspace();
        let stored = self.stored_template(ws, template).await?;
        let result = if stored.claimable {
            self.issue_one(ws, &stored, pass.customer(), "claim").await
        } else {
            Err(CampaignError::NotClaimable.into())
        };
        self.counted(ws, template, result)
    }

    /// The customer's own coupons, newest first.
    pub async fn my_coupons(&self, pass: &CustomerPass) -> DomainResult<Vec<CouponView>> {
        let ws = pass.workspace();
        let key = self.access.data_key(ws).await?;
        let coupons = self.coupons.coupons_of(ws, &[pass.customer()]).await?;
        Ok(coupons.into_iter().map(|c| CouponView::new(c, &key)).collect())
    }

    /// A customer's coupons (and those of the profiles merged into it), newest first.
    pub async fn customer_coupons(&self, principal: &Principal, customer: CustomerId) -> DomainResult<Vec<CouponView>> {
        principal.require(Permission::CustomersRead)?;
        let ws = principal.workspace_id();
        let subject = self.customers.subject(ws, customer).await?;
        let key = self.access.data_key(ws).await?;
        let coupons = self.coupons.coupons_of(ws, &subject.ids()).await?;
        Ok(coupons.into_iter().map(|c| CouponView::new(c, &key)).collect())
    }

    /// The coupon a code names (a store checks it before the order is paid).
    pub async fn coupon_by_code(&self, principal: &Principal, code: &str) -> DomainResult<CouponView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let key = self.access.data_key(ws).await?;
        let found = match coupon::id_of(code, &key) {
            Some(id) => self.coupons.coupon(ws, id).await?,
            None => None,
        };
        match found {
            Some(coupon) => Ok(CouponView::new(coupon, &key)),
            None => self.counted(ws, 0, Err(CampaignError::CouponNotFound.into())),
        }
    }

    /// Redeems a coupon against an order: checked (its window, its status, the order's amount
    /// against the least it needs, the channel, the store, the customer), the discount computed,
    /// recorded with a `Coupon Redeemed` event. The same order and code again answer as the first
    /// time; another coupon on the same order is refused.
    pub async fn redeem_coupon(&self, principal: &Principal, input: &RedeemInput) -> DomainResult<RedemptionView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        check_order(&input.order_id, input.amount_fen)?;
        let key = self.access.data_key(ws).await?;
        let Some(id) = coupon::id_of(&input.code, &key) else {
            return self.counted(ws, 0, Err(CampaignError::CouponNotFound.into()));
        };
        let Some(found) = self.coupons.coupon(ws, id).await? else {
            return self.counted(ws, 0, Err(CampaignError::CouponNotFound.into()));
        };
        let template = self.stored_template(ws, found.template_id).await?;
        let result = self.try_redeem(ws, &key, &template, found, input).await;
        self.counted(ws, template.id, result)
    }

    async fn try_redeem(
        &self,
        ws: WorkspaceId,
        key: &siyu_core::crypto::DataKey,
        template: &StoredCouponTemplate,
        found: StoredCoupon,
        input: &RedeemInput,
    ) -> DomainResult<RedemptionView> {
        let answer = |coupon: StoredCoupon| {
            let discount_fen = coupon.discount_fen.unwrap_or(0);
            let amount = coupon.order_amount_fen.unwrap_or(input.amount_fen);
            RedemptionView {
                benefit: template.benefit.clone(),
                discount_fen,
                pay_fen: amount - discount_fen,
                coupon: CouponView::new(coupon, key),
            }
        };
        // The same order again: the first answer.
        if let Some(used) = self.coupons.coupon_of_order(ws, &input.order_id).await? {
            return if used.id == found.id {
                Ok(answer(used))
            } else {
                Err(CampaignError::OrderUsed(input.order_id.clone()).into())
            };
        }
        if let Some(customer) = input.customer_id {
            let live = self.customers.stores.customers.resolve(ws, CustomerId(customer)).await?;
            let holder = self.customers.stores.customers.resolve(ws, found.customer).await?;
            if live.is_none() || live != holder {
                return Err(CampaignError::NotYours.into());
            }
        }
        let now = self.access.now();
        match found.status {
            CouponStatus::Redeemed => return Err(CampaignError::CouponRedeemed.into()),
            CouponStatus::Expired => return Err(CampaignError::CouponExpired(found.valid_until).into()),
            CouponStatus::Issued => {}
        }
        if now < found.valid_from {
            return Err(CampaignError::CouponNotYetValid(found.valid_from).into());
        }
        if now >= found.valid_until {
            return Err(CampaignError::CouponExpired(found.valid_until).into());
        }
        let place = |allowed: &[String], given: &Option<String>| {
            allowed.is_empty() || given.as_ref().is_some_and(|g| allowed.iter().any(|a| a == g.trim()))
        };
        if !place(&template.channels, &input.channel) {
            return Err(CampaignError::WrongChannel(input.channel.clone().unwrap_or_default()).into());
        }
        if !place(&template.stores, &input.store) {
            return Err(CampaignError::WrongStore(input.store.clone().unwrap_or_default()).into());
        }
        if input.amount_fen < template.least_order_fen() {
            return Err(CampaignError::ThresholdNotMet(template.least_order_fen()).into());
        }
        let discount_fen = template.benefit.discount_fen(input.amount_fen);
        let redemption = Redemption { order_id: &input.order_id, amount_fen: input.amount_fen, discount_fen, at: now };
        match self.coupons.redeem(ws, found.id, &redemption).await {
            Ok(true) => {}
            Ok(false) | Err(siyu_core::StoreError::Conflict(_)) => {
                // Another redemption won meanwhile: say what happened to it.
                return match self.coupons.coupon_of_order(ws, &input.order_id).await? {
                    Some(used) if used.id == found.id => Ok(answer(used)),
                    Some(_) => Err(CampaignError::OrderUsed(input.order_id.clone()).into()),
                    None => Err(CampaignError::CouponRedeemed.into()),
                };
            }
            Err(other) => return Err(other.into()),
        }
        let redeemed = self.coupons.coupon(ws, found.id).await?.ok_or(CampaignError::CouponNotFound)?;
        let properties = serde_json::json!({
            "coupon_id": found.id,
            "template_id": template.id,
            "order_id": input.order_id,
            "revenue": fen_text(input.amount_fen),
            "discount": fen_text(discount_fen),
        });
        let event = NewEvent::recorded(redeemed.customer, COUPON_REDEEMED, properties.to_string(), now);
        self.events.append_and_index(ws, &[event]).await?;
        Ok(answer(redeemed))
    }

    /// Gives back the coupon a refunded order used: usable again while its window lasts.
    pub async fn release_coupon(&self, principal: &Principal, order_id: &str) -> DomainResult<CouponView> {
        principal.require(Permission::CampaignsManage)?;
        check_order(order_id, 0)?;
        let ws = principal.workspace_id();
        let now = self.access.now();
        let released = self
            .coupons
            .release(ws, order_id, now)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("a coupon redeemed by order \"{order_id}\"")))?;
        let properties =
            serde_json::json!({ "coupon_id": released.id, "template_id": released.template_id, "order_id": order_id });
        let event = NewEvent::recorded(released.customer, COUPON_RELEASED, properties.to_string(), now);
        self.events.append_and_index(ws, &[event]).await?;
        let key = self.access.data_key(ws).await?;
        Ok(CouponView::new(released, &key))
    }

    /// Starts a bulk issue: one coupon of the template to each member of the segment as it is now,
    /// issued in the background (`campaigns.upkeep`); returns the issue to watch.
    pub async fn issue_coupons(&self, principal: &Principal, template: i64, segment: &str) -> DomainResult<IssueView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let stored = self.stored_template(ws, template).await?;
        let now = self.access.now();
        if stored.valid_until.is_some_and(|until| until <= now) {
            return Err(DomainError::invalid("template", "its coupons have expired"));
        }
        let (definitions, _) = self.segments.segment_definitions(ws).await?;
        if !definitions.iter().any(|s| s.key == segment) {
            return Err(DomainError::invalid("segment", format!("there is no segment \"{segment}\"")));
        }
        let members = self.segments.members_now(ws, segment).await?;
        let mut bytes = Vec::with_capacity(members.serialized_size());
        members.serialize_into(&mut bytes).map_err(|e| DomainError::internal_from("a segment's members", e))?;
        let mut issue = StoredIssue {
            id: 0,
            template_id: template,
            segment: segment.to_string(),
            members: bytes,
            total: members.len() as i64,
            issued: 0,
            after_customer: -1,
            status: "running".into(),
            created_at: now,
            finished_at: None,
        };
        issue.id = self.coupons.insert_issue(ws, &issue).await?;
        self.access.audit(principal, "coupon.issue", &format!("coupon_issue:{}", issue.id)).await?;
        self.issue_wake.notify_one();
        Ok(issue.into())
    }

    /// A bulk issue's progress.
    pub async fn coupon_issue(&self, principal: &Principal, id: i64) -> DomainResult<IssueView> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        Ok(self.coupons.issue(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("coupon issue {id}")))?.into())
    }

    /// Issues the next batch of the oldest running bulk issue (the upkeep's round, as `owner`);
    /// returns whether there was one.
    pub async fn run_coupon_issue(&self, owner: &str) -> DomainResult<bool> {
        let now = self.access.now();
        let Some((ws, issue)) = self.coupons.lease_issue(owner, now, now + ISSUE_LEASE).await? else {
            return Ok(false);
        };
        let template = self.stored_template(ws, issue.template_id).await?;
        let mut members = RoaringTreemap::deserialize_from(&issue.members[..])
            .map_err(|e| DomainError::internal_from("a bulk issue's members", e))?;
        // The members not handled yet, in ascending order.
        members.remove_range(..u64::try_from(issue.after_customer + 1).unwrap_or(0));
        let mut rest = members.iter();
        let batch: Vec<i64> = rest.by_ref().take(ISSUE_BATCH).map(|c| c as i64).collect();
        let last = rest.next().is_none();
        let terms = Self::terms(&template, "issue", now);
        self.coupons.issue_batch(ws, issue.id, owner, &batch, &terms, last).await?;
        Ok(true)
    }

    /// Wakes the upkeep when a bulk issue is asked for.
    pub fn issue_wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.issue_wake.clone()
    }

    /// Expires coupons whose window ended and records `Coupon Expiring` for those due a reminder
    /// (the upkeep's round); returns how many coupons it touched.
    pub async fn coupon_upkeep(&self) -> DomainResult<usize> {
        let now = self.access.now();
        let mut touched = 0;
        for (name, due) in [
            (COUPON_EXPIRED, self.coupons.expire_due(now, UPKEEP_BATCH).await?),
            (COUPON_EXPIRING, self.coupons.take_reminders(now, UPKEEP_BATCH).await?),
        ] {
            touched += due.len();
            let mut by_workspace: HashMap<WorkspaceId, Vec<NewEvent>> = HashMap::new();
            for (ws, c) in due {
                let key = self.access.data_key(ws).await?;
                let properties = serde_json::json!({
                    "coupon_id": c.id,
                    "template_id": c.template_id,
                    "code": coupon::code(c.id, &key),
                    "valid_until": c.valid_until.to_string(),
                });
                by_workspace.entry(ws).or_default().push(NewEvent::recorded(
                    c.customer,
                    name,
                    properties.to_string(),
                    now,
                ));
            }
            for (ws, events) in by_workspace {
                self.events.append_and_index(ws, &events).await?;
            }
        }
        Ok(touched)
    }

    /// Takes erased customers out of the workspace's running bulk issues.
    pub(crate) async fn forget_in_issues(&self, ws: WorkspaceId, customers: &[CustomerId]) -> DomainResult<()> {
        for issue in self.coupons.running_issues(ws).await? {
            let mut members = RoaringTreemap::deserialize_from(&issue.members[..])
                .map_err(|e| DomainError::internal_from("a bulk issue's members", e))?;
            let before = members.len();
            for customer in customers {
                members.remove(customer.0 as u64);
            }
            if members.len() != before {
                let mut bytes = Vec::with_capacity(members.serialized_size());
                members
                    .serialize_into(&mut bytes)
                    .map_err(|e| DomainError::internal_from("a bulk issue's members", e))?;
                self.coupons.set_issue_members(ws, issue.id, &bytes).await?;
            }
        }
        Ok(())
    }
}

/// Checks an order's id and amount.
fn check_order(order_id: &str, amount_fen: i64) -> DomainResult<()> {
    let mut errors = Vec::new();
    if order_id.trim().is_empty() || order_id.len() > 128 || order_id.chars().any(char::is_control) {
        errors
            .push(crate::error::FieldError::new("order_id", "must be 1 to 128 characters without control characters"));
    }
    if !(0..=coupon::MAX_FEN).contains(&amount_fen) {
        errors.push(crate::error::FieldError::new(
            "amount_fen",
            format!("{amount_fen} is not an amount in fen from 0 to {}", coupon::MAX_FEN),
        ));
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
}
