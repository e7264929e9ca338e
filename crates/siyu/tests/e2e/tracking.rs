//! Segment's HTTP Tracking API over real HTTP, on both backends: auth by write key, single and batch
//! endpoints, per-message errors, de-duplication, identity merge, gzip and size limits.

use crate::TestApp;
use base64::Engine as _;
use serde_json::{Value, json};
use siyu_domain::access::Role;
use siyu_domain::access::api_keys::KeyKind;

async fn write_key(app: &TestApp) -> String {
    app.services.access.create_key(&app.owner, KeyKind::Write, Role::Operator, "site").await.unwrap().1
}

/// Posts JSON (optionally gzip-compressed) with the key as Basic-auth user name, like Segment's libraries.
async fn post(app: &TestApp, path: &str, key: Option<&str>, body: &Value, gzip: bool) -> (u16, Value) {
    let mut request = app.http.post(format!("{}{path}", app.base_url)).header("content-type", "application/json");
    if let Some(key) = key {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        request = request.header("authorization", format!("Basic {basic}"));
    }
    let bytes = serde_json::to_vec(body).unwrap();
    request = if gzip {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&bytes).unwrap();
        request.header("content-encoding", "gzip").body(encoder.finish().unwrap())
    } else {
        request.body(bytes)
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn event_count(app: &TestApp) -> usize {
    app.services.events.event_index(&app.owner).await.unwrap().columns.event_count()
}

pub async fn libraries_track_with_a_write_key(app: TestApp) {
    let key = write_key(&app).await;
    let track = json!({"userId": "u-1", "event": "Product Viewed", "properties": {"sku": "tea-1"},
                       "context": {"library": {"name": "analytics-node", "version": "6.0.0"}}});
    let (status, body) = post(&app, "/v1/track", Some(&key), &track, false).await;
    assert_eq!((status, &body["success"]), (200, &json!(true)), "{body}");
    // The key may also travel in the body, and analytics.js's short paths work.
    let mut in_body = track.clone();
    in_body["writeKey"] = json!(key);
    in_body["messageId"] = json!("m-2");
    assert_eq!(post(&app, "/v1/t", None, &in_body, false).await.0, 200);
    let page = json!({"anonymousId": "a-1", "name": "Menu", "properties": {"path": "/menu"}});
    assert_eq!(post(&app, "/v1/page", Some(&key), &page, true).await.0, 200);
    assert_eq!(event_count(&app).await, 3);
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    assert!(index.names.id("Page Viewed").is_some());
    assert_eq!(index.columns.customer_count(), 2);
}

pub async fn browser_sdks_may_post_from_any_site(app: TestApp) {
    let key = write_key(&app).await;
    // analytics.js sends text/plain with the key in the body, so the browser needs no preflight,
    // but it reads the answer only with CORS headers.
    let body = json!({"writeKey": key, "anonymousId": "a-9", "event": "Page Scrolled"}).to_string();
    let response = app
        .http
        .post(format!("{}/v1/t", app.base_url))
        .header("origin", "https://shop.example.cn")
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/batch", app.base_url))
        .header("origin", "https://shop.example.cn")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(event_count(&app).await, 1);
}

pub async fn wrong_keys_are_refused(app: TestApp) {
    let track = json!({"userId": "u", "event": "E"});
    let (status, body) = post(&app, "/v1/track", None, &track, false).await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().contains("write key"), "{body}");
    assert_eq!(post(&app, "/v1/track", Some("sy_wk_nonsense"), &track, false).await.0, 401);
    // A secret key is for the admin API, not for ingestion.
    assert_eq!(post(&app, "/v1/batch", Some(&app.key), &json!({"batch": [track]}), false).await.0, 401);
    assert_eq!(event_count(&app).await, 0);
}

