//! The lotteries' use cases: created with a fresh secret seed whose hash is published at once,
//! shown to customers with their rules and odds, drawn (the limits of the workspace's local day and
//! in all, extra chances, each prize held to its stock; a prize with a coupon template gives a
//! coupon), chances granted, and the audit — prizes, every draw and, once closed, the seed — that
//! `siyu lottery verify` checks.

use super::Campaigns;
use super::lottery::{self, DrawOutcome, LotteryAudit, LotteryInput, Prize, StoredLottery};
use super::lottery_store::{DrawLimits, Drawn};
use super::service::CustomerPass;
use crate::access::{Permission, Principal};
use crate::error::{CampaignError, DomainError, DomainResult};
use crate::events::NewEvent;
use serde::{Deserialize, Serialize};
use siyu_core::{CustomerId, WorkspaceId};
use std::sync::Arc;
use utoipa::ToSchema;

/// The event a draw records.
pub const LOTTERY_DRAWN: &str = "Lottery Drawn";
/// What a seed is sealed for.
const SEED_CONTEXT: &str = "lottery seed";
/// The activity refusals are counted under.
const ACTIVITY: &str = "lottery";
/// The most draws an audit page lists.
const AUDIT_PAGE: usize = 10_000;
/// Draws committed together at most.
const DRAW_BATCH: usize = 500;
/// A draw waiting for its lottery's committer: the customer and where its outcome goes.
type QueuedDraw = (CustomerId, tokio::sync::oneshot::Sender<DomainResult<Drawn>>);

/// A lottery as its draws need it: the row and the seed, opened once (a lottery does not change
/// once created, so every node may keep it).
pub(crate) struct OpenLottery {
    lottery: StoredLottery,
    seed: Vec<u8>,
}

/// The lotteries opened so far, by workspace and id.
pub(crate) type OpenLotteries = std::collections::HashMap<(WorkspaceId, i64), Arc<OpenLottery>>;

/// A lottery's draws waiting to be committed, and whether a committer is at work on them.
#[derive(Default)]
pub(crate) struct DrawQueue {
    pending: Vec<QueuedDraw>,
    active: bool,
}

/// The most draws one audit holds.
pub const MAX_AUDIT: usize = 5_000_000;

/// A prize with its odds and how many were given.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PrizeView {
    /// Key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Weight.
    pub weight: i64,
    /// The chance a draw comes up with it (weight over all weights).
    pub probability: f64,
    /// How many can be won.
    pub stock: i64,
    /// How many were won.
    pub awarded: i64,
    /// The coupon template a winner gets a coupon of.
    pub coupon_template: Option<i64>,
}

/// A lottery, its rules, odds and commitment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LotteryView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Closes.
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    /// Prizes in their order.
    pub prizes: Vec<PrizeView>,
    /// No prize's weight.
    pub no_prize_weight: i64,
    /// The chance of no prize.
    pub no_prize_probability: f64,
    /// Draws a customer may make a day.
    pub per_day: i64,
    /// Draws in all before extra chances, if limited.
    pub total: Option<i64>,
    /// The rules text.
    pub rules: String,
    /// SHA-256 of the secret seed, hex: published before the start.
    pub seed_hash: String,
    /// The seed, hex, once the lottery has closed (anyone can then verify every draw).
    pub seed: Option<String>,
    /// The draw function, in words.
    pub draw_function: String,
}

/// A customer's draw.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DrawView {
    /// The draw's id.
    pub id: i64,
    /// The customer's draw number.
    pub n: i64,
    /// What happened.
    pub outcome: DrawOutcome,
    /// The prize won (or that came up out of stock).
    pub prize: Option<String>,
    /// Its name.
    pub prize_name: Option<String>,
    /// The code of the coupon the prize gave, if it gives one.
    pub coupon_code: Option<String>,
}

/// Extra chances to grant.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChancesInput {
    /// The customer.
    pub customer_id: i64,
    /// Chances to add (1 to 100).
    pub chances: i64,
}

/// The draw function as published on every lottery.
pub const DRAW_FUNCTION: &str = "roll = first 8 bytes, big-endian, of HMAC-SHA256(key = seed, message = \
    \"{lottery_id}:{customer_id}:{n}\"); point = roll mod (sum of prize weights + no_prize_weight); prizes are \
    walked in order, each covering weight points; past them: no prize. A prize whose stock is gone is recorded \
    out_of_stock (no prize).";

fn probability(weight: i64, total: i64) -> f64 {
    if total == 0 { 0.0 } else { weight as f64 / total as f64 }
}

