//! WeChat service notifications against a local double of `api.weixin.qq.com` that answers as
//! WeChat documents: `GET /cgi-bin/token?grant_type=client_credential&appid=&secret=` (40013 for an
//! unknown app id, 40125 for a wrong secret), template messages only to followers (43004 otherwise),
//! subscribe messages only while the user has a subscription left (43101 otherwise), 45011 when
//! told to (a minute's quota), 40001 for a token the double has expired.

use axum::Json;
use axum::extract::{Query, State};
use secrecy::SecretString;
use serde_json::{Value, json};
use siyu_channels::tencent_api::{ApiConfig, Platform, TencentApi};
use siyu_channels::wechat::{Notification, WeChatNotify};
use siyu_core::clock::ManualClock;
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP: &str = "wx5823bf96d3bd56c7";
const SECRET: &str = "app-secret-wechat";

#[derive(Default)]
struct Double {
    tokens: Mutex<Vec<String>>,
    expired: Mutex<bool>,
    limited: Mutex<bool>,
    /// Subscriptions left per openid.
    grants: Mutex<HashMap<String, u32>>,
    sent: Mutex<Vec<(String, Value)>>,
}

async fn token(State(double): State<Arc<Double>>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    if query.get("grant_type").map(String::as_str) != Some("client_credential") {
        return Json(json!({"errcode": 40002, "errmsg": "invalid grant_type"}));
    }
    if query.get("appid").map(String::as_str) != Some(APP) {
        return Json(json!({"errcode": 40013, "errmsg": "invalid appid"}));
    }
    if query.get("secret").map(String::as_str) != Some(SECRET) {
        return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    let mut tokens = double.tokens.lock().unwrap();
    let token = format!("wx-token-{}", tokens.len() + 1);
    tokens.push(token.clone());
    *double.expired.lock().unwrap() = false;
    Json(json!({"access_token": token, "expires_in": 7200}))
}

fn checked(double: &Double, query: &HashMap<String, String>) -> Option<Json<Value>> {
    let current = double.tokens.lock().unwrap().last().cloned();
    if query.get("access_token") != current.as_ref() || *double.expired.lock().unwrap() {
        return Some(Json(
            json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}),
        ));
    }
    if *double.limited.lock().unwrap() {
        return Some(Json(json!({"errcode": 45011, "errmsg": "api minute-quota reach limit"})));
    }
    None
}

async fn template_send(
    State(double): State<Arc<Double>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if let Some(refused) = checked(&double, &query) {
        return refused;
    }
    if body["touser"] != "o-follower" {
        return Json(json!({"errcode": 43004, "errmsg": "require subscribe"}));
    }
    double.sent.lock().unwrap().push(("template".into(), body));
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 200228332}))
}

async fn subscribe_send(
    State(double): State<Arc<Double>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if let Some(refused) = checked(&double, &query) {
        return refused;
    }
    let user = body["touser"].as_str().unwrap_or_default().to_string();
    let mut grants = double.grants.lock().unwrap();
    match grants.get_mut(&user) {
        Some(left) if *left > 0 => *left -= 1,
        _ => return Json(json!({"errcode": 43101, "errmsg": "user refuse to accept the msg"})),
    }
    double.sent.lock().unwrap().push(("subscribe".into(), body));
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 3_000_000_001_u64}))
}

