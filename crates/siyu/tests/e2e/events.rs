//! Event import and analytics end to end, on both backends: files in the generator's layout are
//! imported through the same code as `siyu import events`, and the answers equal the reference
//! engines' (the golden fixtures of siyu-analytics).

use crate::{Backend, TestApp, spawn_app};
use serde_json::{Value, json};
use siyu_analytics::Granularity;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siyu-analytics/tests/fixtures").join(name)
}

fn answers(set: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{set}.answers.json"))).unwrap()).unwrap()
}

/// Keeps only the keys the reference engines answer, so extra fields of ours do not matter.
fn only(rows: &Value, keys: &[&str]) -> Value {
    Value::Array(
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| keys.iter().map(|k| (k.to_string(), row[*k].clone())).collect::<serde_json::Map<_, _>>().into())
            .collect(),
    )
}

async fn check_answers(app: &TestApp, set: &str) {
    let expected = answers(set);
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let steps: Vec<String> =
        ["Signed Up", "Product Added", "Checkout Started", "Order Completed"].map(String::from).to_vec();
    let funnel = serde_json::to_value(index.funnel(&steps, 7 * 86_400, &Default::default()).unwrap()).unwrap();
    assert_eq!(only(&funnel["steps"], &["step", "event", "customers"]), expected["funnel"]["steps"], "{set} funnel");
    let retention = serde_json::to_value(
        index
            .retention(
                &jiff::tz::TimeZone::UTC,
                Granularity::Week,
                (None, None),
                siyu_domain::events::analytics::Dates::all(app.services.now().as_microsecond()),
                &[],
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        only(&retention["rows"], &["cohort", "period", "customers"]),
        expected["retention"]["rows"],
        "{set} retention"
    );
    let rfm = serde_json::to_value(index.rfm(None, app.services.now().as_microsecond()).unwrap()).unwrap();
    assert_eq!(only(&rfm["cells"], &["r", "f", "m", "customers"]), expected["rfm"]["cells"], "{set} rfm");
}

pub async fn parquet_history_answers_like_duckdb_and_clickhouse(app: TestApp) {
    let report =
        siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    assert_eq!((report.rows, report.imported, report.failed), (4000, 4000, 0));
    check_answers(&app, "small-1").await;
    // Senders became customers with their user_id as an identity.
    let first = app.services.events.event_index(&app.owner).await.unwrap().columns.base().customer(0);
    let (status, body, _) = app.call("GET", &format!("/api/v1/customers/{first}"), &app.key, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["identities"][0]["type"], "user_id");
    assert!(body["identities"][0]["value"].as_str().unwrap().parse::<u64>().is_ok(), "{body}");
}

pub async fn csv_history_answers_like_duckdb_and_clickhouse(app: TestApp) {
    let report =
        siyu::event_import::import(&app.services, &app.owner, &fixture("small-3.csv"), |_, _| {}).await.unwrap();
    assert_eq!(report.failed, 0);
    check_answers(&app, "small-3").await;
}

pub async fn bad_csv_rows_are_reported_and_good_rows_imported(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.csv");
    std::fs::write(
        &path,
        "user_id,ts,event,amount\n\
         u1,2026-01-05T10:00:00Z,Signed Up,\n\
         ,2026-01-05T10:00:00Z,Signed Up,\n\
         u2,yesterday,Signed Up,\n\
         u2,2026-01-05T11:00:00Z,,\n\
         u2,2026-01-05T12:00:00Z,Order Completed,abc\n\
         u2,2026-01-05T12:00:00Z,Order Completed,25.5\n",
    )
    .unwrap();
    let report = siyu::event_import::import(&app.services, &app.owner, &path, |_, _| {}).await.unwrap();
    assert_eq!((report.rows, report.imported, report.failed), (6, 2, 4));
    let errors: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(errors, vec![(3, "user_id"), (4, "ts"), (5, "event"), (6, "amount")]);
    assert!(report.errors[1].reason.contains("yesterday"), "{:?}", report.errors[1]);
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    assert_eq!(index.columns.event_count(), 2);
    let rfm = index.rfm(None, app.services.now().as_microsecond()).unwrap();
    assert_eq!(rfm.customers, 1);
    // A file in no known format is refused as a whole.
    let other = dir.path().join("events.xlsx");
    std::fs::write(&other, "x").unwrap();
    let error = siyu::event_import::import(&app.services, &app.owner, &other, |_, _| {}).await.unwrap_err();
    assert!(error.to_string().contains(".parquet, .csv or .ndjson"), "{error}");
}

pub async fn bad_queries_name_the_parameter(app: TestApp) {
    siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let field_of = |error: siyu_domain::DomainError| match error {
        siyu_domain::DomainError::Invalid(fields) => (fields[0].field.clone(), fields[0].reason.clone()),
        other => panic!("expected a field error, got {other:?}"),
    };
    let unknown = index.funnel(&["Signed Up".into(), "Bought A Yacht".into()], 60, &Default::default()).unwrap_err();
    assert_eq!(field_of(unknown), ("steps[1]".into(), "unknown event \"Bought A Yacht\"".into()));
    assert_eq!(field_of(index.funnel(&["Signed Up".into()], 60, &Default::default()).unwrap_err()).0, "steps");
    assert_eq!(
        field_of(index.funnel(&["Signed Up".into(), "Product Added".into()], 0, &Default::default()).unwrap_err()).0,
        "window"
    );
    let retention = index
        .retention(
            &jiff::tz::TimeZone::UTC,
            Granularity::Day,
            (Some("Nope"), None),
            siyu_domain::events::analytics::Dates::all(app.services.now().as_microsecond()),
            &[],
        )
        .unwrap_err();
    assert_eq!(field_of(retention).0, "cohort_event");
    // Analysts may query; customer-service agents may not.
    let agent = siyu_domain::access::Principal::key(
        app.owner.workspace_id(),
        siyu_domain::access::Role::CsAgent,
        siyu_core::ApiKeyId(1),
        "sk_test",
    );
    assert!(matches!(app.services.events.event_index(&agent).await, Err(siyu_domain::DomainError::Forbidden(_))));
    let analyst = siyu_domain::access::Principal::key(
        app.owner.workspace_id(),
        siyu_domain::access::Role::Analyst,
        siyu_core::ApiKeyId(1),
        "sk_test",
    );
    assert!(app.services.events.event_index(&analyst).await.is_ok());
}

pub async fn events_stay_in_their_workspace(app: TestApp) {
    siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    let (other, _) = app.other_workspace("other").await;
    let index = app.services.events.event_index(&other).await.unwrap();
    assert_eq!(index.columns.event_count(), 0);
}

pub async fn the_analytics_api_answers_and_names_bad_parameters(app: TestApp) {
    siyu::event_import::import(&app.services, &app.owner, &fixture("small-2.parquet"), |_, _| {}).await.unwrap();
    let expected = answers("small-2");
    let steps = json!({"steps": ["Signed Up", "Product Added", "Checkout Started", "Order Completed"], "window": "7d"});
    let (status, funnel, _) = app.call("POST", "/api/v1/analytics/funnel", &app.key, Some(steps)).await;
    assert_eq!(status, 200, "{funnel}");
    assert_eq!(only(&funnel["steps"], &["step", "event", "customers"]), expected["funnel"]["steps"]);
    assert_eq!(funnel["steps"][0]["conversion_rate"], 1.0);
    let (_, retention, _) =
        app.call("POST", "/api/v1/analytics/retention", &app.key, Some(json!({"period": "week", "tz": "UTC"}))).await;
    assert_eq!(only(&retention["rows"], &["cohort", "period", "customers"]), expected["retention"]["rows"]);
    let (_, rfm, _) = app.call("POST", "/api/v1/analytics/rfm", &app.key, Some(json!({}))).await;
    assert_eq!(only(&rfm["cells"], &["r", "f", "m", "customers"]), expected["rfm"]["cells"]);

    let bad = [
        ("funnel", json!({"steps": ["Signed Up", "Bought A Yacht"]}), 400, "steps[1]"),
        ("funnel", json!({"steps": ["Signed Up"]}), 400, "steps"),
        ("funnel", json!({"steps": ["Signed Up", "Product Added"], "window": "0d"}), 400, "window"),
        ("funnel", json!({"steps": ["Signed Up", "Product Added"], "window": "soon"}), 400, "window"),
        ("funnel", json!({"steps": ["Signed Up", "Product Added"], "colour": "red"}), 400, "colour"),
        ("retention", json!({"period": "year"}), 400, "period"),
        ("retention", json!({"tz": "Mars/Olympus"}), 400, "tz"),
        ("retention", json!({"return_event": "Nope"}), 400, "return_event"),
        ("rfm", json!({"as_of": "yesterday"}), 400, "as_of"),
    ];
    for (query, body, status, field) in bad {
        let (got, problem, content_type) =
            app.call("POST", &format!("/api/v1/analytics/{query}"), &app.key, Some(body.clone())).await;
        assert_eq!((got, content_type.as_str()), (status, "application/problem+json"), "{query} {body}: {problem}");
        assert!(
            problem["errors"][0]["field"].as_str().unwrap_or_default().starts_with(field),
            "{query} {body}: {problem}"
        );
    }
}

pub async fn segmentation_paths_and_kpis_agree_with_the_raw_rows(app: TestApp) {
    siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    // An independent count from the CSV copy of the same rows.
    let mut signups = 0u64;
    let mut viewers = std::collections::HashSet::new();
    let mut orders: std::collections::HashMap<String, u32> = Default::default();
    let mut revenue_cents = 0i64;
    for record in csv::Reader::from_path(fixture("small-1.csv")).unwrap().records() {
        let record = record.unwrap();
        match &record[2] {
            "Signed Up" => signups += 1,
            "Product Viewed" => {
                viewers.insert(record[0].to_string());
            }
            "Order Completed" => {
                *orders.entry(record[0].to_string()).or_default() += 1;
                revenue_cents += (record[3].parse::<f64>().unwrap() * 100.0).round() as i64;
            }
            _ => {}
        }
    }
    let body = json!({"events": ["Signed Up", "Order Completed"], "period": "week", "tz": "UTC"});
    let (status, seg, _) = app.call("POST", "/api/v1/analytics/segmentation", &app.key, Some(body)).await;
    assert_eq!(status, 200, "{seg}");
    let total =
        |series: &Value, key: &str| series[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum::<f64>();
    assert_eq!(total(&seg["series"][0], "counts") as u64, signups);
    assert_eq!((total(&seg["series"][1], "revenue") * 100.0).round() as i64, revenue_cents);
    assert_eq!(seg["buckets"][0], "2026-01-05");

    let (_, paths, _) = app
        .call("POST", "/api/v1/analytics/paths", &app.key, Some(json!({"event": "Product Viewed", "depth": 2})))
        .await;
    assert_eq!(paths["customers"].as_u64().unwrap(), viewers.len() as u64, "{paths}");
    let first_step: u64 = paths["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["step"] == 0)
        .map(|l| l["customers"].as_u64().unwrap())
        .sum();
    assert!(first_step <= viewers.len() as u64);

    let (_, kpi, _) = app.call("POST", "/api/v1/analytics/kpi", &app.key, Some(json!({"tz": "UTC"}))).await;
    let buyers = orders.len() as f64;
    let repeat = orders.values().filter(|n| **n >= 2).count() as f64;
    assert!((kpi["repurchase_rate"].as_f64().unwrap() - repeat / buyers).abs() < 1e-9, "{kpi}");
    assert!(kpi["mau"].as_u64().unwrap() >= kpi["wau"].as_u64().unwrap());
    assert!(kpi["message_open_rate"].is_null(), "no Message Sent events: no rate");

    let bad = [
        ("segmentation", json!({"events": []}), "events"),
        ("segmentation", json!({"events": ["Nope"]}), "events[0]"),
        ("segmentation", json!({"events": ["Signed Up"], "from": "2026-13-01"}), "from"),
        ("segmentation", json!({"events": ["Signed Up"], "from": "2026-03-01", "to": "2026-02-01"}), "to"),
        ("paths", json!({"event": "Signed Up", "direction": "sideways"}), "direction"),
        ("paths", json!({"event": "Signed Up", "depth": 0}), "depth"),
        ("kpi", json!({"as_of": "tomorrow"}), "as_of"),
    ];
    for (query, body, field) in bad {
        let (status, problem, _) =
            app.call("POST", &format!("/api/v1/analytics/{query}"), &app.key, Some(body.clone())).await;
        assert_eq!(status, 400, "{query} {body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{query} {body}: {problem}");
    }
}

pub async fn export_and_ndjson_import_round_trip(app: TestApp) {
    siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("events.ndjson");
    let parquet = dir.path().join("events.parquet");
    use siyu::event_export::{ExportFormat, export};
    let n = export(&app.services, &app.owner, ExportFormat::Ndjson, Some(&ndjson), |_| {}).await.unwrap();
    assert_eq!(n, 4000);
    let m = export(&app.services, &app.owner, ExportFormat::Parquet, Some(&parquet), |_| {}).await.unwrap();
    assert_eq!(m, 4000);
    // The NDJSON goes into another workspace and answers the same.
    let (other, _) = app.other_workspace("copy").await;
    let report = siyu::event_import::import(&app.services, &other, &ndjson, |_, _| {}).await.unwrap();
    assert_eq!((report.imported, report.failed), (4000, 0), "{:?}", report.errors);
    let steps: Vec<String> =
        ["Signed Up", "Product Added", "Checkout Started", "Order Completed"].map(String::from).to_vec();
    let original = app
        .services
        .events
        .event_index(&app.owner)
        .await
        .unwrap()
        .funnel(&steps, 7 * 86_400, &Default::default())
        .unwrap();
    let copy =
        app.services.events.event_index(&other).await.unwrap().funnel(&steps, 7 * 86_400, &Default::default()).unwrap();
    assert_eq!(original, copy);
    let rfm =
        app.services.events.event_index(&other).await.unwrap().rfm(None, app.services.now().as_microsecond()).unwrap();
    assert_eq!(
        rfm,
        app.services
            .events
            .event_index(&app.owner)
            .await
            .unwrap()
            .rfm(None, app.services.now().as_microsecond())
            .unwrap()
    );
    // The Parquet export reads back too (the import takes its user_id, ts, event and amount columns).
    let (third, _) = app.other_workspace("third").await;
    let report = siyu::event_import::import(&app.services, &third, &parquet, |_, _| {}).await.unwrap();
    assert_eq!((report.imported, report.failed), (4000, 0));
    assert_eq!(
        app.services.events.event_index(&third).await.unwrap().funnel(&steps, 7 * 86_400, &Default::default()).unwrap(),
        original
    );
    // Importing the NDJSON again stores nothing twice: its messageIds were seen.
    let again = siyu::event_import::import(&app.services, &other, &ndjson, |_, _| {}).await.unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 4000));
    // Bad lines are reported by line number; the good ones are imported.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(
        &bad,
        "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Signed Up\",\"timestamp\":\"2026-01-05T10:00:00Z\"}\n\
         not json\n\
         \n\
         {\"userId\":\"u1\",\"event\":\"Order Completed\",\"properties\":{\"revenue\":\"a lot\"}}\n\
         {\"anonymousId\":\"a1\",\"event\":\"Product Viewed\"}\n",
    )
    .unwrap();
    let report = siyu::event_import::import(&app.services, &third, &bad, |_, _| {}).await.unwrap();
    assert_eq!((report.rows, report.imported, report.failed), (4, 2, 2));
    let lines: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(lines, vec![(2, "line"), (4, "properties.revenue")]);
    // A line named only by siyu's customer id (as siyu's own events are exported) goes to that
    // customer when the workspace has it; the id of another workspace's customer is refused, by
    // line and field, never attributed.
    let own = app.services.events.customers_for_user_ids(&third, &["u1".into()]).await.unwrap()[0];
    let foreign = app.services.events.customers_for_user_ids(&app.owner, &["u1".into()]).await.unwrap()[0];
    assert_ne!(own, foreign);
    let named = |id: siyu_core::CustomerId, message_id: &str| {
        json!({"event": "Segment Entered", "messageId": message_id, "timestamp": "2026-01-05T11:00:00Z",
               "properties": {"segment_key": "vip"}, "context": {"siyu": {"customerId": id.0}}})
        .to_string()
    };
    std::fs::write(&bad, format!("{}\n{}\n", named(own, "named-1"), named(foreign, "named-2"))).unwrap();
    let report = siyu::event_import::import(&app.services, &third, &bad, |_, _| {}).await.unwrap();
    assert_eq!((report.rows, report.imported, report.failed), (2, 1, 1));
    assert_eq!((report.errors[0].row, report.errors[0].field.as_str()), (2, "context.siyu.customerId"));
    assert_eq!(report.errors[0].reason, format!("\"{foreign}\" names no customer of this workspace"));
    let mut entered = Vec::new();
    let mut opener = app.services.events.event_opener(&third, None).await.unwrap();
    app.services
        .stores
        .events
        .scan(third.workspace_id(), &mut |e| {
            let opened = opener.open(e);
            let e = opened.view();
            if e.name == "Segment Entered" {
                entered.push((e.customer, e.message_id.to_string(), e.context.to_string()));
            }
        })
        .await
        .unwrap();
    assert_eq!(entered, vec![(own, "named-1".to_string(), "{}".to_string())], "the file's id is not stored");
    // The export names every event's customer, at context.siyu.customerId and in customer_id.
    let export = std::fs::read_to_string(&ndjson).unwrap();
    for line in export.lines() {
        let message: Value = serde_json::from_str(line).unwrap();
        assert!(message["context"]["siyu"]["customerId"].as_i64().is_some_and(|id| id > 0), "{line}");
    }
}

