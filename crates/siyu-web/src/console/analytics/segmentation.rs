//! The event segmentation page: per day, week or month, how often events happened and how many
//! distinct customers did them (and the revenue of orders), as a line chart and a table.

use super::{
    Line, Measure, Money, Tab, answer, filter_lines, granularity, line_chart, names_list, optional, property_names,
    rejected, tabs, unindexed_note,
};
use crate::AppState;
use crate::console::i18n::Text;
use crate::console::page::{Choice, Chrome, FieldMessage, render};
use crate::console::session::{Console, FormData};
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::Date;
use serde_json::json;
use siyu_domain::events::ORDER_COMPLETED;
use siyu_domain::events::analytics::{Dates, SegmentationAnswer, SegmentationOptions, SegmentationSeries, SeriesSpec};
use siyu_domain::{DomainError, FieldError};

/// How many of the workspace's first event names the page shows when none are asked for.
const DEFAULT_SERIES: usize = 3;
/// How many event names the form lists under its events field.
const LISTED_EVENTS: usize = 30;

/// One event's columns in the table: count and customers, and revenue for orders.
struct EventColumn {
    event: String,
    orders: bool,
    measured: bool,
}

struct BucketCell {
    count: u64,
    customers: u64,
    revenue: Option<String>,
    sum: Option<String>,
}

struct BucketRow {
    bucket: String,
    cells: Vec<BucketCell>,
}

/// An event's totals over the range; distinct customers do not add up across buckets, so there are none.
struct TotalCell {
    count: u64,
    revenue: Option<String>,
    sum: Option<String>,
}

#[derive(Template)]
#[template(path = "analytics_segmentation.html")]
struct SegmentationPage {
    t: &'static Text,
    chrome: Chrome,
    tabs: Vec<Tab>,
    events: String,
    periods: Vec<Choice>,
    from: String,
    to: String,
    known_events: Vec<String>,
    properties: Vec<String>,
    filters: String,
    measure: String,
    breakdown: String,
    no_events: bool,
    unindexed: Option<String>,
    note: String,
    errors: Vec<FieldMessage>,
    columns: Vec<EventColumn>,
    rows: Vec<BucketRow>,
    totals: Vec<TotalCell>,
    chart: String,
}

/// Parses the optional `from` and `to` dates, reporting both when both are wrong.
fn dates(from: &str, to: &str) -> Result<(Option<Date>, Option<Date>), DomainError> {
    let mut errors = Vec::new();
    let mut parse = |field: &str, text: &str| {
        if text.is_empty() {
            return None;
        }
        let date = text.parse::<Date>().ok();
        if date.is_none() {
            errors.push(FieldError::new(field, format!("\"{text}\" is not an ISO date (YYYY-MM-DD)")));
        }
        date
    };
    let dates = (parse("from", from), parse("to", to));
    if errors.is_empty() { Ok(dates) } else { Err(DomainError::Invalid(errors)) }
}

/// Names a series: its event, and its breakdown value if any.
fn series_label(t: &Text, series: &SegmentationSeries) -> String {
    match &series.breakdown_value {
        Some(value) => format!("{} · {}", series.event, value.as_deref().unwrap_or(t.none_value)),
        None => series.event.clone(),
    }
}

/// A measured sum, without trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Fills the table and the chart of the page from an answer.
fn show(page: &mut SegmentationPage, found: &SegmentationAnswer, money: &Money) {
    let t = page.t;
    let revenue = |orders: bool, amount: f64| orders.then(|| money.format(amount));
    page.columns = found
        .series
        .iter()
        .map(|series| EventColumn {
            event: series_label(t, series),
            orders: series.event == ORDER_COMPLETED,
            measured: series.sums.is_some(),
        })
        .collect();
    let sum = |series: &SegmentationSeries, i: usize| series.sums.as_ref().map(|s| number(s[i]));
    page.rows = found
        .buckets
        .iter()
        .enumerate()
        .map(|(i, bucket)| BucketRow {
            bucket: bucket.clone(),
            cells: found
                .series
                .iter()
                .map(|series| BucketCell {
                    count: series.counts[i],
                    customers: series.customers[i],
                    revenue: revenue(series.event == ORDER_COMPLETED, series.revenue[i]),
                    sum: sum(series, i),
                })
                .collect(),
        })
        .collect();
    page.totals = found
        .series
        .iter()
        .map(|series| TotalCell {
            count: series.counts.iter().sum(),
            revenue: revenue(series.event == ORDER_COMPLETED, series.revenue.iter().sum()),
            sum: series.sums.as_ref().map(|s| number(s.iter().sum())),
        })
        .collect();
    let lines = |pick: fn(&SegmentationSeries) -> &[u64]| -> Vec<Line> {
        let values = |series| pick(series).iter().map(|n| json!(n)).collect();
        found.series.iter().map(|series| Line { name: series_label(t, series), values: values(series) }).collect()
    };
    let measures = vec![
        Measure { label: t.measure_counts, lines: lines(|series| &series.counts) },
        Measure { label: t.measure_customers, lines: lines(|series| &series.customers) },
    ];
    let partial = found.partial.then(|| found.buckets.len().saturating_sub(1));
    page.chart = line_chart(&found.buckets, measures, None, partial);
}

