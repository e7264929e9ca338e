//! Built-in models as use cases: settings read and saved, models computed from the live index and
//! kept per workspace until their refresh interval passes (or settings change, or on demand), and
//! the answers for the API, CLI, console and the customer 360 page.

use super::Services;
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult};
use crate::models::{
    GroupCount, HeatCell, ModelSettings, ModelsSummary, NO_ORDER_DATA, Named, RfmModelAnswer, StageFlow,
};
use siyu_analytics::Index;
use siyu_analytics::ltv::{self, BgNbd, GammaGamma};
use siyu_analytics::models::{self as kernel, CustomerModel, Models, RfmClass, Stage, Tier};
use siyu_core::{CustomerId, Page, PageRequest, WorkspaceId};
use std::collections::HashMap;
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
    pub models: Models,
    index: Index,
    ltv: OnceLock<Result<LtvFit, String>>,
}

/// A workspace's LTV fit and each buyer's predictions.
#[derive(Clone, Debug)]
pub struct LtvFit {
    /// BG/NBD parameters (time in days).
    pub bgnbd: BgNbd,
    /// Gamma-Gamma parameters, when enough buyers repeated.
    pub gamma_gamma: Option<GammaGamma>,
    /// Predictions per buyer, sorted by customer id.
    pub customers: Vec<CustomerLtv>,
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
    /// Expected value over the horizon, in the workspace currency (without Gamma-Gamma: 0).
    pub expected_value: f64,
}

impl ComputedModels {
    /// Returns a customer's models.
    pub fn customer(&self, id: i64) -> Option<&CustomerModel> {
        let i = self.models.customers.binary_search_by_key(&id, |c| c.customer).ok()?;
        Some(&self.models.customers[i])
    }

