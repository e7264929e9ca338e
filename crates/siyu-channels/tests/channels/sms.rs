//! The SMS channel against local gateways that answer as the published APIs do: a double of
//! Yunpian's single send (a form with `apikey`, `mobile`, `text` beginning with 【signature】 and
//! `uid`; `{"code": 0, "msg": "发送成功", "count": 1, "fee": 0.05, "unit": "RMB", "mobile": …, "sid": …}`,
//! an HTTP 400 with a code for a bad request), and a JSON gateway with bearer auth and template
//! parameters whose answer nests its status (`Response.SendStatusSet.0.Code`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Form, Json};
use secrecy::SecretString;
use serde_json::{Value, json};
use siyu_channels::sms::{AnswerFields, BodyFormat, PhoneFormat, Sms, SmsAuth, SmsConfig, default_template};
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_KEY: &str = "9b11127a9701975c734b8aee81ee3526";

#[derive(Default)]
struct Gateway {
    received: Mutex<Vec<Value>>,
    /// Answers with this status (and no JSON) when set.
    failing: Mutex<Option<StatusCode>>,
}

async fn single_send(
    State(gateway): State<Arc<Gateway>>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if let Some(status) = *gateway.failing.lock().unwrap() {
        return (status, Json(json!({})));
    }
    let refuse = |code: i64, msg: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"http_status_code": 400, "code": code, "msg": msg, "detail": msg})))
    };
    if form.get("apikey").map(String::as_str) != Some(API_KEY) {
        return refuse(-1, "非法的apikey");
    }
    let mobile = form.get("mobile").cloned().unwrap_or_default();
    if mobile.len() != 11 || !mobile.bytes().all(|b| b.is_ascii_digit()) {
        return refuse(2, "请求参数格式错误");
    }
    if !form.get("text").is_some_and(|t| t.starts_with("【思语】")) {
        return refuse(5, "未找到匹配的模板");
    }
    gateway.received.lock().unwrap().push(json!(form));
    let sid = gateway.received.lock().unwrap().len();
    (
        StatusCode::OK,
        Json(
            json!({"code": 0, "msg": "发送成功", "count": 1, "fee": 0.05, "unit": "RMB", "mobile": mobile, "sid": sid}),
        ),
    )
}

async fn template_send(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let status = |code: &str, message: &str| {
        Json(
            json!({"Response": {"SendStatusSet": [{"SerialNo": "2433:1", "Code": code, "Message": message}], "RequestId": "r-1"}}),
        )
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {API_KEY}")) {
        return status("AuthFailure.SecretIdNotFound", "the key is unknown");
    }
    let seen = gateway.received.lock().unwrap().len();
    gateway.received.lock().unwrap().push(body);
    if seen == 0 {
        return status("LimitExceeded.PhoneNumberThirtySecondLimit", "one message a number per 30 s");
    }
    status("Ok", "send success")
}

