//! Golden tests: funnel, retention and RFM on small generated data sets must equal, row for row,
//! the answers DuckDB and ClickHouse (chDB) gave on the same data (tests/fixtures/README.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use siyu_analytics::funnel::{FunnelQuery, funnel};
use siyu_analytics::retention::{RetentionQuery, retention};
use siyu_analytics::{Calendar, EventColumnsBuilder, EventNames, Granularity, Index, Passive, RawEvent, rfm};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load(set: &str) -> (EventNames, Index, serde_json::Value) {
    let mut names = EventNames::default();
    let mut builder = EventColumnsBuilder::default();
    let mut reader = csv::Reader::from_path(fixture(&format!("{set}.csv"))).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let event = names.intern(&record[2]).unwrap();
        let amount: f64 = record[3].parse().unwrap();
        builder.push(RawEvent {
            customer: record[0].parse().unwrap(),
            ts_us: record[1].parse().unwrap(),
            event,
            order_cents: (&record[2] == "Order Completed").then(|| (amount * 100.0).round() as i64),
            props: siyu_analytics::props::EMPTY_SET,
        });
    }
    let answers = std::fs::read_to_string(fixture(&format!("{set}.answers.json"))).unwrap();
    (names, Index::from_columns(builder.build()), serde_json::from_str(&answers).unwrap())
}

const SETS: [&str; 3] = ["small-1", "small-2", "small-3"];
const STEPS: [&str; 4] = ["Signed Up", "Product Added", "Checkout Started", "Order Completed"];

#[test]
fn funnels_equal_the_reference_engines() {
    for set in SETS {
        let (names, columns, answers) = load(set);
        let steps = STEPS.iter().map(|s| names.id(s).unwrap()).collect();
        let query = FunnelQuery {
            steps,
            window_us: 7 * 86_400 * 1_000_000,
            step_sets: None,
            breakdown: None,
            attribution: Default::default(),
        };
        let result = funnel(&columns, &query).unwrap().steps;
        let ours: Vec<serde_json::Value> = result
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::json!({"step": i + 1, "event": STEPS[i], "customers": r.customers}))
            .collect();
        assert_eq!(serde_json::Value::Array(ours), answers["funnel"]["steps"], "{set}");
    }
}

#[test]
fn weekly_retention_equals_the_reference_engines() {
    for set in SETS {
        let (_, columns, answers) = load(set);
        let (from, to) = columns.time_range().unwrap();
        let calendar = Calendar::new(jiff::tz::TimeZone::UTC, from, to);
        let (first, last) = (calendar.bucket(from, Granularity::Week), calendar.bucket(to, Granularity::Week));
        let query = RetentionQuery {
            granularity: Granularity::Week,
            cohort_event: None,
            return_event: None,
            first,
            last,
            passive: Passive::default(),
        };
        let ours: Vec<serde_json::Value> = retention(&columns, &calendar, &query)
            .unwrap()
            .iter()
            .map(|c| {
                serde_json::json!({
                    "cohort": calendar.bucket_start(c.cohort, Granularity::Week).to_string(),
                    "period": c.period,
                    "customers": c.customers,
                })
            })
            .collect();
        assert_eq!(serde_json::Value::Array(ours), answers["retention"]["rows"], "{set}");
    }
}

#[test]
fn rfm_scores_equal_the_reference_engines() {
    for set in SETS {
        let (_, columns, answers) = load(set);
        let rows = rfm::rfm(&columns, None);
        let ours: Vec<serde_json::Value> = rfm::cells(&rows)
            .into_iter()
            .map(|((r, f, m), n)| serde_json::json!({"r": r, "f": f, "m": m, "customers": n}))
            .collect();
        assert_eq!(serde_json::Value::Array(ours), answers["rfm"]["cells"], "{set}");
    }
}