/// GET /analytics/segmentation?events=A,B&period=day&from=2026-01-01&to=2026-01-31: each event's
/// count and distinct customers per bucket, in the workspace time zone.
pub(crate) async fn show_segmentation(
    State(app): State<AppState>,
    console: Console,
    RawQuery(raw): RawQuery,
) -> Response {
    let index = match app.services.events.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let params = FormData::query(raw);
    let given = names_list(params.get("events"));
    let period = params.get_or("period", "day");
    let (from, to) = (params.get("from").trim().to_string(), params.get("to").trim().to_string());
    let filters = params.get("filters").to_string();
    let (measure, breakdown) = (params.get("measure").trim().to_string(), params.get("breakdown").trim().to_string());
    let names = index.names.names();
    let events: Vec<String> =
        if given.is_empty() { names.iter().take(DEFAULT_SERIES).cloned().collect() } else { given };
    let periods = [("day", t.period_day), ("week", t.period_week), ("month", t.period_month)]
        .into_iter()
        .map(|(value, label)| Choice::new(value, label, &period))
        .collect();
    let mut page = SegmentationPage {
        t,
        chrome: Chrome::new(&console, "analytics"),
        tabs: tabs(t, "segmentation"),
        events: events.join(","),
        periods,
        from: from.clone(),
        to: to.clone(),
        known_events: names.iter().take(LISTED_EVENTS).cloned().collect(),
        properties: property_names(&index, LISTED_EVENTS),
        filters: filters.clone(),
        measure: measure.clone(),
        breakdown: breakdown.clone(),
        no_events: names.is_empty(),
        unindexed: unindexed_note(t, &index),
        note: Text::fill(t.segmentation_note, &console.workspace.time_zone),
        errors: Vec::new(),
        columns: Vec::new(),
        rows: Vec::new(),
        totals: Vec::new(),
        chart: String::new(),
    };
    if page.no_events {
        return render(StatusCode::OK, &page);
    }
    let tz = console.time_zone.clone();
    let now_us = app.services.now().as_microsecond();
    let series: Vec<SeriesSpec> =
        events.iter().map(|e| SeriesSpec { measure: optional(&measure), ..SeriesSpec::from(e.as_str()) }).collect();
    let options = filter_lines(&filters).map(|lines| SegmentationOptions {
        filters: lines.into_iter().map(|(_, f)| f).collect(),
        breakdown: optional(&breakdown),
        limit: 0,
    });
    let asked = granularity(&period).and_then(|granularity| Ok((granularity, dates(&from, &to)?, options?)));
    let result = match asked {
        Ok((granularity, (from, to), options)) => {
            let dates = Dates::between(from, to, now_us);
            answer(&index, move |index| index.segmentation(&tz, granularity, &series, &options, dates)).await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(found) => {
            show(&mut page, &found, &Money::of(&console.workspace.currency));
            render(StatusCode::OK, &page)
        }
        Err(error) => rejected(&console, error, |errors| SegmentationPage { errors, ..page }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_dates_mean_the_data_range_and_bad_ones_are_both_reported() {
        assert_eq!(dates("", "").ok(), Some((None, None)));
        let given = dates("2026-01-05", "").ok();
        assert_eq!(given, Some((Some(jiff::civil::date(2026, 1, 5)), None)));
        let Err(DomainError::Invalid(errors)) = dates("2026-13-01", "yesterday") else {
            panic!("two bad dates are invalid");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["from", "to"]);
        assert!(errors[1].reason.contains("\"yesterday\""));
    }
}
