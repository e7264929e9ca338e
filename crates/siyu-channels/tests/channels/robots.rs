//! The group robot adapters against local doubles of DingTalk's and Feishu's robot endpoints,
//! which check the access token and the signature as the published schemes define them (computed
//! here independently of the adapter), allow a timestamp an hour off at most, and answer with the
//! published codes and messages.

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use siyu_channels::robots::{Robot, RobotConfig, RobotKind};
use siyu_core::clock::{Clock, ManualClock};
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "robot-token-1";
const SECRET: &str = "SEC0123456789abcdef";

/// A robot double: its clock, whether it says "too fast", and the texts it posted.
struct Double {
    clock: Arc<ManualClock>,
    too_fast: Mutex<bool>,
    posted: Mutex<Vec<String>>,
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn dingtalk(
    State(double): State<Arc<Double>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if query.get("access_token").map(String::as_str) != Some(TOKEN) {
        return Json(json!({"errcode": 300001, "errmsg": "token is not exist"}));
    }
    let (Some(timestamp), Some(sign)) = (query.get("timestamp"), query.get("sign")) else {
        return Json(json!({"errcode": 310000, "errmsg": "sign not match"}));
    };
    let now_ms = double.clock.now().as_millisecond();
    let fresh = timestamp.parse::<i64>().is_ok_and(|t| (now_ms - t).abs() <= 3_600_000);
    let expected = hmac_base64(SECRET.as_bytes(), format!("{timestamp}\n{SECRET}").as_bytes());
    if !fresh || *sign != expected {
        return Json(
            json!({"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}),
        );
    }
    if *double.too_fast.lock().unwrap() {
        return Json(json!({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}));
    }
    assert_eq!(body["msgtype"], "text");
    double.posted.lock().unwrap().push(body["text"]["content"].as_str().unwrap().to_string());
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn feishu(State(double): State<Arc<Double>>, Path(token): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    if token != TOKEN {
        return Json(json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}}));
    }
    let timestamp = body["timestamp"].as_str().unwrap_or_default();
    let now = double.clock.now().as_second();
    let fresh = timestamp.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 3_600);
    let expected = hmac_base64(format!("{timestamp}\n{SECRET}").as_bytes(), b"");
    if !fresh || body["sign"].as_str() != Some(expected.as_str()) {
        return Json(
            json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time", "data": {}}),
        );
    }
    if *double.too_fast.lock().unwrap() {
        return Json(
            json!({"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]", "data": {}}),
        );
    }
    assert_eq!(body["msg_type"], "text");
    double.posted.lock().unwrap().push(body["content"]["text"].as_str().unwrap().to_string());
    Json(json!({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}))
}

/// Starts both doubles; returns them and the base URL.
async fn doubles(clock: &Arc<ManualClock>) -> (Arc<Double>, String) {
    let double = Arc::new(Double { clock: clock.clone(), too_fast: Mutex::new(false), posted: Mutex::new(Vec::new()) });
    let router = axum::Router::new()
        .route("/robot/send", axum::routing::post(dingtalk))
        .route("/open-apis/bot/v2/hook/{token}", axum::routing::post(feishu))
        .with_state(double.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (double, base)
}

fn robot(kind: RobotKind, url: &str, secret: &str, clock: &Arc<ManualClock>) -> Robot {
    let config = RobotConfig {
        kind,
        url: url.parse().unwrap(),
        secret: Some(SecretString::from(secret)),
        timeout: Duration::from_secs(5),
        allow_private_addresses: true,
    };
    Robot::new(config, clock.clone()).unwrap()
}

fn notice() -> OutgoingMessage {
    OutgoingMessage {
        idempotency_key: "task:42".into(),
        workspace: siyu_core::WorkspaceId(1),
        customer: None,
        to: String::new(),
        subject: Some("跟进任务".into()),
        body: "客户 42 的生日券发送失败，请人工跟进".into(),
        data: json!({}),
        template: None,
        params: Default::default(),
        html: None,
        unsubscribe_url: None,
    }
}

#[tokio::test]
async fn signed_robot_messages_are_posted_and_the_published_codes_are_told_apart() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let (double, base) = doubles(&clock).await;
    let cases = [
        (
            RobotKind::DingTalk,
            format!("{base}/robot/send?access_token={TOKEN}"),
            format!("{base}/robot/send?access_token=wrong"),
            "DingTalk code 310000",
            "DingTalk code 130101",
            "DingTalk code 300001",
        ),
        (
            RobotKind::Feishu,
            format!("{base}/open-apis/bot/v2/hook/{TOKEN}"),
            format!("{base}/open-apis/bot/v2/hook/wrong"),
            "Feishu code 19021",
            "Feishu code 11232",
            "Feishu code 19001",
        ),
    ];
    for (kind, url, wrong_url, bad_sign, too_fast, bad_token) in cases {
        let good = robot(kind, &url, SECRET, &clock);
        assert_eq!(good.send(&notice()).await, Delivery::Accepted { provider_id: None }, "{kind:?}");
        assert_eq!(double.posted.lock().unwrap().pop().unwrap(), "跟进任务\n客户 42 的生日券发送失败，请人工跟进");

        let wrong_secret = robot(kind, &url, "SECnot-the-secret", &clock);
        assert!(
            matches!(wrong_secret.send(&notice()).await, Delivery::Rejected { reason } if reason.starts_with(bad_sign))
        );
        let wrong_token = robot(kind, &wrong_url, SECRET, &clock);
        assert!(
            matches!(wrong_token.send(&notice()).await, Delivery::Rejected { reason } if reason.starts_with(bad_token))
        );

        // A signature made two hours from the robot's clock is refused as stale.
        let later = Arc::new(ManualClock::new(clock.now() + jiff::SignedDuration::from_hours(2)));
        let stale = robot(kind, &url, SECRET, &later);
        assert!(matches!(stale.send(&notice()).await, Delivery::Rejected { reason } if reason.starts_with(bad_sign)));

        *double.too_fast.lock().unwrap() = true;
        match good.send(&notice()).await {
            Delivery::Retry { reason, after } => {
                assert!(reason.starts_with(too_fast), "{reason}");
                assert_eq!(after, Some(Duration::from_secs(60)));
            }
            other => panic!("{other:?}"),
        }
        *double.too_fast.lock().unwrap() = false;
        assert!(double.posted.lock().unwrap().is_empty(), "only accepted messages were posted");
    }
}
