//! Built-in models as use cases: settings read and saved, models computed from the live index and
//! kept per workspace until their refresh interval passes (or settings change, or on demand), and
//! the answers for the API, CLI, console and the customer 360 page.

use super::Models;
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult};
use crate::models::ModelError;
use crate::models::{
    GroupCount, HeatCell, ModelSettings, ModelsSummary, NO_ORDER_DATA, Named, RfmModelAnswer, StageFlow,
};
use siyu_analytics::Index;
use siyu_analytics::ltv::{self, BgNbd, GammaGamma};
use siyu_analytics::models::{self as kernel, CustomerModel, RfmClass, Stage, Tier};
use siyu_core::{CustomerId, Page, PageRequest, WorkspaceId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A workspace's computed models.
pub struct ComputedModels {
    /// When they were computed.
    pub computed_at: jiff::Timestamp,
    /// The instant they describe, µs.
    pub as_of_us: i64,
    /// The settings they used.
    pub settings: ModelSettings,
    /// Every customer's models, sorted by customer id.
    pub models: kernel::Models,
    index: Index,
    /// This computation's LTV fit, set once by the fit that follows the computation in the
    /// background.
    ltv: OnceLock<Arc<LtvOutcome>>,
    /// The last finished fit when these models were computed, answered while this one's runs.
    previous_ltv: Option<Arc<LtvOutcome>>,
    ltv_done: tokio::sync::Notify,
}

/// A finished LTV fit: its data's instant, and the fit or why there is none.
#[derive(Debug)]
pub struct LtvOutcome {
    /// The instant the fit describes, µs.
    pub as_of_us: i64,
    /// The fit (converged or not), or why none could be made.
    pub result: Result<LtvFit, String>,
    /// How long the fit took, in seconds.
    pub fit_seconds: f64,
}

/// Where a computation's LTV fit stands.
pub enum LtvState<'a> {
    /// Fitted: this computation's outcome.
    Fitted(&'a LtvOutcome),
    /// Still being fitted in the background; the last finished outcome, made as of an earlier
    /// instant, if there is one.
    Fitting(Option<&'a LtvOutcome>),
}

/// A workspace's LTV fit and each buyer's predictions.
#[derive(Clone, Debug)]
pub struct LtvFit {
    /// BG/NBD parameters (time in days) and whether they converged.
    pub bgnbd: BgNbd,
    /// Gamma-Gamma parameters, when enough buyers repeated (used for value only if converged).
    pub gamma_gamma: Option<GammaGamma>,
    /// Predictions per buyer, sorted by customer id; empty unless BG/NBD converged.
    pub customers: Vec<CustomerLtv>,
}

impl LtvFit {
    /// Returns whether the BG/NBD fit converged (only then are there predictions).
    pub fn converged(&self) -> bool {
        self.bgnbd.convergence.converged()
    }
}

/// One buyer's LTV predictions over the workspace's horizon.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerLtv {
    /// The customer.
    pub customer: i64,
    /// Probability the customer is still alive (will buy again).
    pub p_alive: f64,
    /// Expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected value over the horizon, in the workspace currency (without a converged
    /// Gamma-Gamma fit: 0).
    pub expected_value: f64,
}

impl ComputedModels {
    /// Returns a customer's models.
    pub fn customer(&self, id: i64) -> Option<&CustomerModel> {
        let i = self.models.customers.binary_search_by_key(&id, |c| c.customer).ok()?;
        Some(&self.models.customers[i])
    }

    /// Returns the LTV fit predictions may use, without waiting: this computation's once fitted,
    /// if it converged; while it is being fitted, the last finished fit, if that converged.
    pub fn ltv(&self) -> Option<&LtvFit> {
        let outcome = self.ltv.get().or(self.previous_ltv.as_ref())?;
        outcome.result.as_ref().ok().filter(|fit| fit.converged())
    }

    /// Returns where this computation's LTV fit stands, without waiting.
    pub fn ltv_state(&self) -> LtvState<'_> {
        match self.ltv.get() {
            Some(outcome) => LtvState::Fitted(outcome),
            None => LtvState::Fitting(self.previous_ltv.as_deref()),
        }
    }

    /// Waits for this computation's LTV fit (for the CLI and tests; requests never wait).
    pub async fn ltv_fitted(&self) -> &LtvOutcome {
        loop {
            let notified = self.ltv_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(outcome) = self.ltv.get() {
                return outcome;
            }
            notified.await;
        }
    }

    /// The last finished fit: this computation's, else the one it inherited.
    fn finished_ltv(&self) -> Option<Arc<LtvOutcome>> {
        self.ltv.get().cloned().or_else(|| self.previous_ltv.clone())
    }

    /// Fits LTV to these models' orders (CPU-bound: on the blocking pool) and publishes it.
    fn fit_ltv(&self, gate: &tokio::sync::RwLock<()>) {
        let _open = gate.blocking_read();
        let started = std::time::Instant::now();
        let result = fit_ltv(&self.index, self.as_of_us, self.settings.ltv_horizon_days);
        self.finish_ltv(result, started.elapsed().as_secs_f64());
    }

    fn finish_ltv(&self, result: Result<LtvFit, String>, fit_seconds: f64) {
        let _ = self.ltv.set(Arc::new(LtvOutcome { as_of_us: self.as_of_us, result, fit_seconds }));
        self.ltv_done.notify_waiters();
    }
}

