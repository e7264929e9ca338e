//! The campaigns' use cases: customer tokens, flash sales (created and watched by operators,
//! bought by customers), the release of unpaid orders and the saving of attempt counts.

use super::checkin_store::CheckinStore;
use super::coupon_store::CouponStore;
use super::coupons::Refusals as RefusalCounts;
use super::flash_sale::{FlashSaleInput, FlashSaleView, OrderView, PublicSaleView};
use super::gate::{Admit, Gate};
use super::group_buy_store::GroupBuyStore;
use super::limits::{Limiters, Limits};
use super::lottery_store::LotteryStore;
use super::quiz_store::QuizStore;
use super::store::{CampaignStore, Purchase};
use super::token;
use crate::access::{Access, Permission, Principal};
use crate::customers::Customers;
use crate::error::{CampaignError, DomainError, DomainResult};
use crate::events::{Events, NewEvent};
use crate::segments::Segments;
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use utoipa::ToSchema;

/// The event an order placed in a flash sale records.
pub const FLASH_SALE_ORDER_PLACED: &str = "Flash Sale Order Placed";
/// The event a paid order records.
pub const FLASH_SALE_ORDER_PAID: &str = "Flash Sale Order Paid";
/// The event an order released unpaid records.
pub const FLASH_SALE_ORDER_RELEASED: &str = "Flash Sale Order Released";
/// How long a sale's segment members are used before they are read again.
const ELIGIBLE_FOR_MS: i64 = 5_000;
/// The longest an attempt waits for purchases in flight to settle.
const MOST_WAIT: Duration = Duration::from_secs(5);
/// Orders released per transaction.
const RELEASE_BATCH: usize = 1_000;
/// The most orders one page lists.
pub const MAX_ORDER_PAGE: usize = 500;

/// A customer who presented a valid token; made only by [`Campaigns::authenticate`], so every
/// customer action names a workspace and a customer that siyu signed.
#[derive(Clone, Debug)]
pub struct CustomerPass {
    workspace: WorkspaceId,
    customer: CustomerId,
}

impl CustomerPass {
    /// The customer's workspace.
    pub fn workspace(&self) -> WorkspaceId {
        self.workspace
    }

    /// The customer.
    pub fn customer(&self) -> CustomerId {
        self.customer
    }
}

/// A token to ask for.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// Seconds the token lives (60 to 2,592,000; a day unless set).
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
}

/// A customer token.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The token, for `Authorization: Bearer …` on the customer endpoints.
    pub token: String,
    /// The customer it stands for (a merged-away id given is followed to its survivor).
    pub customer_id: i64,
    /// When it stops being accepted.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
}

/// Counts of refusals made before a sale is known (address and token checks).
#[derive(Default)]
struct Refusals {
    rate_limited: std::sync::atomic::AtomicI64,
    bad_tokens: std::sync::atomic::AtomicI64,
}

/// Each loaded sale's gate by (workspace, sale).
type Gates = HashMap<(WorkspaceId, i64), Arc<Gate>>;
/// Segment members by (workspace, key), with when (unix ms) they were read.
type Eligible = HashMap<(WorkspaceId, String), (Arc<RoaringTreemap>, i64)>;

/// The stores the campaigns slice keeps its activities in.
pub(crate) struct CampaignStores {
    /// Flash sales.
    pub store: Arc<dyn CampaignStore>,
    /// Coupons.
    pub coupons: Arc<dyn CouponStore>,
    /// Lotteries.
    pub lotteries: Arc<dyn LotteryStore>,
    /// Check-ins.
    pub checkins: Arc<dyn CheckinStore>,
    /// Group buying.
    pub group_buys: Arc<dyn GroupBuyStore>,
    /// Quizzes.
    pub quizzes: Arc<dyn QuizStore>,
}

