//! The audience pages: the customer models (`/models`: lifecycle stages and their flows, value
//! tiers, the eight RFM classes and the R × F heatmap, health, LTV, the recall list) and segments
//! (`/segments`: the list with size and trend; `/segments/new` and `/segments/{key}`: the builder —
//! condition rows and the segment language kept in sync, with a live size from
//! `/segments/preview`). Charts are drawn by `assets/analytics.js`; the builder is `assets/segments.js`.

use super::customers::{self, CustomerRow};
use super::i18n::Text;
use super::page::{Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use siyu_core::PageRequest;
use siyu_domain::DomainError;
use siyu_domain::models::{GroupCount, ModelSettings, RfmEdgeSettings};
use siyu_domain::services::{DefinitionInput, LtvStatus, SegmentInput};

fn name_of(console: &Console, g: &GroupCount) -> String {
    if console.lang.code() == "zh" { g.name_zh.clone() } else { g.name_en.clone() }
}

fn bar_chart(series: &str, labels: Vec<String>, values: Vec<f64>) -> String {
    json!({"type": "bar", "series": series, "x": labels, "values": values}).to_string()
}

/// A row of a distribution table.
struct GroupRow {
    key: String,
    name: String,
    customers: u64,
    revenue: String,
}

struct RecallRow {
    id: i64,
    since: String,
    last_active: String,
    health: u8,
    stage: String,
    orders: u32,
    revenue: String,
}

#[derive(Template)]
#[template(path = "models.html")]
struct ModelsPage {
    t: &'static Text,
    chrome: Chrome,
    as_of: String,
    customers: String,
    buyers: String,
    no_events: bool,
    no_order_data: Option<String>,
    lifecycle: Vec<GroupRow>,
    lifecycle_chart: String,
    flows_chart: String,
    flows_title: String,
    /// (days, label, chosen) of each period the flows can be shown over.
    flow_periods: Vec<(i64, String, bool)>,
    tiers: Vec<GroupRow>,
    tiers_chart: String,
    classes: Vec<GroupRow>,
    classes_chart: String,
    heatmap_chart: String,
    health_chart: String,
    health_mean: String,
    ltv_chart: String,
    ltv_note: String,
    ltv_total: String,
    ltv_unavailable: Option<String>,
    /// A newer computation is under way (the page shows the last computed models).
    refreshing: bool,
    recall_count: String,
    recall: Vec<RecallRow>,
}

/// Writes an amount in the workspace's currency, e.g. `¥12,345.60`.
fn money(console: &Console, v: f64) -> String {
    super::analytics::Money::of(&console.workspace.currency).format(v)
}

/// GET /models: every model of the workspace at a glance.
/// The periods the stage flows can be shown over, in days (`/models?flows=N`).
const FLOW_PERIODS: [i64; 4] = [7, 30, 90, 180];

/// GET /models (`?flows=7|30|90|180`: the period of the stage flows, 30 days unless given).
pub(crate) async fn show_models(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let flows_days = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "flows")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .filter(|d| FLOW_PERIODS.contains(d))
        .unwrap_or(30);
    let t = console.t();
    let p = &console.principal;
    let summary = match app.services.models_summary(p).await {
        Ok(summary) => summary,
        Err(error) => return console.fail(error),
    };
    let rows = |groups: &[GroupCount]| -> Vec<GroupRow> {
        groups
            .iter()
            .map(|g| GroupRow {
                key: g.key.clone(),
                name: name_of(&console, g),
                customers: g.customers,
                revenue: money(&console, g.revenue),
            })
            .collect()
    };
    let chart_of = |groups: &[GroupCount]| {
        bar_chart(
            t.col_customers,
            groups.iter().map(|g| name_of(&console, g)).collect(),
            groups.iter().map(|g| g.customers as f64).collect(),
        )
    };
    let (mut classes, mut classes_chart, mut heatmap_chart) = (Vec::new(), String::new(), String::new());
    if summary.buyers > 0 {
        match app.services.rfm_model(p).await {
            Ok(rfm) => {
                classes = rows(&rfm.classes);
                classes_chart = chart_of(&rfm.classes);
                let cells: Vec<Value> = rfm.heatmap.iter().map(|c| json!([c.f - 1, c.r - 1, c.customers])).collect();
                let max = rfm.heatmap.iter().map(|c| c.customers).max().unwrap_or(1);
                heatmap_chart = json!({
                    "type": "heatmap", "series": t.col_customers,
                    "x": ["F1", "F2", "F3", "F4", "F5"], "y": ["R1", "R2", "R3", "R4", "R5"],
                    "x_name": t.rfm_axis_f, "y_name": t.rfm_axis_r, "cells": cells, "max": max, "percent": false,
                })
                .to_string();
            }
            Err(error) => return console.fail(error),
        }
    }
    let (mut ltv_chart, mut ltv_note, mut ltv_total, mut ltv_unavailable) =
        (String::new(), String::new(), String::new(), None);
    if summary.buyers > 0 {
        match app.services.ltv_model(p).await {
            Ok(ltv) if ltv.status == LtvStatus::Computing => ltv_unavailable = Some(t.ltv_computing.to_string()),
            Ok(ltv) if ltv.status == LtvStatus::NotConverged => {
                ltv_unavailable = Some(match ltv.bgnbd["bound_parameter"].as_str() {
                    Some(parameter) => Text::fill(t.ltv_at_bound, parameter),
                    None => t.ltv_budget_spent.to_string(),
                })
            }
            Ok(ltv) => {
                ltv_chart = bar_chart(
                    t.expected_value,
                    (1..=10).map(|d| Text::fill(t.decile_n, d)).collect(),
                    ltv.value_deciles.iter().map(|v| (v * 100.0).round() / 100.0).collect(),
                );
                ltv_note = Text::fill(t.ltv_note, ltv.horizon_days);
                ltv_total = Text::fill(t.ltv_total, money(&console, ltv.total_expected_value));
                if ltv.computing {
                    ltv_note = format!("{ltv_note} · {}", t.ltv_refitting);
                }
            }
            Err(DomainError::Invalid(errors)) => {
                ltv_unavailable = Some(Text::fill(t.ltv_unavailable, errors.first().map_or("", |e| e.reason.as_str())))
            }
            Err(error) => return console.fail(error),
        }
    }
    let now = app.services.now();
    let since = now - jiff::SignedDuration::from_hours(24 * flows_days);
    let flows_chart = match app.services.lifecycle_flows(p, since, now).await {
        Ok(flows) => {
            let stage_name = |key: &str| {
                summary
                    .lifecycle
                    .iter()
                    .find(|g| g.key == key)
                    .map_or(t.flows_unseen.to_string(), |g| name_of(&console, g))
            };
            let mut nodes: Vec<Value> = Vec::new();
            let mut links: Vec<Value> = Vec::new();
            for f in flows.iter().filter(|f| f.customers > 0) {
                let from = format!("{} · {}", Text::fill(t.flows_before, flows_days), stage_name(&f.from));
                let to = format!("{} · {}", t.flows_now, stage_name(&f.to));
                for (name, depth) in [(&from, 0), (&to, 1)] {
                    if !nodes.iter().any(|n| n["name"] == json!(name)) {
                        nodes.push(json!({"name": name, "depth": depth}));
                    }
                }
                links.push(json!({"source": from, "target": to, "value": f.customers}));
            }
            json!({"type": "sankey", "series": t.col_customers, "align": "justify", "nodes": nodes, "links": links})
                .to_string()
        }
        Err(error) => return console.fail(error),
    };
    let settings = app.services.model_settings(p).await.unwrap_or_default();
    let recall = match app.services.recall_list(p, PageRequest::first(20)).await {
        Ok((_, page)) => page
            .items
            .into_iter()
            .map(|r| RecallRow {
                id: r.customer_id.0,
                since: r.since.parse::<jiff::Timestamp>().map(|at| console.time(at)).unwrap_or(r.since),
                last_active: r
                    .last_active
                    .parse::<jiff::Timestamp>()
                    .map(|at| console.time(at))
                    .unwrap_or(r.last_active),
                health: r.health,
                stage: summary
                    .lifecycle
                    .iter()
                    .find(|g| g.key == r.stage)
                    .map_or(r.stage.clone(), |g| name_of(&console, g)),
                orders: r.orders,
                revenue: money(&console, r.monetary),
            })
            .collect(),
        Err(error) => return console.fail(error),
    };
    let bands: Vec<String> =
        (0..10).map(|b| if b == 9 { "90–100".into() } else { format!("{}–{}", b * 10, b * 10 + 9) }).collect();
    let page = ModelsPage {
        t,
        chrome: Chrome::new(&console, "models"),
        as_of: summary.as_of.parse::<jiff::Timestamp>().map(|at| console.time(at)).unwrap_or_default(),
        customers: Text::fill(t.models_customers, summary.customers),
        buyers: Text::fill(t.models_buyers, summary.buyers),
        no_events: summary.customers == 0,
        no_order_data: summary.no_order_data.as_ref().map(|_| t.no_order_data_body.to_string()),
        lifecycle_chart: chart_of(&summary.lifecycle),
        lifecycle: rows(&summary.lifecycle),
        flows_chart,
        flows_title: Text::fill(t.lifecycle_flows, flows_days),
        flow_periods: FLOW_PERIODS.iter().map(|d| (*d, Text::fill(t.flows_days, d), *d == flows_days)).collect(),
        tiers_chart: chart_of(&summary.tiers),
        tiers: rows(&summary.tiers),
        classes,
        classes_chart,
        heatmap_chart,
        health_chart: bar_chart(t.col_customers, bands, summary.health_bands.iter().map(|n| *n as f64).collect()),
        health_mean: Text::fill(t.health_mean, format!("{:.1}", summary.mean_health)),
        ltv_chart,
        ltv_note,
        ltv_total,
        ltv_unavailable,
        refreshing: summary.refreshing,
        recall_count: Text::fill(Text::fill(t.recall_count, summary.recall).as_str(), settings.churn_days),
        recall,
    };
    render(StatusCode::OK, &page)
}

