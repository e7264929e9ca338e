//! Built-in customer models of a workspace: their configurable thresholds ([`ModelSettings`], checked
//! field by field), the bilingual names of classes, stages and tiers, and the answers the API, CLI
//! and console show. The formulas are in `siyu_analytics::models` and docs/MODELS.md.

use crate::error::{DomainError, DomainResult, FieldError};
use siyu_analytics::EventNames;
use siyu_analytics::models::{ModelParams, RfmClass, RfmEdges, Stage, Tier};

/// A workspace's model thresholds. Every field has a documented default; a JSON body may give any
/// subset.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Fixed RFM score edges instead of quintiles.
    pub rfm_edges: Option<RfmEdgeSettings>,
    /// A score (2..5) at or above which R, F or M counts as high for the eight classes; `null`:
    /// above the buyers' mean score.
    pub rfm_high_score: Option<u8>,
    /// Days a new customer stays in the new stage (导入期).
    pub new_days: i64,
    /// Days without interaction after which a customer is dormant (休眠期).
    pub dormant_days: i64,
    /// Days without interaction after which a customer is churned (流失期); more than `dormant_days`.
    pub churned_days: i64,
    /// Orders that make an active customer mature (成熟期).
    pub mature_orders: i64,
    /// Orders a VIP has at least.
    pub vip_min_orders: i64,
    /// Average order value a VIP has at least, in the workspace currency; `null`: the buyers' median.
    pub vip_min_aov: Option<f64>,
    /// Days over which a customer without orders must interact `potential_min_events` times to be potential.
    pub potential_days: i64,
    /// See `potential_days`.
    pub potential_min_events: i64,
    /// Days without interaction that put a customer on the recall list (churn warning).
    pub churn_days: i64,
    /// Days over which the health score's recency part falls from 40 to 0.
    pub health_recency_days: i64,
    /// Length of the two windows compared by the health score's trend part.
    pub health_trend_days: i64,
    /// Events the brand makes about a customer; they are not interactions.
    pub passive_events: Vec<String>,
    /// Events of a message the customer received.
    pub message_received_events: Vec<String>,
    /// Events of a customer engaging with a message.
    pub message_engaged_events: Vec<String>,
    /// Days ahead the LTV model predicts purchases and value for.
    pub ltv_horizon_days: i64,
    /// Minutes after which computed models are recomputed on the schedule.
    pub refresh_minutes: i64,
}

/// Fixed RFM edges: four ascending values per dimension.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RfmEdgeSettings {
    /// Days since the last order: at most the first scores 5, … more than the fourth scores 1.
    pub recency_days: Vec<i64>,
    /// Orders: each edge reached adds one to a score of 1.
    pub frequency: Vec<i64>,
    /// Revenue in the workspace currency: each edge reached adds one to a score of 1.
    pub monetary: Vec<f64>,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            rfm_edges: None,
            rfm_high_score: None,
            new_days: 30,
            dormant_days: 60,
            churned_days: 180,
            mature_orders: 3,
            vip_min_orders: 3,
            vip_min_aov: None,
            potential_days: 30,
            potential_min_events: 3,
            churn_days: 30,
            health_recency_days: 90,
            health_trend_days: 30,
            passive_events: [
                "Message Sent",
                "Message Delivered",
                "Message Failed",
                "Message Undelivered",
                "Message Blocked",
                "Coupon Issued",
                "Segment Entered",
                "Segment Exited",
            ]
            .map(String::from)
            .to_vec(),
            // One event per message: siyu records `Message Delivered` after `Message Sent` when a
            // provider sends receipts, so counting both would count a message twice.
            message_received_events: vec!["Message Sent".into()],
            message_engaged_events: ["Message Opened", "Message Clicked", "Message Replied"].map(String::from).to_vec(),
            ltv_horizon_days: 90,
            refresh_minutes: 60,
        }
    }
}

/// Days thresholds may reach (about 27 years).
const MAX_DAYS: i64 = 10_000;