async fn gateway() -> (Arc<Gateway>, String) {
    let gateway = Arc::new(Gateway::default());
    let router = axum::Router::new()
        .route("/v2/sms/single_send.json", axum::routing::post(single_send))
        .route("/sms/send", axum::routing::post(template_send))
        .with_state(gateway.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (gateway, base)
}

fn message(to: &str, body: &str) -> OutgoingMessage {
    crate::outgoing("journey:3:v1:remind:42", 42, to, body)
}

fn yunpian(base: &str, key: &str) -> Sms {
    Sms::new(SmsConfig {
        url: format!("{base}/v2/sms/single_send.json").parse().unwrap(),
        format: BodyFormat::Form,
        template: default_template(),
        sign_name: "思语".into(),
        template_code: None,
        api_key: Some(SecretString::from(key)),
        auth: SmsAuth::None,
        phone_format: PhoneFormat::National,
        answer: AnswerFields::default(),
        timeout: Duration::from_secs(5),
        allow_private_addresses: true,
    })
    .unwrap()
}

#[tokio::test]
async fn the_default_shape_is_yunpians_single_send() {
    let (gateway, base) = gateway().await;
    let channel = yunpian(&base, API_KEY);
    let sent = channel.send(&message("+8613812341234", "您的积分将于月底过期，回T退订")).await;
    assert_eq!(sent, Delivery::Accepted { provider_id: Some("1".into()) });
    let received = gateway.received.lock().unwrap()[0].clone();
    assert_eq!(
        received,
        json!({"apikey": API_KEY, "mobile": "13812341234", "text": "【思语】您的积分将于月底过期，回T退订", "uid": "journey:3:v1:remind:42"})
    );

    // The gateway's refusals name its code; a wrong key is for good, never retried.
    let wrong = yunpian(&base, "not-the-key").send(&message("+8613812341234", "x")).await;
    assert!(
        matches!(&wrong, Delivery::Rejected { reason } if reason.contains("400") && reason.contains("非法的apikey")),
        "{wrong:?}"
    );
    assert!(!format!("{wrong:?}").contains(API_KEY));
    // A foreign number the domestic gateway cannot take.
    let foreign = channel.send(&message("+14155550100", "x")).await;
    assert!(matches!(&foreign, Delivery::Rejected { reason } if reason.contains("请求参数格式错误")), "{foreign:?}");
    // An SMS longer than the length rule is refused before any request.
    assert!(matches!(channel.send(&message("+8613812341234", &"长".repeat(600))).await, Delivery::Rejected { .. }));
    assert_eq!(gateway.received.lock().unwrap().len(), 1);

    // A gateway in trouble is tried again later.
    *gateway.failing.lock().unwrap() = Some(StatusCode::SERVICE_UNAVAILABLE);
    assert!(matches!(channel.send(&message("+8613812341234", "x")).await, Delivery::Retry { .. }));
}

#[tokio::test]
async fn a_template_gateway_gets_its_registered_template_and_parameters() {
    let (gateway, base) = gateway().await;
    let template = json!({
        "PhoneNumberSet": ["{phone}"], "SmsSdkAppId": "1400006666", "SignName": "{sign_name}",
        "TemplateId": "{template_code}", "TemplateParamSet": "{param_values}", "SessionContext": "{key}",
    });
    let channel = Sms::new(SmsConfig {
        url: format!("{base}/sms/send").parse().unwrap(),
        format: BodyFormat::Json,
        template: template.as_object().unwrap().clone(),
        sign_name: "思语".into(),
        template_code: Some("449739".into()),
        api_key: Some(SecretString::from(API_KEY)),
        auth: SmsAuth::Bearer,
        phone_format: PhoneFormat::E164,
        answer: AnswerFields {
            code: "Response.SendStatusSet.0.Code".into(),
            ok: vec!["Ok".into()],
            retry: vec!["LimitExceeded.PhoneNumberThirtySecondLimit".into()],
            message: "Response.SendStatusSet.0.Message".into(),
            id: "Response.SendStatusSet.0.SerialNo".into(),
        },
        timeout: Duration::from_secs(5),
        allow_private_addresses: true,
    })
    .unwrap();
    let mut reminder = message("+8613812341234", "{1}，您的券{2}即将过期");
    reminder.params = [("1".to_string(), "张三".to_string()), ("2".to_string(), "满100减20".to_string())].into();
    let first = channel.send(&reminder).await;
    assert!(matches!(&first, Delivery::Retry { reason, .. } if reason.contains("ThirtySecondLimit")), "{first:?}");
    assert_eq!(channel.send(&reminder).await, Delivery::Accepted { provider_id: Some("2433:1".into()) });
    let received = gateway.received.lock().unwrap().clone();
    assert_eq!(received[0], received[1], "the same request each attempt");
    assert_eq!(
        received[1],
        json!({"PhoneNumberSet": ["+8613812341234"], "SmsSdkAppId": "1400006666", "SignName": "思语",
            "TemplateId": "449739", "TemplateParamSet": ["张三", "满100减20"], "SessionContext": "journey:3:v1:remind:42"})
    );
}