/// Campaigns and their activities.
#[derive(Clone)]
pub struct Campaigns {
    pub(crate) access: Access,
    pub(crate) customers: Customers,
    pub(crate) events: Events,
    pub(crate) segments: Segments,
    pub(crate) store: Arc<dyn CampaignStore>,
    pub(crate) coupons: Arc<dyn CouponStore>,
    pub(crate) lotteries: Arc<dyn LotteryStore>,
    pub(crate) checkins: Arc<dyn CheckinStore>,
    pub(crate) group_buys: Arc<dyn GroupBuyStore>,
    pub(crate) quizzes: Arc<dyn QuizStore>,
    /// Each lottery's draws waiting to be committed together.
    pub(crate) draw_queues: Arc<std::sync::Mutex<HashMap<(WorkspaceId, i64), super::lotteries::DrawQueue>>>,
    /// Lotteries read so far with their opened seeds (a lottery does not change once created).
    pub(crate) open_lotteries: Arc<std::sync::Mutex<super::lotteries::OpenLotteries>>,
    /// Refusals of coupons and lotteries not yet saved.
    pub(crate) refusal_counts: Arc<std::sync::Mutex<RefusalCounts>>,
    /// Wakes the bulk issue worker.
    pub(crate) issue_wake: Arc<tokio::sync::Notify>,
    /// Each loaded sale's gate.
    gates: Arc<RwLock<Gates>>,
    /// Loads of gates take turns (one read of a sale's buyers however many attempts arrive).
    loading: Arc<tokio::sync::Mutex<()>>,
    /// Segment members by (workspace, key), with the instant (ms) they were read.
    eligible: Arc<tokio::sync::Mutex<Eligible>>,
    limiters: Arc<RwLock<Arc<Limiters>>>,
    refusals: Arc<Refusals>,
    /// Held while the attempt counts are saved, so two saves never take the same counts twice.
    flushing: Arc<tokio::sync::Mutex<()>>,
}

impl Campaigns {
    pub(crate) fn new(
        access: Access,
        customers: Customers,
        events: Events,
        segments: Segments,
        stores: CampaignStores,
    ) -> Self {
        let CampaignStores { store, coupons, lotteries, checkins, group_buys, quizzes } = stores;
        Self {
            access,
            customers,
            events,
            segments,
            store,
            coupons,
            lotteries,
            checkins,
            group_buys,
            quizzes,
            refusal_counts: Arc::default(),
            draw_queues: Arc::default(),
            open_lotteries: Arc::default(),
            issue_wake: Arc::default(),
            gates: Arc::default(),
            loading: Arc::default(),
            eligible: Arc::default(),
            limiters: Arc::new(RwLock::new(Arc::new(Limiters::new(Limits::default())))),
            refusals: Arc::default(),
            flushing: Arc::default(),
        }
    }

    /// Sets the public endpoints' rate limits (from the configuration).
    pub fn set_limits(&self, limits: Limits) {
        *self.limiters.write().expect("limits lock is never poisoned") = Arc::new(Limiters::new(limits));
    }

    fn limiters(&self) -> Arc<Limiters> {
        self.limiters.read().expect("limits lock is never poisoned").clone()
    }