crate::both_backends!(
    parquet_history_answers_like_duckdb_and_clickhouse,
    csv_history_answers_like_duckdb_and_clickhouse,
    bad_csv_rows_are_reported_and_good_rows_imported,
    bad_queries_name_the_parameter,
    events_stay_in_their_workspace,
    the_analytics_api_answers_and_names_bad_parameters,
    segmentation_paths_and_kpis_agree_with_the_raw_rows,
    export_and_ndjson_import_round_trip,
);

/// A CLI import next to a running server: the server's live index notices the other process's
/// segment files and reloads. (SQLite only: PostgreSQL cannot tell yet, see FIXME(#4) in postgres.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_import_next_to_a_running_server_is_seen_by_it() {
    let app = crate::spawn_app(crate::Backend::Sqlite).await.unwrap();
    siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    assert_eq!(app.services.events.event_index(&app.owner).await.unwrap().columns.event_count(), 4000);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"))
        .arg("--data-dir")
        .arg(app._dir.path())
        .args(["import", "events"])
        .arg(fixture("small-3.csv"))
        .args(["--workspace", "brand"])
        .env("SIYU_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(app.services.events.event_index(&app.owner).await.unwrap().columns.event_count(), 24000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_brings_behaviour_to_analyse() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    siyu::demo::run(&app.services, 400, 7, false).await.unwrap();
    let ws = app.services.access.workspace_by_slug(siyu::demo::SLUG).await.unwrap();
    let analyst = siyu_domain::access::Principal::cli(ws.id);
    let index = app.services.events.event_index(&analyst).await.unwrap();
    let events = index.columns.event_count();
    assert!(events > 400 * 5, "{events} events for 400 customers");
    let kpis = index.kpis(&jiff::tz::TimeZone::UTC, None, app.services.now().as_microsecond(), &[]).unwrap();
    assert!(kpis.dau > 0 && kpis.orders_30d > 0 && kpis.gmv_30d > 0.0, "{kpis:?}");
    assert!(kpis.message_open_rate.is_some() && kpis.coupon_redemption_rate.is_some(), "{kpis:?}");
    let steps: Vec<String> =
        ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"].map(String::from).to_vec();
    let by_category =
        siyu_domain::events::analytics::FunnelOptions { breakdown: Some("category".into()), ..Default::default() };
    let funnel = index.funnel(&steps, 86_400, &by_category).unwrap();
    assert!(funnel.steps[3].customers > 0);
    assert_eq!(funnel.breakdown.unwrap().groups.len(), 3, "three drink categories");
    // The demo's segments exist, with members.
    let segments = app.services.segments.segments(&analyst).await.unwrap();
    assert_eq!(segments.len(), 4, "{segments:?}");
    assert!(segments.iter().any(|s| s.size > 0), "{segments:?}");
    // Refreshing the demo adds no second history (segment entries are recorded as they happen,
    // so only behaviour is counted).
    let ws_id = ws.id;
    let behaviour = |services: siyu_domain::Services| async move {
        let mut n = 0u64;
        services
            .stores
            .events
            .scan_since(ws_id, "", &mut |e| n += u64::from(!e.name.starts_with("Segment ")))
            .await
            .unwrap();
        n
    };
    let before = behaviour(app.services.clone()).await;
    assert!(before >= 400 * 5);
    siyu::demo::run(&app.services, 400, 7, false).await.unwrap();
    assert_eq!(behaviour(app.services.clone()).await, before);
    assert_eq!(app.services.segments.segments(&analyst).await.unwrap().len(), 4, "no second set of segments");
}

