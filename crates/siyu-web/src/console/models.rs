//! The model pages (`/models`: lifecycle stages and their flows, value tiers, the eight RFM classes
//! and the R × F heatmap, health, LTV, the recall list, the thresholds). Charts are drawn by
//! `assets/analytics.js`.

use super::customers::{self, CustomerRow};
use super::i18n::Text;
use super::page::{Chrome, FieldMessage, MEMBERS_PAGE, csv_download, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use siyu_core::PageRequest;
use siyu_domain::DomainError;
use siyu_domain::models::LtvStatus;
use siyu_domain::models::{GroupCount, ModelSettings, RfmEdgeSettings};

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
    let summary = match app.services.models.models_summary(p).await {
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
        match app.services.models.rfm_model(p).await {
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
        match app.services.models.ltv_model(p).await {
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
    let flows_chart = match app.services.models.lifecycle_flows(p, since, now).await {
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
    let settings = app.services.models.model_settings(p).await.unwrap_or_default();
    let recall = match app.services.models.recall_list(p, PageRequest::first(20)).await {
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
    let (total, page) = app.services.models.recall_list(&console.principal, page).await?;
    let ids: Vec<siyu_core::CustomerId> = page.items.iter().map(|r| r.customer_id).collect();
    let customers = match app.services.customers.customers_by_id(&console.principal, &ids).await {
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
            return console.fail(DomainError::internal_from("writing the CSV export failed", error));
        }
    }
    match out.into_inner() {
        Ok(body) => csv_download("recall.csv", body),
        Err(error) => console.fail(DomainError::internal_from("writing the CSV export failed", error)),
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
    let settings = match app.services.models.model_settings(&console.principal).await {
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
    let mut settings = match app.services.models.model_settings(&console.principal).await {
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
        app.services.models.set_model_settings(&console.principal, &settings).await
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
    match app.services.models.schedule_models(&post.console.principal, None).await {
        Ok(_) => Redirect::to("/models").into_response(),
        Err(error) => post.console.fail(error),
    }
}