/// A customer on the recall list: who (masked per role) and why.
struct RecallCustomer {
    customer: Option<CustomerRow>,
    id: i64,
    since: String,
    last_active: String,
    health: u8,
    stage: String,
    orders: u32,
    revenue: String,
    monetary: f64,
}

#[derive(Template)]
#[template(path = "recall.html")]
struct RecallPage {
    t: &'static Text,
    chrome: Chrome,
    count: String,
    rows: Vec<RecallCustomer>,
    next_url: Option<String>,
    paged: bool,
}

/// Returns a lifecycle stage's name in the console's language (an unknown key as it is).
fn stage_name(console: &Console, key: &str) -> String {
    use siyu_domain::models::Named;
    let zh = console.lang.code() == "zh";
    siyu_analytics::models::Stage::ALL
        .iter()
        .find(|s| s.key() == key)
        .map_or_else(|| key.to_string(), |s| if zh { s.name_zh() } else { s.name_en() }.to_string())
}

/// Reads a page of the recall list with its customers (masked per role; ids only for a role that
/// may not read customers).
async fn recall_page(
    app: &AppState,
    console: &Console,
    page: PageRequest,
) -> Result<(u64, Vec<RecallCustomer>, Option<i64>), DomainError> {
    let (total, page) = app.services.recall_list(&console.principal, page).await?;
    let ids: Vec<siyu_core::CustomerId> = page.items.iter().map(|r| r.customer_id).collect();
    let customers = match app.services.customers_by_id(&console.principal, &ids).await {
        Ok(customers) => customers,
        Err(DomainError::Forbidden(_)) => Vec::new(),
        Err(error) => return Err(error),
    };
    let time = |text: String| text.parse::<jiff::Timestamp>().map(|at| console.time(at)).unwrap_or(text);
    let rows = page
        .items
        .into_iter()
        .map(|r| RecallCustomer {
            customer: customers.iter().find(|c| c.id == r.customer_id).map(|c| customers::row(console, c)),
            id: r.customer_id.0,
            since: time(r.since),
            last_active: time(r.last_active),
            health: r.health,
            stage: stage_name(console, &r.stage),
            orders: r.orders,
            revenue: money(console, r.monetary),
            monetary: r.monetary,
        })
        .collect();
    Ok((total, rows, page.next_after))
}

