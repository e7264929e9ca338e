//! Flash sales over HTTP: an operator creates a sale and asks for customer tokens, customers buy
//! through the customer API with them, each refusal is its own problem type, a customer who
//! hammers the endpoint is slowed down with `Retry-After`, and the payment side settles orders.

use crate::{TestApp, both_backends};
use serde_json::json;

both_backends!(customers_buy_over_the_customer_api_and_each_refusal_is_a_problem_of_its_own);

async fn customer(app: &TestApp, user: &str) -> i64 {
    let body = json!({"identities": [{"type": "user_id", "value": user}]});
    let (status, created, _) = app.call("POST", "/api/v1/customers", &app.key, Some(body)).await;
    assert!(status == 200 || status == 201, "{created}");
    created["id"].as_i64().unwrap()
}

async fn token(app: &TestApp, customer: i64) -> String {
    let (status, issued, _) = app
        .call("POST", &format!("/api/v1/customers/{customer}/token"), &app.key, Some(json!({"ttl_seconds": 600})))
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["customer_id"], customer);
    issued["token"].as_str().unwrap().to_string()
}

async fn customers_buy_over_the_customer_api_and_each_refusal_is_a_problem_of_its_own(app: TestApp) {
    let now = app.services.now();
    let sale = json!({
        "name": "双十二 乌龙", "sku": "tea-oolong-250", "title": "乌龙 250 g", "price_fen": 990, "stock": 1,
        "starts_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
        "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string(),
    });
    let (status, created, _) = app.call("POST", "/api/v1/flash-sales", &app.key, Some(sale.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!((created["per_customer"].as_i64(), created["pay_minutes"].as_i64()), (Some(1), Some(15)));
    // Bad input is named field by field, nothing created.
    let mut bad = sale.clone();
    bad["stock"] = json!(0);
    bad["ends_at"] = json!("soon");
    let (status, problem, content_type) = app.call("POST", "/api/v1/flash-sales", &app.key, Some(bad)).await;
    assert_eq!((status, content_type.as_str()), (422, "application/problem+json"), "{problem}");
    let fields: Vec<_> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("stock"), json!("ends_at")]);

    let (a, b) = (customer(&app, "fs-a").await, customer(&app, "fs-b").await);
    let (token_a, token_b) = (token(&app, a).await, token(&app, b).await);
    let purchase = format!("/c/v1/flash-sales/{id}/purchase");
    let (status, order, _) = app.call("POST", &purchase, &token_a, None).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!((order["status"].as_str(), order["customer_id"].as_i64()), (Some("reserved"), Some(a)));
    let refused = |answer: (u16, serde_json::Value, String), status: u16, kind: &str| {
        assert_eq!(answer.0, status, "{}", answer.1);
        assert_eq!(answer.2, "application/problem+json");
        assert_eq!(answer.1["type"], format!("https://siyu.dev/problems/{kind}"), "{}", answer.1);
    };
    refused(app.call("POST", &purchase, &token_a, None).await, 409, "purchase-limit-reached");
    refused(app.call("POST", &purchase, &token_b, None).await, 409, "sold-out");
    let (status, view, _) = app.call("GET", &format!("/c/v1/flash-sales/{id}"), &token_b, None).await;
    assert_eq!((status, view["left"].as_i64(), view["purchased"].as_i64()), (200, Some(0), Some(0)), "{view}");
    // Tokens: a staff key, a forged one, one of another workspace's customer.
    refused(app.call("POST", &purchase, &app.key, None).await, 401, "customer-token-invalid");
    let forged = token_b.replacen(&format!(".{b}."), &format!(".{a}."), 1);
    refused(app.call("POST", &purchase, &forged, None).await, 401, "customer-token-invalid");
    let (_, other_key) = app.other_workspace("other").await;
    let (_, stranger, _) = app
        .call("POST", "/api/v1/customers", &other_key, Some(json!({"identities": [{"type": "user_id", "value": "x"}]})))
        .await;
    let (_, issued, _) =
        app.call("POST", &format!("/api/v1/customers/{}/token", stranger["id"]), &other_key, None).await;
    let stranger_token = issued["token"].as_str().unwrap();
    refused(app.call("POST", &purchase, stranger_token, None).await, 404, "not-found");
    // One customer hammering is slowed down; the answer says when to come back.
    let mut limited = None;
    for _ in 0..40 {
        let response = app.http.post(format!("{}{purchase}", app.base_url)).bearer_auth(&token_b).send().await.unwrap();
        if response.status() == 429 {
            limited = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            break;
        }
    }
    assert_eq!(limited.as_deref(), Some("1"), "the customer was not rate-limited");
    // The payment side settles the order; the sale's counts show it and every refusal.
    let pay = format!("/api/v1/flash-sales/{id}/orders/{}/pay", order["id"]);
    let (status, paid, _) = app.call("POST", &pay, &app.key, Some(json!({"payment_ref": "wx-42"}))).await;
    assert_eq!((status, paid["status"].as_str()), (200, Some("paid")), "{paid}");
    app.services.campaigns.save_attempt_counts().await.unwrap();
    let (_, shown, _) = app.call("GET", &format!("/api/v1/flash-sales/{id}"), &app.key, None).await;
    assert_eq!((shown["sold"].as_i64(), shown["paid"].as_i64(), shown["buyers"].as_i64()), (Some(1), Some(1), Some(1)));
    assert!(shown["attempts"]["sold_out"].as_i64().unwrap() >= 2, "{shown}");
    assert_eq!(shown["attempts"]["limit_reached"], 1, "{shown}");
    let (_, orders, _) = app.call("GET", &format!("/api/v1/flash-sales/{id}/orders?limit=10"), &app.key, None).await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "{orders}");
    let (status, _, _) = app.call("GET", &format!("/api/v1/flash-sales/{id}/orders?bogus=1"), &app.key, None).await;
    assert_eq!(status, 400);
    // An analyst may watch the sale but not create one nor issue tokens.
    let analyst = app.key_with_role(siyu_domain::access::Role::Analyst).await;
    assert_eq!(app.call("GET", &format!("/api/v1/flash-sales/{id}"), &analyst, None).await.0, 200);
    assert_eq!(app.call("POST", "/api/v1/flash-sales", &analyst, Some(sale)).await.0, 403);
    assert_eq!(app.call("POST", &format!("/api/v1/customers/{a}/token"), &analyst, None).await.0, 403);
}