pub async fn a_batch_reports_bad_messages_by_index_and_keeps_the_good(app: TestApp) {
    let key = write_key(&app).await;
    let big = "x".repeat(33 * 1024);
    let batch = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": 25.5}},
        {"type": "track", "userId": "u1", "properties": {}},
        {"type": "track", "event": "No Sender"},
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": "lots"}},
        {"type": "track", "userId": "u1", "event": "Far Future", "timestamp": "2099-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Big", "properties": {"blob": big}},
        {"type": "shout", "userId": "u1"},
        "not an object",
        {"type": "identify", "userId": "u2", "traits": {"city": "上海"}}
    ]});
    let (status, body) = post(&app, "/v1/batch", Some(&key), &batch, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2);
    let rejected: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["errors"][0]["field"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "batch[1].event".into()),
            (2, "batch[2].userId".into()),
            (3, "batch[3].properties.revenue".into()),
            (4, "batch[4].timestamp".into()),
            (5, "batch[5]".into()),
            (6, "batch[6].type".into()),
            (7, "batch[7]".into()),
        ]
    );
    assert_eq!(event_count(&app).await, 1, "identify is stored but is not a behavioural event");
    // The identify set the trait on the profile.
    let (_, found, _) = app.call("GET", "/api/v1/customers?identity=user_id:u2", &app.key, None).await;
    assert_eq!(found["items"][0]["traits"]["city"]["value"], "上海", "{found}");
    // All bad: a 422 problem naming the fields; a malformed body is a 400 and an oversize one a 413.
    let (status, body) = post(&app, "/v1/batch", Some(&key), &json!({"batch": [{"type": "track"}]}), false).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "batch[0].userId");
    let (status, body) = post(&app, "/v1/track", Some(&key), &json!({"userId": "u", "event": 5}), false).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("event")));
    let huge = json!({"batch": (0..20).map(|_| json!({"type": "track", "userId": "u", "event": "E", "properties": {"b": "y".repeat(30_000)}})).collect::<Vec<_>>()});
    assert_eq!(post(&app, "/v1/batch", Some(&key), &huge, false).await.0, 413);
    assert_eq!(post(&app, "/v1/batch", Some(&key), &json!({"events": []}), false).await.0, 400);
    assert_eq!(event_count(&app).await, 1);
}

pub async fn ancient_and_far_future_instants_are_refused_per_message_naming_the_field(app: TestApp) {
    let key = write_key(&app).await;
    let batch = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "Ancient", "timestamp": "0001-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Older", "timestamp": "-005000-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Sent", "sentAt": "0001-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Original", "originalTimestamp": "1970-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Received", "receivedAt": "1999-12-31T23:59:59Z"},
        {"type": "track", "userId": "u1", "event": "Far", "timestamp": "9999-12-31T23:59:59Z"},
        {"type": "track", "userId": "u1", "event": "Fine"}
    ]});
    let (status, body) = post(&app, "/v1/batch", Some(&key), &batch, false).await;
    assert_eq!((status, body["accepted"].as_u64()), (200, Some(1)), "{body}");
    let rejected: Vec<(String, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["errors"][0]["field"].as_str().unwrap().into(), r["errors"][0]["reason"].as_str().unwrap().into()))
        .collect();
    let before = |text: &str| format!("\"{text}\" is before 2000-01-01T00:00:00Z, the earliest accepted instant");
    assert_eq!(
        rejected,
        vec![
            ("batch[0].timestamp".into(), before("0001-01-01T00:00:00Z")),
            ("batch[1].timestamp".into(), before("-005000-01-01T00:00:00Z")),
            ("batch[2].sentAt".into(), before("0001-01-01T00:00:00Z")),
            ("batch[3].originalTimestamp".into(), before("1970-01-01T00:00:00Z")),
            ("batch[4].receivedAt".into(), before("1999-12-31T23:59:59Z")),
            (
                "batch[5].timestamp".into(),
                "\"9999-12-31T23:59:59Z\" is more than 24 hours after it was received".into()
            ),
        ]
    );
    // The single-message endpoints and the batch's own sentAt follow the same rule.
    let ancient = json!({"userId": "u1", "event": "Ancient", "timestamp": "0001-01-01T00:00:00Z"});
    let (status, body) = post(&app, "/v1/track", Some(&key), &ancient, false).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("timestamp")), "{body}");
    let stale = json!({"batch": [{"type": "track", "userId": "u1", "event": "E"}], "sentAt": "1900-01-01T00:00:00Z"});
    let (status, body) = post(&app, "/v1/batch", Some(&key), &stale, false).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (400, Some("sentAt")), "{body}");
    assert_eq!(event_count(&app).await, 1);
    // Retention over what was kept answers at once.
    let (status, body, _) =
        app.call("POST", "/api/v1/analytics/retention", &app.key, Some(json!({"period": "day"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0]["customers"], 1, "{body}");
}

pub async fn a_retried_batch_is_not_stored_twice(app: TestApp) {
    let key = write_key(&app).await;
    let batch = json!({"batch": (0..50).map(|i| json!({"type": "track", "userId": format!("u{i}"), "event": "Signed Up", "messageId": format!("m{i}")})).collect::<Vec<_>>()});
    let (_, first) = post(&app, "/v1/batch", Some(&key), &batch, false).await;
    assert_eq!((first["accepted"].as_u64(), first["duplicates"].as_u64()), (Some(50), Some(0)));
    let (_, again) = post(&app, "/v1/batch", Some(&key), &batch, true).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(50)));
    assert_eq!(event_count(&app).await, 50);
}