    /// Returns the LTV fit, fitting it on first use (an `Err` says why there is none).
    pub fn ltv(&self) -> &Result<LtvFit, String> {
        self.ltv.get_or_init(|| fit_ltv(&self.index, self.as_of_us, self.settings.ltv_horizon_days))
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
    let horizon = horizon_days as f64;
    let customers = rows
        .iter()
        .map(|(id, s)| {
            let expected_purchases = bgnbd.expected_purchases(s, horizon);
            let spend = gamma_gamma.map_or(0.0, |g| g.expected_spend(s));
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
    /// LTV predictions (no fit or no orders: `null`).
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

/// The LTV model's answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LtvAnswer {
    /// The instant the fit describes.
    pub as_of: String,
    /// Days the predictions look ahead.
    pub horizon_days: i64,
    /// BG/NBD parameters (time unit: days): r, alpha, a, b, log_likelihood.
    pub bgnbd: serde_json::Value,
    /// Gamma-Gamma parameters p, q, v (`null` without enough repeat buyers).
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

impl Services {
    /// Returns the workspace's model settings (the defaults until some are saved).
    pub async fn model_settings(&self, principal: &Principal) -> DomainResult<ModelSettings> {
        principal.require(Permission::AnalyticsRead)?;
        self.stored_model_settings(principal.workspace_id).await
    }

    async fn stored_model_settings(&self, ws: WorkspaceId) -> DomainResult<ModelSettings> {
        match self.stores.workspaces.model_settings(ws).await? {
            None => Ok(ModelSettings::default()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| DomainError::Internal(format!("stored model settings are unreadable: {e}"))),
        }
    }

    /// Checks and saves the workspace's model settings; the models are recomputed on next use.
    pub async fn set_model_settings(&self, principal: &Principal, settings: &ModelSettings) -> DomainResult<()> {
        principal.require(Permission::SegmentsManage)?;
        settings.validate()?;
        let json = serde_json::to_string(settings).map_err(|e| DomainError::Internal(e.to_string()))?;
        self.stores.workspaces.set_model_settings(principal.workspace_id, &json, self.now()).await?;
        self.computed.lock().expect("models lock is never poisoned").remove(&principal.workspace_id);
        self.audit(principal, "models.settings", "models").await
    }

    /// Returns the workspace's models: the computed ones while fresh (younger than
    /// `refresh_minutes`, same settings), else computed now as of the current time.
    pub async fn customer_models(&self, principal: &Principal) -> DomainResult<Arc<ComputedModels>> {
        principal.require(Permission::AnalyticsRead)?;
        self.models_of(principal.workspace_id).await
    }

    /// [`Services::customer_models`] for a caller that checked its own permission.
    pub(crate) async fn models_of(&self, ws: WorkspaceId) -> DomainResult<Arc<ComputedModels>> {
        let cached = self.computed.lock().expect("models lock is never poisoned").get(&ws).cloned();
        if let Some(models) = cached {
            let age = self.now().duration_since(models.computed_at);
            if age.as_secs() < models.settings.refresh_minutes * 60 {
                return Ok(models);
            }
        }
        self.compute_models(ws, None).await
    }

    /// Computes the workspace's models now, as of `as_of` (default: now), and keeps them.
    pub async fn run_models(
        &self,
        principal: &Principal,
        as_of: Option<jiff::Timestamp>,
    ) -> DomainResult<Arc<ComputedModels>> {
        principal.require(Permission::AnalyticsRead)?;
        self.compute_models(principal.workspace_id, as_of).await
    }

    async fn compute_models(
        &self,
        ws: WorkspaceId,
        as_of: Option<jiff::Timestamp>,
    ) -> DomainResult<Arc<ComputedModels>> {
        let settings = self.stored_model_settings(ws).await?;
        let index = self.event_index(&Principal::system(ws)).await?;
        let as_of_us = as_of.unwrap_or_else(|| self.now()).as_microsecond();
        let computed_at = self.now();
        let computed = tokio::task::spawn_blocking(move || {
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
            }
        })
        .await
        .map_err(|e| DomainError::Internal(format!("model computation failed: {e}")))?;
        let computed = Arc::new(computed);
        self.computed.lock().expect("models lock is never poisoned").insert(ws, computed.clone());
        Ok(computed)
    }

    /// Recomputes the kept models whose refresh interval has passed (the schedule; called by the
    /// server once a minute). Returns how many workspaces were recomputed.
    pub async fn refresh_due_models(&self) -> usize {
        let due: Vec<WorkspaceId> = {
            let all = self.computed.lock().expect("models lock is never poisoned");
            let now = self.now();
            all.iter()
                .filter(|(_, m)| now.duration_since(m.computed_at).as_secs() >= m.settings.refresh_minutes * 60)
                .map(|(ws, _)| *ws)
                .collect()
        };
        let mut done = 0;
        for ws in due {
            match self.compute_models(ws, None).await {
                Ok(_) => done += 1,
                Err(error) => tracing::warn!(workspace = ws.0, %error, "scheduled model refresh failed"),
            }
        }
        done
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
        })
    }

    /// Answers the RFM classes and the R × F heatmap; `NoOrderData` without orders.
    pub async fn rfm_model(&self, principal: &Principal) -> DomainResult<RfmModelAnswer> {
        let computed = self.customer_models(principal).await?;
        let models = &computed.models;
        if models.buyers == 0 {
            return Err(DomainError::NoOrderData);
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
        let settings = self.stored_model_settings(principal.workspace_id).await?;
        let index = self.event_index(principal).await?;
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
        .map_err(|e| DomainError::Internal(e.to_string()))
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

    /// Answers the LTV fit and the distribution of predicted value; `NoOrderData` without orders.
    pub async fn ltv_model(&self, principal: &Principal) -> DomainResult<LtvAnswer> {
        let computed = self.customer_models(principal).await?;
        if computed.models.buyers == 0 {
            return Err(DomainError::NoOrderData);
        }
        let fit = {
            let computed = computed.clone();
            tokio::task::spawn_blocking(move || computed.ltv().clone())
                .await
                .map_err(|e| DomainError::Internal(e.to_string()))?
        };
        let fit = fit.map_err(|reason| DomainError::invalid("orders", reason))?;
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
            as_of: instant(computed.as_of_us),
            horizon_days: computed.settings.ltv_horizon_days,
            bgnbd: serde_json::json!({"r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "log_likelihood": b.log_likelihood}),
            gamma_gamma: fit.gamma_gamma.map(|g| serde_json::json!({"p": g.p, "q": g.q, "v": g.v})),
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
            .stores
            .profiles
            .resolve(principal.workspace_id, customer)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("customer {customer}")))?;
        let computed = self.models_of(principal.workspace_id).await?;
        let Some(c) = computed.customer(customer.0).copied() else { return Ok(None) };
        let ltv = if c.orders == 0 {
            None
        } else {
            let computed = computed.clone();
            tokio::task::spawn_blocking(move || {
                let fit = computed.ltv().as_ref().ok()?;
                let i = fit.customers.binary_search_by_key(&customer.0, |l| l.customer).ok()?;
                Some(fit.customers[i])
            })
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?
        };
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