async fn double() -> (Arc<Double>, String) {
    let double = Arc::new(Double::default());
    let router = axum::Router::new()
        .route("/cgi-bin/token", axum::routing::get(token))
        .route("/cgi-bin/message/template/send", axum::routing::post(template_send))
        .route("/cgi-bin/message/subscribe/send", axum::routing::post(subscribe_send))
        .with_state(double.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (double, base)
}

fn api(base: &str, secret: &str) -> Arc<TencentApi> {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let config = ApiConfig {
        platform: Platform::WeChat,
        base_url: base.parse().unwrap(),
        app_id: APP.into(),
        secret: SecretString::from(secret),
        timeout: Duration::from_secs(5),
        allow_private_addresses: true,
    };
    Arc::new(TencentApi::new(config, clock).unwrap())
}

fn notice(to: &str, params: &[(&str, &str)]) -> OutgoingMessage {
    let mut message = crate::outgoing("journey:9:v1:notify:77", 77, to, "订单已发货");
    message.params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    message
}

#[tokio::test]
async fn a_template_message_reaches_a_follower_with_its_fields_and_key() {
    let (double, base) = double().await;
    let notification =
        Notification::Template { url: Some("https://brand.example/orders/1001".into()), miniprogram: None };
    let channel = WeChatNotify::new(api(&base, SECRET), notification, Some("tpl-shipped".into()));
    let fields = [("first", "您的订单已发货"), ("keyword1", "1001"), ("remark", "点击查看物流")];
    assert_eq!(
        channel.send(&notice("o-follower", &fields)).await,
        Delivery::Accepted { provider_id: Some("200228332".into()) }
    );
    let (kind, body) = double.sent.lock().unwrap()[0].clone();
    assert_eq!(kind, "template");
    assert_eq!(
        body,
        json!({"touser": "o-follower", "template_id": "tpl-shipped", "client_msg_id": "journey:9:v1:notify:77",
            "url": "https://brand.example/orders/1001",
            "data": {"first": {"value": "您的订单已发货"}, "keyword1": {"value": "1001"}, "remark": {"value": "点击查看物流"}}})
    );
    // Not a follower: refused with WeChat's reason. No fields: refused before any call.
    let refused = channel.send(&notice("o-stranger", &fields)).await;
    assert_eq!(refused, Delivery::Rejected { reason: "WeChat errcode 43004: require subscribe".into() });
    assert!(
        matches!(channel.send(&notice("o-follower", &[])).await, Delivery::Rejected { reason } if reason.contains("params"))
    );
    // The token WeChat expired is fetched again and the call repeated once.
    *double.expired.lock().unwrap() = true;
    assert!(matches!(channel.send(&notice("o-follower", &fields)).await, Delivery::Accepted { .. }));
    assert_eq!(double.tokens.lock().unwrap().len(), 2);
    // A minute's quota reached: tried again later.
    *double.limited.lock().unwrap() = true;
    assert!(
        matches!(channel.send(&notice("o-follower", &fields)).await, Delivery::Retry { reason, .. } if reason.contains("45011"))
    );
}

#[tokio::test]
async fn a_subscribe_message_spends_the_users_grant_and_is_refused_without_one() {
    let (double, base) = double().await;
    double.grants.lock().unwrap().insert("o-mini".into(), 1);
    let notification =
        Notification::Subscribe { page: Some("pages/order/detail?id=1001".into()), state: "formal".into() };
    let channel = WeChatNotify::new(api(&base, SECRET), notification, None);
    let mut message = notice("o-mini", &[("thing1", "连衣裙"), ("character_string2", "1001")]);
    message.template = Some("tpl-arrival".into());
    assert_eq!(channel.send(&message).await, Delivery::Accepted { provider_id: Some("3000000001".into()) });
    assert_eq!(
        double.sent.lock().unwrap()[0].1,
        json!({"touser": "o-mini", "template_id": "tpl-arrival", "page": "pages/order/detail?id=1001",
            "miniprogram_state": "formal", "lang": "zh_CN",
            "data": {"thing1": {"value": "连衣裙"}, "character_string2": {"value": "1001"}}})
    );
    // The one grant is spent: the next is refused for good, with WeChat's reason.
    let again = channel.send(&message).await;
    assert_eq!(again, Delivery::Rejected { reason: "WeChat errcode 43101: user refuse to accept the msg".into() });
    // Without a template anywhere: refused before any call.
    message.template = None;
    assert!(matches!(channel.send(&message).await, Delivery::Rejected { reason } if reason.contains("template")));
    // A wrong secret is named and never retried.
    let wrong = WeChatNotify::new(
        api(&base, "wrong"),
        Notification::Subscribe { page: None, state: "formal".into() },
        Some("t".into()),
    );
    let refused = wrong.send(&notice("o-mini", &[("thing1", "x")])).await;
    assert_eq!(refused, Delivery::Rejected { reason: "WeChat errcode 40125: invalid appsecret".into() });
}
