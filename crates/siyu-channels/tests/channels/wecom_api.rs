//! WeCom's API client against a local double of `qyapi.weixin.qq.com`: `gettoken` answers as WeCom
//! documents (a token good for 7,200 s; errcode 40001 for a wrong secret), and an API call answers
//! 42001 for a token the double has expired, 45009 when told to, 0 otherwise.

use axum::Json;
use axum::extract::{Query, State};
use secrecy::SecretString;
use serde_json::{Value, json};
use siyu_channels::tencent_api::{ApiConfig, ApiError, Platform, TencentApi};
use siyu_channels::wecom_api::{WeComAppMessage, WeComGroupSend};
use siyu_core::clock::ManualClock;
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CORP: &str = "ww-corp-1";
const SECRET: &str = "app-secret-1";

#[derive(Default)]
struct Double {
    /// Tokens handed out, in order; the valid one is the last unless expired.
    issued: Mutex<Vec<String>>,
    expired: Mutex<bool>,
    limited: Mutex<bool>,
    calls: Mutex<Vec<Value>>,
}

async fn gettoken(State(double): State<Arc<Double>>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    if query.get("corpid").map(String::as_str) != Some(CORP) {
        return Json(json!({"errcode": 40013, "errmsg": "invalid corpid"}));
    }
    if query.get("corpsecret").map(String::as_str) != Some(SECRET) {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let mut issued = double.issued.lock().unwrap();
    let token = format!("token-{}", issued.len() + 1);
    issued.push(token.clone());
    *double.expired.lock().unwrap() = false;
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}))
}