/// GET /models/recall: the whole recall list, a page at a time (`?cursor=`), with a CSV export.
pub(crate) async fn show_recall(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let params = FormData::query(raw);
    let cursor = params.get("cursor");
    let request = PageRequest { limit: MEMBERS_PAGE, after: PageRequest::decode_cursor(cursor) };
    let (total, rows, next) = match recall_page(&app, &console, request).await {
        Ok(answer) => answer,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let page = RecallPage {
        t,
        chrome: Chrome::new(&console, "models"),
        count: Text::fill(t.members_count, total),
        rows,
        next_url: next.map(|after| format!("/models/recall?cursor={}", PageRequest::encode_cursor(after))),
        paged: !cursor.is_empty(),
    };
    render(StatusCode::OK, &page)
}

/// GET /models/recall.csv: the whole recall list as CSV, customers masked per role.
pub(crate) async fn export_recall(State(app): State<AppState>, console: Console) -> Response {
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "customer_id",
        "name",
        "phone",
        "email",
        "recall_since",
        "last_active",
        "health",
        "stage",
        "orders",
        "revenue",
    ];
    let mut records: Vec<Vec<String>> = vec![header.map(String::from).to_vec()];
    let mut after = None;
    loop {
        let (_, rows, next) = match recall_page(&app, &console, PageRequest { limit: 1000, after }).await {
            Ok(answer) => answer,
            Err(error) => return console.fail(error),
        };
        for r in rows {
            let (name, phone, email) =
                r.customer.map(|c| (c.name.value, c.phone.value, c.email.value)).unwrap_or_default();
            records.push(vec![
                r.id.to_string(),
                name,
                phone,
                email,
                r.since,
                r.last_active,
                r.health.to_string(),
                r.stage,
                r.orders.to_string(),
                format!("{:.2}", r.monetary),
            ]);
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for record in &records {
        if let Err(error) = out.write_record(record) {
            return console.fail(DomainError::Internal(error.to_string()));
        }
    }
    match out.into_inner() {
        Ok(body) => csv_download("recall.csv", body),
        Err(error) => console.fail(DomainError::Internal(error.to_string())),
    }
}

/// One threshold as the settings form shows it.
struct SettingField {
    name: &'static str,
    label: &'static str,
    value: String,
    /// A comma-separated list (shown full width).
    list: bool,
}

#[derive(Template)]
#[template(path = "model_settings.html")]
struct SettingsPage {
    t: &'static Text,
    chrome: Chrome,
    can_manage: bool,
    fields: Vec<SettingField>,
    errors: Vec<FieldMessage>,
}

fn setting_fields(t: &'static Text, s: &ModelSettings) -> Vec<SettingField> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut fields = vec![
        SettingField { name: "new_days", label: t.set_new_days, value: s.new_days.to_string(), list: false },
        SettingField {
            name: "dormant_days",
            label: t.set_dormant_days,
            value: s.dormant_days.to_string(),
            list: false,
        },
        SettingField {
            name: "churned_days",
            label: t.set_churned_days,
            value: s.churned_days.to_string(),
            list: false,
        },
        SettingField {
            name: "mature_orders",
            label: t.set_mature_orders,
            value: s.mature_orders.to_string(),
            list: false,
        },
        SettingField {
            name: "vip_min_orders",
            label: t.set_vip_min_orders,
            value: s.vip_min_orders.to_string(),
            list: false,
        },
        SettingField {
            name: "vip_min_aov",
            label: t.set_vip_min_aov,
            value: opt(s.vip_min_aov.map(|v| v.to_string())),
            list: false,
        },
        SettingField {
            name: "potential_days",
            label: t.set_potential_days,
            value: s.potential_days.to_string(),
            list: false,
        },
        SettingField {
            name: "potential_min_events",
            label: t.set_potential_min_events,
            value: s.potential_min_events.to_string(),
            list: false,
        },
        SettingField { name: "churn_days", label: t.set_churn_days, value: s.churn_days.to_string(), list: false },
        SettingField {
            name: "rfm_high_score",
            label: t.set_rfm_high_score,
            value: opt(s.rfm_high_score.map(|v| v.to_string())),
            list: false,
        },
        SettingField {
            name: "health_recency_days",
            label: t.set_health_recency_days,
            value: s.health_recency_days.to_string(),
            list: false,
        },
        SettingField {
            name: "health_trend_days",
            label: t.set_health_trend_days,
            value: s.health_trend_days.to_string(),
            list: false,
        },
        SettingField {
            name: "ltv_horizon_days",
            label: t.set_ltv_horizon_days,
            value: s.ltv_horizon_days.to_string(),
            list: false,
        },
        SettingField {
            name: "refresh_minutes",
            label: t.set_refresh_minutes,
            value: s.refresh_minutes.to_string(),
            list: false,
        },
    ];
    let edges = s.rfm_edges.as_ref();
    let joined = |values: Vec<String>| values.join(", ");
    fields.extend([
        SettingField {
            name: "rfm_edges.recency_days",
            label: t.set_edges_recency,
            value: joined(edges.map(|e| e.recency_days.iter().map(i64::to_string).collect()).unwrap_or_default()),
            list: true,
        },
        SettingField {
            name: "rfm_edges.frequency",
            label: t.set_edges_frequency,
            value: joined(edges.map(|e| e.frequency.iter().map(i64::to_string).collect()).unwrap_or_default()),
            list: true,
        },
        SettingField {
            name: "rfm_edges.monetary",
            label: t.set_edges_monetary,
            value: joined(edges.map(|e| e.monetary.iter().map(f64::to_string).collect()).unwrap_or_default()),
            list: true,
        },
        SettingField {
            name: "passive_events",
            label: t.set_passive_events,
            value: joined(s.passive_events.clone()),
            list: true,
        },
        SettingField {
            name: "message_received_events",
            label: t.set_message_received_events,
            value: joined(s.message_received_events.clone()),
            list: true,
        },
        SettingField {
            name: "message_engaged_events",
            label: t.set_message_engaged_events,
            value: joined(s.message_engaged_events.clone()),
            list: true,
        },
    ]);
    fields
}

/// The items of a comma-separated list, trimmed, without empty ones.
fn items(list: &str) -> Vec<&str> {
    list.split([',', '，']).map(str::trim).filter(|v| !v.is_empty()).collect()
}

/// Reads the three fixed-edge lists: all empty is quintiles (`None`); unreadable numbers are named.
fn edges_of(form: &super::session::FormData, unreadable: &mut Vec<siyu_domain::FieldError>) -> Option<RfmEdgeSettings> {
    let [recency, frequency, monetary] = ["rfm_edges.recency_days", "rfm_edges.frequency", "rfm_edges.monetary"]
        .map(|name| (name, items(form.get(name))));
    if recency.1.is_empty() && frequency.1.is_empty() && monetary.1.is_empty() {
        return None;
    }
    let mut numbers = |(name, values): (&str, Vec<&str>)| -> Vec<f64> {
        let mut out = Vec::new();
        for v in values {
            match v.parse::<f64>() {
                Ok(n) if n.is_finite() => out.push(n),
                _ => unreadable.push(siyu_domain::FieldError::new(name, format!("\"{v}\" is not a number"))),
            }
        }
        out
    };
    let whole = |values: Vec<f64>| values.into_iter().map(|v| v as i64).collect();
    Some(RfmEdgeSettings {
        recency_days: whole(numbers(recency)),
        frequency: whole(numbers(frequency)),
        monetary: numbers(monetary),
    })
}

/// GET /models/settings: the thresholds in force, as a form for roles with `segments:manage`.
pub(crate) async fn show_settings(State(app): State<AppState>, console: Console) -> Response {
    let settings = match app.services.model_settings(&console.principal).await {
        Ok(settings) => settings,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let page = SettingsPage {
        t,
        chrome: Chrome::new(&console, "models"),
        can_manage: console.may(siyu_domain::access::Permission::SegmentsManage),
        fields: setting_fields(t, &settings),
        errors: Vec::new(),
    };
    render(StatusCode::OK, &page)
}

/// POST /models/settings: saves the thresholds; out-of-range or unreadable ones are shown beside
/// the form (422) and nothing is saved.
pub(crate) async fn save_settings(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let t = console.t();
    let mut settings = match app.services.model_settings(&console.principal).await {
        Ok(settings) => settings,
        Err(error) => return console.fail(error),
    };
    let mut unreadable = Vec::new();
    let mut whole = |name: &str, target: &mut i64| match form.get(name).trim().parse::<i64>() {
        Ok(v) => *target = v,
        Err(_) => {
            unreadable.push(siyu_domain::FieldError::new(name, format!("\"{}\" is not a whole number", form.get(name))))
        }
    };
    whole("new_days", &mut settings.new_days);
    whole("dormant_days", &mut settings.dormant_days);
    whole("churned_days", &mut settings.churned_days);
    whole("mature_orders", &mut settings.mature_orders);
    whole("vip_min_orders", &mut settings.vip_min_orders);
    whole("potential_days", &mut settings.potential_days);
    whole("potential_min_events", &mut settings.potential_min_events);
    whole("churn_days", &mut settings.churn_days);
    whole("health_recency_days", &mut settings.health_recency_days);
    whole("health_trend_days", &mut settings.health_trend_days);
    whole("ltv_horizon_days", &mut settings.ltv_horizon_days);
    whole("refresh_minutes", &mut settings.refresh_minutes);
    let aov = form.get("vip_min_aov").trim();
    settings.vip_min_aov = if aov.is_empty() {
        None
    } else {
        match aov.parse::<f64>() {
            Ok(v) => Some(v),
            Err(_) => {
                unreadable.push(siyu_domain::FieldError::new("vip_min_aov", format!("\"{aov}\" is not an amount")));
                None
            }
        }
    };
    let high = form.get("rfm_high_score").trim();
    settings.rfm_high_score = if high.is_empty() {
        None
    } else {
        match high.parse::<u8>() {
            Ok(v) => Some(v),
            Err(_) => {
                unreadable.push(siyu_domain::FieldError::new("rfm_high_score", format!("\"{high}\" is not a score")));
                None
            }
        }
    };
    settings.rfm_edges = edges_of(&form, &mut unreadable);
    let names = |name: &str| items(form.get(name)).into_iter().map(str::to_string).collect();
    settings.passive_events = names("passive_events");
    settings.message_received_events = names("message_received_events");
    settings.message_engaged_events = names("message_engaged_events");
    let result = if unreadable.is_empty() {
        app.services.set_model_settings(&console.principal, &settings).await
    } else {
        Err(DomainError::Invalid(unreadable))
    };
    match result {
        Ok(()) => Redirect::to("/models").into_response(),
        Err(error) => match form_errors(t, &error) {
            Some(errors) => {
                let mut fields = setting_fields(t, &settings);
                for f in &mut fields {
                    f.value = form.get(f.name).to_string();
                }
                let page =
                    SettingsPage { t, chrome: Chrome::new(&console, "models"), can_manage: true, fields, errors };
                render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
            None => console.fail(error),
        },
    }
}

/// POST /models/run: schedules a recomputation of the models and returns at once (the page says
/// they are being recomputed until they are).
pub(crate) async fn run_models(State(app): State<AppState>, post: Post) -> Response {
    match app.services.schedule_models(&post.console.principal, None).await {
        Ok(_) => Redirect::to("/models").into_response(),
        Err(error) => post.console.fail(error),
    }
}

/// Customers per page of segment members and of the recall list.
const MEMBERS_PAGE: u32 = 25;

struct SegmentRow {
    key: String,
    name: String,
    text: String,
    size: u64,
    chart: String,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct SegmentsPage {
    t: &'static Text,
    chrome: Chrome,
    can_manage: bool,
    segments: Vec<SegmentRow>,
}

/// GET /segments: every segment with its size now and its daily sizes as a sparkline.
pub(crate) async fn list_segments(State(app): State<AppState>, console: Console) -> Response {
    let views = match app.services.segments(&console.principal).await {
        Ok(views) => views,
        Err(error) => return console.fail(error),
    };
    let mut segments = Vec::new();
    for v in views {
        let history = &v.history;
        // One day is a dot, not a trend: the column says when there will be one instead.
        let chart = if history.len() < 2 {
            String::new()
        } else {
            json!({"type": "spark", "x": history.iter().map(|(d, _)| d).collect::<Vec<_>>(),
                "values": history.iter().map(|(_, n)| n).collect::<Vec<_>>()})
            .to_string()
        };
        segments.push(SegmentRow { key: v.key, name: v.name, text: v.text, size: v.size, chart });
    }
    let page = SegmentsPage {
        t: console.t(),
        chrome: Chrome::new(&console, "segments"),
        can_manage: console.may(siyu_domain::access::Permission::SegmentsManage),
        segments,
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "segment.html")]
struct SegmentPage {
    t: &'static Text,
    chrome: Chrome,
    /// Editing an existing segment (its key is fixed).
    existing: bool,
    can_manage: bool,
    key: String,
    name: String,
    text: String,
    size: Option<u64>,
    warnings: Vec<String>,
    errors: Vec<FieldMessage>,
    history_chart: String,
    /// One page of the members, as customers.
    members: Vec<CustomerRow>,
    /// "N members", when the role may see them.
    members_count: Option<String>,
    members_next: Option<String>,
    members_paged: bool,
    /// The builder's row kinds, placeholders and choices in the page's language (JSON for segments.js).
    builder: String,
}

/// Returns what the builder shows in words: each row kind's label, each field's placeholder, and the
/// choices of the kinds that take one of a fixed set of values (stages, tiers, classes, consent,
/// identity types), as wire value and label.
fn builder_config(console: &Console) -> String {
    use siyu_analytics::models::{RfmClass, Stage, Tier};
    use siyu_domain::models::Named;
    let t = console.t();
    let zh = console.lang.code() == "zh";
    fn choices<N: Named>(all: &[N], zh: bool) -> Vec<Value> {
        all.iter().map(|n| json!([n.key(), if zh { n.name_zh() } else { n.name_en() }])).collect()
    }
    let (stages, tiers, classes) = (choices(&Stage::ALL, zh), choices(&Tier::ALL, zh), choices(&RfmClass::ALL, zh));
    let purposes: Vec<Value> =
        siyu_domain::consent::Purpose::ALL.iter().map(|p| json!([p.as_str(), t.purpose(*p)])).collect();
    let channels: Vec<Value> =
        siyu_domain::consent::Channel::ALL.iter().map(|c| json!([c.as_str(), t.channel(*c)])).collect();
    let identities: Vec<Value> =
        siyu_domain::profiles::IdentityKind::ALL.iter().map(|k| json!([k.as_str(), t.identity_kind(*k)])).collect();
    json!({
        "kinds": [
            ["tag", t.seg_kind_tag], ["trait", t.seg_kind_trait], ["did", t.seg_kind_did],
            ["not_did", t.seg_kind_not_did], ["lifecycle", t.seg_kind_lifecycle], ["tier", t.seg_kind_tier],
            ["rfm", t.seg_kind_rfm], ["health", t.seg_kind_health], ["consent", t.seg_kind_consent],
            ["identity", t.seg_kind_identity], ["segment", t.seg_kind_segment],
        ],
        "placeholders": {
            "tag": t.seg_ph_tag, "trait": t.seg_ph_trait, "value": t.seg_ph_value, "event": t.seg_ph_event,
            "count": t.seg_ph_count, "window": t.seg_ph_window, "segment": t.seg_ph_segment,
            "health": t.seg_ph_health,
        },
        "choices": {
            "lifecycle": stages, "tier": tiers, "rfm": classes, "purpose": purposes, "channel": channels,
            "identity": identities,
        },
        "remove": t.seg_remove,
    })
    .to_string()
}

impl SegmentPage {
    fn blank(console: &Console) -> Self {
        SegmentPage {
            t: console.t(),
            chrome: Chrome::new(console, "segments"),
            existing: false,
            can_manage: console.may(siyu_domain::access::Permission::SegmentsManage),
            key: String::new(),
            name: String::new(),
            text: String::new(),
            size: None,
            warnings: Vec::new(),
            errors: Vec::new(),
            history_chart: String::new(),
            members: Vec::new(),
            members_count: None,
            members_next: None,
            members_paged: false,
            builder: builder_config(console),
        }
    }
}

/// GET /segments/new: the builder, empty.
pub(crate) async fn new_segment(console: Console) -> Response {
    if let Err(error) = console.principal.require(siyu_domain::access::Permission::SegmentsManage) {
        return console.fail(error);
    }
    render(StatusCode::OK, &SegmentPage::blank(&console))
}

/// GET /segments/{key}: a segment's definition (in the builder), size, daily sizes and a page of its
/// members as customers (`?cursor=` pages on), with a CSV export of them all.
pub(crate) async fn show_segment(
    State(app): State<AppState>,
    console: Console,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let p = &console.principal;
    let view = match app.services.segment(p, &key).await {
        Ok(view) => view,
        Err(error) => return console.fail(error),
    };
    let params = FormData::query(raw);
    let cursor = params.get("cursor");
    let page = PageRequest { limit: MEMBERS_PAGE, after: PageRequest::decode_cursor(cursor) };
    let (mut members, mut members_count, mut members_next) = (Vec::new(), None, None);
    match app.services.segment_members(p, &key, page).await {
        Ok((total, page)) => match app.services.customers_by_id(p, &page.items).await {
            Ok(customers) => {
                members = customers.iter().map(|c| customers::row(&console, c)).collect();
                members_count = Some(Text::fill(console.t().members_count, total));
                members_next = page.next_after.map(|after| {
                    format!("/segments/{key}?cursor={}#segment-members", PageRequest::encode_cursor(after))
                });
            }
            Err(DomainError::Forbidden(_)) => {}
            Err(error) => return console.fail(error),
        },
        // A role that may not read customers sees the segment without its members.
        Err(DomainError::Forbidden(_)) => {}
        Err(error) => return console.fail(error),
    }
    let history_chart = json!({"type": "line_simple", "series": console.t().segment_size,
        "x": view.history.iter().map(|(d, _)| d).collect::<Vec<_>>(),
        "values": view.history.iter().map(|(_, n)| n).collect::<Vec<_>>()})
    .to_string();
    let page = SegmentPage {
        existing: true,
        key: view.key,
        name: view.name,
        text: view.text,
        size: Some(view.size),
        warnings: view.warnings.iter().map(|w| console.t().reason(w)).collect(),
        history_chart,
        members,
        members_count,
        members_next,
        members_paged: !cursor.is_empty(),
        ..SegmentPage::blank(&console)
    };
    render(StatusCode::OK, &page)
}

/// Returns a CSV file as a download: with a UTF-8 byte order mark, so that Excel reads Chinese
/// right, and never cached.
fn csv_download(file_name: &str, mut body: Vec<u8>) -> Response {
    body.splice(0..0, "\u{feff}".bytes());
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// GET /segments/{key}/members.csv: every member of a segment as CSV (the API export's columns),
/// masked per role and audited.
pub(crate) async fn export_segment_members(
    State(app): State<AppState>,
    console: Console,
    Path(key): Path<String>,
) -> Response {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |record: &[String]| out.write_record(record).map_err(|e| DomainError::Internal(e.to_string()));
    if let Err(error) = write(&siyu_domain::services::MEMBER_COLUMNS.map(String::from)) {
        return console.fail(error);
    }
    let exported = app
        .services
        .export_segment(&console.principal, &key, false, &mut |c| write(&siyu_domain::services::member_row(&c)))
        .await;
    if let Err(error) = exported {
        return console.fail(error);
    }
    match out.into_inner() {
        Ok(body) => csv_download(&format!("{key}.csv"), body),
        Err(error) => console.fail(DomainError::Internal(error.to_string())),
    }
}

/// POST /segments: saves a segment from the builder (new, or `existing=1` to replace).
pub(crate) async fn save_segment(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let existing = form.get("existing") == "1";
    let input = SegmentInput {
        key: form.get("key").trim().to_string(),
        name: Some(form.get("name").trim().to_string()).filter(|n| !n.is_empty()),
        definition: None,
        text: Some(form.get("text").to_string()),
    };
    match app.services.save_segment(&console.principal, &input, existing).await {
        Ok(view) => Redirect::to(&format!("/segments/{}", view.key)).into_response(),
        Err(error) => match form_errors(console.t(), &error) {
            Some(errors) => {
                let page = SegmentPage {
                    existing,
                    key: input.key,
                    name: input.name.unwrap_or_default(),
                    text: input.text.unwrap_or_default(),
                    errors,
                    ..SegmentPage::blank(&console)
                };
                render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
            None => console.fail(error),
        },
    }
}

/// GET /segments/preview?text=…: the builder's live answer as JSON — size, canonical text, the
/// JSON tree and warnings, or the error with its field and reason.
pub(crate) async fn preview_segment(
    State(app): State<AppState>,
    console: Console,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut input = DefinitionInput::default();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "text" => input.text = Some(value.into_owned()),
            "definition" => match serde_json::from_str(&value) {
                Ok(tree) => input.definition = Some(tree),
                Err(e) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": {"field": "definition", "reason": e.to_string()}})),
                    )
                        .into_response();
                }
            },
            _ => {}
        }
    }
    let t = console.t();
    match app.services.preview_segment(&console.principal, &input).await {
        Ok(mut preview) => {
            preview.warnings = preview.warnings.iter().map(|w| t.reason(w)).collect();
            Json(json!(preview)).into_response()
        }
        Err(DomainError::Invalid(errors)) => {
            let first = errors.first().map(|e| json!({"field": e.field, "reason": t.reason(&e.reason)}));
            (StatusCode::BAD_REQUEST, Json(json!({"error": first}))).into_response()
        }
        Err(error) => console.fail(error),
    }
}