impl Campaigns {
    async fn stored_lottery(&self, ws: WorkspaceId, id: i64) -> DomainResult<StoredLottery> {
        self.lotteries.lottery(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("lottery {id}")))
    }

    async fn seed_of(&self, ws: WorkspaceId, l: &StoredLottery) -> DomainResult<Vec<u8>> {
        Ok(self.access.data_key(ws).await?.open_bytes(&l.sealed_seed, SEED_CONTEXT)?)
    }

    async fn lottery_view(&self, ws: WorkspaceId, l: StoredLottery) -> DomainResult<LotteryView> {
        let awarded = self.lotteries.awarded(ws, l.id).await?;
        let total: i64 = l.prizes.iter().map(|p| p.weight).sum::<i64>() + l.no_prize_weight;
        let seed = if self.access.now() >= l.ends_at { Some(hex::encode(self.seed_of(ws, &l).await?)) } else { None };
        Ok(LotteryView {
            id: l.id,
            name: l.name,
            starts_at: l.starts_at,
            ends_at: l.ends_at,
            prizes: l
                .prizes
                .iter()
                .map(|p| PrizeView {
                    key: p.key.clone(),
                    name: p.name.clone(),
                    weight: p.weight,
                    probability: probability(p.weight, total),
                    stock: p.stock,
                    awarded: awarded.iter().find(|(k, _)| *k == p.key).map_or(0, |(_, n)| *n),
                    coupon_template: p.coupon_template,
                })
                .collect(),
            no_prize_weight: l.no_prize_weight,
            no_prize_probability: probability(l.no_prize_weight, total),
            per_day: l.per_day,
            total: l.total,
            rules: l.rules,
            seed_hash: l.seed_hash,
            seed,
            draw_function: DRAW_FUNCTION.into(),
        })
    }

    /// Creates a lottery with a fresh secret seed (sealed at rest) and publishes its hash.
    pub async fn create_lottery(&self, principal: &Principal, input: LotteryInput) -> DomainResult<LotteryView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let mut l = input.into_lottery(self.access.now())?;
        for (i, prize) in l.prizes.iter().enumerate() {
            if let Some(template) = prize.coupon_template
                && self.coupons.coupon_template(ws, template).await?.is_none()
            {
                return Err(DomainError::invalid(
                    format!("prizes[{i}].coupon_template"),
                    format!("there is no coupon template {template}"),
                ));
            }
        }
        let seed = siyu_core::crypto::random_bytes::<32>()?;
        l.seed_hash = lottery::seed_hash(&seed);
        l.sealed_seed = self.access.data_key(ws).await?.seal_bytes(&seed, SEED_CONTEXT)?;
        l.id = self.lotteries.insert_lottery(ws, &l).await?;
        self.access.audit(principal, "lottery.create", &format!("lottery:{}", l.id)).await?;
        self.lottery_view(ws, l).await
    }

    /// The workspace's lotteries, newest first.
    pub async fn lotteries(&self, principal: &Principal) -> DomainResult<Vec<LotteryView>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let mut views = Vec::new();
        for l in self.lotteries.lotteries(ws).await? {
            views.push(self.lottery_view(ws, l).await?);
        }
        Ok(views)
    }

    /// A lottery with its prizes' counts.
    pub async fn lottery(&self, principal: &Principal, id: i64) -> DomainResult<LotteryView> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let l = self.stored_lottery(ws, id).await?;
        self.lottery_view(ws, l).await
    }

    /// A lottery's rules, odds and seed hash as a customer sees them (before it opens, too).
    pub async fn lottery_rules(&self, pass: &CustomerPass, id: i64) -> DomainResult<LotteryView> {
        let ws = pass.workspace();
        let l = self.stored_lottery(ws, id).await?;
        self.lottery_view(ws, l).await
    }

    /// Whether the workspace has the lottery (a journey's action names it).
    pub(crate) async fn has_lottery(&self, ws: WorkspaceId, id: i64) -> DomainResult<bool> {
        Ok(self.lotteries.lottery(ws, id).await?.is_some())
    }

    /// The workspace's time zone (UTC when it names none this siyu knows).
    pub(crate) async fn zone(&self, ws: WorkspaceId) -> DomainResult<jiff::tz::TimeZone> {
        Ok(self
            .access
            .stores
            .workspaces
            .find(ws)
            .await?
            .and_then(|w| jiff::tz::TimeZone::get(&w.time_zone).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC))
    }

    /// The lottery with its seed opened: read once, then kept.
    async fn open_lottery(&self, ws: WorkspaceId, id: i64) -> DomainResult<Arc<OpenLottery>> {
        let kept = self.open_lotteries.lock().expect("lottery cache lock is never poisoned").get(&(ws, id)).cloned();
        if let Some(open) = kept {
            return Ok(open);
        }
        let lottery = self.stored_lottery(ws, id).await?;
        let seed = self.seed_of(ws, &lottery).await?;
        let open = Arc::new(OpenLottery { lottery, seed });
        self.open_lotteries.lock().expect("lottery cache lock is never poisoned").insert((ws, id), open.clone());
        Ok(open)
    }

    /// Draws once for the customer.
    pub async fn draw(&self, pass: &CustomerPass, id: i64) -> DomainResult<DrawView> {
        let ws = pass.workspace();
        let open = self.open_lottery(ws, id).await?;
        let result = self.try_draw(pass, open).await;
        self.count_refusal(ws, ACTIVITY, id, result)
    }

    async fn try_draw(&self, pass: &CustomerPass, open: Arc<OpenLottery>) -> DomainResult<DrawView> {
        let ws = pass.workspace();
        let now = self.access.now();
        let l = &open.lottery;
        if now < l.starts_at {
            return Err(CampaignError::NotStarted(l.starts_at).into());
        }
        if now >= l.ends_at {
            return Err(CampaignError::Ended(l.ends_at).into());
        }
        let drawn = self.queue_draw(ws, open.clone(), pass.customer()).await?;
        let record = match drawn {
            Drawn::Recorded(record) => record,
            Drawn::DailyLimit => return Err(CampaignError::DailyDrawLimit(l.per_day).into()),
            Drawn::TotalLimit => return Err(CampaignError::NoDrawsLeft.into()),
            Drawn::Gone => return Err(DomainError::NotFound(format!("customer {}", pass.customer()))),
        };
        let prize: Option<&Prize> = record.prize.as_ref().and_then(|k| l.prizes.iter().find(|p| &p.key == k));
        let mut coupon_code = None;
        if record.outcome == DrawOutcome::Won
            && let Some(template) = prize.and_then(|p| p.coupon_template)
            && let Some(stored) = self.coupons.coupon_template(ws, template).await?
        {
            match self.issue_reward(ws, &stored, CustomerId(record.customer_id)).await {
                Ok(code) => coupon_code = Some(code),
                Err(error) => {
                    tracing::warn!(lottery = l.id, draw = record.id, %error, "a prize's coupon was not issued")
                }
            }
        }
        Ok(DrawView {
            id: record.id,
            n: record.n,
            outcome: record.outcome,
            prize_name: prize.map(|p| p.name.clone()),
            prize: record.prize,
            coupon_code,
        })
    }

    /// Queues a draw for the lottery's committer and waits for its outcome. Draws of one lottery
    /// that arrive while a batch is being committed are committed together next (one commit and
    /// one event append for many draws, each still checked and recorded on its own); the
    /// committer is a task of its own, so a customer who goes away does not strand the others.
    async fn queue_draw(&self, ws: WorkspaceId, open: Arc<OpenLottery>, customer: CustomerId) -> DomainResult<Drawn> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let start = {
            let mut queues = self.draw_queues.lock().expect("draw queue lock is never poisoned");
            let queue = queues.entry((ws, open.lottery.id)).or_default();
            queue.pending.push((customer, sender));
            !std::mem::replace(&mut queue.active, true)
        };
        if start {
            let this = self.clone();
            tokio::spawn(async move { this.commit_draws(ws, open).await });
        }
        receiver.await.map_err(|_| DomainError::internal("a draw's committer stopped"))?
    }

    /// Commits a lottery's queued draws, batch after batch, until none is left. A batch's events
    /// are appended, and its customers answered, while the next batch commits: the committer's
    /// turn is the database's commit alone.
    async fn commit_draws(&self, ws: WorkspaceId, open: Arc<OpenLottery>) {
        let l = &open.lottery;
        let pick = |customer: i64, n: i64| {
            lottery::pick(lottery::roll(&open.seed, l.id, customer, n), &l.prizes, l.no_prize_weight)
        };
        // Read once a run (a run lasts while draws keep coming).
        let zone = self.zone(ws).await;
        loop {
            let batch: Vec<QueuedDraw> = {
                let mut queues = self.draw_queues.lock().expect("draw queue lock is never poisoned");
                let Some(queue) = queues.get_mut(&(ws, l.id)) else { return };
                if queue.pending.is_empty() {
                    queues.remove(&(ws, l.id));
                    return;
                }
                let take = queue.pending.len().min(DRAW_BATCH);
                queue.pending.drain(..take).collect()
            };
            let committed = match &zone {
                Ok(zone) => self.commit_batch(ws, l, zone, &batch, &pick).await,
                Err(error) => Err(DomainError::internal(format!("the workspace's time zone: {error}"))),
            };
            match committed {
                Ok((drawn, events)) => {
                    let this = self.clone();
                    tokio::spawn(async move {
                        // A draw committed is the customer's even if its event could not be logged
                        // (that is logged as a warning, not answered as a failure to retry).
                        if !events.is_empty()
                            && let Err(error) = this.events.append_and_index(ws, &events).await
                        {
                            tracing::warn!(draws = events.len(), %error, "draws committed, their events not logged");
                        }
                        for ((_, sender), outcome) in batch.into_iter().zip(drawn) {
                            let _ = sender.send(Ok(outcome));
                        }
                    });
                }
                Err(error) => {
                    let text = error.to_string();
                    for (_, sender) in batch {
                        let _ = sender.send(Err(match &error {
                            DomainError::Campaigns(refusal) => DomainError::Campaigns(refusal.clone()),
                            _ => DomainError::internal(format!("a batch of draws failed: {text}")),
                        }));
                    }
                }
            }
        }
    }

    /// Commits one batch at one moment of the workspace's local day; returns the outcomes and the
    /// events of the draws recorded.
    async fn commit_batch(
        &self,
        ws: WorkspaceId,
        l: &StoredLottery,
        zone: &jiff::tz::TimeZone,
        batch: &[QueuedDraw],
        pick: &(dyn Fn(i64, i64) -> Option<usize> + Send + Sync),
    ) -> DomainResult<(Vec<Drawn>, Vec<NewEvent>)> {
        let now = self.access.now();
        if now >= l.ends_at {
            return Err(CampaignError::Ended(l.ends_at).into());
        }
        let day = super::checkin::day_number(now.to_zoned(zone.clone()).date());
        let limits = DrawLimits { day, per_day: l.per_day, total: l.total, at: now };
        let draws: Vec<(CustomerId, DrawLimits)> = batch.iter().map(|(customer, _)| (*customer, limits)).collect();
        let drawn = self.lotteries.draw_many(ws, l.id, &draws, &l.prizes, pick).await?;
        let events: Vec<NewEvent> = drawn
            .iter()
            .filter_map(|d| match d {
                Drawn::Recorded(record) => Some(record),
                _ => None,
            })
            .map(|record| {
                let properties = serde_json::json!({
                    "lottery_id": l.id, "draw_id": record.id, "n": record.n,
                    "outcome": record.outcome.as_str(), "prize": record.prize,
                });
                NewEvent::recorded(CustomerId(record.customer_id), LOTTERY_DRAWN, properties.to_string(), now)
            })
            .collect();
        Ok((drawn, events))
    }

    /// Grants a customer extra draws (an invite, a check-in, a task done).
    pub async fn grant_chances(&self, principal: &Principal, id: i64, input: &ChancesInput) -> DomainResult<()> {
        principal.require(Permission::CampaignsManage)?;
        if !(1..=100).contains(&input.chances) {
            return Err(DomainError::invalid("chances", format!("{} is not from 1 to 100", input.chances)));
        }
        let ws = principal.workspace_id();
        self.stored_lottery(ws, id).await?;
        let live = self
            .customers
            .stores
            .customers
            .resolve(ws, CustomerId(input.customer_id))
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("customer {}", input.customer_id)))?;
        self.lotteries.add_chances(ws, id, live, input.chances, None).await?;
        Ok(())
    }

    /// A journey's extra chances: given once per grant key (the journey's entry and node).
    /// Returns whether they were given now (not when the key was used before).
    pub(crate) async fn grant_chances_for_journey(
        &self,
        ws: WorkspaceId,
        lottery: i64,
        customer: CustomerId,
        chances: i64,
        grant_key: &str,
    ) -> DomainResult<bool> {
        self.stored_lottery(ws, lottery).await?;
        let Some(live) = self.customers.stores.customers.resolve(ws, customer).await? else {
            return Err(DomainError::NotFound(format!("customer {customer}")));
        };
        Ok(self.lotteries.add_chances(ws, lottery, live, chances, Some(grant_key)).await?)
    }

    /// A lottery's audit: its prizes, every draw and, once it has closed, its seed.
    pub async fn lottery_audit(&self, principal: &Principal, id: i64) -> DomainResult<LotteryAudit> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let l = self.stored_lottery(ws, id).await?;
        let mut draws = Vec::new();
        loop {
            let page = self
                .lotteries
                .draws(ws, id, draws.last().map_or(0, |d: &lottery::DrawRecord| d.id), AUDIT_PAGE)
                .await?;
            let done = page.len() < AUDIT_PAGE;
            draws.extend(page);
            if done || draws.len() >= MAX_AUDIT {
                break;
            }
        }
        let seed = if self.access.now() >= l.ends_at { Some(hex::encode(self.seed_of(ws, &l).await?)) } else { None };
        Ok(LotteryAudit {
            lottery_id: l.id,
            prizes: l.prizes,
            no_prize_weight: l.no_prize_weight,
            seed_hash: l.seed_hash,
            seed,
            draws,
        })
    }
}