async fn add_msg_template(
    State(double): State<Arc<Double>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let current = double.issued.lock().unwrap().last().cloned();
    if query.get("access_token") != current.as_ref() || *double.expired.lock().unwrap() {
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    if *double.limited.lock().unwrap() {
        return Json(json!({"errcode": 45009, "errmsg": "api freq out of limit"}));
    }
    // The double's staff member `zhangsan` has one customer, wm-1; others land in fail_list.
    let fail_list: Vec<Value> = body["external_userid"]
        .as_array()
        .map(|ids| ids.iter().filter(|id| body["sender"] != "zhangsan" || **id != "wm-1").cloned().collect())
        .unwrap_or_default();
    double.calls.lock().unwrap().push(body);
    Json(json!({"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": "msg-1"}))
}

/// WeCom's `message/send`: the corp's staff are `zhangsan` and `lisi`; others come back in
/// `invaliduser`.
async fn message_send(
    State(double): State<Arc<Double>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let current = double.issued.lock().unwrap().last().cloned();
    if query.get("access_token") != current.as_ref() {
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    if body["agentid"] != 1000002 {
        return Json(json!({"errcode": 40056, "errmsg": "invalid agentid"}));
    }
    let invalid: Vec<&str> = body["touser"]
        .as_str()
        .unwrap_or_default()
        .split('|')
        .filter(|user| !["zhangsan", "lisi"].contains(user))
        .collect();
    double.calls.lock().unwrap().push(body.clone());
    Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": invalid.join("|"), "msgid": "app-msg-1"}))
}

async fn double() -> (Arc<Double>, String) {
    let double = Arc::new(Double::default());
    let router = axum::Router::new()
        .route("/cgi-bin/gettoken", axum::routing::get(gettoken))
        .route("/cgi-bin/externalcontact/add_msg_template", axum::routing::post(add_msg_template))
        .route("/cgi-bin/message/send", axum::routing::post(message_send))
        .with_state(double.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (double, base)
}

fn api(base: &str, secret: &str, clock: &Arc<ManualClock>) -> TencentApi {
    let config = ApiConfig {
        platform: Platform::WeCom,
        base_url: base.parse().unwrap(),
        app_id: CORP.into(),
        secret: SecretString::from(secret),
        timeout: Duration::from_secs(5),
        allow_private_addresses: true,
    };
    TencentApi::new(config, clock.clone()).unwrap()
}

const PATH: &str = "/cgi-bin/externalcontact/add_msg_template";

#[tokio::test]
async fn the_token_is_kept_refreshed_when_refused_and_before_it_expires() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let (double, base) = double().await;
    let api = api(&base, SECRET, &clock);
    let body = json!({"chat_type": "single", "external_userid": ["wm-1"], "sender": "zhangsan", "text": {"content": "新品上市"}});
    assert_eq!(api.post(PATH, &body).await.unwrap()["msgid"], "msg-1");
    assert_eq!(api.post(PATH, &body).await.unwrap()["msgid"], "msg-1");
    assert_eq!(double.issued.lock().unwrap().len(), 1, "the token is kept between calls");

    // WeCom expired it early: refused with 42001, fetched again, the call made once more.
    *double.expired.lock().unwrap() = true;
    assert!(api.post(PATH, &body).await.is_ok());
    assert_eq!(*double.issued.lock().unwrap(), ["token-1", "token-2"]);

    // Shortly before its 7,200 s are over, a fresh one is fetched first.
    clock.advance(jiff::SignedDuration::from_secs(7200 - 299));
    assert!(api.post(PATH, &body).await.is_ok());
    assert_eq!(double.issued.lock().unwrap().len(), 3);
    assert_eq!(double.calls.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn failures_name_wecoms_code_and_what_it_means_for_a_send() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let (double, base) = double().await;
    let wrong = api(&base, "not-the-secret", &clock);
    let error = wrong.post(PATH, &json!({})).await.unwrap_err();
    assert_eq!(error, ApiError::Code { platform: Platform::WeCom, code: 40001, message: "invalid credential".into() });
    assert_eq!(error.delivery(), Delivery::Rejected { reason: "WeCom errcode 40001: invalid credential".into() });

    let api = api(&base, SECRET, &clock);
    *double.limited.lock().unwrap() = true;
    let limited = api.post(PATH, &json!({})).await.unwrap_err();
    assert!(matches!(limited.delivery(), Delivery::Retry { reason, .. } if reason.contains("45009")));
    assert!(double.calls.lock().unwrap().is_empty());
    assert!(!format!("{api:?}").contains(SECRET));
}

fn to(contact: &str, body: &str) -> OutgoingMessage {
    crate::outgoing("launch:v1:send:3", 3, contact, body)
}

#[tokio::test]
async fn a_group_send_reaches_the_senders_contact_and_names_whom_it_cannot() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let (double, base) = double().await;
    let channel = WeComGroupSend::new(Arc::new(api(&base, SECRET, &clock)), "zhangsan");
    assert_eq!(channel.send(&to("wm-1", "新品上市")).await, Delivery::Accepted { provider_id: Some("msg-1".into()) });
    let sent = double.calls.lock().unwrap()[0].clone();
    assert_eq!(
        sent,
        json!({"chat_type": "single", "external_userid": ["wm-1"], "sender": "zhangsan", "text": {"content": "新品上市"}})
    );
    assert_eq!(
        channel.send(&to("wm-2", "新品上市")).await,
        Delivery::Rejected { reason: "wm-2 is not a contact of zhangsan (fail_list)".into() }
    );
    // Too long for WeCom, or to nobody: never sent.
    assert!(
        matches!(channel.send(&to("wm-1", &"会".repeat(700))).await, Delivery::Rejected { reason } if reason.contains("2100 bytes"))
    );
    assert!(matches!(channel.send(&to("", "hi")).await, Delivery::Rejected { .. }));
    assert_eq!(double.calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_application_message_reaches_staff_and_names_whom_wecom_does_not_know() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let (double, base) = double().await;
    let app = WeComAppMessage::new(Arc::new(api(&base, SECRET, &clock)), 1000002, Some("zhangsan|lisi".into()));
    let mut task = to("", "回访新客：王小明");
    task.subject = Some("跟进任务".into());
    assert_eq!(app.send(&task).await, Delivery::Accepted { provider_id: Some("app-msg-1".into()) });
    assert_eq!(
        double.calls.lock().unwrap()[0],
        json!({"touser": "zhangsan|lisi", "msgtype": "text", "agentid": 1000002, "text": {"content": "跟进任务\n回访新客：王小明"},
            "enable_duplicate_check": 1, "duplicate_check_interval": 1800})
    );
    // A message naming staff goes to them; staff WeCom does not know are refused with its list.
    assert!(matches!(app.send(&to("lisi|wangwu", "x")).await, Delivery::Accepted { .. }));
    let refused = app.send(&to("wangwu", "x")).await;
    assert!(matches!(&refused, Delivery::Rejected { reason } if reason.contains("wangwu")), "{refused:?}");
    let nobody = WeComAppMessage::new(Arc::new(api(&base, SECRET, &clock)), 1000002, None);
    assert!(matches!(nobody.send(&to("", "x")).await, Delivery::Rejected { .. }));
}
