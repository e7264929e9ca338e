//! The workspace home page: for roles with `analytics:read`, a KPI dashboard (active and new
//! customers, retention, repurchases, GMV, orders, ARPU, message and coupon rates) with the last 30
//! days' activity, orders and GMV drawn by ECharts; other roles land on the customer list.

use super::analytics::{Line, Measure, Money, answer, grouped, line_chart, percent, unindexed_note};
use super::i18n::Text;
use super::page::{Chrome, render};
use super::session::Console;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use siyu_analytics::Granularity;
use siyu_domain::DomainError;
use siyu_domain::access::Permission;
use siyu_domain::events::ORDER_COMPLETED;
use siyu_domain::events::analytics::{
    Dates, KpiAnswer, SegmentationAnswer, SegmentationOptions, SegmentationSeries, SeriesSpec,
};

/// How many event names one segmentation takes (the domain's limit).
const MAX_SERIES: usize = 20;
/// The days the charts cover, ending on the KPIs' day.
const TREND_DAYS: i64 = 30;

/// One KPI card. `raw` is the exact number (for tests and tools), "" when there is none.
struct KpiCard {
    key: &'static str,
    label: &'static str,
    value: String,
    raw: String,
    hint: Option<String>,
    missing: bool,
}

impl KpiCard {
    fn exact(key: &'static str, label: &'static str, value: String, raw: String) -> Self {
        Self { key, label, value, raw, hint: None, missing: false }
    }

    fn count(key: &'static str, label: &'static str, n: u64) -> Self {
        Self::exact(key, label, grouped(n), n.to_string())
    }

    /// A number that may be absent: shown by `show`, else "—" and why it is absent.
    fn optional(
        key: &'static str,
        label: &'static str,
        value: Option<f64>,
        show: impl Fn(f64) -> String,
        hint: String,
        absent: String,
    ) -> Self {
        match value {
            Some(v) => Self { key, label, value: show(v), raw: v.to_string(), hint: Some(hint), missing: false },
            None => Self { key, label, value: "—".into(), raw: String::new(), hint: Some(absent), missing: true },
        }
    }
}

/// The cards in reading order, five a row: activity and money, new customers, then rates.
fn kpi_cards(t: &Text, kpis: &KpiAnswer, money: &Money) -> Vec<KpiCard> {
    let rate = |key, label, value, hint: &str, absent: &str| {
        KpiCard::optional(key, label, value, percent, hint.into(), absent.into())
    };
    let retention = |key, label, value, days: u32| {
        let days = if days == 1 { t.window_one_day.to_string() } else { Text::fill(t.window_days, days) };
        let (hint, absent) = (Text::fill(t.kpi_hint_retention, &days), Text::fill(t.kpi_none_cohort, &days));
        KpiCard::optional(key, label, value, percent, hint, absent)
    };
    vec![
        KpiCard::count("dau", t.kpi_dau, kpis.dau),
        KpiCard::count("wau", t.kpi_wau, kpis.wau),
        KpiCard::count("mau", t.kpi_mau, kpis.mau),
        KpiCard::exact("gmv_30d", t.kpi_gmv, money.format(kpis.gmv_30d), kpis.gmv_30d.to_string()),
        KpiCard::count("orders_30d", t.kpi_orders, kpis.orders_30d),
        KpiCard::count("new_customers_1d", t.kpi_new_1d, kpis.new_customers_1d),
        KpiCard::count("new_customers_7d", t.kpi_new_7d, kpis.new_customers_7d),
        KpiCard::count("new_customers_30d", t.kpi_new_30d, kpis.new_customers_30d),
        KpiCard::optional(
            "arpu_30d",
            t.kpi_arpu,
            kpis.arpu_30d,
            |amount| money.format(amount),
            t.kpi_hint_arpu.into(),
            t.kpi_none_active.into(),
        ),
        rate("repurchase_rate", t.kpi_repurchase, kpis.repurchase_rate, t.kpi_hint_repurchase, t.kpi_none_buyers),
        retention("retention_d1", t.kpi_retention_d1, kpis.retention_d1, 1),
        retention("retention_d7", t.kpi_retention_d7, kpis.retention_d7, 7),
        retention("retention_d30", t.kpi_retention_d30, kpis.retention_d30, 30),
        rate("message_open_rate", t.kpi_open_rate, kpis.message_open_rate, t.kpi_hint_open_rate, t.kpi_none_messages),
        rate(
            "coupon_redemption_rate",
            t.kpi_coupon_rate,
            kpis.coupon_redemption_rate,
            t.kpi_hint_coupon_rate,
            t.kpi_none_coupons,
        ),
    ]
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    t: &'static Text,
    chrome: Chrome,
    no_events: bool,
    unindexed: Option<String>,
    as_of: String,
    time_zone: String,
    cards: Vec<KpiCard>,
    activity_chart: String,
    activity_note: String,
    /// Empty without `Order Completed` events.
    gmv_chart: String,
    /// The empty state's instructions.
    batch_example: String,
    import_example: String,
    can_keys: bool,
}

