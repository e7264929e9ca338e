//! The event segmentation page: per day, week or month, how often events happened and how many
//! distinct customers did them (and the revenue of orders), as a line chart and a table.

use super::{Line, Measure, Money, Tab, answer, granularity, line_chart, names_list, rejected, tabs, unindexed_note};
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
use siyu_domain::events::analytics::{SegmentationAnswer, SegmentationSeries};
use siyu_domain::{DomainError, FieldError};

/// How many of the workspace's first event names the page shows when none are asked for.
const DEFAULT_SERIES: usize = 3;
/// How many event names the form lists under its events field.
const LISTED_EVENTS: usize = 30;

/// One event's columns in the table: count and customers, and revenue for orders.
struct EventColumn {
    event: String,
    orders: bool,
}

struct BucketCell {
    count: u64,
    customers: u64,
    revenue: Option<String>,
}

struct BucketRow {
    bucket: String,
    cells: Vec<BucketCell>,
}

/// An event's totals over the range; distinct customers do not add up across buckets, so there are none.
struct TotalCell {
    count: u64,
    revenue: Option<String>,
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

/// Fills the table and the chart of the page from an answer.
fn show(page: &mut SegmentationPage, found: &SegmentationAnswer, money: &Money) {
    let t = page.t;
    let revenue = |orders: bool, amount: f64| orders.then(|| money.format(amount));
    page.columns = found
        .series
        .iter()
        .map(|series| EventColumn { event: series.event.clone(), orders: series.event == ORDER_COMPLETED })
        .collect();
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
        })
        .collect();
    let lines = |pick: fn(&SegmentationSeries) -> &[u64]| -> Vec<Line> {
        let values = |series| pick(series).iter().map(|n| json!(n)).collect();
        found.series.iter().map(|series| Line { name: series.event.clone(), values: values(series) }).collect()
    };
    let measures = vec![
        Measure { label: t.measure_counts, lines: lines(|series| &series.counts) },
        Measure { label: t.measure_customers, lines: lines(|series| &series.customers) },
    ];
    page.chart = line_chart(&found.buckets, measures, None);
}

/// GET /analytics/segmentation?events=A,B&period=day&from=2026-01-01&to=2026-01-31: each event's
/// count and distinct customers per bucket, in the workspace time zone.
pub(crate) async fn show_segmentation(
    State(app): State<AppState>,
    console: Console,
    RawQuery(raw): RawQuery,
) -> Response {
    let index = match app.services.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let params = FormData::query(raw);
    let given = names_list(params.get("events"));
    let period = params.get_or("period", "day");
    let (from, to) = (params.get("from").trim().to_string(), params.get("to").trim().to_string());
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
    let result = match granularity(&period).and_then(|granularity| Ok((granularity, dates(&from, &to)?))) {
        Ok((granularity, (from, to))) => {
            answer(&index, move |index| index.segmentation(&tz, granularity, &events, from, to)).await
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