fn fit_ltv(index: &Index, as_of_us: i64, horizon_days: i64) -> Result<LtvFit, String> {
    let mut rows = kernel::purchase_summaries(index, as_of_us);
    if rows.is_empty() {
        return Err(NO_ORDER_DATA.into());
    }
    rows.sort_unstable_by_key(|(id, _)| *id);
    let summaries: Vec<ltv::Summary> = rows.iter().map(|(_, s)| *s).collect();
    let bgnbd = ltv::fit_bgnbd(&summaries).map_err(|e| e.to_string())?;
    let gamma_gamma = ltv::fit_gamma_gamma(&summaries).ok();
    if !bgnbd.convergence.converged() {
        // A fit that did not converge is reported, never used for predictions.
        return Ok(LtvFit { bgnbd, gamma_gamma, customers: Vec::new() });
    }
    let spend = gamma_gamma.filter(|g| g.convergence.converged());
    let horizon = horizon_days as f64;
    let customers = rows
        .iter()
        .map(|(id, s)| {
            let expected_purchases = bgnbd.expected_purchases(s, horizon);
            let spend = spend.map_or(0.0, |g| g.expected_spend(s));
            CustomerLtv {
                customer: *id,
                p_alive: bgnbd.p_alive(s),
                expected_purchases,
                expected_value: expected_purchases * spend,
            }
        })
        .collect();
    Ok(LtvFit { bgnbd, gamma_gamma, customers })
}

/// The models kept per workspace and the computations under way: requests read the kept models
/// and never wait for a computation, except the very first of a workspace (which they wait for
/// without its LTV fit).
#[derive(Default)]
pub(crate) struct KeptModels {
    workspaces: std::sync::Mutex<HashMap<WorkspaceId, Arc<Kept>>>,
    /// Every LTV fit takes this for reading while it runs (see [`Models::pause_model_fits`]).
    fit_gate: Arc<tokio::sync::RwLock<()>>,
}

struct Kept {
    /// The last computed models and the number of computations ended (to wake those waiting for
    /// the first).
    published: tokio::sync::watch::Sender<Published>,
    /// Held by the one computation under way, through its LTV fit.
    computing: Arc<tokio::sync::Mutex<()>>,
    /// A computation asked for while one was under way: the instant to compute as of (inner
    /// `None`: now).
    pending: std::sync::Mutex<Option<Option<jiff::Timestamp>>>,
    /// The settings changed since the kept models were computed.
    settings_changed: AtomicBool,
}

#[derive(Default)]
struct Published {
    models: Option<Arc<ComputedModels>>,
    ended: u64,
    error: Option<String>,
}