impl ModelSettings {
    /// Checks every field, naming each that is out of range.
    pub fn validate(&self) -> DomainResult<()> {
        let mut errors = Vec::new();
        let mut days = |field: &str, value: i64| {
            if !(1..=MAX_DAYS).contains(&value) {
                errors.push(FieldError::new(field, format!("must be between 1 and {MAX_DAYS} days, got {value}")));
            }
        };
        days("new_days", self.new_days);
        days("dormant_days", self.dormant_days);
        days("churned_days", self.churned_days);
        days("potential_days", self.potential_days);
        days("churn_days", self.churn_days);
        days("health_recency_days", self.health_recency_days);
        days("health_trend_days", self.health_trend_days);
        days("ltv_horizon_days", self.ltv_horizon_days);
        if self.churned_days <= self.dormant_days {
            errors.push(FieldError::new(
                "churned_days",
                format!("must be more than dormant_days ({}), got {}", self.dormant_days, self.churned_days),
            ));
        }
        let mut count = |field: &str, value: i64| {
            if !(1..=1_000_000).contains(&value) {
                errors.push(FieldError::new(field, format!("must be between 1 and 1000000, got {value}")));
            }
        };
        count("mature_orders", self.mature_orders);
        count("vip_min_orders", self.vip_min_orders);
        count("potential_min_events", self.potential_min_events);
        if !(1..=7 * 24 * 60).contains(&self.refresh_minutes) {
            errors.push(FieldError::new(
                "refresh_minutes",
                format!("must be between 1 and 10080, got {}", self.refresh_minutes),
            ));
        }
        if let Some(aov) = self.vip_min_aov
            && !(aov.is_finite() && aov >= 0.0)
        {
            errors.push(FieldError::new("vip_min_aov", format!("must be a non-negative amount, got {aov}")));
        }
        if let Some(score) = self.rfm_high_score
            && !(2..=5).contains(&score)
        {
            errors.push(FieldError::new("rfm_high_score", format!("must be between 2 and 5, got {score}")));
        }
        if let Some(edges) = &self.rfm_edges {
            edge_errors(
                &mut errors,
                "rfm_edges.recency_days",
                &edges.recency_days.iter().map(|v| *v as f64).collect::<Vec<_>>(),
                0.0,
            );
            edge_errors(
                &mut errors,
                "rfm_edges.frequency",
                &edges.frequency.iter().map(|v| *v as f64).collect::<Vec<_>>(),
                1.0,
            );
            edge_errors(&mut errors, "rfm_edges.monetary", &edges.monetary, 0.0);
        }
        for (field, names) in [
            ("passive_events", &self.passive_events),
            ("message_received_events", &self.message_received_events),
            ("message_engaged_events", &self.message_engaged_events),
        ] {
            for (i, name) in names.iter().enumerate() {
                if name.trim().is_empty() || name.len() > 200 {
                    errors.push(FieldError::new(format!("{field}[{i}]"), "must be an event name of 1 to 200 bytes"));
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
    }

    /// Returns the analytics parameters as of `as_of_us`, with event names resolved against `names`
    /// (names the workspace has never seen mark nothing).
    pub fn params(&self, names: &EventNames, as_of_us: i64) -> ModelParams {
        let flags = |events: &[String]| {
            let mut flags = vec![false; names.names().len()];
            for id in events.iter().filter_map(|name| names.id(name)) {
                flags[usize::from(id)] = true;
            }
            flags
        };
        let cents = |amount: f64| (amount * 100.0).round() as i64;
        ModelParams {
            as_of_us,
            rfm_edges: self.rfm_edges.as_ref().map(|e| RfmEdges {
                recency_days: four(&e.recency_days),
                frequency: four(&e.frequency),
                monetary_cents: four(&e.monetary.iter().map(|m| cents(*m)).collect::<Vec<_>>()),
            }),
            rfm_high_score: self.rfm_high_score,
            new_days: self.new_days,
            dormant_days: self.dormant_days,
            churned_days: self.churned_days,
            mature_orders: self.mature_orders,
            vip_min_orders: self.vip_min_orders,
            vip_min_aov_cents: self.vip_min_aov.map(cents),
            potential_days: self.potential_days,
            potential_min_events: self.potential_min_events,
            churn_days: self.churn_days,
            health_recency_days: self.health_recency_days,
            health_trend_days: self.health_trend_days,
            passive: flags(&self.passive_events),
            received: flags(&self.message_received_events),
            engaged: flags(&self.message_engaged_events),
        }
    }
}

fn four(values: &[i64]) -> [i64; 4] {
    let mut out = [0; 4];
    out.copy_from_slice(&values[..4]);
    out
}

fn edge_errors(errors: &mut Vec<FieldError>, field: &str, values: &[f64], min: f64) {
    if values.len() != 4 {
        errors.push(FieldError::new(field, format!("needs exactly 4 edges, got {}", values.len())));
    } else if values.iter().any(|v| !v.is_finite() || *v < min) {
        errors.push(FieldError::new(field, format!("edges must be at least {min}")));
    } else if values.windows(2).any(|w| w[0] >= w[1]) {
        errors.push(FieldError::new(field, "edges must be strictly ascending"));
    }
}

/// A class's, stage's or tier's wire key and its names.
pub trait Named: Copy {
    /// The wire key, e.g. `important_value`.
    fn key(self) -> &'static str;
    /// The Chinese name, e.g. 重要价值客户.
    fn name_zh(self) -> &'static str;
    /// The English name.
    fn name_en(self) -> &'static str;
}

impl Named for RfmClass {
    fn key(self) -> &'static str {
        match self {
            Self::ImportantValue => "important_value",
            Self::ImportantDevelop => "important_develop",
            Self::ImportantKeep => "important_keep",
            Self::ImportantWinBack => "important_win_back",
            Self::GeneralValue => "general_value",
            Self::GeneralDevelop => "general_develop",
            Self::GeneralKeep => "general_keep",
            Self::GeneralWinBack => "general_win_back",
        }
    }
    fn name_zh(self) -> &'static str {
        match self {
            Self::ImportantValue => "重要价值客户",
            Self::ImportantDevelop => "重要发展客户",
            Self::ImportantKeep => "重要保持客户",
            Self::ImportantWinBack => "重要挽留客户",
            Self::GeneralValue => "一般价值客户",
            Self::GeneralDevelop => "一般发展客户",
            Self::GeneralKeep => "一般保持客户",
            Self::GeneralWinBack => "一般挽留客户",
        }
    }
    fn name_en(self) -> &'static str {
        match self {
            Self::ImportantValue => "Important value",
            Self::ImportantDevelop => "Important develop",
            Self::ImportantKeep => "Important keep",
            Self::ImportantWinBack => "Important win-back",
            Self::GeneralValue => "General value",
            Self::GeneralDevelop => "General develop",
            Self::GeneralKeep => "General keep",
            Self::GeneralWinBack => "General win-back",
        }
    }
}