pub async fn identify_merges_the_anonymous_visitor_into_the_user(app: TestApp) {
    let key = write_key(&app).await;
    let before = json!({"batch": [
        {"type": "track", "anonymousId": "anon-7", "event": "Product Viewed", "timestamp": "2026-01-05T10:00:00Z"},
        {"type": "track", "userId": "member-7", "event": "Order Completed", "properties": {"revenue": 30}, "timestamp": "2026-01-06T10:00:00Z"}
    ]});
    assert_eq!(post(&app, "/v1/batch", Some(&key), &before, false).await.0, 200);
    assert_eq!(app.services.events.event_index(&app.owner).await.unwrap().columns.customer_count(), 2);
    let identify = json!({"userId": "member-7", "anonymousId": "anon-7", "traits": {"member_level": "gold"}});
    assert_eq!(post(&app, "/v1/identify", Some(&key), &identify, false).await.0, 200);
    // The two profiles are one now, and so are their events.
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    assert_eq!(index.columns.customer_count(), 1);
    let funnel =
        index.funnel(&["Product Viewed".into(), "Order Completed".into()], 7 * 86_400, &Default::default()).unwrap();
    assert_eq!(funnel.steps[1].customers, 1);
    // Clock skew: the device said 10:00:00 and sent at 10:00:30 by its own clock; the event is
    // stored 30 s before it arrived.
    let skewed = json!({"userId": "member-7", "event": "Coupon Applied", "timestamp": "2020-01-01T10:00:00Z", "sentAt": "2020-01-01T10:00:30Z"});
    let before_send = app.services.now().as_microsecond();
    assert_eq!(post(&app, "/v1/track", Some(&key), &skewed, false).await.0, 200);
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    // The new event is queryable at once (it sits in the live index's delta).
    let mut stored = 0;
    index.columns.for_each_customer(0..index.columns.customer_count(), |c| stored = *c.ts_us.last().unwrap());
    assert!((stored - (before_send - 30_000_000)).abs() < 5_000_000, "stored {stored}, sent {before_send}");
}

pub async fn refunds_reverse_orders(app: TestApp) {
    let key = write_key(&app).await;
    let order = |id: &str, revenue: f64| {
        json!({"type": "track", "userId": "buyer", "event": "Order Completed",
        "properties": {"order_id": id, "revenue": revenue}})
    };
    let batch = json!({"batch": [order("A", 100.0), order("B", 50.0)]});
    assert_eq!(post(&app, "/v1/batch", Some(&key), &batch, false).await.0, 200);
    let kpis = |index: std::sync::Arc<siyu_domain::events::EventIndex>| {
        index.kpis(&jiff::tz::TimeZone::UTC, None, app.services.now().as_microsecond(), &[]).unwrap()
    };
    let before = kpis(app.services.events.event_index(&app.owner).await.unwrap());
    assert_eq!((before.orders_30d, before.gmv_30d, before.repurchase_rate), (2, 150.0, Some(1.0)));
    // A whole refund of A, then 20 of B's 50.
    let refunds = json!({"batch": [
        {"type": "track", "userId": "buyer", "event": "Order Refunded", "properties": {"order_id": "A"}},
        {"type": "track", "userId": "buyer", "event": "Order Refunded", "properties": {"order_id": "B", "total": 20}}
    ]});
    assert_eq!(post(&app, "/v1/batch", Some(&key), &refunds, false).await.0, 200);
    let after = kpis(app.services.events.event_index(&app.owner).await.unwrap());
    assert_eq!((after.orders_30d, after.gmv_30d, after.repurchase_rate), (1, 30.0, Some(0.0)));
    let rfm = app
        .services
        .events
        .event_index(&app.owner)
        .await
        .unwrap()
        .rfm(None, app.services.now().as_microsecond())
        .unwrap();
    assert_eq!(rfm.customers, 1);
}