impl KeptModels {
    fn of(&self, ws: WorkspaceId) -> Arc<Kept> {
        let mut all = self.workspaces.lock().expect("models lock is never poisoned");
        all.entry(ws)
            .or_insert_with(|| {
                Arc::new(Kept {
                    published: tokio::sync::watch::Sender::new(Published::default()),
                    computing: Default::default(),
                    pending: Default::default(),
                    settings_changed: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// Returns the workspace's last computed models, if any (never waits).
    pub(crate) fn current(&self, ws: WorkspaceId) -> Option<Arc<ComputedModels>> {
        let kept = self.workspaces.lock().expect("models lock is never poisoned").get(&ws).cloned()?;
        kept.published.borrow().models.clone()
    }
}

/// A customer's models as the 360 page shows them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerModelView {
    /// The instant the models describe.
    pub as_of: String,
    /// Lifecycle stage key and names.
    pub stage: GroupCount,
    /// Value tier (none: `null`).
    pub tier: Option<GroupCount>,
    /// RFM scores [R, F, M] (without orders: `null`).
    pub rfm: Option<[u8; 3]>,
    /// RFM class (without orders: `null`).
    pub rfm_class: Option<GroupCount>,
    /// Orders.
    pub orders: u32,
    /// Order revenue, in the workspace currency.
    pub monetary: f64,
    /// Days since the last order.
    pub recency_days: Option<i64>,
    /// Health score 0..100.
    pub health: u8,
    /// Last interaction.
    pub last_active: String,
    /// When the customer went on the recall list (not on it: `null`).
    pub recall_since: Option<String>,
    /// LTV predictions (no orders, or no converged fit yet: `null`).
    pub ltv: Option<CustomerLtv>,
    /// Churn risk: 1 − probability alive (no fit or no orders: `null`).
    pub churn_risk: Option<f64>,
}

/// One customer on the recall list.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RecallEntry {
    /// The customer.
    pub customer_id: CustomerId,
    /// When the churn warning was raised (last interaction + `churn_days`).
    pub since: String,
    /// Last interaction.
    pub last_active: String,
    /// Health score, by which the list is ordered (highest first: the likeliest to come back).
    pub health: u8,
    /// Lifecycle stage.
    pub stage: String,
    /// Orders.
    pub orders: u32,
    /// Order revenue, in the workspace currency.
    pub monetary: f64,
}

/// Where the LTV answer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LtvStatus {
    /// The fit converged: the predictions follow.
    Fitted,
    /// The fit did not converge (`problem` says how): its parameters are shown, and nothing is
    /// predicted from them.
    NotConverged,
    /// The workspace's first fit is under way in the background: nothing to show yet.
    Computing,
}

/// The LTV model's answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LtvAnswer {
    /// The instant the fit describes (empty while the first fit is under way).
    pub as_of: String,
    /// Days the predictions look ahead.
    pub horizon_days: i64,
    /// Whether the fit converged (only then are there predictions).
    pub status: LtvStatus,
    /// A newer fit is under way in the background; this answer is the last finished one.
    pub computing: bool,
    /// Why the fit is not used for predictions (status `not_converged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// BG/NBD parameters (time unit: days): r, alpha, a, b, log_likelihood; `converged`,
    /// `convergence` (`converged`, `budget_spent` or `at_bound`), `bound_parameter` (the one that
    /// ran to the edge of its range) and `evaluations` (`null` while the first fit is under way).
    pub bgnbd: serde_json::Value,
    /// Gamma-Gamma parameters p, q, v, `converged` and `evaluations` (`null` without enough
    /// repeat buyers); value is predicted only when it converged.
    pub gamma_gamma: Option<serde_json::Value>,
    /// Buyers predicted.
    pub customers: u64,
    /// Sum of expected value over the horizon.
    pub total_expected_value: f64,
    /// Expected value per buyer in ten equal-count bands (deciles), lowest first: each band's mean.
    pub value_deciles: Vec<f64>,
    /// Buyers per probability-alive band 0–0.1, …, 0.9–1.
    pub p_alive_bands: Vec<u64>,
}

fn instant(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map(|t| t.to_string()).unwrap_or_default()
}

fn currency(cents: i64) -> f64 {
    cents as f64 / 100.0
}

impl Models {
    /// Returns the workspace's model settings (the defaults until some are saved).
    pub async fn model_settings(&self, principal: &Principal) -> DomainResult<ModelSettings> {
        principal.require(Permission::AnalyticsRead)?;
        self.stored_model_settings(principal.workspace_id()).await
    }