impl Named for Stage {
    fn key(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Growth => "growth",
            Self::Mature => "mature",
            Self::Dormant => "dormant",
            Self::Churned => "churned",
        }
    }
    fn name_zh(self) -> &'static str {
        match self {
            Self::New => "导入期",
            Self::Growth => "成长期",
            Self::Mature => "成熟期",
            Self::Dormant => "休眠期",
            Self::Churned => "流失期",
        }
    }
    fn name_en(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Growth => "Growth",
            Self::Mature => "Mature",
            Self::Dormant => "Dormant",
            Self::Churned => "Churned",
        }
    }
}

impl Named for Tier {
    fn key(self) -> &'static str {
        match self {
            Self::Vip => "vip",
            Self::Regular => "regular",
            Self::Potential => "potential",
        }
    }
    fn name_zh(self) -> &'static str {
        match self {
            Self::Vip => "VIP 客户",
            Self::Regular => "普通客户",
            Self::Potential => "潜力客户",
        }
    }
    fn name_en(self) -> &'static str {
        match self {
            Self::Vip => "VIP",
            Self::Regular => "Regular",
            Self::Potential => "Potential",
        }
    }
}

/// Parses a wire key of one of `all`.
pub fn parse_key<T: Named>(all: &[T], key: &str) -> Option<T> {
    all.iter().copied().find(|v| v.key() == key)
}

