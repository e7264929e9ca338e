//! The analytics pages (roles with `analytics:read`): a funnel, a retention matrix and RFM scores
//! over the workspace's event index, with event segmentation in [`segmentation`] and paths in
//! [`paths`]. Each page is a form, a table and an ECharts chart that `assets/analytics.js` draws
//! from the same numbers, given in the chart's `data-chart` attribute. The helpers here (the
//! blocking-pool runner, error messages, number formats, the tabs) also serve the dashboard.

pub(super) mod paths;
pub(super) mod segmentation;

use super::i18n::Text;
use super::page::{Choice, Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData};
use crate::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use siyu_analytics::Granularity;
use siyu_domain::DomainError;
use siyu_domain::error::DomainResult;
use siyu_domain::events::EventIndex;
use siyu_domain::events::analytics::{
    Attribution, Dates, FunnelAnswer, FunnelOptions, RetentionAnswer, RfmAnswer, parse_window,
};
use siyu_domain::events::filters::{PropertyFilter, parse_step_filter};
use std::collections::BTreeMap;

/// The windows the funnel form offers; other values typed into the URL work too.
const WINDOWS: [&str; 5] = ["1d", "3d", "7d", "14d", "30d"];
/// How many of the workspace's first event names make the default funnel.
const DEFAULT_STEPS: usize = 4;
/// How many event names the retention form suggests (a workspace may have up to 65,536).
const SUGGESTED_EVENTS: usize = 500;
/// How many event names the funnel form lists under its steps field.
const LISTED_EVENTS: usize = 30;

/// Runs a query on the index on the blocking pool: the kernels scan every event of the workspace.
pub(super) use siyu_domain::events::analytics::on_blocking_pool as answer;

/// Splits a failed query into messages for the form, or hands back an error that is not about the input.
fn query_errors(t: &Text, error: DomainError) -> Result<Vec<FieldMessage>, DomainError> {
    let Some(mut messages) = form_errors(t, &error) else {
        return Err(error);
    };
    for message in &mut messages {
        // Funnels and segmentations name a bad event by position, `steps[2]` or `events[0]`;
        // people count from 1.
        let position = |prefix: &str| {
            let index = message.field.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(']'));
            index.and_then(|i| i.parse::<usize>().ok()).map(|i| i + 1)
        };
        if let Some(step) = position("steps[") {
            message.label = Text::fill(t.step_n, step);
        } else if let Some(event) = position("events[") {
            message.label = Text::fill(t.event_n, event);
        } else if message.field.contains("filters[") {
            // Filters are typed one per line: name the line people typed.
            message.label = t.filters_label.into();
        } else if message.field.ends_with(".measure") {
            message.label = t.measure_label.into();
        }
    }
    Ok(messages)
}

/// Answers a query that failed: the page again with the messages beside its form (422), or the
/// error page when the error is not about the input.
pub(super) fn rejected<P: Template>(
    console: &Console,
    error: DomainError,
    page: impl FnOnce(Vec<FieldMessage>) -> P,
) -> Response {
    match query_errors(console.t(), error) {
        Ok(errors) => render(StatusCode::UNPROCESSABLE_ENTITY, &page(errors)),
        Err(error) => console.fail(error),
    }
}

/// Parses the filter lines of a form: `FILTER`, or `N: FILTER` for step N of a funnel. Errors name
/// `filters` and quote the line.
fn filter_lines(text: &str) -> DomainResult<Vec<(Option<usize>, PropertyFilter)>> {
    let mut errors = Vec::new();
    let mut filters = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match parse_step_filter("filters", line) {
            Ok(step_filter) => filters.push(step_filter),
            Err(DomainError::Invalid(found)) => errors.extend(found),
            Err(other) => return Err(other),
        }
    }
    if errors.is_empty() { Ok(filters) } else { Err(DomainError::Invalid(errors)) }
}

/// Returns the property keys to list under a form (the first `limit`, sorted).
fn property_names(index: &EventIndex, limit: usize) -> Vec<String> {
    index.property_keys().into_iter().take(limit).collect()
}