    async fn stored_model_settings(&self, ws: WorkspaceId) -> DomainResult<ModelSettings> {
        match self.access.stores.workspaces.model_settings(ws).await? {
            None => Ok(ModelSettings::default()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| DomainError::internal_from("stored model settings are unreadable", e)),
        }
    }

    /// Checks and saves the workspace's model settings; the models are recomputed with them in
    /// the background at once (until then, requests read the models computed before).
    pub async fn set_model_settings(&self, principal: &Principal, settings: &ModelSettings) -> DomainResult<()> {
        principal.require(Permission::SegmentsManage)?;
        settings.validate()?;
        let json = serde_json::to_string(settings)
            .map_err(|e| DomainError::internal_from("writing model settings failed", e))?;
        self.access.stores.workspaces.set_model_settings(principal.workspace_id(), &json, self.access.now()).await?;
        let kept = self.computed.of(principal.workspace_id());
        kept.settings_changed.store(true, Ordering::Release);
        if kept.published.borrow().models.is_some() {
            self.schedule(principal.workspace_id(), None);
        }
        self.access.audit(principal, "models.settings", "models").await
    }

    /// Returns the workspace's models without waiting for a computation: the last computed ones
    /// (a newer computation is scheduled in the background once they are older than
    /// `refresh_minutes` or the settings changed). Only a workspace's very first models are
    /// waited for, and never their LTV fit.
    pub async fn customer_models(&self, principal: &Principal) -> DomainResult<Arc<ComputedModels>> {
        principal.require(Permission::AnalyticsRead)?;
        self.models_of(principal.workspace_id()).await
    }

    /// [`Models::customer_models`] for a caller that checked its own permission.
    pub(crate) async fn models_of(&self, ws: WorkspaceId) -> DomainResult<Arc<ComputedModels>> {
        let kept = self.computed.of(ws);
        let mut published = kept.published.subscribe();
        let (current, ended) = {
            let seen = published.borrow_and_update();
            (seen.models.clone(), seen.ended)
        };
        if let Some(models) = current {
            let age = self.access.now().duration_since(models.computed_at);
            let stale =
                age.as_secs() >= models.settings.refresh_minutes * 60 || kept.settings_changed.load(Ordering::Acquire);
            // One computation under way is enough: asking again would run another after it.
            if stale && !self.models_refreshing(ws) {
                self.schedule(ws, None);
            }
            return Ok(models);
        }
        self.schedule(ws, None);
        let first = published
            .wait_for(|p| p.models.is_some() || p.ended > ended)
            .await
            .map_err(|_| DomainError::internal("the models' computation ended without an answer"))?;
        match (&first.models, &first.error) {
            (Some(models), _) => Ok(models.clone()),
            (None, error) => Err(DomainError::internal(format!(
                "the models could not be computed: {}",
                error.as_deref().unwrap_or("unknown cause")
            ))),
        }
    }

    /// Computes the workspace's models now, as of `as_of` (default: now), keeps them and waits
    /// for their LTV fit (for the CLI and benchmarks; requests use [`Models::schedule_models`]).
    pub async fn run_models(
        &self,
        principal: &Principal,
        as_of: Option<jiff::Timestamp>,
    ) -> DomainResult<Arc<ComputedModels>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let kept = self.computed.of(ws);
        let computing = kept.computing.clone().lock_owned().await;
        let computed = self.compute_models(ws, &kept, as_of).await;
        drop(computing);
        self.work_pending(ws, kept);
        computed
    }

    /// Schedules a computation of the workspace's models as of `as_of` (default: now) in the
    /// background and returns at once; requests go on reading the last computed models until it
    /// ends.
    pub async fn schedule_models(&self, principal: &Principal, as_of: Option<jiff::Timestamp>) -> DomainResult<()> {
        principal.require(Permission::AnalyticsRead)?;
        self.schedule(principal.workspace_id(), as_of);
        Ok(())
    }

