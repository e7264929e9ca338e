//! Customer models in one pass over the index: RFM scores and the eight RFM classes, lifecycle
//! stage, value tier, churn warning and health score, each customer's as of one instant. The
//! formulas are those of docs/MODELS.md; every threshold is a field of [`ModelParams`].
//!
//! "Interaction" is any event the customer made: events the brand makes about them (a message
//! sent, a coupon issued, a segment entered) are marked passive and do not count.

use crate::index::Index;
use crate::ltv::Summary;
use crate::{DAY_US, parallel, rfm};

/// The eight RFM classes, high or low on each of R, F and M.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RfmClass {
    /// R high, F high, M high: 重要价值客户.
    ImportantValue,
    /// R high, F low, M high: 重要发展客户.
    ImportantDevelop,
    /// R low, F high, M high: 重要保持客户.
    ImportantKeep,
    /// R low, F low, M high: 重要挽留客户.
    ImportantWinBack,
    /// R high, F high, M low: 一般价值客户.
    GeneralValue,
    /// R high, F low, M low: 一般发展客户.
    GeneralDevelop,
    /// R low, F high, M low: 一般保持客户.
    GeneralKeep,
    /// R low, F low, M low: 一般挽留客户.
    GeneralWinBack,
}

impl RfmClass {
    /// Every class, in the order above.
    pub const ALL: [RfmClass; 8] = [
        Self::ImportantValue,
        Self::ImportantDevelop,
        Self::ImportantKeep,
        Self::ImportantWinBack,
        Self::GeneralValue,
        Self::GeneralDevelop,
        Self::GeneralKeep,
        Self::GeneralWinBack,
    ];

    /// Returns the class of high/low recency, frequency and monetary value.
    pub fn of(r_high: bool, f_high: bool, m_high: bool) -> Self {
        match (m_high, r_high, f_high) {
            (true, true, true) => Self::ImportantValue,
            (true, true, false) => Self::ImportantDevelop,
            (true, false, true) => Self::ImportantKeep,
            (true, false, false) => Self::ImportantWinBack,
            (false, true, true) => Self::GeneralValue,
            (false, true, false) => Self::GeneralDevelop,
            (false, false, true) => Self::GeneralKeep,
            (false, false, false) => Self::GeneralWinBack,
        }
    }
}

/// Lifecycle stages, in the order a customer normally moves through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// First seen less than `new_days` ago: 导入期.
    New,
    /// Active, fewer than `mature_orders` orders: 成长期.
    Growth,
    /// Active with at least `mature_orders` orders: 成熟期.
    Mature,
    /// No interaction for `dormant_days`: 休眠期.
    Dormant,
    /// No interaction for `churned_days`: 流失期.
    Churned,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 5] = [Self::New, Self::Growth, Self::Mature, Self::Dormant, Self::Churned];
}

/// Value tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// At least `vip_min_orders` orders and an average order value of at least `vip_min_aov_cents`.
    Vip,
    /// At least one order.
    Regular,
    /// No order yet, but at least `potential_min_events` interactions in the last `potential_days`.
    Potential,
}

impl Tier {
    /// Every tier, in order.
    pub const ALL: [Tier; 3] = [Self::Vip, Self::Regular, Self::Potential];
}

/// Fixed RFM score edges: four ascending values per dimension (instead of quintiles).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RfmEdges {
    /// Days since the last order: ≤ e1 scores 5, ≤ e2 4, ≤ e3 3, ≤ e4 2, more 1.
    pub recency_days: [i64; 4],
    /// Orders: 1 plus the number of edges at or below the count.
    pub frequency: [i64; 4],
    /// Revenue in cents: 1 plus the number of edges at or below it.
    pub monetary_cents: [i64; 4],
}