pub async fn properties_filter_measure_and_break_down_queries(app: TestApp) {
    let key = write_key(&app).await;
    // Five shoppers: u0..u2 add shoes (u0 twice), u3..u4 add hats; u0, u1 and u3 pay.
    let mut batch = Vec::new();
    for (user, category, price) in [
        ("u0", "shoes", 100),
        ("u0", "shoes", 50),
        ("u1", "shoes", 80),
        ("u2", "shoes", 20),
        ("u3", "hats", 10),
        ("u4", "hats", 15),
    ] {
        batch.push(
            json!({"type": "track", "userId": user, "event": "Product Added", "timestamp": "2026-03-02T10:00:00Z",
            "properties": {"category": category, "price": price, "tags": ["ignored"]}}),
        );
    }
    for (user, revenue, coupon) in [("u0", 150.0, "618"), ("u1", 80.0, "NONE"), ("u3", 10.0, "618")] {
        batch.push(
            json!({"type": "track", "userId": user, "event": "Order Completed", "timestamp": "2026-03-02T11:00:00Z",
            "properties": {"revenue": revenue, "coupon": coupon}}),
        );
    }
    assert_eq!(post(&app, "/v1/batch", Some(&key), &json!({"batch": batch}), false).await.0, 200);

    let funnel = json!({"steps": [{"event": "Product Added", "filters": [{"property": "price", "op": "gte", "value": 50}]},
        "Order Completed"], "breakdown": "category"});
    let (status, answer, _) = app.call("POST", "/api/v1/analytics/funnel", &app.key, Some(funnel)).await;
    assert_eq!(status, 200, "{answer}");
    let customers: Vec<u64> =
        answer["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_u64().unwrap()).collect();
    assert_eq!(customers, vec![2, 2], "u0 and u1 added items of 50 or more, and both paid");
    assert_eq!(answer["breakdown"]["groups"], json!([{"value": "shoes", "customers": [2, 2], "conversion_rate": 1.0}]));

    let by_category = json!({"steps": ["Product Added", "Order Completed"], "breakdown": "category"});
    let (_, answer, _) = app.call("POST", "/api/v1/analytics/funnel", &app.key, Some(by_category)).await;
    let groups = &answer["breakdown"]["groups"];
    assert_eq!((groups[0]["value"].as_str(), groups[0]["customers"].clone()), (Some("shoes"), json!([3, 2])));
    assert_eq!((groups[1]["value"].as_str(), groups[1]["customers"].clone()), (Some("hats"), json!([2, 1])));

    // A property only the last step carries is read from it when asked: by default (step 1) every
    // customer is "(none)"; by the last step reached or by step 2, buyers split by coupon, and the
    // customers who stopped at step 1 have no coupon.
    let by_coupon = |attribution: Value| json!({"steps": ["Product Added", "Order Completed"], "breakdown": "coupon", "attribution": attribution});
    let groups = |answer: &Value| -> Vec<(Option<String>, Value)> {
        answer["breakdown"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["value"].as_str().map(String::from), g["customers"].clone()))
            .collect()
    };
    let (_, first, _) = app.call("POST", "/api/v1/analytics/funnel", &app.key, Some(by_coupon(json!("first")))).await;
    assert_eq!(groups(&first), vec![(None, json!([5, 3]))], "{first}");
    assert_eq!(first["breakdown"]["attribution"], "first");
    let split = vec![(Some("618".into()), json!([2, 2])), (None, json!([2, 0])), (Some("NONE".into()), json!([1, 1]))];
    for attribution in [json!("last"), json!("step 2"), json!(2), json!("2"), json!("Step 2")] {
        let (status, answer, _) =
            app.call("POST", "/api/v1/analytics/funnel", &app.key, Some(by_coupon(attribution.clone()))).await;
        assert_eq!((status, groups(&answer)), (200, split.clone()), "{attribution}: {answer}");
    }
    let (_, answer, _) = app.call("POST", "/api/v1/analytics/funnel", &app.key, Some(by_coupon(json!(2)))).await;
    assert_eq!(answer["breakdown"]["attribution"], "step 2");
    for attribution in [json!("middle"), json!("step 3"), json!(0), json!(-1), json!("step"), json!(true)] {
        let (status, problem, _) =
            app.call("POST", "/api/v1/analytics/funnel", &app.key, Some(by_coupon(attribution.clone()))).await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (400, Some("attribution")),
            "{attribution}: {problem}"
        );
    }

    let segmentation = json!({"events": [{"event": "Product Added", "measure": "price"}], "breakdown": "category",
        "period": "month", "tz": "UTC"});
    let (status, answer, _) = app.call("POST", "/api/v1/analytics/segmentation", &app.key, Some(segmentation)).await;
    assert_eq!(status, 200, "{answer}");
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!((series[0]["breakdown_value"].as_str(), series[0]["counts"][0].as_u64()), (Some("shoes"), Some(4)));
    assert_eq!((series[0]["customers"][0].as_u64(), series[0]["sums"][0].as_f64()), (Some(3), Some(250.0)));
    assert_eq!(series[0]["averages"][0].as_f64(), Some(62.5));
    assert_eq!((series[1]["breakdown_value"].as_str(), series[1]["sums"][0].as_f64()), (Some("hats"), Some(25.0)));

    let coupon = json!({"events": ["Order Completed"], "filters": [{"property": "coupon", "op": "eq", "value": "618"}],
        "period": "month", "tz": "UTC"});
    let (_, answer, _) = app.call("POST", "/api/v1/analytics/segmentation", &app.key, Some(coupon)).await;
    assert_eq!(
        (answer["series"][0]["counts"][0].as_u64(), answer["series"][0]["revenue"][0].as_f64()),
        (Some(2), Some(160.0))
    );

    // Unknown properties and values of the wrong kind are named, with a 400.
    let bad = [
        (
            "funnel",
            json!({"steps": ["Product Added", {"event": "Order Completed", "filters": [{"property": "colour", "op": "eq", "value": "red"}]}]}),
            "steps[1].filters[0].property",
        ),
        ("funnel", json!({"steps": ["Product Added", "Order Completed"], "breakdown": "colour"}), "breakdown"),
        (
            "segmentation",
            json!({"events": ["Product Added"], "filters": [{"property": "price", "op": "gt", "value": "cheap"}]}),
            "filters[0].value",
        ),
        ("segmentation", json!({"events": [{"event": "Product Added", "measure": "weight"}]}), "events[0].measure"),
        ("segmentation", json!({"events": ["Product Added"], "breakdown": "category", "limit": 0}), "limit"),
    ];
    for (query, body, field) in bad {
        let (status, problem, _) =
            app.call("POST", &format!("/api/v1/analytics/{query}"), &app.key, Some(body.clone())).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some(field)), "{body}: {problem}");
    }
}