/// How many customers fall in one class, stage or tier.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct GroupCount {
    /// Wire key.
    pub key: String,
    /// 中文名.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Customers.
    pub customers: u64,
    /// Their order revenue, in the workspace currency.
    pub revenue: f64,
}

impl GroupCount {
    /// An empty count for `named`.
    pub fn of(named: impl Named) -> Self {
        Self {
            key: named.key().into(),
            name_zh: named.name_zh().into(),
            name_en: named.name_en().into(),
            customers: 0,
            revenue: 0.0,
        }
    }
}

/// One cell of the R × F heatmap.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct HeatCell {
    /// Recency score 1..5.
    pub r: u8,
    /// Frequency score 1..5.
    pub f: u8,
    /// Customers.
    pub customers: u64,
    /// Their mean order revenue, in the workspace currency.
    pub mean_monetary: f64,
}

/// The RFM model's answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RfmModelAnswer {
    /// The instant the models were computed as of.
    pub as_of: String,
    /// Customers with orders.
    pub buyers: u64,
    /// The scores at or above which R, F and M counted as high.
    pub high_from: [u8; 3],
    /// The eight classes in their classic order.
    pub classes: Vec<GroupCount>,
    /// Non-empty R × F cells.
    pub heatmap: Vec<HeatCell>,
}

/// Customers moving between stages.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StageFlow {
    /// Stage at the start (`unseen`: not seen yet).
    pub from: String,
    /// Stage at the end.
    pub to: String,
    /// Customers.
    pub customers: u64,
}

/// Lifecycle, tiers, health and the recall list at a glance.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ModelsSummary {
    /// The instant the models were computed as of.
    pub as_of: String,
    /// When they were computed.
    pub computed_at: String,
    /// Customers with at least one event.
    pub customers: u64,
    /// Customers with at least one order (0: RFM, value tiers by orders and LTV have no data).
    pub buyers: u64,
    /// Customers per lifecycle stage.
    pub lifecycle: Vec<GroupCount>,
    /// Customers per value tier (customers in none are not listed).
    pub tiers: Vec<GroupCount>,
    /// The VIP average-order-value threshold in force, in the workspace currency.
    pub vip_min_aov: f64,
    /// Customers on the recall list.
    pub recall: u64,
    /// Customers per health band: 0–9, 10–19, … 90–100.
    pub health_bands: Vec<u64>,
    /// Mean health score.
    pub mean_health: f64,
    /// When no customer has an order: why RFM and LTV have no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_order_data: Option<String>,
    /// A newer computation of the models is under way in the background (these are the last
    /// computed ones).
    pub refreshing: bool,
}

/// The answer given for RFM and LTV when the workspace has no orders.
pub use crate::error::NO_ORDER_DATA;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_thresholds_are_named() {
        ModelSettings::default().validate().unwrap();
        let bad = ModelSettings {
            dormant_days: -3,
            churned_days: 10,
            rfm_high_score: Some(7),
            rfm_edges: Some(RfmEdgeSettings {
                recency_days: vec![7, 30, 20, 90],
                frequency: vec![1, 2, 3],
                monetary: vec![-1.0, 2.0, 3.0, 4.0],
            }),
            ..ModelSettings::default()
        };
        let Err(DomainError::Invalid(errors)) = bad.validate() else { panic!("expected invalid") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "dormant_days",
                "rfm_high_score",
                "rfm_edges.recency_days",
                "rfm_edges.frequency",
                "rfm_edges.monetary"
            ]
        );
    }

    #[test]
    fn names_round_trip() {
        for class in RfmClass::ALL {
            assert_eq!(parse_key(&RfmClass::ALL, class.key()), Some(class));
        }
        assert_eq!(RfmClass::ImportantWinBack.name_zh(), "重要挽留客户");
    }
}