/// Every threshold of the models, and the instant they are computed as of.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelParams {
    /// Events after this instant are ignored, and ages are measured to it (µs).
    pub as_of_us: i64,
    /// Fixed RFM edges; `None`: quintiles of the buyers (RANK, as [`rfm::rfm`]).
    pub rfm_edges: Option<RfmEdges>,
    /// A score at or above this is "high" for the classes; `None`: above the buyers' mean score.
    pub rfm_high_score: Option<u8>,
    /// Days a new customer stays new.
    pub new_days: i64,
    /// Days without interaction after which a customer is dormant.
    pub dormant_days: i64,
    /// Days without interaction after which a customer is churned (> `dormant_days`).
    pub churned_days: i64,
    /// Orders that make an active customer mature.
    pub mature_orders: i64,
    /// Orders a VIP has at least.
    pub vip_min_orders: i64,
    /// Average order value a VIP has at least, cents; `None`: the buyers' median.
    pub vip_min_aov_cents: Option<i64>,
    /// Days over which a potential customer's interactions are counted.
    pub potential_days: i64,
    /// Interactions in that window that make a customer without orders potential.
    pub potential_min_events: i64,
    /// Days without interaction that put a customer on the recall list.
    pub churn_days: i64,
    /// Days over which the health score's recency part falls from 40 to 0.
    pub health_recency_days: i64,
    /// Length of the two windows whose interactions the health score's trend part compares.
    pub health_trend_days: i64,
    /// Per event id: made by the brand, not an interaction.
    pub passive: Vec<bool>,
    /// Per event id: a message the customer received.
    pub received: Vec<bool>,
    /// Per event id: the customer engaged with a message (opened, clicked, replied).
    pub engaged: Vec<bool>,
}

impl ModelParams {
    /// Returns the documented defaults as of `as_of_us`, with no event marked.
    pub fn defaults(as_of_us: i64) -> Self {
        Self {
            as_of_us,
            rfm_edges: None,
            rfm_high_score: None,
            new_days: 30,
            dormant_days: 60,
            churned_days: 180,
            mature_orders: 3,
            vip_min_orders: 3,
            vip_min_aov_cents: None,
            potential_days: 30,
            potential_min_events: 3,
            churn_days: 30,
            health_recency_days: 90,
            health_trend_days: 30,
            passive: Vec::new(),
            received: Vec::new(),
            engaged: Vec::new(),
        }
    }
}

/// One customer's models.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CustomerModel {
    /// The customer.
    pub customer: i64,
    /// First event, µs.
    pub first_seen_us: i64,
    /// Last interaction (the first event when there is none), µs.
    pub last_active_us: i64,
    /// Last order, µs (0 without orders).
    pub last_order_us: i64,
    /// Order revenue, cents.
    pub monetary_cents: i64,
    /// Orders.
    pub orders: u32,
    /// R, F and M scores 1..5 (0 without orders).
    pub rfm: [u8; 3],
    /// RFM class (without orders: `None`).
    pub class: Option<RfmClass>,
    /// Lifecycle stage.
    pub stage: Stage,
    /// Value tier.
    pub tier: Option<Tier>,
    /// When the customer went on the recall list (last interaction + `churn_days`), if on it.
    pub recall_since_us: Option<i64>,
    /// Health score 0..100.
    pub health: u8,
}

impl CustomerModel {
    /// Returns whole days since the last order (`None` without orders).
    pub fn recency_days(&self, as_of_us: i64) -> Option<i64> {
        (self.orders > 0).then(|| as_of_us.saturating_sub(self.last_order_us).div_euclid(DAY_US))
    }
}

/// The models of every customer seen by `as_of_us`, in index order, and the thresholds the
/// quantile rules resolved to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Models {
    /// One per customer with an event at or before `as_of_us`.
    pub customers: Vec<CustomerModel>,
    /// Customers with at least one order.
    pub buyers: usize,
    /// The VIP average-order-value threshold used, cents.
    pub vip_min_aov_cents: i64,
    /// The R, F and M scores at or above which a dimension counted as high.
    pub high_from: [u8; 3],
}

/// Interaction counts gathered per customer in the scan.
#[derive(Default)]
struct Activity {
    first: Option<i64>,
    last_active: Option<i64>,
    recent: i64,
    previous: i64,
    potential: i64,
    received: i64,
    engaged: i64,
}

