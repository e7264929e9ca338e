//! Group buying over HTTP: an operator creates an activity, a leader opens a group through the
//! customer API and shares its join path, friends join until it completes, and a full group, a
//! second join and a bad activity are refused, each as a problem of its own type; a quiz is
//! answered through the customer API without its answers ever shown, once per attempt.

use crate::{TestApp, both_backends};
use serde_json::json;

both_backends!(
    a_group_fills_over_http_and_each_refusal_is_a_problem_of_its_own,
    a_quiz_is_answered_over_http_once_and_in_time
);

async fn token(app: &TestApp, user: &str) -> String {
    let body = json!({"identities": [{"type": "user_id", "value": user}]});
    let (_, customer, _) = app.call("POST", "/api/v1/customers", &app.key, Some(body)).await;
    let (status, issued, _) =
        app.call("POST", &format!("/api/v1/customers/{}/token", customer["id"]), &app.key, None).await;
    assert_eq!(status, 201, "{issued}");
    issued["token"].as_str().unwrap().to_string()
}

async fn a_group_fills_over_http_and_each_refusal_is_a_problem_of_its_own(app: TestApp) {
    let now = app.services.now();
    let activity = json!({
        "name": "两人团", "sku": "tea-1", "title": "乌龙 250 g", "price_fen": 5900, "group_size": 2,
        "time_limit_minutes": 60, "starts_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
        "ends_at": (now + jiff::SignedDuration::from_hours(2)).to_string(),
    });
    let (status, created, _) = app.call("POST", "/api/v1/group-buys", &app.key, Some(activity)).await;
    assert_eq!(status, 201, "{created}");
    let bad = json!({"name": "x", "sku": "s", "title": "t", "price_fen": 1, "group_size": 1,
        "starts_at": now.to_string(), "ends_at": now.to_string()});
    let (status, problem, _) = app.call("POST", "/api/v1/group-buys", &app.key, Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<_> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("group_size"), json!("ends_at")]);

    let (leader, friend, late) = (token(&app, "gb-1").await, token(&app, "gb-2").await, token(&app, "gb-3").await);
    let (status, group, _) =
        app.call("POST", &format!("/c/v1/group-buys/{}/groups", created["id"]), &leader, None).await;
    assert_eq!((status, group["status"].as_str(), group["places_left"].as_i64()), (201, Some("open"), Some(1)));
    let join = group["join_path"].as_str().unwrap().to_string();
    let (status, problem, _) = app.call("POST", &join, &leader, None).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/already-in-group")));
    let (status, shown, _) = app.call("GET", &format!("/c/v1/groups/{}", group["id"]), &friend, None).await;
    assert_eq!((status, shown["joined"].as_bool()), (200, Some(false)), "{shown}");
    let (status, done, _) = app.call("POST", &join, &friend, None).await;
    assert_eq!((status, done["status"].as_str(), done["members"].as_i64()), (201, Some("complete"), Some(2)));
    let (status, problem, _) = app.call("POST", &join, &late, None).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/group-full")));
    let (status, mine, _) = app.call("GET", &format!("/c/v1/group-buys/{}", created["id"]), &friend, None).await;
    assert_eq!((status, mine["groups"][0]["status"].as_str()), (200, Some("complete")), "{mine}");
    let (status, problem, _) = app.call("POST", "/c/v1/groups/999999/join", &late, None).await;
    assert_eq!(status, 404, "{problem}");
    let (_, watched, _) = app.call("GET", &format!("/api/v1/group-buys/{}", created["id"]), &app.key, None).await;
    assert_eq!((watched["complete_groups"].as_i64(), watched["confirmed"].as_i64()), (Some(1), Some(2)), "{watched}");
}

async fn a_quiz_is_answered_over_http_once_and_in_time(app: TestApp) {
    let now = app.services.now();
    let quiz = json!({
        "name": "茶知识", "starts_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
        "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string(), "pass_score": 1,
        "questions": [{"text": "乌龙茶属于？", "options": ["绿茶", "青茶", "红茶"], "answer": 1}],
    });
    let (status, created, _) = app.call("POST", "/api/v1/quizzes", &app.key, Some(quiz)).await;
    assert_eq!(status, 201, "{created}");
    let bad = json!({"name": "q", "starts_at": now.to_string(), "ends_at": now.to_string(),
        "questions": [{"text": "?", "options": ["a", "b"], "answer": 2}]});
    let (status, problem, _) = app.call("POST", "/api/v1/quizzes", &app.key, Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<_> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("ends_at"), json!("questions[0].answer")]);

    let player = token(&app, "qz-1").await;
    let base = format!("/c/v1/quizzes/{}", created["id"]);
    let (status, attempt, _) = app.call("POST", &format!("{base}/attempts"), &player, None).await;
    assert_eq!(status, 201, "{attempt}");
    assert!(attempt["questions"][0].get("answer").is_none(), "the answer is never sent: {attempt}");
    let submit = format!("/c/v1/quiz-attempts/{}/answers", attempt["id"]);
    let (status, problem, _) = app.call("POST", &submit, &player, Some(json!({"answers": [7]}))).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("answers[0]")), "{problem}");
    let (status, result, _) = app.call("POST", &submit, &player, Some(json!({"answers": [1]}))).await;
    assert_eq!((status, result["score"].as_i64(), result["passed"].as_bool()), (201, Some(1), Some(true)));
    let (status, problem, _) = app.call("POST", &submit, &player, Some(json!({"answers": [1]}))).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/already-submitted")));
    let (status, problem, _) = app.call("POST", &format!("{base}/attempts"), &player, None).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("https://siyu.dev/problems/no-attempts-left")));
    let (_, board, _) = app.call("GET", &format!("{base}/leaderboard"), &player, None).await;
    assert_eq!((board["items"][0]["you"].as_bool(), board["items"][0].get("customer_id")), (Some(true), None));
    let (_, watched, _) = app.call("GET", &format!("/api/v1/quizzes/{}", created["id"]), &app.key, None).await;
    assert_eq!((watched["participants"].as_i64(), watched["passed"].as_i64()), (Some(1), Some(1)), "{watched}");
}