    /// Waits until no computation of the workspace's models (nor their LTV fit) is under way or
    /// scheduled (for the CLI and tests).
    pub async fn models_settled(&self, principal: &Principal) -> DomainResult<()> {
        principal.require(Permission::AnalyticsRead)?;
        let kept = self.computed.of(principal.workspace_id());
        loop {
            let computing = kept.computing.lock().await;
            if kept.pending.lock().expect("models lock is never poisoned").is_none() {
                return Ok(());
            }
            drop(computing);
            self.work_pending(principal.workspace_id(), kept.clone());
        }
    }

    /// Holds every LTV fit before it starts until the returned guard is dropped: tests use it to
    /// watch requests while a fit is under way.
    pub async fn pause_model_fits(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.computed.fit_gate.clone().write_owned().await
    }

    /// Returns whether a computation of the workspace's models is under way.
    fn models_refreshing(&self, ws: WorkspaceId) -> bool {
        self.computed.of(ws).computing.try_lock().is_err()
    }

    /// Asks for a computation in the background; if one is under way, it runs this one when it
    /// ends (a later request replaces an earlier one that has not started).
    fn schedule(&self, ws: WorkspaceId, as_of: Option<jiff::Timestamp>) {
        let kept = self.computed.of(ws);
        *kept.pending.lock().expect("models lock is never poisoned") = Some(as_of);
        self.work_pending(ws, kept);
    }

    /// Starts a task that computes what was asked for, unless a computation is under way (it
    /// looks at what was asked for when it ends).
    fn work_pending(&self, ws: WorkspaceId, kept: Arc<Kept>) {
        if kept.pending.lock().expect("models lock is never poisoned").is_none() {
            return;
        }
        let Ok(mut computing) = kept.computing.clone().try_lock_owned() else { return };
        let services = self.clone();
        tokio::spawn(async move {
            loop {
                loop {
                    let next = kept.pending.lock().expect("models lock is never poisoned").take();
                    let Some(as_of) = next else { break };
                    if let Err(error) = services.compute_models(ws, &kept, as_of).await {
                        tracing::warn!(workspace = ws.0, error = %error.chain(), "model computation failed");
                    }
                }
                drop(computing);
                // A request made after the last look found the computation under way: look again.
                if kept.pending.lock().expect("models lock is never poisoned").is_none() {
                    return;
                }
                match kept.computing.clone().try_lock_owned() {
                    Ok(again) => computing = again,
                    Err(_) => return,
                }
            }
        });
    }

    /// Computes the models (one pass, on the blocking pool), publishes them, then fits LTV on the
    /// blocking pool and publishes that. The caller holds `kept.computing`.
    async fn compute_models(
        &self,
        ws: WorkspaceId,
        kept: &Kept,
        as_of: Option<jiff::Timestamp>,
    ) -> DomainResult<Arc<ComputedModels>> {
        let computed = match self.compute_kernel(ws, kept, as_of).await {
            Ok(computed) => Arc::new(computed),
            Err(error) => {
                kept.published.send_modify(|p| {
                    p.ended += 1;
                    p.error = Some(error.to_string());
                });
                return Err(error);
            }
        };
        kept.published.send_modify(|p| {
            p.models = Some(computed.clone());
            p.ended += 1;
            p.error = None;
        });
        let (fitting, gate) = (computed.clone(), self.computed.fit_gate.clone());
        if let Err(failed) = crate::background::run("ltv-fit", move || fitting.fit_ltv(&gate)).await {
            computed.finish_ltv(Err(format!("the fit failed: {failed}")), 0.0);
        }
        Ok(computed)
    }

