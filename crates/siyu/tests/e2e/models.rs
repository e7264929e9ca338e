//! The models API end to end, on both backends: "no order data" before orders, thresholds refused
//! with a 400 naming the field (and nothing saved), then the models of an imported history.

use crate::TestApp;
use serde_json::json;
use siyu_domain::access::Role;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siyu-analytics/tests/fixtures").join(name)
}

pub async fn the_models_api_answers_and_refuses_bad_thresholds(app: TestApp) {
    let (status, problem, _) = app.call("GET", "/api/v1/models/rfm", &app.key, None).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("https://siyu.dev/problems/no-order-data")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().starts_with("no order data"));

    let bad = [
        (json!({"churn_days": -5}), "churn_days"),
        (json!({"dormant_days": 90, "churned_days": 60}), "churned_days"),
        (
            json!({"rfm_edges": {"recency_days": [30, 7, 60, 90], "frequency": [1, 2, 3, 4], "monetary": [1, 2, 3, 4]}}),
            "rfm_edges.recency_days",
        ),
        (
            json!({"rfm_edges": {"recency_days": [7, 30, 60], "frequency": [1, 2, 3, 4], "monetary": [1, 2, 3, 4]}}),
            "rfm_edges.recency_days",
        ),
        (json!({"rfm_high_score": 9}), "rfm_high_score"),
        (json!({"churn_dayz": 5}), "churn_dayz"),
    ];
    for (body, field) in bad {
        let (status, problem, kind) = app.call("PUT", "/api/v1/models/settings", &app.key, Some(body.clone())).await;
        assert_eq!((status, kind.as_str()), (400, "application/problem+json"), "{body}: {problem}");
        assert!(problem["errors"][0]["field"].as_str().unwrap_or_default().starts_with(field), "{body}: {problem}");
    }
    let (_, settings, _) = app.call("GET", "/api/v1/models/settings", &app.key, None).await;
    assert_eq!(settings["churn_days"], 30, "nothing saved");
    let analyst = app.key_with_role(Role::Analyst).await;
    let (status, _, _) = app.call("PUT", "/api/v1/models/settings", &analyst, Some(json!({"churn_days": 20}))).await;
    assert_eq!(status, 403);
    let (status, saved, _) =
        app.call("PUT", "/api/v1/models/settings", &app.key, Some(json!({"churn_days": 20}))).await;
    assert_eq!((status, &saved["churn_days"], &saved["dormant_days"]), (200, &json!(20), &json!(60)));

    siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let end = jiff::Timestamp::from_microsecond(index.columns.time_range().unwrap().1).unwrap();
    let (status, scheduled, _) = app.call("POST", &format!("/api/v1/models/run?as_of={end}"), &analyst, None).await;
    assert_eq!((status, &scheduled["status"]), (202, &json!("scheduled")), "{scheduled}");
    app.services.models.models_settled(&app.owner).await.unwrap();
    let (status, summary, _) = app.call("GET", "/api/v1/models", &analyst, None).await;
    assert_eq!((status, &summary["refreshing"]), (200, &json!(false)), "{summary}");
    assert_eq!(summary["as_of"], json!(end.to_string()));
    let stages: u64 = summary["lifecycle"].as_array().unwrap().iter().map(|s| s["customers"].as_u64().unwrap()).sum();
    assert_eq!(stages, summary["customers"].as_u64().unwrap());
    assert_eq!(summary["lifecycle"][0]["name_zh"], "导入期");

    let (_, rfm, _) = app.call("GET", "/api/v1/models/rfm", &analyst, None).await;
    let classes: u64 = rfm["classes"].as_array().unwrap().iter().map(|c| c["customers"].as_u64().unwrap()).sum();
    assert_eq!(classes, rfm["buyers"].as_u64().unwrap());
    // The buyers are those the RFM analysis scores.
    assert_eq!(
        rfm["buyers"].as_u64().unwrap(),
        index.rfm(Some(end.as_microsecond()), app.services.now().as_microsecond()).unwrap().customers
    );

    let (status, recall, _) = app.call("GET", "/api/v1/models/recall?limit=3", &analyst, None).await;
    assert_eq!(status, 200, "{recall}");
    assert!(recall["items"].as_array().unwrap().len() <= 3);
    let (status, problem, _) = app.call("GET", "/api/v1/models/recall?limt=3", &analyst, None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("limt")));

    let customer = index.columns.customer_id(0);
    let (status, view, _) = app.call("GET", &format!("/api/v1/customers/{customer}/models"), &app.key, None).await;
    assert_eq!(status, 200, "{view}");
    assert!(view["models"]["health"].as_u64().unwrap() <= 100);
    // A customer service agent sees a customer's models, not the workspace's.
    let agent = app.key_with_role(Role::CsAgent).await;
    let (status, _, _) = app.call("GET", &format!("/api/v1/customers/{customer}/models"), &agent, None).await;
    assert_eq!(status, 200);
    for path in ["/api/v1/models", "/api/v1/models/ltv", "/api/v1/models/recall"] {
        let (status, _, _) = app.call("GET", path, &agent, None).await;
        assert_eq!(status, 403, "{path}");
    }
    let (status, ltv, _) = app.call("GET", "/api/v1/models/ltv", &analyst, None).await;
    assert_eq!(status, 200, "{ltv}");
    assert!(ltv["bgnbd"]["r"].as_f64().unwrap() > 0.0);
    assert!(ltv["bgnbd"]["evaluations"].as_u64().unwrap() <= u64::from(siyu_analytics::ltv::MAX_EVALUATIONS));
    // Predictions only from a converged fit; one that did not converge says why.
    match ltv["status"].as_str().unwrap() {
        "fitted" => assert!(ltv["customers"].as_u64().unwrap() > 0 && ltv.get("problem").is_none(), "{ltv}"),
        "not_converged" => assert!(ltv["customers"] == 0 && ltv["problem"].is_string(), "{ltv}"),
        other => panic!("unexpected status {other}: {ltv}"),
    }
    let (status, _, _) = app.call("GET", "/api/v1/customers/999999999/models", &app.key, None).await;
    assert_eq!(status, 404);
}