/// Returns the events the trend charts compare: the workspace's first [`MAX_SERIES`] names, with
/// `Order Completed` among them when the workspace has it; and whether names were left out.
fn trend_events(names: &[String]) -> (Vec<String>, bool) {
    let mut events: Vec<String> = names.iter().take(MAX_SERIES).cloned().collect();
    let has_orders = names.iter().any(|name| name == ORDER_COMPLETED);
    if has_orders && !events.iter().any(|name| name == ORDER_COMPLETED) {
        events[MAX_SERIES - 1] = ORDER_COMPLETED.into();
    }
    (events, names.len() > MAX_SERIES)
}

/// Returns the series with the most customer-days: the best stand-in for daily active customers
/// that per-event counts give (customers doing several events would count twice in a sum).
fn busiest(trend: &SegmentationAnswer) -> Option<&SegmentationSeries> {
    let customer_days = |series: &SegmentationSeries| series.customers.iter().sum::<u64>();
    // On a tie the first-named event wins, so the choice is stable from one load to the next.
    trend.series.iter().rev().max_by_key(|series| customer_days(series))
}

/// Fills the charts from the last 30 days' segmentation.
fn show_trend(page: &mut DashboardPage, t: &Text, trend: &SegmentationAnswer, cut: bool, money: &Money) {
    let orders = trend.series.iter().find(|series| series.event == ORDER_COMPLETED);
    let numbers = |values: &[u64]| values.iter().map(|n| json!(n)).collect();
    let mut lines = Vec::new();
    if let Some(active) = busiest(trend) {
        lines.push(Line { name: Text::fill(t.home_active_series, &active.event), values: numbers(&active.customers) });
        page.activity_note = Text::fill(t.home_active_note, &active.event);
        if cut {
            page.activity_note = format!("{} {}", page.activity_note, t.home_active_note_cut);
        }
    }
    if let Some(orders) = orders {
        lines.push(Line { name: t.home_orders_series.into(), values: numbers(&orders.counts) });
        let gmv = Line { name: t.home_gmv_series.into(), values: orders.revenue.iter().map(|v| json!(v)).collect() };
        page.gmv_chart = line_chart(&trend.buckets, vec![Measure { label: t.kpi_gmv, lines: vec![gmv] }], Some(money));
    }
    page.activity_chart = line_chart(&trend.buckets, vec![Measure { label: t.kpi_dau, lines }], None);
}