    /// Refusals before a sale was known: (rate limited by address or customer, bad or expired tokens).
    pub fn refusals(&self) -> (i64, i64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.refusals.rate_limited.load(Relaxed), self.refusals.bad_tokens.load(Relaxed))
    }

    fn now_ms(&self) -> i64 {
        self.access.now().as_millisecond()
    }

    /// Issues a token for `customer` (followed to its survivor if merged), living `ttl_seconds` (a
    /// day unless given). Needs `campaigns:manage`: a token lets its holder act as the customer
    /// in campaigns.
    pub async fn customer_token(
        &self,
        principal: &Principal,
        customer: CustomerId,
        input: &TokenInput,
    ) -> DomainResult<IssuedToken> {
        principal.require(Permission::CampaignsManage)?;
        let ttl = input.ttl_seconds.unwrap_or(token::DEFAULT_TTL_SECONDS);
        if !token::TTL_RANGE.contains(&ttl) {
            return Err(DomainError::invalid(
                "ttl_seconds",
                format!("{ttl} is not from {} to {}", token::TTL_RANGE.start(), token::TTL_RANGE.end()),
            ));
        }
        let ws = principal.workspace_id();
        let live = self
            .customers
            .stores
            .customers
            .resolve(ws, customer)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("customer {customer}")))?;
        let expires_at = self.access.now() + jiff::SignedDuration::from_secs(ttl);
        let claim = token::Claim { workspace: ws, customer: live, expires: expires_at.as_second() };
        let key = self.access.data_key(ws).await?;
        Ok(IssuedToken { token: claim.sign(&key), customer_id: live.0, expires_at })
    }

    /// Checks a customer's request: the address's allowance first, then the token (shape,
    /// signature, expiry), then the customer's allowance. Every refusal is counted.
    pub async fn authenticate(&self, token: Option<&str>, address: Option<IpAddr>) -> DomainResult<CustomerPass> {
        let result = self.check_pass(token, address).await;
        if let Err(DomainError::Campaigns(error)) = &result {
            use std::sync::atomic::Ordering::Relaxed;
            match error {
                CampaignError::RateLimited(_) => self.refusals.rate_limited.fetch_add(1, Relaxed),
                _ => self.refusals.bad_tokens.fetch_add(1, Relaxed),
            };
        }
        result
    }

    async fn check_pass(&self, token: Option<&str>, address: Option<IpAddr>) -> DomainResult<CustomerPass> {
        let limiters = self.limiters();
        if let Some(address) = address {
            limiters.address(address).map_err(CampaignError::RateLimited)?;
        }
        let token = token.ok_or(CampaignError::TokenInvalid)?;
        let claim = token::read(token).ok_or(CampaignError::TokenInvalid)?;
        let key = match self.access.data_key(claim.workspace).await {
            Ok(key) => key,
            Err(DomainError::NotFound(_)) => return Err(CampaignError::TokenInvalid.into()),
            Err(other) => return Err(other),
        };
        if !token::is_signed(token, &claim, &key) {
            return Err(CampaignError::TokenInvalid.into());
        }
        if claim.expires <= self.access.now().as_second() {
            let at = jiff::Timestamp::from_second(claim.expires).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            return Err(CampaignError::TokenExpired(at).into());
        }
        limiters.customer(claim.workspace.0, claim.customer.0).map_err(CampaignError::RateLimited)?;
        Ok(CustomerPass { workspace: claim.workspace, customer: claim.customer })
    }

    /// Creates a flash sale.
    pub async fn create_flash_sale(&self, principal: &Principal, input: FlashSaleInput) -> DomainResult<FlashSaleView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let mut sale = input.into_sale(self.access.now())?;
        if let Some(key) = &sale.segment {
            let (stored, _) = self.segments.segment_definitions(ws).await?;
            if !stored.iter().any(|s| &s.key == key) {
                return Err(DomainError::invalid("segment", format!("there is no segment \"{key}\"")));
            }
        }
        sale.id = self.store.insert_flash_sale(ws, &sale).await?;
        self.access.audit(principal, "flash_sale.create", &format!("flash_sale:{}", sale.id)).await?;
        Ok(FlashSaleView::new(sale, Default::default()))
    }

    /// Lists the workspace's flash sales with their counts, newest first.
    pub async fn flash_sales(&self, principal: &Principal) -> DomainResult<Vec<FlashSaleView>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let mut views = Vec::new();
        for sale in self.store.flash_sales(ws).await? {
            let counts = self.store.sale_counts(ws, sale.id).await?;
            views.push(FlashSaleView::new(sale, counts));
        }
        Ok(views)
    }

    /// A flash sale with its counts.
    pub async fn flash_sale(&self, principal: &Principal, id: i64) -> DomainResult<FlashSaleView> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let sale = self.store.flash_sale(ws, id).await?.ok_or_else(|| sale_not_found(id))?;
        let counts = self.store.sale_counts(ws, id).await?;
        Ok(FlashSaleView::new(sale, counts))
    }

    /// A page of a sale's orders, newest first (`before`: the last order id of the previous page).
    pub async fn sale_orders(
        &self,
        principal: &Principal,
        id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> DomainResult<Vec<OrderView>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        self.store.flash_sale(ws, id).await?.ok_or_else(|| sale_not_found(id))?;
        let orders = self.store.orders(ws, id, before, limit.clamp(1, MAX_ORDER_PAGE)).await?;
        Ok(orders.into_iter().map(Into::into).collect())
    }

    /// Marks an order paid (the payment provider's reference kept); paying it again changes nothing,
    /// paying one released unpaid is a conflict.
    pub async fn pay_order(
        &self,
        principal: &Principal,
        sale: i64,
        order: i64,
        payment_ref: Option<&str>,
    ) -> DomainResult<OrderView> {
        principal.require(Permission::CampaignsManage)?;
        if let Some(reference) = payment_ref
            && (reference.is_empty() || reference.len() > 128 || reference.chars().any(char::is_control))
        {
            return Err(DomainError::invalid("payment_ref", "must be 1 to 128 characters without control characters"));
        }
        let ws = principal.workspace_id();
        let now = self.access.now();
        let paid = self
            .store
            .pay_order(ws, sale, order, payment_ref, now)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("order {order} of flash sale {sale}")))?;
        match paid.status {
            super::store::OrderStatus::Paid if paid.settled_at == Some(now) => {
                let properties = serde_json::json!({ "sale_id": sale, "order_id": order });
                let event = NewEvent::recorded(paid.customer, FLASH_SALE_ORDER_PAID, properties.to_string(), now);
                self.events.append_and_index(ws, &[event]).await?;
                Ok(paid.into())
            }
            super::store::OrderStatus::Paid => Ok(paid.into()),
            _ => Err(DomainError::Conflict(format!(
                "order {order} was released unpaid at {}; its unit went back on sale",
                paid.settled_at.map(|at| at.to_string()).unwrap_or_default()
            ))),
        }
    }

    /// Returns a sale's gate, loading it (the sale and its buyers) on first use.
    async fn gate(&self, ws: WorkspaceId, id: i64) -> DomainResult<Arc<Gate>> {
        if let Some(gate) = self.gates.read().expect("gates lock is never poisoned").get(&(ws, id)) {
            return Ok(gate.clone());
        }
        let _turn = self.loading.lock().await;
        if let Some(gate) = self.gates.read().expect("gates lock is never poisoned").get(&(ws, id)) {
            return Ok(gate.clone());
        }
        let sale = self.store.flash_sale(ws, id).await?.ok_or_else(|| sale_not_found(id))?;
        let buyers = self.store.flash_buyers(ws, id).await?;
        let gate = Arc::new(Gate::new(sale, buyers.into_iter().map(|(c, n)| (c.0, n))));
        self.gates.write().expect("gates lock is never poisoned").insert((ws, id), gate.clone());
        Ok(gate)
    }

    /// A flash sale as the customer sees it.
    pub async fn public_flash_sale(&self, pass: &CustomerPass, id: i64) -> DomainResult<PublicSaleView> {
        let gate = self.gate(pass.workspace, id).await?;
        let sale = &gate.sale;
        Ok(PublicSaleView {
            id: sale.id,
            title: sale.title.clone(),
            price_fen: sale.price_fen,
            stock: sale.stock,
            left: gate.left(),
            starts_at: sale.starts_at,
            ends_at: sale.ends_at,
            per_customer: sale.per_customer,
            purchased: gate.held_by(pass.customer.0),
            pay_minutes: sale.pay_minutes,
        })
    }

    /// Buys one unit of a flash sale for the customer: an order that holds the unit until it is
    /// paid or its time to pay runs out. Refused, each with its own error and count, before the
    /// start or after the end, outside the sale's segment, past the customer's limit, or sold out.
    pub async fn purchase(&self, pass: &CustomerPass, id: i64) -> DomainResult<OrderView> {
        let gate = self.gate(pass.workspace, id).await?;
        gate.counters.attempted();
        let result = self.try_purchase(pass, &gate).await;
        if let Err(DomainError::Campaigns(error)) = &result {
            gate.counters.refused(error);
        }
        result
    }

    async fn try_purchase(&self, pass: &CustomerPass, gate: &Arc<Gate>) -> DomainResult<OrderView> {
        let now = self.access.now();
        let sale = &gate.sale;
        if now < sale.starts_at {
            return Err(CampaignError::NotStarted(sale.starts_at).into());
        }
        if now >= sale.ends_at {
            return Err(CampaignError::Ended(sale.ends_at).into());
        }
        if let Some(segment) = &sale.segment
            && !self.eligible(pass.workspace, segment).await?.contains(pass.customer.0 as u64)
        {
            return Err(CampaignError::NotEligible(segment.clone()).into());
        }
        let customer = pass.customer.0;
        loop {
            let settled = gate.settled();
            match gate.admit(customer, now.as_millisecond()) {
                Admit::Refuse(error) => return Err(error.into()),
                Admit::Wait => tokio::time::timeout(MOST_WAIT, settled).await.map_err(|_| CampaignError::Busy)?,
                Admit::Recheck => {
                    let stored = self.store.flash_sale(pass.workspace, sale.id).await;
                    let sold = stored.as_ref().ok().and_then(|s| s.as_ref().map(|s| s.sold));
                    gate.rechecked(sold.unwrap_or(sale.stock));
                    stored?;
                }
                Admit::Go => break,
            }
        }
        // The store's work runs to its end even if the customer goes away meanwhile: the gate's
        // hold on the unit is settled either way.
        let this = self.clone();
        let (gate, ws, customer_id) = (gate.clone(), pass.workspace, pass.customer);
        let task = tokio::spawn(async move {
            let pay_by = now + jiff::SignedDuration::from_mins(gate.sale.pay_minutes);
            let outcome = this.store.purchase(ws, gate.sale.id, customer_id, now, pay_by).await;
            gate.settle(customer_id.0, outcome.as_ref().ok(), this.now_ms());
            match outcome? {
                Purchase::Placed(order) => {
                    let properties = serde_json::json!({
                        "sale_id": gate.sale.id,
                        "order_id": order.id,
                        "sku": gate.sale.sku,
                        "title": gate.sale.title,
                        "price_fen": gate.sale.price_fen,
                    });
                    let event =
                        NewEvent::recorded(order.customer, FLASH_SALE_ORDER_PLACED, properties.to_string(), now);
                    this.events.append_and_index(ws, &[event]).await?;
                    Ok(order.into())
                }
                Purchase::SoldOut { .. } => Err(CampaignError::SoldOut.into()),
                Purchase::LimitReached => Err(CampaignError::LimitReached(gate.sale.per_customer).into()),
                Purchase::Gone => Err(DomainError::NotFound(format!("customer {customer_id}"))),
            }
        });
        task.await.map_err(|e| DomainError::internal(format!("a purchase's task failed: {e}")))?
    }

    /// A segment's members as last read (again once older than five seconds).
    async fn eligible(&self, ws: WorkspaceId, key: &str) -> DomainResult<Arc<RoaringTreemap>> {
        let now = self.now_ms();
        let mut eligible = self.eligible.lock().await;
        if let Some((members, at)) = eligible.get(&(ws, key.to_string()))
            && now - at < ELIGIBLE_FOR_MS
        {
            return Ok(members.clone());
        }
        let members = Arc::new(self.segments.members_now(ws, key).await?);
        eligible.insert((ws, key.to_string()), (members.clone(), now));
        Ok(members)
    }

    /// Releases the orders not paid in time, giving their units back (the release worker's
    /// round); returns how many were released.
    pub async fn release_unpaid(&self) -> DomainResult<usize> {
        let now = self.access.now();
        let mut released = 0;
        for ws in self.store.workspaces_with_unpaid(now).await? {
            loop {
                let orders = self.store.release_unpaid(ws, now, RELEASE_BATCH).await?;
                let mut by_sale: HashMap<i64, Vec<i64>> = HashMap::new();
                for order in &orders {
                    by_sale.entry(order.sale_id).or_default().push(order.customer.0);
                }
                for (sale, customers) in by_sale {
                    let gate = self.gates.read().expect("gates lock is never poisoned").get(&(ws, sale)).cloned();
                    if let Some(gate) = gate {
                        gate.released(&customers);
                    }
                }
                let events: Vec<NewEvent> = orders
                    .iter()
                    .map(|o| {
                        let properties = serde_json::json!({ "sale_id": o.sale_id, "order_id": o.id });
                        NewEvent::recorded(o.customer, FLASH_SALE_ORDER_RELEASED, properties.to_string(), now)
                    })
                    .collect();
                if !events.is_empty() {
                    self.events.append_and_index(ws, &events).await?;
                }
                released += orders.len();
                if orders.len() < RELEASE_BATCH {
                    break;
                }
            }
        }
        Ok(released)
    }

    /// When the next reserved order falls due, if any.
    pub async fn next_release_due(&self) -> DomainResult<Option<jiff::Timestamp>> {
        Ok(self.store.next_pay_by().await?)
    }

    /// Saves the attempts and refusals counted in memory since the last call (each sale's, and the
    /// coupons').
    pub async fn save_attempt_counts(&self) -> DomainResult<()> {
        self.save_refusals().await?;
        let gates: Vec<((WorkspaceId, i64), Arc<Gate>)> =
            self.gates.read().expect("gates lock is never poisoned").iter().map(|(k, g)| (*k, g.clone())).collect();
        let _one = self.flushing.try_lock();
        if _one.is_err() {
            return Ok(());
        }
        for ((ws, sale), gate) in gates {
            let counts = gate.counters.take();
            if counts.is_empty() {
                continue;
            }
            if let Err(error) = self.store.add_attempts(ws, sale, &counts).await {
                gate.counters.restore(&counts);
                return Err(error.into());
            }
        }
        Ok(())
    }
}

fn sale_not_found(id: i64) -> DomainError {
    DomainError::NotFound(format!("flash sale {id}"))
}