pub async fn segment_members_export_as_csv_masked_per_role(app: TestApp) {
    let (status, _, _) = app
        .call(
            "POST",
            "/api/v1/customers",
            &app.key,
            Some(json!({"identities": [{"type": "phone", "value": "13800138000"}], "traits": {"city": "上海"}})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, created, _) = app
        .call(
            "POST",
            "/api/v1/segments",
            &app.key,
            Some(json!({"key": "sh", "name": "上海", "text": "trait.city = \"上海\""})),
        )
        .await;
    assert_eq!((status, &created["size"]), (201, &json!(1)), "{created}");
    let export = |key: String| {
        let url = format!("{}/api/v1/segments/sh/export", app.base_url);
        let http = app.http.clone();
        async move { http.get(url).bearer_auth(key).send().await.unwrap().text().await.unwrap() }
    };
    let owner = export(app.key.clone()).await;
    let mut lines = owner.lines();
    // A UTF-8 byte order mark first, so that Excel reads Chinese right.
    assert_eq!(lines.next(), Some("\u{feff}customer_id,identities,traits,tags,created_at"));
    let row = lines.next().unwrap();
    assert!(row.contains("+8613800138000") && row.contains("上海"), "{row}");
    let analyst = app.key_with_role(Role::Analyst).await;
    let masked = export(analyst).await;
    assert!(!masked.contains("13800138000") && masked.contains("138****8000"), "{masked}");
    // Bad text is a 400 naming `text` with the line and column.
    let (status, problem, _) =
        app.call("POST", "/api/v1/segments", &app.key, Some(json!({"key": "bad", "text": "tag(\"a\") and"}))).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("text")), "{problem}");
    assert!(problem["errors"][0]["reason"].as_str().unwrap().starts_with("line 1, column 13"), "{problem}");
}

/// While a model fit runs, reads answer the last computed models (or say the fit is under way)
/// and the recompute request is scheduled at once: the fits are held at their start until the
/// test lets them go, so any answer given meanwhile did not wait for one.
pub async fn requests_never_wait_for_a_model_fit(app: TestApp) {
    siyu::event_import::import(&app.services, &app.owner, &fixture("small-1.parquet"), |_, _| {}).await.unwrap();
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let customer = index.columns.customer_id(0);
    let analyst = app.key_with_role(Role::Analyst).await;
    let held = app.services.models.pause_model_fits().await;

    let (status, scheduled, _) = app.call("POST", "/api/v1/models/run", &analyst, None).await;
    assert_eq!(status, 202, "{scheduled}");
    let (status, summary, _) = app.call("GET", "/api/v1/models", &analyst, None).await;
    assert_eq!((status, &summary["refreshing"]), (200, &json!(true)), "{summary}");
    assert!(summary["buyers"].as_u64().unwrap() > 0, "{summary}");
    let (status, ltv, _) = app.call("GET", "/api/v1/models/ltv", &analyst, None).await;
    assert_eq!((status, &ltv["status"], &ltv["computing"]), (200, &json!("computing"), &json!(true)), "{ltv}");
    let (status, view, _) = app.call("GET", &format!("/api/v1/customers/{customer}/models"), &app.key, None).await;
    assert_eq!((status, &view["models"]["ltv"]), (200, &json!(null)), "{view}");
    // Asking again while the fit is held is scheduled at once too.
    let (status, _, _) = app.call("POST", "/api/v1/models/run", &analyst, None).await;
    assert_eq!(status, 202);

    drop(held);
    app.services.models.models_settled(&app.owner).await.unwrap();
    let (_, summary, _) = app.call("GET", "/api/v1/models", &analyst, None).await;
    assert_eq!(summary["refreshing"], json!(false), "{summary}");
    let (status, ltv, _) = app.call("GET", "/api/v1/models/ltv", &analyst, None).await;
    assert_eq!((status, &ltv["computing"]), (200, &json!(false)), "{ltv}");
    assert_ne!(ltv["status"], json!("computing"), "{ltv}");
}

crate::both_backends!(
    the_models_api_answers_and_refuses_bad_thresholds,
    segment_members_export_as_csv_masked_per_role,
    requests_never_wait_for_a_model_fit
);