    async fn compute_kernel(
        &self,
        ws: WorkspaceId,
        kept: &Kept,
        as_of: Option<jiff::Timestamp>,
    ) -> DomainResult<ComputedModels> {
        kept.settings_changed.store(false, Ordering::Release);
        let settings = self.stored_model_settings(ws).await?;
        let index = self.events.event_index(&Principal::system(ws)).await?;
        let as_of_us = as_of.unwrap_or_else(|| self.access.now()).as_microsecond();
        let computed_at = self.access.now();
        let previous_ltv = kept.published.borrow().models.as_ref().and_then(|m| m.finished_ltv());
        tokio::task::spawn_blocking(move || {
            let params = settings.params(&index.names, as_of_us);
            let mut models = kernel::compute(&index.columns, &params);
            models.customers.sort_unstable_by_key(|c| c.customer);
            ComputedModels {
                computed_at,
                as_of_us,
                settings,
                models,
                index: index.columns.clone(),
                ltv: OnceLock::new(),
                previous_ltv,
                ltv_done: tokio::sync::Notify::new(),
            }
        })
        .await
        .map_err(|e| DomainError::internal_from("model computation failed", e))
    }

    /// Schedules a computation for every workspace whose kept models are older than their
    /// refresh interval (the schedule; called by the server once a minute). Returns how many
    /// were scheduled.
    pub async fn refresh_due_models(&self) -> usize {
        let kept: Vec<(WorkspaceId, Arc<Kept>)> = {
            let all = self.computed.workspaces.lock().expect("models lock is never poisoned");
            all.iter().map(|(ws, kept)| (*ws, kept.clone())).collect()
        };
        let now = self.access.now();
        let mut scheduled = 0;
        for (ws, kept) in kept {
            let due = kept
                .published
                .borrow()
                .models
                .as_ref()
                .is_some_and(|m| now.duration_since(m.computed_at).as_secs() >= m.settings.refresh_minutes * 60);
            if (due || kept.settings_changed.load(Ordering::Acquire)) && kept.computing.try_lock().is_ok() {
                self.schedule(ws, None);
                scheduled += 1;
            }
        }
        scheduled
    }

    /// Answers the lifecycle, tier, health and recall overview.
    pub async fn models_summary(&self, principal: &Principal) -> DomainResult<ModelsSummary> {
        let computed = self.customer_models(principal).await?;
        let models = &computed.models;
        let mut lifecycle: Vec<GroupCount> = Stage::ALL.into_iter().map(GroupCount::of).collect();
        let mut tiers: Vec<GroupCount> = Tier::ALL.into_iter().map(GroupCount::of).collect();
        let (mut recall, mut bands, mut health_sum) = (0u64, vec![0u64; 10], 0u64);
        for c in &models.customers {
            let stage = &mut lifecycle[c.stage as usize];
            stage.customers += 1;
            stage.revenue += currency(c.monetary_cents);
            if let Some(tier) = c.tier {
                tiers[tier as usize].customers += 1;
                tiers[tier as usize].revenue += currency(c.monetary_cents);
            }
            recall += u64::from(c.recall_since_us.is_some());
            bands[usize::from(c.health / 10).min(9)] += 1;
            health_sum += u64::from(c.health);
        }
        let customers = models.customers.len() as u64;
        Ok(ModelsSummary {
            as_of: instant(computed.as_of_us),
            computed_at: computed.computed_at.to_string(),
            customers,
            buyers: models.buyers as u64,
            lifecycle,
            tiers,
            vip_min_aov: currency(models.vip_min_aov_cents),
            recall,
            health_bands: bands,
            mean_health: if customers == 0 { 0.0 } else { health_sum as f64 / customers as f64 },
            no_order_data: (models.buyers == 0).then(|| NO_ORDER_DATA.to_string()),
            refreshing: self.models_refreshing(principal.workspace_id()),
        })
    }

