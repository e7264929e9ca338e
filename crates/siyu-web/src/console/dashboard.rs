//! The workspace home page: for roles with `analytics:read`, a KPI dashboard (active and new
//! customers, retention, repurchases, GMV, orders, ARPU, message and coupon rates) of the last
//! complete day with customer activity (or today so far, or a chosen day), with the 30 days' daily
//! active customers, orders and GMV drawn by ECharts (a day not over yet dashed); other roles land
//! on the customer list.

use super::analytics::{Line, Measure, Money, answer, grouped, line_chart, percent, rejected, unindexed_note};
use super::i18n::Text;
use super::page::{Chrome, FieldMessage, render};
use super::session::{Console, FormData};
use crate::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use siyu_analytics::Granularity;
use siyu_domain::DomainError;
use siyu_domain::access::Permission;
use siyu_domain::error::DomainResult;
use siyu_domain::events::analytics::{
    Dates, KpiAnswer, SegmentationOptions, SegmentationSeries, SeriesSpec, local_date,
};
use siyu_domain::events::{EventIndex, ORDER_COMPLETED};
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
    /// The day as typed in the form (`?day=`): empty for the default, `today`, or a date.
    day: String,
    /// Whether the figures are today's so far.
    partial: bool,
    time_zone: String,
    errors: Vec<FieldMessage>,
    cards: Vec<KpiCard>,
    activity_chart: String,
    /// Empty without `Order Completed` events.
    gmv_chart: String,
    /// The empty state's instructions.
    batch_example: String,
    import_example: String,
    can_keys: bool,
}

/// The day the dashboard shows, from `?day=`: the default (the last complete day with customer
/// activity), `today` (so far), or a date; a bad date is refused naming `as_of`.
fn asked_day(day: &str, tz: &jiff::tz::TimeZone, now_us: i64) -> DomainResult<Option<jiff::civil::Date>> {
    match day {
        "" => Ok(None),
        "today" => Ok(Some(local_date(now_us, tz))),
        text => text
            .parse::<jiff::civil::Date>()
            .map(Some)
            .map_err(|_| DomainError::invalid("as_of", format!("\"{text}\" is not a date like 2024-05-01"))),
    }
}

/// Fills the charts: daily active customers (as the DAU card counts them) and orders, and GMV, over
/// the 30 days ending on the KPIs' day; a day not over yet is drawn dashed.
fn show_trend(page: &mut DashboardPage, t: &Text, trend: &Trend, money: &Money) {
    let numbers = |values: &[u64]| values.iter().map(|n| json!(n)).collect();
    let partial = page.partial.then(|| trend.days.len().saturating_sub(1));
    let mut lines = vec![Line { name: t.kpi_dau.into(), values: numbers(&trend.active) }];
    if let Some(orders) = &trend.orders {
        lines.push(Line { name: t.home_orders_series.into(), values: numbers(&orders.counts) });
        let gmv = Line { name: t.home_gmv_series.into(), values: orders.revenue.iter().map(|v| json!(v)).collect() };
        page.gmv_chart =
            line_chart(&trend.days, vec![Measure { label: t.kpi_gmv, lines: vec![gmv] }], Some(money), partial);
    }
    page.activity_chart = line_chart(&trend.days, vec![Measure { label: t.kpi_dau, lines }], None, partial);
}

/// The 30 days the charts cover.
struct Trend {
    days: Vec<String>,
    active: Vec<u64>,
    /// `Order Completed` per day, when the workspace has orders.
    orders: Option<SegmentationSeries>,
}