/// Computes every customer's models as of `params.as_of_us`.
pub fn compute(index: &Index, params: &ModelParams) -> Models {
    let as_of = params.as_of_us;
    let flag = |flags: &[bool], event: u16| flags.get(usize::from(event)).copied().unwrap_or(false);
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut out = Vec::with_capacity(range.len());
        index.for_each_customer(range, |c| {
            let mut a = Activity::default();
            let trend = params.health_trend_days * DAY_US;
            for (ts, event) in c.ts_us.iter().zip(c.events) {
                let ts = *ts;
                if ts > as_of {
                    break;
                }
                a.first.get_or_insert(ts);
                // Saturating: legacy events of any instant cannot overflow an age.
                let ago = as_of.saturating_sub(ts);
                if ago < params.health_recency_days * DAY_US {
                    a.received += i64::from(flag(&params.received, *event));
                    a.engaged += i64::from(flag(&params.engaged, *event));
                }
                if flag(&params.passive, *event) {
                    continue;
                }
                a.last_active = Some(ts);
                if ago < trend {
                    a.recent += 1;
                } else if ago < 2 * trend {
                    a.previous += 1;
                }
                if ago < params.potential_days * DAY_US {
                    a.potential += 1;
                }
            }
            let Some(first) = a.first else { return };
            let orders = &c.orders[..c.orders.partition_point(|o| o.ts_us <= as_of)];
            let last_active = a.last_active.unwrap_or(first);
            let idle_days = as_of.saturating_sub(last_active).div_euclid(DAY_US);
            let stage = if idle_days >= params.churned_days {
                Stage::Churned
            } else if idle_days >= params.dormant_days {
                Stage::Dormant
            } else if as_of.saturating_sub(first).div_euclid(DAY_US) < params.new_days {
                Stage::New
            } else if orders.len() as i64 >= params.mature_orders {
                Stage::Mature
            } else {
                Stage::Growth
            };
            let recency = 40.0
                * (1.0 - as_of.saturating_sub(last_active) as f64 / (params.health_recency_days * DAY_US) as f64)
                    .max(0.0);
            let trend = 30.0
                * match (a.recent, a.previous) {
                    (0, _) => 0.0,
                    (_, 0) => 1.0,
                    (r, p) => (r as f64 / p as f64).min(1.0),
                };
            let engagement = 30.0 * if a.received == 0 { 0.5 } else { (a.engaged as f64 / a.received as f64).min(1.0) };
            out.push((
                CustomerModel {
                    customer: c.id,
                    first_seen_us: first,
                    last_active_us: last_active,
                    last_order_us: orders.last().map_or(0, |o| o.ts_us),
                    monetary_cents: orders.iter().fold(0i64, |sum, o| sum.saturating_add(o.cents)),
                    orders: orders.len() as u32,
                    rfm: [0; 3],
                    class: None,
                    stage,
                    tier: None,
                    recall_since_us: (idle_days >= params.churn_days)
                        .then_some(last_active.saturating_add(params.churn_days * DAY_US)),
                    health: (recency + trend + engagement).round().clamp(0.0, 100.0) as u8,
                },
                a.potential,
            ));
        });
        out
    });
    let (mut customers, potential): (Vec<CustomerModel>, Vec<i64>) = parts.into_iter().flatten().unzip();
    let buyers: Vec<usize> = (0..customers.len()).filter(|i| customers[*i].orders > 0).collect();
    score_rfm(&mut customers, &buyers, params);
    let high_from = high_from(&customers, &buyers, params);
    for i in &buyers {
        let c = &mut customers[*i];
        c.class = Some(RfmClass::of(c.rfm[0] >= high_from[0], c.rfm[1] >= high_from[1], c.rfm[2] >= high_from[2]));
    }
    let vip_min_aov_cents = params.vip_min_aov_cents.unwrap_or_else(|| median_aov(&customers, &buyers));
    for (c, potential) in customers.iter_mut().zip(potential) {
        c.tier = if c.orders == 0 {
            (potential >= params.potential_min_events).then_some(Tier::Potential)
        } else if i64::from(c.orders) >= params.vip_min_orders
            && c.monetary_cents >= vip_min_aov_cents.saturating_mul(i64::from(c.orders))
        {
            Some(Tier::Vip)
        } else {
            Some(Tier::Regular)
        };
    }
    Models { buyers: buyers.len(), customers, vip_min_aov_cents, high_from }
}

/// Scores the buyers 1..5 on R, F and M, by quintiles or by fixed edges.
fn score_rfm(customers: &mut [CustomerModel], buyers: &[usize], params: &ModelParams) {
    let as_of = params.as_of_us;
    let recency = |c: &CustomerModel| c.recency_days(as_of).unwrap_or(0);
    if let Some(edges) = &params.rfm_edges {
        let up = |edges: &[i64; 4], v: i64| 1 + edges.iter().filter(|e| **e <= v).count() as u8;
        for i in buyers {
            let c = &mut customers[*i];
            let days = recency(c);
            c.rfm = [
                5 - edges.recency_days.iter().filter(|e| **e < days).count() as u8,
                up(&edges.frequency, i64::from(c.orders)),
                up(&edges.monetary_cents, c.monetary_cents),
            ];
        }
        return;
    }
    let n = buyers.len();
    if n == 0 {
        return;
    }
    let score = |rank: i64| (1 + 5 * (rank - 1) / n as i64) as u8;
    let r = rfm::ranks(buyers.iter().map(|i| -recency(&customers[*i])), n);
    let f = rfm::ranks(buyers.iter().map(|i| i64::from(customers[*i].orders)), n);
    let m = rfm::ranks(buyers.iter().map(|i| customers[*i].monetary_cents), n);
    for (k, i) in buyers.iter().enumerate() {
        customers[*i].rfm = [score(r[k]), score(f[k]), score(m[k])];
    }
}