pub async fn merges_and_deletes_made_through_the_api_reach_ingestion_and_the_index(app: TestApp) {
    let key = write_key(&app).await;
    let track = |user: &str| json!({"userId": user, "event": "Product Viewed"});
    for user in ["a", "b", "c"] {
        assert_eq!(post(&app, "/v1/track", Some(&key), &track(user), false).await.0, 200);
    }
    assert_eq!(app.services.events.event_index(&app.owner).await.unwrap().columns.customer_count(), 3);
    // An operator learns that a and b are one person: the profiles merge, and so do their events.
    let both = json!({"identities": [{"type": "user_id", "value": "a"}, {"type": "user_id", "value": "b"}]});
    let (status, body, _) = app.call("POST", "/api/v1/customers", &app.key, Some(both)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.services.events.event_index(&app.owner).await.unwrap().columns.customer_count(), 2);
    assert_eq!(post(&app, "/v1/track", Some(&key), &track("b"), false).await.0, 200);
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    assert_eq!(
        (index.columns.customer_count(), index.columns.event_count()),
        (2, 4),
        "b's new event is the survivor's"
    );
    // c asks what siyu holds about them: the export has their profile and their event.
    let c = app.services.events.customers_for_user_ids(&app.owner, &["c".to_string()]).await.unwrap()[0];
    let (status, export, _) = app.call("GET", &format!("/api/v1/customers/{}/export", c.0), &app.key, None).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["customers"]["profile"]["identities"][0]["value"], json!("c"));
    assert_eq!(export["events"]["events"][0]["event"], json!("Product Viewed"));
    // c is erased; a later event of c makes a new profile rather than reviving the erased one.
    let (status, _, _) = app.call("DELETE", &format!("/api/v1/customers/{}", c.0), &app.key, None).await;
    assert_eq!(status, 204);
    assert_eq!(post(&app, "/v1/track", Some(&key), &track("c"), false).await.0, 200);
    let again = app.services.events.customers_for_user_ids(&app.owner, &["c".to_string()]).await.unwrap()[0];
    assert_ne!(again, c);
    let mut owners = Vec::new();
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    index.columns.for_each_customer(0..index.columns.customer_count(), |customer| owners.push(customer.id));
    assert!(owners.contains(&again.0), "the new profile's event is indexed under it");
}

