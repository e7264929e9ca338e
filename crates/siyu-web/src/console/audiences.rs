//! The audience pages: the customer models (`/models`: lifecycle stages and their flows, value
//! tiers, the eight RFM classes and the R × F heatmap, health, LTV, the recall list) and segments
//! (`/segments`: the list with size and trend; `/segments/new` and `/segments/{key}`: the builder —
//! condition rows and the segment language kept in sync, with a live size from
//! `/segments/preview`). Charts are drawn by `assets/analytics.js`; the builder is `assets/segments.js`.

use super::i18n::Text;
use super::page::{Chrome, FieldMessage, form_errors, render};
use super::session::{Console, Post};
use crate::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
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

fn money(v: f64) -> String {
    format!("{v:.2}")
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
                revenue: money(g.revenue),
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
                ltv_total = Text::fill(t.ltv_total, money(ltv.total_expected_value));
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
                revenue: money(r.monetary),
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
        let chart = json!({"type": "spark", "x": history.iter().map(|(d, _)| d).collect::<Vec<_>>(),
            "values": history.iter().map(|(_, n)| n).collect::<Vec<_>>()})
        .to_string();
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
    members: Vec<i64>,
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

/// GET /segments/{key}: a segment's definition (in the builder), size, daily sizes and first members.
pub(crate) async fn show_segment(State(app): State<AppState>, console: Console, Path(key): Path<String>) -> Response {
    let p = &console.principal;
    let view = match app.services.segment(p, &key).await {
        Ok(view) => view,
        Err(error) => return console.fail(error),
    };
    let members = match app.services.segment_members(p, &key, PageRequest::first(50)).await {
        Ok((_, page)) => page.items.into_iter().map(|c| c.0).collect(),
        Err(DomainError::Forbidden(_)) => Vec::new(),
        Err(error) => return console.fail(error),
    };
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
        warnings: view.warnings,
        history_chart,
        members,
        ..SegmentPage::blank(&console)
    };
    render(StatusCode::OK, &page)
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
    match app.services.preview_segment(&console.principal, &input).await {
        Ok(preview) => Json(json!(preview)).into_response(),
        Err(DomainError::Invalid(errors)) => {
            let first = errors.first().map(|e| json!({"field": e.field, "reason": e.reason}));
            (StatusCode::BAD_REQUEST, Json(json!({"error": first}))).into_response()
        }
        Err(error) => console.fail(error),
    }
}