/// Returns the score at or above which each dimension is high: the configured one, or the lowest
/// whole score above the buyers' mean.
fn high_from(customers: &[CustomerModel], buyers: &[usize], params: &ModelParams) -> [u8; 3] {
    if let Some(score) = params.rfm_high_score {
        return [score; 3];
    }
    let mut high = [3u8; 3];
    if buyers.is_empty() {
        return high;
    }
    for (d, h) in high.iter_mut().enumerate() {
        let mean = buyers.iter().map(|i| f64::from(customers[*i].rfm[d])).sum::<f64>() / buyers.len() as f64;
        *h = (mean.floor() as u8 + 1).min(5);
    }
    high
}

/// Returns the median average order value of the buyers, cents (0 without buyers).
fn median_aov(customers: &[CustomerModel], buyers: &[usize]) -> i64 {
    let mut aov: Vec<i64> =
        buyers.iter().map(|i| customers[*i].monetary_cents / i64::from(customers[*i].orders)).collect();
    if aov.is_empty() {
        return 0;
    }
    let middle = aov.len() / 2;
    *aov.select_nth_unstable(middle).1
}

/// Returns each buyer's purchase summary in days as of `as_of_us`, for the LTV models: frequency =
/// orders on distinct later days (repeat purchases, as `lifetimes` counts them), recency = days
/// from the first to the last of those, T = days from the first order to `as_of_us`, monetary =
/// the mean revenue of the repeat days, in currency units. Buyers whose first order is less than
/// a day old are left out (T must be > 0).
pub fn purchase_summaries(index: &Index, as_of_us: i64) -> Vec<(i64, Summary)> {
    let parts = parallel::over_slots(index.customer_count(), |range| {
        let mut out = Vec::new();
        index.for_each_customer(range, |c| {
            let orders = &c.orders[..c.orders.partition_point(|o| o.ts_us <= as_of_us)];
            let Some(first) = orders.first() else { return };
            let day = |ts: i64| ts.saturating_sub(first.ts_us).div_euclid(DAY_US);
            let t = as_of_us.saturating_sub(first.ts_us) as f64 / DAY_US as f64;
            if t < 1.0 {
                return;
            }
            let (mut repeats, mut last_day, mut spend) = (0u32, 0i64, 0i64);
            for order in &orders[1..] {
                let d = day(order.ts_us);
                if d == 0 {
                    continue;
                }
                if d != last_day {
                    repeats += 1;
                    last_day = d;
                }
                spend = spend.saturating_add(order.cents);
            }
            let frequency = f64::from(repeats);
            out.push((
                c.id,
                Summary {
                    frequency,
                    recency: last_day as f64,
                    t: t.max(last_day as f64),
                    monetary: (repeats > 0).then(|| spend as f64 / 100.0 / frequency),
                },
            ));
        });
        out
    });
    parts.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{EventColumnsBuilder, RawEvent};

    const NOW: i64 = 400 * DAY_US;
    const VIEW: u16 = 0;
    const ORDER: u16 = 1;
    const SENT: u16 = 2;
    const OPENED: u16 = 3;

    fn push(b: &mut EventColumnsBuilder, customer: i64, days_ago: i64, event: u16) {
        let order_cents = (event == ORDER).then_some(10_000);
        b.push(RawEvent { customer, ts_us: NOW - days_ago * DAY_US, event, order_cents, props: 0 });
    }

    fn params() -> ModelParams {
        ModelParams {
            passive: vec![false, false, true, false],
            received: vec![false, false, true, false],
            engaged: vec![false, false, false, true],
            ..ModelParams::defaults(NOW)
        }
    }

    #[test]
    fn stages_follow_first_seen_idle_days_and_orders() {
        let mut b = EventColumnsBuilder::default();
        push(&mut b, 1, 10, VIEW); // new
        push(&mut b, 2, 100, VIEW); // growth: active 5 days ago, one order
        push(&mut b, 2, 5, ORDER);
        for d in [200, 150, 100, 3] {
            push(&mut b, 3, d, ORDER); // mature
        }
        push(&mut b, 4, 300, VIEW); // dormant: idle 70 days; the message sent since is passive
        push(&mut b, 4, 70, VIEW);
        push(&mut b, 4, 1, SENT);
        push(&mut b, 5, 365, ORDER); // churned
        push(&mut b, 6, 500, VIEW); // churned long ago
        push(&mut b, 7, -1, VIEW); // after as_of: absent
        let models = compute(&Index::from_columns(b.build()), &params());
        let stages: Vec<(i64, Stage)> = models.customers.iter().map(|c| (c.customer, c.stage)).collect();
        assert_eq!(
            stages,
            vec![
                (1, Stage::New),
                (2, Stage::Growth),
                (3, Stage::Mature),
                (4, Stage::Dormant),
                (5, Stage::Churned),
                (6, Stage::Churned)
            ]
        );
        let recall: Vec<(i64, Option<i64>)> =
            models.customers.iter().map(|c| (c.customer, c.recall_since_us.map(|us| (NOW - us) / DAY_US))).collect();
        assert_eq!(recall[3], (4, Some(40)), "on the list since 70 - 30 days ago");
        assert_eq!(recall[0], (1, None));
    }

    #[test]
    fn classes_tiers_and_health() {
        let mut b = EventColumnsBuilder::default();
        // Customer 1: 4 recent orders (VIP, important-value); 2: one old order; 3: views only.
        for d in [1, 2, 3, 4] {
            push(&mut b, 1, d, ORDER);
        }
        push(&mut b, 2, 200, ORDER);
        for d in [1, 2, 3] {
            push(&mut b, 3, d, VIEW);
        }
        push(&mut b, 3, 2, SENT);
        push(&mut b, 3, 1, OPENED);
        let models = compute(&Index::from_columns(b.build()), &params());
        let c: Vec<&CustomerModel> = models.customers.iter().collect();
        assert_eq!(models.buyers, 2);
        assert_eq!((c[0].rfm, c[0].class, c[0].tier), ([3, 3, 3], Some(RfmClass::ImportantValue), Some(Tier::Vip)));
        assert_eq!((c[1].rfm, c[1].class, c[1].tier), ([1, 1, 1], Some(RfmClass::GeneralWinBack), Some(Tier::Regular)));
        assert_eq!((c[2].class, c[2].tier), (None, Some(Tier::Potential)));
        // Customer 3: last active 1 day ago (40 × 89/90), trend up from nothing (30), opened 1 of 1 (30).
        assert_eq!(c[2].health, 100);
        // Customer 2: idle 200 days (0), no recent activity (0), no messages (15).
        assert_eq!(c[1].health, 15);
    }

    #[test]
    fn fixed_edges_score_by_value() {
        let mut b = EventColumnsBuilder::default();
        for d in [1, 2, 3, 4, 5, 6] {
            push(&mut b, 1, d, ORDER);
        }
        push(&mut b, 2, 45, ORDER);
        let edges = RfmEdges { recency_days: [7, 30, 60, 90], frequency: [2, 3, 5, 10], monetary_cents: [1, 2, 3, 4] };
        let models = compute(
            &Index::from_columns(b.build()),
            &ModelParams { rfm_edges: Some(edges), rfm_high_score: Some(3), ..params() },
        );
        assert_eq!(models.customers[0].rfm, [5, 4, 5]);
        assert_eq!(models.customers[1].rfm, [3, 1, 5]);
        assert_eq!(models.customers[1].class, Some(RfmClass::ImportantDevelop));
    }

    #[test]
    fn summaries_count_repeat_days() {
        let mut b = EventColumnsBuilder::default();
        for (days_ago, cents) in [(30, 1000), (30, 500), (20, 2000), (20, 1000), (10, 3000)] {
            b.push(RawEvent {
                customer: 1,
                ts_us: NOW - days_ago * DAY_US,
                event: ORDER,
                order_cents: Some(cents),
                props: 0,
            });
        }
        let s = purchase_summaries(&Index::from_columns(b.build()), NOW);
        assert_eq!(s.len(), 1);
        let (id, s) = s[0];
        assert_eq!((id, s.frequency, s.recency, s.t), (1, 2.0, 20.0, 30.0));
        assert_eq!(s.monetary, Some(30.0));
    }
}