#[test]
fn siyu_model_ltv_prints_the_fit_and_each_customers_prediction() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siyu-analytics/tests/fixtures");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args(["model", "ltv", "--horizon", "39", "--format", "json", "--summary"])
        .arg(fixtures.join("cdnow_customers_summary.csv"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!((answer["bgnbd"]["r"].as_f64().unwrap() - 0.243).abs() < 0.0025, "{}", answer["bgnbd"]);
    let customers = answer["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 2_357);
    assert_eq!(customers[0]["id"], "1");
    assert!((customers[0]["expected_purchases"].as_f64().unwrap() - 1.226).abs() < 0.01);
    assert!(customers[0]["expected_value"].is_null(), "no spend column, no value");
    assert!(answer.get("gamma_gamma").is_none());

    // Bad data is refused with the line, never answered with NaN.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "ID,frequency,recency,T\n1,2,10,40\n2,1,50,40\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args(["model", "ltv", "--summary"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 3: recency must be between 0 and T"));
}

/// One logged event as two logs are compared: customer, name, time, message id, `userId`,
/// `anonymousId`, properties and context (the receipt time is each log's own).
type Logged = (i64, String, i64, String, String, String, String, String);

/// Returns the demo workspace's whole log in a data directory, sorted.
async fn demo_log(dir: &std::path::Path) -> Vec<Logged> {
    let app = siyu::App::build(&siyu::Config::for_tests(dir, None)).await.unwrap();
    let ws = app.services().access.workspace_by_slug(siyu::demo::SLUG).await.unwrap();
    let mut log = Vec::new();
    let mut opener =
        app.services().events.event_opener(&siyu_domain::access::Principal::cli(ws.id), None).await.unwrap();
    app.services()
        .stores
        .events
        .scan(ws.id, &mut |e| {
            let opened = opener.open(e);
            let e = opened.view();
            let text = |s: &str| s.to_string();
            log.push((
                e.customer.0,
                text(e.name),
                e.ts_us,
                text(e.message_id),
                text(e.user_id),
                text(e.anonymous_id),
                text(e.properties),
                text(e.context),
            ));
        })
        .await
        .unwrap();
    log.sort();
    log
}

/// Runs the `siyu` command on a data directory; fails the test if it fails.
fn siyu_command(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("SIYU_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "siyu {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// Imports an export into the demo workspace of a data directory; returns the JSON report.
fn import_into_demo(dir: &std::path::Path, file: &std::path::Path) -> Value {
    let stdout = siyu_command(dir, &["import", "events", file.to_str().unwrap(), "--workspace", "demo"]);
    serde_json::from_slice(&stdout).unwrap()
}

/// Returns a copy of a data directory without its event log: a backup of the profiles restored
/// after the log was lost (same workspace, same customer ids).
fn without_log(from: &std::path::Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        } else {
            assert_eq!(entry.file_name(), "events", "only the log is a directory");
        }
    }
    copy
}

/// The demo's whole log leaves as NDJSON and as Parquet, every event naming its customer, and
/// comes back whole: into the same workspace nothing is stored twice; into the workspace restored
/// without its log each export brings back every event, to the same customer at the same time;
/// into another workspace the events of siyu's customer ids are refused, never attributed.
/// (SQLite: the restore copies its data directory.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_log_round_trips_through_its_exports() {
    let original = tempfile::tempdir().unwrap();
    siyu_command(original.path(), &["demo", "--customers", "300"]);
    let files = tempfile::tempdir().unwrap();
    let (ndjson, parquet) = (files.path().join("demo.ndjson"), files.path().join("demo.parquet"));
    for (format, file) in [("ndjson", &ndjson), ("parquet", &parquet)] {
        let out = file.to_str().unwrap();
        siyu_command(original.path(), &["export", "events", "--workspace", "demo", "--format", format, "--out", out]);
    }
    let logged = demo_log(original.path()).await;
    let own_events = |log: &[Logged]| log.iter().filter(|e| e.1.starts_with("Segment ")).count();
    // siyu's own events have no sender: the export used to leave them without a customer.
    assert!(own_events(&logged) > 0, "the demo's segments record entries");
    assert!(logged.iter().filter(|e| e.1.starts_with("Segment ")).all(|e| e.4.is_empty() && e.5.is_empty()));
    let export = std::fs::read_to_string(&ndjson).unwrap();
    assert_eq!(export.lines().count(), logged.len());
    let mut named: Vec<i64> = export
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["context"]["siyu"]["customerId"].as_i64().unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(named, logged.iter().map(|e| e.0).collect::<Vec<_>>(), "every line names its customer");
    assert!(!export.contains("mail.example.cn"), "no e-mail address in clear");

    // Restored without its log, the workspace gets every event back from the NDJSON: same
    // customers, names, times, ids, properties and context.
    let restored = without_log(original.path());
    let report = import_into_demo(restored.path(), &ndjson);
    assert_eq!((report["imported"].as_u64(), report["failed"].as_u64()), (Some(logged.len() as u64), Some(0)));
    assert_eq!(demo_log(restored.path()).await, logged);
    // And from the Parquet file: the columns it reads back (customer, name, time, order revenue).
    let restored = without_log(original.path());
    let report = import_into_demo(restored.path(), &parquet);
    assert_eq!((report["imported"].as_u64(), report["failed"].as_u64()), (Some(logged.len() as u64), Some(0)));
    let essentials = |log: &[Logged]| {
        let mut rows: Vec<(i64, String, i64, Option<i64>)> =
            log.iter().map(|e| (e.0, e.1.clone(), e.2, siyu_domain::events::order_cents(&e.1, &e.6))).collect();
        rows.sort();
        rows
    };
    let orders = essentials(&logged).iter().filter(|e| e.3.is_some()).count();
    assert!(orders > 100, "{orders} orders");
    assert_eq!(essentials(&demo_log(restored.path()).await), essentials(&logged));

    // The same workspace again: every messageId is known, nothing is stored twice.
    let report = import_into_demo(original.path(), &ndjson);
    assert_eq!((report["imported"].as_u64(), report["duplicates"].as_u64()), (Some(0), Some(logged.len() as u64)));
    assert_eq!(demo_log(original.path()).await, logged);

    // Another workspace of the same database: senders become its own profiles, and the lines
    // named only by the demo workspace's customer ids are refused, each by line and field.
    let app = siyu::App::build(&siyu::Config::for_tests(original.path(), None)).await.unwrap();
    let services = app.services();
    let copy = services
        .access
        .create_workspace(&siyu_domain::access::workspaces::NewWorkspace::parse("copy", None, None, None).unwrap())
        .await
        .unwrap();
    let copy = siyu_domain::access::Principal::cli(copy.id);
    let report = siyu::event_import::import(services, &copy, &ndjson, |_, _| {}).await.unwrap();
    assert_eq!(report.failed as usize, own_events(&logged));
    assert_eq!(report.imported as usize, logged.len() - own_events(&logged));
    let refused_lines: Vec<u64> = export
        .lines()
        .zip(1..)
        .filter(|(line, _)| line.contains("\"event\":\"Segment "))
        .map(|(_, number)| number)
        .take(100)
        .collect();
    assert_eq!(report.errors.iter().map(|e| e.row).collect::<Vec<_>>(), refused_lines);
    assert!(report.errors.iter().all(|e| e.field == "context.siyu.customerId"), "{:?}", report.errors[0]);
    // Its events are the demo's behaviour, per sender, name and time.
    let by_sender = |log: Vec<(String, String, i64)>| {
        let mut log = log;
        log.sort();
        log
    };
    let mut copied = Vec::new();
    let mut opener = services.events.event_opener(&copy, None).await.unwrap();
    services
        .stores
        .events
        .scan(copy.workspace_id(), &mut |e| {
            let opened = opener.open(e);
            let e = opened.view();
            copied.push((e.user_id.to_string(), e.name.to_string(), e.ts_us))
        })
        .await
        .unwrap();
    let behaviour = logged.iter().filter(|e| !e.1.starts_with("Segment ")).map(|e| (e.4.clone(), e.1.clone(), e.2));
    assert_eq!(by_sender(copied), by_sender(behaviour.collect()));
    // The Parquet file's rows of siyu's own events are refused there too, by row and column.
    let other = services
        .access
        .create_workspace(&siyu_domain::access::workspaces::NewWorkspace::parse("other", None, None, None).unwrap())
        .await
        .unwrap();
    let other = siyu_domain::access::Principal::cli(other.id);
    let report = siyu::event_import::import(services, &other, &parquet, |_, _| {}).await.unwrap();
    assert_eq!(
        (report.imported as usize, report.failed as usize),
        (logged.len() - own_events(&logged), own_events(&logged))
    );
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.field == "customer_id" && e.reason.ends_with("names no customer of this workspace"))
    );
    // Rows are in the log's order, as the NDJSON lines are.
    assert_eq!(report.errors.iter().map(|e| e.row).collect::<Vec<_>>(), refused_lines);
}