/// GET /: the KPI dashboard for roles that may read analytics; a redirect to the customer list for
/// the others (their home before the dashboard existed).
pub(crate) async fn show_home(State(app): State<AppState>, console: Console) -> Response {
    if !console.may(Permission::AnalyticsRead) {
        return Redirect::to("/customers").into_response();
    }
    let index = match app.services.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let slug = &console.workspace.slug;
    let mut page = DashboardPage {
        t,
        chrome: Chrome::new(&console, "home"),
        no_events: index.names.names().is_empty(),
        unindexed: unindexed_note(t, &index),
        as_of: String::new(),
        time_zone: console.workspace.time_zone.clone(),
        cards: Vec::new(),
        activity_chart: String::new(),
        activity_note: String::new(),
        gmv_chart: String::new(),
        batch_example: format!(
            "curl {}/v1/batch -u '<write key>:' -H 'Content-Type: application/json' \\\n  -d '{}'",
            app.public_url.trim_end_matches('/'),
            r#"{"batch": [{"type": "track", "userId": "u-1001", "event": "Order Completed", "properties": {"revenue": 39.9}}]}"#,
        ),
        import_example: format!("siyu import events events.parquet --workspace {slug}"),
        can_keys: console.may(Permission::KeysManage),
    };
    if page.no_events {
        return render(StatusCode::OK, &page);
    }
    let tz = console.time_zone.clone();
    let (events, cut) = trend_events(index.names.names());
    let now_us = app.services.now().as_microsecond();
    let found = answer(&index, move |index| {
        let kpis = index.kpis(&tz, None, now_us)?;
        let last = kpis
            .as_of
            .parse::<jiff::civil::Date>()
            .map_err(|error| DomainError::Internal(format!("KPI day \"{}\": {error}", kpis.as_of)))?;
        // The chart never reaches before the earliest day analytics reads.
        let first = last.checked_sub(jiff::Span::new().days(TREND_DAYS - 1)).unwrap_or(last);
        let first = first.max(jiff::civil::date(2000, 1, 1)).min(last);
        let series: Vec<SeriesSpec> = events.iter().map(|e| SeriesSpec::from(e.as_str())).collect();
        let options = SegmentationOptions::default();
        let dates = Dates::between(Some(first), Some(last), now_us);
        let trend = index.segmentation(&tz, Granularity::Day, &series, &options, dates)?;
        Ok((kpis, trend))
    })
    .await;
    let (kpis, trend) = match found {
        Ok(found) => found,
        Err(error) => return console.fail(error),
    };
    let money = Money::of(&console.workspace.currency);
    page.as_of = Text::fill(t.home_as_of, &kpis.as_of);
    page.cards = kpi_cards(t, &kpis, &money);
    show_trend(&mut page, t, &trend, cut, &money);
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    fn series(event: &str, customers: Vec<u64>) -> SegmentationSeries {
        let n = customers.len();
        SegmentationSeries {
            event: event.into(),
            counts: customers.clone(),
            customers,
            revenue: vec![0.0; n],
            ..Default::default()
        }
    }

    #[test]
    fn the_trend_compares_order_completed_even_past_the_first_twenty_names() {
        let mut names: Vec<String> = (0..25).map(|i| format!("E{i}")).collect();
        assert_eq!(trend_events(&names), (names[..20].to_vec(), true));
        names.push(ORDER_COMPLETED.into());
        let (events, cut) = trend_events(&names);
        assert_eq!((events.len(), events[19].as_str(), cut), (20, ORDER_COMPLETED, true));
        assert_eq!(trend_events(&names[..3]), (names[..3].to_vec(), false));
    }

    #[test]
    fn activity_follows_the_event_with_the_most_customer_days() {
        let trend = SegmentationAnswer {
            period: "day".into(),
            tz: "UTC".into(),
            buckets: vec!["2026-01-01".into(), "2026-01-02".into()],
            series: vec![series("A", vec![1, 2]), series("B", vec![3, 1]), series("C", vec![2, 2])],
            more_groups: None,
        };
        assert_eq!(busiest(&trend).map(|s| s.event.as_str()), Some("B"), "B and C tie; B is named first");
    }

    #[test]
    fn absent_kpis_read_as_a_dash_with_the_reason() {
        let t = Lang::En.text();
        let kpis = KpiAnswer {
            as_of: "2026-07-03".into(),
            tz: "UTC".into(),
            dau: 1234,
            wau: 0,
            mau: 0,
            new_customers_1d: 0,
            new_customers_7d: 0,
            new_customers_30d: 0,
            retention_d1: Some(0.25),
            retention_d7: None,
            retention_d30: None,
            repurchase_rate: None,
            gmv_30d: 12345.6,
            orders_30d: 3,
            arpu_30d: None,
            message_open_rate: None,
            coupon_redemption_rate: None,
        };
        let cards = kpi_cards(t, &kpis, &Money::of("CNY"));
        let card = |key: &str| cards.iter().find(|card| card.key == key).unwrap();
        assert_eq!((card("dau").value.as_str(), card("dau").raw.as_str()), ("1,234", "1234"));
        assert_eq!((card("gmv_30d").value.as_str(), card("gmv_30d").raw.as_str()), ("¥12,345.60", "12345.6"));
        assert_eq!(card("retention_d1").value, "25.0%");
        let d7 = card("retention_d7");
        assert_eq!((d7.value.as_str(), d7.raw.as_str(), d7.missing), ("—", "", true));
        assert_eq!(d7.hint.as_deref(), Some("No customers were new 7 days earlier"));
        assert_eq!(
            card("retention_d1").hint.as_deref(),
            Some("Share of the customers new 1 day earlier who were active on the day")
        );
        let zh = kpi_cards(Lang::Zh.text(), &kpis, &Money::of("CNY"));
        assert_eq!(zh[11].hint.as_deref(), Some("7 天前没有新客户，无从计算"));
        assert!(card("message_open_rate").hint.as_deref().is_some_and(|hint| hint.contains("Message Sent")));
        assert_eq!(cards.len(), 15);
    }
}