/// Answers the KPIs of `as_of` (default: the last complete day with customer activity) and the 30
/// days of trend ending on that day.
fn dashboard(
    index: &EventIndex,
    tz: &jiff::tz::TimeZone,
    as_of: Option<jiff::civil::Date>,
    now_us: i64,
    passive: &[String],
) -> DomainResult<(KpiAnswer, Trend)> {
    let kpis = index.kpis(tz, as_of, now_us, passive)?;
    let last = kpis
        .as_of
        .parse::<jiff::civil::Date>()
        .map_err(|error| DomainError::internal(format!("KPI day \"{}\": {error}", kpis.as_of)))?;
    // The chart never reaches before the earliest day analytics reads.
    let first = last.checked_sub(jiff::Span::new().days(TREND_DAYS - 1)).unwrap_or(last);
    let first = first.max(jiff::civil::date(2000, 1, 1)).min(last);
    let days: Vec<String> =
        first.series(jiff::Span::new().days(1)).take_while(|d| *d <= last).map(|d| d.to_string()).collect();
    let active = index.daily_active(tz, first, last, now_us, passive)?;
    let orders = if index.names.id(ORDER_COMPLETED).is_some() {
        let series = [SeriesSpec::from(ORDER_COMPLETED)];
        let dates = Dates::between(Some(first), Some(last), now_us);
        let trend = index.segmentation(tz, Granularity::Day, &series, &SegmentationOptions::default(), dates)?;
        trend.series.into_iter().next()
    } else {
        None
    };
    Ok((kpis, Trend { days, active, orders }))
}

/// GET /: the KPI dashboard for roles that may read analytics (`?day=today` for today so far, or
/// `?day=YYYY-MM-DD`); a redirect to the customer list for the others (their home before the
/// dashboard existed).
pub(crate) async fn show_home(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    if !console.may(Permission::AnalyticsRead) {
        return Redirect::to("/customers").into_response();
    }
    let index = match app.services.events.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let passive = match app.services.models.model_settings(&console.principal).await {
        Ok(settings) => settings.passive_events,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let slug = &console.workspace.slug;
    let day = FormData::query(raw).get("day").trim().to_string();
    let mut page = DashboardPage {
        t,
        chrome: Chrome::new(&console, "home"),
        no_events: index.names.names().is_empty(),
        unindexed: unindexed_note(t, &index),
        as_of: String::new(),
        day,
        partial: false,
        time_zone: console.workspace.time_zone.clone(),
        errors: Vec::new(),
        cards: Vec::new(),
        activity_chart: String::new(),
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
    let now_us = app.services.now().as_microsecond();
    let as_of = match asked_day(&page.day, &tz, now_us) {
        Ok(as_of) => as_of,
        Err(error) => return rejected(&console, error, |errors| DashboardPage { errors, ..page }),
    };
    let found = answer(&index, move |index| dashboard(index, &tz, as_of, now_us, &passive)).await;
    let (kpis, trend) = match found {
        Ok(found) => found,
        Err(error) => return rejected(&console, error, |errors| DashboardPage { errors, ..page }),
    };
    let money = Money::of(&console.workspace.currency);
    page.partial = !kpis.complete;
    page.as_of = match (kpis.complete, as_of) {
        (false, _) => Text::fill(t.home_as_of_partial, &kpis.as_of),
        (true, None) => Text::fill(t.home_as_of, &kpis.as_of),
        (true, Some(_)) => Text::fill(t.home_as_of_day, &kpis.as_of),
    };
    page.cards = kpi_cards(t, &kpis, &money);
    show_trend(&mut page, t, &trend, &money);
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    #[test]
    fn the_day_is_the_default_today_or_a_date_and_a_bad_one_names_as_of() {
        let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        // 2026-07-03T20:00:00Z is already 07-04 in Shanghai.
        let now_us = 1_783_108_800_000_000;
        assert_eq!(asked_day("", &shanghai, now_us).unwrap(), None);
        assert_eq!(asked_day("today", &shanghai, now_us).unwrap(), Some(jiff::civil::date(2026, 7, 4)));
        assert_eq!(asked_day("2026-06-30", &shanghai, now_us).unwrap(), Some(jiff::civil::date(2026, 6, 30)));
        match asked_day("30/06/2026", &shanghai, now_us) {
            Err(DomainError::Invalid(errors)) => assert_eq!(errors[0].field, "as_of"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absent_kpis_read_as_a_dash_with_the_reason() {
        let t = Lang::En.text();
        let kpis = KpiAnswer {
            as_of: "2026-07-03".into(),
            complete: true,
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