/// Returns a form field's text with blanks as `None`.
fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// Splits a comma-separated list of event names, dropping blanks.
fn names_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|name| !name.is_empty()).map(String::from).collect()
}

/// Parses a `period` parameter; the error names the field.
fn granularity(period: &str) -> DomainResult<Granularity> {
    Granularity::parse(period)
        .ok_or_else(|| DomainError::invalid("period", format!("\"{period}\": expected day, week or month")))
}

/// Formats a share as a percentage with one decimal.
pub(super) fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// Formats a duration with its two largest units, e.g. `2 天 3 小时` or `45 min 10 s`.
fn duration(t: &Text, seconds: f64) -> String {
    let total = seconds.round().max(0.0) as u64;
    let parts = [
        (total / 86_400, t.unit_day),
        (total % 86_400 / 3_600, t.unit_hour),
        (total % 3_600 / 60, t.unit_minute),
        (total % 60, t.unit_second),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(parts.len() - 1);
    parts[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0 || total == 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Returns the workspace's first `limit` event names, for a form to suggest.
fn event_names(index: &EventIndex, limit: usize) -> Vec<String> {
    index.names.names().iter().take(limit).cloned().collect()
}

/// The tabs above every analytics page.
struct Tab {
    href: &'static str,
    label: &'static str,
    active: bool,
}

fn tabs(t: &Text, active: &str) -> Vec<Tab> {
    [
        ("/analytics/funnel", t.analytics_funnel),
        ("/analytics/retention", t.analytics_retention),
        ("/analytics/rfm", t.analytics_rfm),
        ("/analytics/segmentation", t.analytics_segmentation),
        ("/analytics/paths", t.analytics_paths),
    ]
    .into_iter()
    .map(|(href, label)| Tab { href, label, active: href.ends_with(active) })
    .collect()
}

pub(super) fn unindexed_note(t: &Text, index: &EventIndex) -> Option<String> {
    (index.unindexed_events > 0).then(|| Text::fill(t.analytics_unindexed, index.unindexed_events))
}

/// Writes a whole number with thousands separators, e.g. `12,345`.
pub(super) fn grouped(n: u64) -> String {
    group_digits(&n.to_string())
}

fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// How amounts of a workspace's ISO 4217 currency are written.
pub(super) struct Money {
    /// `¥`, `$`, … or the code and a space for currencies without a well-known sign.
    prefix: String,
    /// Digits after the decimal point: 2, or 0 for currencies without minor units in practice.
    decimals: usize,
}

impl Money {
    /// Returns the format of currency `code`.
    pub(super) fn of(code: &str) -> Self {
        let prefix = match code {
            "CNY" => "¥",
            "USD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            "HKD" => "HK$",
            "TWD" => "NT$",
            "JPY" => "JP¥",
            "KRW" => "₩",
            other => return Self { prefix: format!("{other} "), decimals: 2 },
        };
        Self { prefix: prefix.into(), decimals: if matches!(code, "JPY" | "KRW") { 0 } else { 2 } }
    }

    /// Writes an amount in the currency's main unit, e.g. `¥12,345.60`.
    pub(super) fn format(&self, amount: f64) -> String {
        let text = format!("{:.*}", self.decimals, amount.abs());
        let (whole, fraction) = text.split_once('.').map_or((text.as_str(), ""), |(w, f)| (w, f));
        let sign = if amount < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') { "-" } else { "" };
        let whole = group_digits(whole);
        let fraction = if fraction.is_empty() { String::new() } else { format!(".{fraction}") };
        format!("{sign}{}{whole}{fraction}", self.prefix)
    }

    /// Describes the format for `analytics.js`, which writes the chart's axis and tooltips.
    pub(super) fn spec(&self) -> Value {
        json!({"prefix": self.prefix, "decimals": self.decimals})
    }
}

/// One line of a line chart: its legend name and one value per x-axis label.
pub(super) struct Line {
    pub(super) name: String,
    pub(super) values: Vec<Value>,
}

/// A set of lines the chart shows together; a chart with several offers a toggle between them.
pub(super) struct Measure {
    pub(super) label: &'static str,
    pub(super) lines: Vec<Line>,
}

/// Returns the `data-chart` JSON of a line chart over `x` (amounts in `money` when given).
/// `partial_from`: the index of the first bucket not over yet, drawn dashed.
pub(super) fn line_chart(
    x: &[String],
    measures: Vec<Measure>,
    money: Option<&Money>,
    partial_from: Option<usize>,
) -> String {
    let measures: Vec<Value> = measures
        .into_iter()
        .map(|measure| {
            let lines: Vec<Value> =
                measure.lines.into_iter().map(|line| json!({"name": line.name, "data": line.values})).collect();
            json!({"label": measure.label, "series": lines})
        })
        .collect();
    json!({"type": "line", "x": x, "measures": measures, "money": money.map(Money::spec), "partial_from": partial_from})
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Funnel

struct FunnelRow {
    step: usize,
    event: String,
    customers: u64,
    conversion: String,
    step_conversion: String,
    median: String,
}

#[derive(Template)]
#[template(path = "analytics_funnel.html")]
struct FunnelPage {
    t: &'static Text,
    chrome: Chrome,
    tabs: Vec<Tab>,
    steps: String,
    windows: Vec<Choice>,
    events: Vec<String>,
    properties: Vec<String>,
    filters: String,
    breakdown: String,
    attributions: Vec<Choice>,
    no_events: bool,
    unindexed: Option<String>,
    errors: Vec<FieldMessage>,
    rows: Vec<FunnelRow>,
    chart: String,
    groups: Option<FunnelGroups>,
}

/// A funnel's breakdown, as the page shows it.
struct FunnelGroups {
    title: String,
    /// Which step's event the values come from.
    source: String,
    rows: Vec<FunnelGroupRow>,
    more: Option<String>,
}

struct FunnelGroupRow {
    value: String,
    customers: Vec<u64>,
    conversion: String,
}

fn funnel_groups(t: &Text, answer: &FunnelAnswer) -> Option<FunnelGroups> {
    let breakdown = answer.breakdown.as_ref()?;
    let property = &breakdown.property;
    let source = match breakdown.attribution {
        Attribution::First => Text::fill(t.attribution_note_first, property),
        Attribution::Last => Text::fill(t.attribution_note_last, property),
        Attribution::Step(n) => Text::fill2(t.attribution_note_step, n, property),
    };
    Some(FunnelGroups {
        title: Text::fill(t.breakdown_title, property),
        source,
        rows: breakdown
            .groups
            .iter()
            .map(|g| FunnelGroupRow {
                value: g.value.clone().unwrap_or_else(|| t.none_value.into()),
                customers: g.customers.clone(),
                conversion: percent(g.conversion_rate),
            })
            .collect(),
        more: (breakdown.more_groups > 0).then(|| Text::fill(t.more_groups, breakdown.more_groups)),
    })
}

/// The breakdown's attribution choices: step 1 (first touch), the last step reached, or each step by
/// number and event; a value typed in the URL that is none of these stays listed, to be refused.
fn attribution_choices(t: &Text, steps: &[String], current: &str) -> Vec<Choice> {
    let current = Attribution::parse(current).map_or_else(|_| current.to_string(), |a| a.text());
    let mut choices = vec![
        Choice::new(Attribution::First.text(), t.attribution_first, &current),
        Choice::new(Attribution::Last.text(), t.attribution_last, &current),
    ];
    for (i, event) in steps.iter().enumerate().skip(1) {
        let label = Text::fill2(t.attribution_step, i + 1, event);
        choices.push(Choice::new(Attribution::Step(i + 1).text(), label, &current));
    }
    if !choices.iter().any(|c| c.selected) {
        choices.push(Choice::new(current.clone(), current.clone(), &current));
    }
    choices
}

fn window_label(t: &Text, window: &str) -> String {
    match window.strip_suffix('d').and_then(|days| days.parse::<u32>().ok()) {
        Some(1) => t.window_one_day.into(),
        Some(days) => Text::fill(t.window_days, days),
        None => window.into(),
    }
}

fn funnel_rows(t: &Text, answer: &FunnelAnswer) -> Vec<FunnelRow> {
    answer
        .steps
        .iter()
        .map(|step| FunnelRow {
            step: step.step,
            event: step.event.clone(),
            customers: step.customers,
            conversion: percent(step.conversion_rate),
            step_conversion: percent(step.step_conversion_rate),
            // Step 1 is where the clock starts, so its time to convert says nothing.
            median: match step.median_seconds_to_convert {
                Some(seconds) if step.step > 1 => duration(t, seconds),
                _ => "—".into(),
            },
        })
        .collect()
}

fn funnel_chart(t: &Text, answer: &FunnelAnswer) -> String {
    let data: Vec<Value> = answer
        .steps
        .iter()
        .map(|step| {
            json!({
                "name": format!("{}. {}", step.step, step.event),
                "value": step.customers,
                "rate": percent(step.conversion_rate),
            })
        })
        .collect();
    json!({"type": "funnel", "series": t.col_customers, "data": data}).to_string()
}

/// GET /analytics/funnel?steps=A,B,C&window=7d: customers reaching each step within the window.
pub(crate) async fn show_funnel(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let index = match app.services.events.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let params = FormData::query(raw);
    let given = names_list(params.get("steps"));
    let window = params.get_or("window", "7d");
    let (filters, breakdown) = (params.get("filters").to_string(), params.get("breakdown").trim().to_string());
    let attribution_text = params.get_or("attribution", "first");
    let names = index.names.names();
    // Without steps, the workspace's first events make a funnel to start from.
    let defaulted = given.is_empty();
    let steps = if defaulted { names.iter().take(DEFAULT_STEPS).cloned().collect() } else { given };
    let mut windows: Vec<Choice> = WINDOWS.iter().map(|w| Choice::new(*w, window_label(t, w), &window)).collect();
    if !WINDOWS.contains(&window.as_str()) {
        windows.push(Choice::new(window.clone(), window_label(t, &window), &window));
    }
    let mut page = FunnelPage {
        t,
        chrome: Chrome::new(&console, "analytics"),
        tabs: tabs(t, "funnel"),
        steps: steps.join(","),
        windows,
        events: event_names(&index, LISTED_EVENTS),
        properties: property_names(&index, LISTED_EVENTS),
        filters: filters.clone(),
        breakdown: breakdown.clone(),
        attributions: attribution_choices(t, &steps, &attribution_text),
        no_events: names.is_empty(),
        unindexed: unindexed_note(t, &index),
        errors: Vec::new(),
        rows: Vec::new(),
        chart: String::new(),
        groups: None,
    };
    // Without events there is nothing to ask about; a default funnel needs two of them.
    if page.no_events || (defaulted && steps.len() < 2) {
        return render(StatusCode::OK, &page);
    }
    let attribution =
        Attribution::parse(&attribution_text).map_err(|reason| DomainError::invalid("attribution", reason));
    let options = filter_lines(&filters).and_then(|lines| {
        let mut options =
            FunnelOptions { breakdown: optional(&breakdown), attribution: attribution?, ..Default::default() };
        for (step, filter) in lines {
            options.add_filter(steps.len(), step, filter);
        }
        Ok(options)
    });
    let result = match (parse_window(&window), options) {
        (Ok(window_seconds), Ok(options)) => {
            answer(&index, move |index| index.funnel(&steps, window_seconds, &options)).await
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    match result {
        Ok(found) => {
            page.rows = funnel_rows(t, &found);
            page.chart = funnel_chart(t, &found);
            page.groups = funnel_groups(t, &found);
            render(StatusCode::OK, &page)
        }
        Err(error) => rejected(&console, error, |errors| FunnelPage { errors, ..page }),
    }
}

// ---------------------------------------------------------------------------------------------
// Retention

/// One cell of the cohort table: a percentage (blank after the cohort's last observed period).
struct RetentionCell {
    text: String,
    customers: u64,
    /// 0..=5, for the cell's shade.
    heat: u8,
}

struct CohortRow {
    cohort: String,
    size: u64,
    cells: Vec<RetentionCell>,
}

#[derive(Template)]
#[template(path = "analytics_retention.html")]
struct RetentionPage {
    t: &'static Text,
    chrome: Chrome,
    tabs: Vec<Tab>,
    periods: Vec<Choice>,
    cohort_event: String,
    return_event: String,
    events: Vec<String>,
    no_events: bool,
    unindexed: Option<String>,
    note: String,
    errors: Vec<FieldMessage>,
    headers: Vec<String>,
    cohorts: Vec<CohortRow>,
    chart: String,
}

fn period_label(t: &Text, granularity: Granularity, period: i64) -> String {
    let template = match granularity {
        Granularity::Day => t.period_n_day,
        Granularity::Week => t.period_n_week,
        Granularity::Month => t.period_n_month,
    };
    Text::fill(template, period)
}

/// Shapes the answer's non-empty cells into one row per cohort, period 0 to the last period seen.
fn cohort_rows(answer: &RetentionAnswer) -> (i64, Vec<CohortRow>) {
    let mut by_cohort: BTreeMap<&str, Vec<(i64, u64, f64)>> = BTreeMap::new();
    for row in &answer.rows {
        by_cohort.entry(&row.cohort).or_default().push((row.period, row.customers, row.rate));
    }
    let last_period = answer.rows.iter().map(|row| row.period).max().unwrap_or(0);
    let rows = by_cohort
        .into_iter()
        .map(|(cohort, cells)| {
            let size = cells.iter().find(|(period, _, _)| *period == 0).map_or(0, |(_, customers, _)| *customers);
            let seen = cells.iter().map(|(period, _, _)| *period).max().unwrap_or(0);
            let cells = (0..=last_period)
                .map(|period| match cells.iter().find(|(p, _, _)| *p == period) {
                    Some((_, customers, rate)) => RetentionCell {
                        text: percent(*rate),
                        customers: *customers,
                        heat: (rate * 5.0).ceil().clamp(0.0, 5.0) as u8,
                    },
                    // A period without returns inside the observed range is a real 0 %; after the
                    // cohort's last returning period the data may simply not reach that far.
                    None if period <= seen => RetentionCell { text: percent(0.0), customers: 0, heat: 0 },
                    None => RetentionCell { text: String::new(), customers: 0, heat: 0 },
                })
                .collect();
            CohortRow { cohort: cohort.to_string(), size, cells }
        })
        .collect();
    (last_period, rows)
}

fn retention_chart(t: &Text, granularity: Granularity, answer: &RetentionAnswer, rows: &[CohortRow]) -> String {
    let columns = rows.first().map_or(0, |row| row.cells.len());
    let x: Vec<String> = (0..columns as i64).map(|p| period_label(t, granularity, p)).collect();
    let y: Vec<&str> = rows.iter().map(|row| row.cohort.as_str()).collect();
    let position: BTreeMap<&str, usize> = y.iter().enumerate().map(|(i, cohort)| (*cohort, i)).collect();
    let cells: Vec<Value> = answer
        .rows
        .iter()
        .filter_map(|row| {
            let y = position.get(row.cohort.as_str())?;
            Some(json!([row.period, y, (row.rate * 1000.0).round() / 10.0]))
        })
        .collect();
    json!({
        "type": "heatmap",
        "series": t.retention_rate,
        "x": x,
        "y": y,
        "x_name": t.retention_period,
        "y_name": t.col_cohort,
        "cells": cells,
        "max": 100,
        "percent": true,
    })
    .to_string()
}

/// GET /analytics/retention?period=week: the cohort × period matrix in the workspace time zone.
pub(crate) async fn show_retention(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let index = match app.services.events.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let params = FormData::query(raw);
    let period = params.get_or("period", "week");
    let cohort_event = params.get("cohort_event").trim().to_string();
    let return_event = params.get("return_event").trim().to_string();
    let periods = [("day", t.period_day), ("week", t.period_week), ("month", t.period_month)]
        .into_iter()
        .map(|(value, label)| Choice::new(value, label, &period))
        .collect();
    let mut page = RetentionPage {
        t,
        chrome: Chrome::new(&console, "analytics"),
        tabs: tabs(t, "retention"),
        periods,
        cohort_event: cohort_event.clone(),
        return_event: return_event.clone(),
        events: event_names(&index, SUGGESTED_EVENTS),
        no_events: index.names.names().is_empty(),
        unindexed: unindexed_note(t, &index),
        note: Text::fill(t.retention_note, &console.workspace.time_zone),
        errors: Vec::new(),
        headers: Vec::new(),
        cohorts: Vec::new(),
        chart: String::new(),
    };
    if page.no_events {
        return render(StatusCode::OK, &page);
    }
    let granularity = match granularity(&period) {
        Ok(granularity) => granularity,
        Err(error) => return rejected(&console, error, |errors| RetentionPage { errors, ..page }),
    };
    // The console's session already resolved the workspace's time zone.
    let tz = console.time_zone.clone();
    let dates = Dates::all(app.services.now().as_microsecond());
    let passive = match app.services.models.model_settings(&console.principal).await {
        Ok(settings) => settings.passive_events,
        Err(error) => return console.fail(error),
    };
    let result = answer(&index, move |index| {
        let blank_is_any = |name: &str| (!name.is_empty()).then_some(name.to_string());
        let (cohort_event, return_event) = (blank_is_any(&cohort_event), blank_is_any(&return_event));
        index.retention(&tz, granularity, (cohort_event.as_deref(), return_event.as_deref()), dates, &passive)
    })
    .await;
    match result {
        Ok(found) => {
            let (last_period, cohorts) = cohort_rows(&found);
            if !cohorts.is_empty() {
                page.headers = (0..=last_period).map(|p| period_label(t, granularity, p)).collect();
                page.chart = retention_chart(t, granularity, &found, &cohorts);
            }
            page.cohorts = cohorts;
            render(StatusCode::OK, &page)
        }
        Err(error) => rejected(&console, error, |errors| RetentionPage { errors, ..page }),
    }
}

// ---------------------------------------------------------------------------------------------
// RFM

/// One R score's row of the R × F grid, F 1 to 5 then the total.
struct RfmGridRow {
    r: u8,
    counts: Vec<u64>,
    total: u64,
}

struct RfmCellRow {
    r: u8,
    f: u8,
    m: u8,
    customers: u64,
}

#[derive(Template)]
#[template(path = "analytics_rfm.html")]
struct RfmPage {
    t: &'static Text,
    chrome: Chrome,
    tabs: Vec<Tab>,
    customers: String,
    as_of: String,
    no_events: bool,
    unindexed: Option<String>,
    grid: Vec<RfmGridRow>,
    cells: Vec<RfmCellRow>,
    chart: String,
}

/// Sums the answer's cells over M into counts by R (index 0 is R 1) and F.
fn rf_grid(answer: &RfmAnswer) -> [[u64; 5]; 5] {
    let mut grid = [[0u64; 5]; 5];
    for cell in &answer.cells {
        let (r, f) = (usize::from(cell.r.clamp(1, 5) - 1), usize::from(cell.f.clamp(1, 5) - 1));
        grid[r][f] += cell.customers;
    }
    grid
}

fn rfm_chart(t: &Text, grid: &[[u64; 5]; 5]) -> String {
    let cells: Vec<Value> = grid
        .iter()
        .enumerate()
        .flat_map(|(r, row)| row.iter().enumerate().map(move |(f, customers)| json!([f, r, customers])))
        .collect();
    let max = grid.iter().flatten().copied().max().unwrap_or(0);
    json!({
        "type": "heatmap",
        "series": t.col_customers,
        "x": ["F1", "F2", "F3", "F4", "F5"],
        "y": ["R1", "R2", "R3", "R4", "R5"],
        "x_name": t.rfm_axis_f,
        "y_name": t.rfm_axis_r,
        "cells": cells,
        "max": max.max(1),
        "percent": false,
    })
    .to_string()
}

/// GET /analytics/rfm: customers with orders by recency × frequency score, and every score triple.
pub(crate) async fn show_rfm(State(app): State<AppState>, console: Console) -> Response {
    let index = match app.services.events.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let now_us = app.services.now().as_microsecond();
    let found = match answer(&index, move |index| index.rfm(None, now_us)).await {
        Ok(found) => found,
        Err(error) => return console.fail(error),
    };
    let grid = rf_grid(&found);
    let page = RfmPage {
        t,
        chrome: Chrome::new(&console, "analytics"),
        tabs: tabs(t, "rfm"),
        customers: Text::fill(t.rfm_customers, found.customers),
        as_of: found
            .as_of
            .as_deref()
            .and_then(|at| at.parse::<jiff::Timestamp>().ok())
            .map(|at| console.time(at))
            .unwrap_or_default(),
        no_events: index.names.names().is_empty(),
        unindexed: unindexed_note(t, &index),
        // Rows from R 5 (most recent) down, as the chart shows them.
        grid: (1..=5u8)
            .rev()
            .map(|r| {
                let counts = grid[usize::from(r - 1)].to_vec();
                RfmGridRow { r, total: counts.iter().sum(), counts }
            })
            .collect(),
        cells: found.cells.iter().map(|c| RfmCellRow { r: c.r, f: c.f, m: c.m, customers: c.customers }).collect(),
        chart: if found.customers > 0 { rfm_chart(t, &grid) } else { String::new() },
    };
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::super::i18n::Lang;
    use super::*;

    #[test]
    fn durations_show_their_two_largest_units() {
        let t = Lang::En.text();
        assert_eq!(duration(t, 0.0), "0 s");
        assert_eq!(duration(t, 45.4), "45 s");
        assert_eq!(duration(t, 3_725.0), "1 h 2 min");
        assert_eq!(duration(t, 2.0 * 86_400.0 + 60.0), "2 d");
        assert_eq!(duration(Lang::Zh.text(), 90_000.0), "1 天 1 小时");
    }

    #[test]
    fn step_errors_are_labelled_from_one() {
        let t = Lang::En.text();
        let error = DomainError::invalid("steps[1]", "unknown event \"Nope\"");
        let messages = query_errors(t, error).ok().unwrap_or_default();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].label, "Step 2");
        assert!(query_errors(t, DomainError::Forbidden("analytics:read")).is_err());
        let error = DomainError::invalid("events[0]", "unknown event \"Nope\"");
        let messages = query_errors(Lang::Zh.text(), error).ok().unwrap_or_default();
        assert_eq!(messages[0].label, "第 1 个事件");
    }

    #[test]
    fn numbers_and_amounts_get_thousands_separators() {
        assert_eq!(
            (grouped(0), grouped(999), grouped(1_000), grouped(1_234_567)),
            ("0".into(), "999".into(), "1,000".into(), "1,234,567".into())
        );
        assert_eq!(Money::of("CNY").format(1_234_567.891), "¥1,234,567.89");
        assert_eq!(Money::of("USD").format(-12.5), "-$12.50");
        assert_eq!(Money::of("JPY").format(1_500.4), "JP¥1,500");
        assert_eq!(Money::of("CHF").format(0.0), "CHF 0.00");
        assert_eq!(Money::of("EUR").format(-0.001), "€0.00", "no minus sign on a rounded zero");
    }

    #[test]
    fn missing_cells_are_zero_inside_the_observed_range_and_blank_after() {
        let row = |cohort: &str, period, customers, rate| siyu_domain::events::analytics::RetentionRow {
            cohort: cohort.into(),
            period,
            customers,
            rate,
        };
        let answer = RetentionAnswer {
            period: "week".into(),
            from: None,
            to: None,
            tz: "UTC".into(),
            rows: vec![row("2026-01-05", 0, 10, 1.0), row("2026-01-05", 2, 3, 0.3), row("2026-01-12", 0, 4, 1.0)],
        };
        let (last, rows) = cohort_rows(&answer);
        assert_eq!(last, 2);
        let texts = |i: usize| rows[i].cells.iter().map(|c| c.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(0), ["100.0%", "0.0%", "30.0%"]);
        assert_eq!(texts(1), ["100.0%", "", ""]);
        assert_eq!((rows[0].size, rows[1].size), (10, 4));
    }
}
