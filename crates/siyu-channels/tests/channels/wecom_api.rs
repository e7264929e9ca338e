//! WeCom's API client against a local double of `qyapi.weixin.qq.com`: `gettoken` answers as WeCom
//! documents (a token good for 7,200 s; errcode 40001 for a wrong secret), and an API call answers
//! 42001 for a token the double has expired, 45009 when told to, 0 otherwise.

use axum::Json;
use axum::extract::{Query, State};
use secrecy::SecretString;
use serde_json::{Value, json};
use siyu_channels::wecom_api::{ApiError, WeComApi, WeComApiConfig};
use siyu_core::clock::ManualClock;
use siyu_domain::channels::Delivery;
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
    double.calls.lock().unwrap().push(body);
    Json(json!({"errcode": 0, "errmsg": "ok", "fail_list": [], "msgid": "msg-1"}))
}

async fn double() -> (Arc<Double>, String) {
    let double = Arc::new(Double::default());
    let router = axum::Router::new()
        .route("/cgi-bin/gettoken", axum::routing::get(gettoken))
        .route("/cgi-bin/externalcontact/add_msg_template", axum::routing::post(add_msg_template))
        .with_state(double.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (double, base)
}

fn api(base: &str, secret: &str, clock: &Arc<ManualClock>) -> WeComApi {
    let config = WeComApiConfig {
        base_url: base.parse().unwrap(),
        corp_id: CORP.into(),
        secret: SecretString::from(secret),
        timeout: Duration::from_secs(5),
        allow_private_addresses: true,
    };
    WeComApi::new(config, clock.clone()).unwrap()
}

const PATH: &str = "/cgi-bin/externalcontact/add_msg_template";

#[tokio::test]
async fn the_token_is_kept_refreshed_when_refused_and_before_it_expires() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let (double, base) = double().await;
    let api = api(&base, SECRET, &clock);
    let body = json!({"chat_type": "single", "external_userid": ["wm-1"], "text": {"content": "新品上市"}});
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
    assert_eq!(error, ApiError::Code { code: 40001, message: "invalid credential".into() });
    assert_eq!(error.delivery(), Delivery::Rejected { reason: "WeCom errcode 40001: invalid credential".into() });

    let api = api(&base, SECRET, &clock);
    *double.limited.lock().unwrap() = true;
    let limited = api.post(PATH, &json!({})).await.unwrap_err();
    assert!(matches!(limited.delivery(), Delivery::Retry { reason, .. } if reason.contains("45009")));
    assert!(double.calls.lock().unwrap().is_empty());
    assert!(!format!("{api:?}").contains(SECRET));
}
