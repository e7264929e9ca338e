//! Coupons over HTTP: an operator creates templates, a customer claims one through the customer
//! API, the order system redeems it (refusals as problems of their own type, the same order twice
//! answered alike) and gives it back on a refund, and a bulk issue to a segment runs on the
//! server's own worker while its progress is watched; a lottery publishes its odds and seed hash
//! and is drawn through the customer API within its daily limit; a customer checks in once a day,
//! and a make-up card's bad date is named.

use crate::{TestApp, both_backends};
use serde_json::json;

both_backends!(
    a_coupon_goes_from_claim_to_redemption_and_back_over_http,
    a_lottery_is_drawn_over_http_with_its_odds_published,
    a_customer_checks_in_over_http_once_a_day
);

async fn a_coupon_goes_from_claim_to_redemption_and_back_over_http(app: TestApp) {
    let template = json!({
        "name": "满100减20", "benefit": {"kind": "threshold", "threshold_fen": 10000, "amount_fen": 2000},
        "stock": 100, "validity": {"kind": "days_after_issue", "days": 7}, "claimable": true
    });
    let (status, created, _) = app.call("POST", "/api/v1/coupon-templates", &app.key, Some(template)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let bad = json!({"name": "x", "benefit": {"kind": "percent", "percent": 120}, "validity": {"kind": "days_after_issue", "days": 0}});
    let (status, problem, _) = app.call("POST", "/api/v1/coupon-templates", &app.key, Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<_> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("benefit.percent"), json!("validity.days")]);

    let body = json!({"identities": [{"type": "user_id", "value": "cp-1"}]});
    let (_, customer, _) = app.call("POST", "/api/v1/customers", &app.key, Some(body)).await;
    let (_, issued, _) = app.call("POST", &format!("/api/v1/customers/{}/token", customer["id"]), &app.key, None).await;
    let token = issued["token"].as_str().unwrap();
    let claim = format!("/c/v1/coupon-templates/{id}/claim");
    let (status, coupon, _) = app.call("POST", &claim, token, None).await;
    assert_eq!(status, 201, "{coupon}");
    let (status, problem, _) = app.call("POST", &claim, token, None).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/claim-limit-reached")));
    let (_, mine, _) = app.call("GET", "/c/v1/coupons", token, None).await;
    assert_eq!(mine["items"][0]["code"], coupon["code"]);
    let code = coupon["code"].as_str().unwrap();
    let (status, found, _) = app.call("GET", &format!("/api/v1/coupons/{}", code.to_lowercase()), &app.key, None).await;
    assert_eq!((status, found["id"].clone()), (200, coupon["id"].clone()), "codes are read in any case");

    let redeem = |order: &str, amount: i64| json!({"code": code, "order_id": order, "amount_fen": amount});
    let (status, problem, content_type) =
        app.call("POST", "/api/v1/coupons/redeem", &app.key, Some(redeem("A-1", 9_000))).await;
    assert_eq!((status, content_type.as_str()), (422, "application/problem+json"));
    assert_eq!(problem["type"], "https://siyu.dev/problems/threshold-not-met", "{problem}");
    let (status, done, _) = app.call("POST", "/api/v1/coupons/redeem", &app.key, Some(redeem("A-1", 12_800))).await;
    assert_eq!(
        (status, done["discount_fen"].as_i64(), done["pay_fen"].as_i64()),
        (200, Some(2_000), Some(10_800)),
        "{done}"
    );
    let (status, again, _) = app.call("POST", "/api/v1/coupons/redeem", &app.key, Some(redeem("A-1", 12_800))).await;
    assert_eq!((status, again["coupon"]["id"].clone()), (200, coupon["id"].clone()), "the same order, the same answer");
    let (status, problem, _) = app.call("POST", "/api/v1/coupons/redeem", &app.key, Some(redeem("A-2", 12_800))).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/coupon-already-redeemed")));
    let (status, released, _) =
        app.call("POST", "/api/v1/coupons/release", &app.key, Some(json!({"order_id": "A-1"}))).await;
    assert_eq!((status, released["status"].as_str()), (200, Some("issued")), "{released}");

    // A bulk issue to everyone, on the server's worker.
    app.call("POST", "/api/v1/segments", &app.key, Some(json!({"key": "all", "text": "has_identity(\"user_id\")"})))
        .await;
    let (status, issue, _) = app
        .call("POST", &format!("/api/v1/coupon-templates/{id}/issue"), &app.key, Some(json!({"segment": "all"})))
        .await;
    assert_eq!(status, 202, "{issue}");
    let progress = format!("/api/v1/coupon-issues/{}", issue["id"]);
    let finished = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let (_, now, _) = app.call("GET", &progress, &app.key, None).await;
            if now["status"] != "running" {
                return now;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the bulk issue ends");
    assert_eq!((finished["status"].as_str(), finished["issued"].as_i64()), (Some("done"), Some(1)), "{finished}");
    let (_, shown, _) = app.call("GET", &format!("/api/v1/coupon-templates/{id}"), &app.key, None).await;
    assert_eq!((shown["issued"].as_i64(), shown["claimed"].as_i64()), (Some(2), Some(1)), "{shown}");
    let (_, held, _) = app.call("GET", &format!("/api/v1/customers/{}/coupons", customer["id"]), &app.key, None).await;
    assert_eq!(held["items"].as_array().unwrap().len(), 2);
}

async fn a_lottery_is_drawn_over_http_with_its_odds_published(app: TestApp) {
    let now = app.services.now();
    let lottery = json!({
        "name": "年终抽奖", "starts_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
        "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string(),
        "prizes": [{"key": "cup", "name": "杯子", "weight": 1, "stock": 1}], "no_prize_weight": 3, "per_day": 2
    });
    let (status, created, _) = app.call("POST", "/api/v1/lotteries", &app.key, Some(lottery)).await;
    assert_eq!(status, 201, "{created}");
    let body = json!({"identities": [{"type": "user_id", "value": "lt-1"}]});
    let (_, customer, _) = app.call("POST", "/api/v1/customers", &app.key, Some(body)).await;
    let (_, issued, _) = app.call("POST", &format!("/api/v1/customers/{}/token", customer["id"]), &app.key, None).await;
    let token = issued["token"].as_str().unwrap();
    let (status, rules, _) = app.call("GET", &format!("/c/v1/lotteries/{}", created["id"]), token, None).await;
    assert_eq!(status, 200, "{rules}");
    assert_eq!((rules["seed_hash"].as_str().map(str::len), rules["seed"].clone()), (Some(64), json!(null)));
    assert_eq!(rules["prizes"][0]["probability"], 0.25);
    let draw = format!("/c/v1/lotteries/{}/draw", created["id"]);
    for n in 1..=2 {
        let (status, drawn, _) = app.call("POST", &draw, token, None).await;
        assert_eq!((status, drawn["n"].as_i64()), (201, Some(n)), "{drawn}");
    }
    let (status, problem, _) = app.call("POST", &draw, token, None).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/daily-draw-limit")));
    let (_, audit, _) = app.call("GET", &format!("/api/v1/lotteries/{}/audit", created["id"]), &app.key, None).await;
    assert_eq!((audit["draws"].as_array().unwrap().len(), audit["seed"].clone()), (2, json!(null)), "{audit}");
}

async fn a_customer_checks_in_over_http_once_a_day(app: TestApp) {
    let now = app.services.now();
    let checkin = json!({
        "name": "每日签到", "starts_at": (now - jiff::SignedDuration::from_hours(1)).to_string(),
        "ends_at": (now + jiff::SignedDuration::from_hours(24 * 7)).to_string(), "makeup_cards": 1
    });
    let (status, created, _) = app.call("POST", "/api/v1/checkins", &app.key, Some(checkin)).await;
    assert_eq!(status, 201, "{created}");
    let bad = json!({"name": "x", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z",
        "milestones": [{"streak": 7, "lottery": 999}]});
    let (status, problem, _) = app.call("POST", "/api/v1/checkins", &app.key, Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "ends_at", "{problem}");
    let body = json!({"identities": [{"type": "user_id", "value": "ck-1"}]});
    let (_, customer, _) = app.call("POST", "/api/v1/customers", &app.key, Some(body)).await;
    let (_, issued, _) = app.call("POST", &format!("/api/v1/customers/{}/token", customer["id"]), &app.key, None).await;
    let token = issued["token"].as_str().unwrap();
    let base = format!("/c/v1/checkins/{}", created["id"]);
    let (status, done, _) = app.call("POST", &format!("{base}/check-in"), token, None).await;
    assert_eq!((status, done["streak"].as_i64(), done["makeup"].as_bool()), (201, Some(1), Some(false)), "{done}");
    let (status, problem, _) = app.call("POST", &format!("{base}/check-in"), token, None).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/already-checked-in")));
    // A make-up card cannot fill today, nor a day that is no date.
    for date in [done["date"].clone(), json!("2026-13-01")] {
        let (status, problem, _) =
            app.call("POST", &format!("{base}/makeup"), token, Some(json!({"date": date}))).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("date")), "{problem}");
    }
    let (status, mine, _) = app.call("GET", &base, token, None).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!((mine["checked_in_today"].as_bool(), mine["cards_left"].as_i64()), (Some(true), Some(1)), "{mine}");
    let (_, stats, _) = app.call("GET", &format!("/api/v1/checkins/{}", created["id"]), &app.key, None).await;
    assert_eq!(stats["participants"], 1, "{stats}");
    assert_eq!(stats["days"].as_array().unwrap().last().unwrap()["checked_in"], 1, "{stats}");
}