    /// Answers the RFM classes and the R × F heatmap; `NoOrderData` without orders.
    pub async fn rfm_model(&self, principal: &Principal) -> DomainResult<RfmModelAnswer> {
        let computed = self.customer_models(principal).await?;
        let models = &computed.models;
        if models.buyers == 0 {
            return Err(DomainError::Models(ModelError::NoOrderData));
        }
        let mut classes: Vec<GroupCount> = RfmClass::ALL.into_iter().map(GroupCount::of).collect();
        let mut cells = [(0u64, 0i64); 25];
        for c in models.customers.iter().filter(|c| c.orders > 0) {
            if let Some(class) = c.class {
                classes[class as usize].customers += 1;
                classes[class as usize].revenue += currency(c.monetary_cents);
            }
            let cell = &mut cells[usize::from(c.rfm[0] - 1) * 5 + usize::from(c.rfm[1] - 1)];
            cell.0 += 1;
            cell.1 += c.monetary_cents;
        }
        let heatmap = cells
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(i, (n, cents))| HeatCell {
                r: (i / 5 + 1) as u8,
                f: (i % 5 + 1) as u8,
                customers: *n,
                mean_monetary: currency(*cents) / *n as f64,
            })
            .collect();
        Ok(RfmModelAnswer {
            as_of: instant(computed.as_of_us),
            buyers: models.buyers as u64,
            high_from: models.high_from,
            classes,
            heatmap,
        })
    }

    /// Answers how customers moved between lifecycle stages from `from` to `to` (both instants;
    /// the stages are recomputed as of each with the workspace's settings).
    pub async fn lifecycle_flows(
        &self,
        principal: &Principal,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> DomainResult<Vec<StageFlow>> {
        principal.require(Permission::AnalyticsRead)?;
        if from >= to {
            return Err(DomainError::invalid("from", format!("must be before to ({to}), got {from}")));
        }
        let settings = self.stored_model_settings(principal.workspace_id()).await?;
        let index = self.events.event_index(principal).await?;
        tokio::task::spawn_blocking(move || {
            let stages = |at: jiff::Timestamp| -> HashMap<i64, Stage> {
                let params = settings.params(&index.names, at.as_microsecond());
                kernel::compute(&index.columns, &params).customers.into_iter().map(|c| (c.customer, c.stage)).collect()
            };
            let (before, after) = (stages(from), stages(to));
            let mut flows: HashMap<(Option<Stage>, Stage), u64> = HashMap::new();
            for (customer, stage) in &after {
                *flows.entry((before.get(customer).copied(), *stage)).or_default() += 1;
            }
            let mut flows: Vec<((Option<Stage>, Stage), u64)> = flows.into_iter().collect();
            flows.sort_unstable();
            flows
                .into_iter()
                .map(|((from, to), customers)| StageFlow {
                    from: from.map_or("unseen", |s| s.key()).into(),
                    to: to.key().into(),
                    customers,
                })
                .collect()
        })
        .await
        .map_err(|e| DomainError::internal_from("computing stage flows failed", e))
    }

    /// Returns a page of the recall list, healthiest first (then the most valuable); the cursor is
    /// a position in the list.
    pub async fn recall_list(
        &self,
        principal: &Principal,
        page: PageRequest,
    ) -> DomainResult<(u64, Page<RecallEntry>)> {
        let computed = self.customer_models(principal).await?;
        let mut on: Vec<&CustomerModel> =
            computed.models.customers.iter().filter(|c| c.recall_since_us.is_some()).collect();
        on.sort_unstable_by(|a, b| {
            b.health.cmp(&a.health).then(b.monetary_cents.cmp(&a.monetary_cents)).then(a.customer.cmp(&b.customer))
        });
        let total = on.len() as u64;
        let start = (page.after.unwrap_or(0).max(0) as usize).min(on.len());
        let items: Vec<(i64, RecallEntry)> = on[start..]
            .iter()
            .take(page.limit as usize + 1)
            .enumerate()
            .map(|(i, c)| {
                (
                    start as i64 + i as i64 + 1,
                    RecallEntry {
                        customer_id: CustomerId(c.customer),
                        since: instant(c.recall_since_us.unwrap_or_default()),
                        last_active: instant(c.last_active_us),
                        health: c.health,
                        stage: c.stage.key().into(),
                        orders: c.orders,
                        monetary: currency(c.monetary_cents),
                    },
                )
            })
            .collect();
        Ok((total, Page::from_overfetch(items, page.limit, |(position, _)| *position).map(|(_, entry)| entry)))
    }

    /// Answers the LTV fit and the distribution of predicted value without waiting for a fit: the
    /// last finished one (status `computing` before the first); `NoOrderData` without orders.
    pub async fn ltv_model(&self, principal: &Principal) -> DomainResult<LtvAnswer> {
        let computed = self.customer_models(principal).await?;
        if computed.models.buyers == 0 {
            return Err(DomainError::Models(ModelError::NoOrderData));
        }
        let horizon_days = computed.settings.ltv_horizon_days;
        let (outcome, computing) = match computed.ltv_state() {
            LtvState::Fitted(outcome) => (Some(outcome), self.models_refreshing(principal.workspace_id())),
            LtvState::Fitting(last) => (last, true),
        };
        let Some(outcome) = outcome else {
            return Ok(LtvAnswer {
                as_of: String::new(),
                horizon_days,
                status: LtvStatus::Computing,
                computing,
                problem: None,
                bgnbd: serde_json::Value::Null,
                gamma_gamma: None,
                customers: 0,
                total_expected_value: 0.0,
                value_deciles: vec![0.0; 10],
                p_alive_bands: vec![0; 10],
            });
        };
        let fit = outcome.result.as_ref().map_err(|reason| DomainError::invalid("orders", reason.clone()))?;
        let mut values: Vec<f64> = fit.customers.iter().map(|c| c.expected_value).collect();
        values.sort_unstable_by(f64::total_cmp);
        let n = values.len();
        let value_deciles = (0..10)
            .map(|d| {
                let part = &values[d * n / 10..(d + 1) * n / 10];
                if part.is_empty() { 0.0 } else { part.iter().sum::<f64>() / part.len() as f64 }
            })
            .collect();
        let mut p_alive_bands = vec![0u64; 10];
        for c in &fit.customers {
            p_alive_bands[((c.p_alive * 10.0) as usize).min(9)] += 1;
        }
        let b = fit.bgnbd;
        Ok(LtvAnswer {
            as_of: instant(outcome.as_of_us),
            horizon_days,
            status: if fit.converged() { LtvStatus::Fitted } else { LtvStatus::NotConverged },
            computing,
            problem: (!fit.converged()).then(|| b.convergence.to_string()),
            bgnbd: serde_json::json!({"r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b,
                "log_likelihood": b.log_likelihood, "converged": b.convergence.converged(),
                "convergence": b.convergence.key(), "bound_parameter": b.convergence.bound_parameter(),
                "evaluations": b.evaluations}),
            gamma_gamma: fit.gamma_gamma.map(|g| {
                serde_json::json!({"p": g.p, "q": g.q, "v": g.v, "converged": g.convergence.converged(),
                    "evaluations": g.evaluations})
            }),
            customers: n as u64,
            total_expected_value: values.iter().sum(),
            value_deciles,
            p_alive_bands,
        })
    }

    /// Returns one customer's models for the 360 page (`None`: the customer has no events yet); a
    /// merged-away id answers for its survivor, an unknown one is `NotFound`.
    pub async fn customer_model(
        &self,
        principal: &Principal,
        customer: CustomerId,
    ) -> DomainResult<Option<CustomerModelView>> {
        principal.require(Permission::CustomersRead)?;
        let customer = self
            .customers
            .stores
            .customers
            .resolve(principal.workspace_id(), customer)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("customer {customer}")))?;
        let computed = self.models_of(principal.workspace_id()).await?;
        let Some(c) = computed.customer(customer.0).copied() else { return Ok(None) };
        // The last converged fit, never waited for.
        let ltv = computed.ltv().filter(|_| c.orders > 0).and_then(|fit| {
            let i = fit.customers.binary_search_by_key(&customer.0, |l| l.customer).ok()?;
            Some(fit.customers[i])
        });
        Ok(Some(CustomerModelView {
            as_of: instant(computed.as_of_us),
            stage: GroupCount::of(c.stage),
            tier: c.tier.map(GroupCount::of),
            rfm: (c.orders > 0).then_some(c.rfm),
            rfm_class: c.class.map(GroupCount::of),
            orders: c.orders,
            monetary: currency(c.monetary_cents),
            recency_days: c.recency_days(computed.as_of_us),
            health: c.health,
            last_active: instant(c.last_active_us),
            recall_since: c.recall_since_us.map(instant),
            churn_risk: ltv.map(|l| 1.0 - l.p_alive),
            ltv,
        }))
    }
}