pub async fn the_senders_address_is_kept_as_context_ip(app: TestApp) {
    let key = write_key(&app).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let send = |body: Value, forwarded: Option<&'static str>| {
        let mut request = app
            .http
            .post(format!("{}/v1/track", app.base_url))
            .header("authorization", format!("Basic {basic}"))
            .json(&body);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        request.send()
    };
    let direct = send(json!({"userId": "u", "event": "Direct"}), None).await.unwrap();
    assert_eq!(direct.status().as_u16(), 200);
    let proxied = send(json!({"userId": "u", "event": "Proxied"}), Some("203.0.113.9, 10.0.0.1")).await.unwrap();
    assert_eq!(proxied.status().as_u16(), 200);
    let own = json!({"userId": "u", "event": "Own", "context": {"ip": "198.51.100.7"}});
    assert_eq!(send(own, Some("203.0.113.9")).await.unwrap().status().as_u16(), 200);
    let mut ips = std::collections::BTreeMap::new();
    let mut opener = app.services.events.event_opener(&app.owner, None).await.unwrap();
    app.services
        .stores
        .events
        .scan_since(app.owner.workspace_id(), "", &mut |e| {
            let opened = opener.open(e);
            let e = opened.view();
            let context: Value = serde_json::from_str(e.context).unwrap();
            ips.insert(e.name.to_string(), context["ip"].as_str().unwrap_or_default().to_string());
        })
        .await
        .unwrap();
    assert_eq!(ips["Direct"], "127.0.0.1");
    assert_eq!(ips["Proxied"], "203.0.113.9", "the first X-Forwarded-For hop");
    assert_eq!(ips["Own"], "198.51.100.7", "a message's own context.ip wins");
}

crate::both_backends!(
    ancient_and_far_future_instants_are_refused_per_message_naming_the_field,
    the_senders_address_is_kept_as_context_ip,
    merges_and_deletes_made_through_the_api_reach_ingestion_and_the_index,
    properties_filter_measure_and_break_down_queries,
    refunds_reverse_orders,
    libraries_track_with_a_write_key,
    browser_sdks_may_post_from_any_site,
    wrong_keys_are_refused,
    a_batch_reports_bad_messages_by_index_and_keeps_the_good,
    a_retried_batch_is_not_stored_twice,
    identify_merges_the_anonymous_visitor_into_the_user,
);
