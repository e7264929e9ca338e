//! Providers' delivery receipts over HTTP, made as the providers make them: a WeChat official
//! account's URL check (`signature` over token, timestamp and nonce) and its template receipt
//! (`TEMPLATESENDJOBFINISH`, encrypted in safe mode with the channel's token and EncodingAESKey,
//! the receive id the app id), a mini-program's subscribe messages' results (`subscribe_msg_sent_event`,
//! a list), and an SMS gateway's report (Aliyun's `SmsReport` array, posted to
//! the URL holding the channel's report token). A receipt turns a sent message delivered or
//! undelivered once, recording the event; a repeat, a forged receipt or a wrong token changes
//! nothing; a receipt naming no message (yet) is answered with a conflict so that it comes again.

use crate::{Backend, TestApp, spawn_app_with};
use axum::Json;
use serde_json::{Value, json};
use siyu_channels::wecom::CallbackCrypto;

const APP_ID: &str = "wx-receipts-e2e";
const TOKEN: &str = "mpToken9";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const REPORT_TOKEN: &str = "rt-0123456789abcdef";
const MINI_APP_ID: &str = "wx-mini-receipts-e2e";

/// WeChat's API and an SMS gateway in one double: a token, a template message answered with its
/// msgid, an SMS answered with its BizId.
async fn providers() -> String {
    let router = axum::Router::new()
        .route(
            "/cgi-bin/token",
            axum::routing::get(|| async { Json(json!({"access_token": "t-1", "expires_in": 7200})) }),
        )
        .route(
            "/cgi-bin/message/template/send",
            axum::routing::post(|| async { Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 200228332})) }),
        )
        .route(
            "/cgi-bin/message/subscribe/send",
            axum::routing::post(|| async {
                Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 1864323726461255680u64}))
            }),
        )
        .route("/sms", axum::routing::post(|| async { Json(json!({"Code": "OK", "BizId": "900619746936498440^0"})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn now() -> i64 {
    siyu_core::Clock::now(&siyu_core::SystemClock).as_second()
}

async fn status_of(app: &TestApp, key: &str) -> Value {
    for _ in 0..200 {
        let (_, page, _) = app.call("GET", "/api/v1/messages", &app.key, None).await;
        if let Some(message) = page["items"].as_array().unwrap().iter().find(|m| m["key"] == key)
            && message["status"] != "queued"
            && message["status"] != "sending"
        {
            return message.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("message {key} was not sent");
}

/// How many of the customer's events (in their export) are named `name`.
async fn events_of(app: &TestApp, customer: i64, name: &str) -> usize {
    let (status, export, _) = app.call("GET", &format!("/api/v1/customers/{customer}/export"), &app.key, None).await;
    assert_eq!(status, 200, "{export}");
    export.to_string().matches(&format!("\"{name}\"")).count()
}

async fn receipts_turn_sent_messages_delivered_once(app: TestApp) {
    let base = providers().await;
    let channels = [
        (
            "mp",
            json!({"kind": "wechat_mp", "settings": {"app_id": APP_ID, "template_id": "tpl-1", "base_url": base},
            "secrets": {"secret": "app-secret", "callback_token": TOKEN, "encoding_aes_key": AES_KEY}}),
        ),
        (
            "mini",
            json!({"kind": "wechat_mini", "settings": {"app_id": MINI_APP_ID, "template_id": "tpl-2", "base_url": base},
            "secrets": {"secret": "mini-secret", "callback_token": TOKEN, "encoding_aes_key": AES_KEY}}),
        ),
        (
            "sms",
            json!({"kind": "sms", "settings": {"url": format!("{base}/sms"), "format": "json", "sign_name": "思语",
            "template_code": "SMS_1", "code_field": "Code", "ok_codes": ["OK"], "id_field": "BizId", "report_format": "aliyun"},
            "secrets": {"api_key": "k", "report_token": REPORT_TOKEN}}),
        ),
    ];
    for (name, channel) in channels {
        let (status, view, _) = app.call("PUT", &format!("/api/v1/channels/{name}"), &app.key, Some(channel)).await;
        assert_eq!(status, 200, "{view}");
    }
    let identities = json!({"identities": [{"type": "wechat_openid", "value": "o-receipt"}, {"type": "phone", "value": "+8613800000077"}]});
    let (_, customer, _) = app.call("POST", "/api/v1/customers", &app.key, Some(identities)).await;
    let id = customer["id"].as_i64().unwrap();
    for (channel, key) in [("mp", "order-1"), ("sms", "order-2"), ("mini", "order-3")] {
        let message = json!({"channel": channel, "customer_id": id, "class": "transactional", "body": "您的订单已发货",
            "params": {"thing1": "您的订单已发货"}, "key": key});
        let (status, queued, _) = app.call("POST", "/api/v1/messages", &app.key, Some(message)).await;
        assert_eq!(status, 202, "{queued}");
    }
    let first = status_of(&app, "order-1").await;
    assert_eq!(first["status"], "sent", "{first}");
    assert_eq!(status_of(&app, "order-2").await["status"], "sent");

    // The official account's URL check: the plain signature, echostr answered as it is.
    let crypto = CallbackCrypto::new(TOKEN, AES_KEY, APP_ID).unwrap();
    let (ts, nonce) = (now().to_string(), "1514711492");
    let signature = crypto.plain_signature(&ts, nonce);
    let path = "/callbacks/wechat/brand/mp";
    let check = format!("{}{path}?signature={signature}&timestamp={ts}&nonce={nonce}&echostr=echo-42", app.base_url);
    let answer = app.http.get(&check).send().await.unwrap();
    assert_eq!((answer.status().as_u16(), answer.text().await.unwrap()), (200, "echo-42".to_string()));
    let forged = check.replace(&signature, "0000");
    assert_eq!(app.http.get(&forged).send().await.unwrap().status(), 401);

    // The template's receipt, encrypted as WeChat sends it in safe mode; a repeat changes nothing.
    let receipt = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[o-receipt]]></FromUserName>\
        <CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\
        <MsgID>200228332</MsgID><Status><![CDATA[success]]></Status></xml>";
    let (encrypted, msg_signature) = crypto.encrypt(receipt, &ts, nonce).unwrap();
    let url = format!(
        "{}{path}?signature={signature}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_signature}",
        app.base_url
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    for _ in 0..2 {
        let answer = app.http.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(status_of(&app, "order-1").await["status"], "delivered");
    assert_eq!(events_of(&app, id, "Message Delivered").await, 1, "once, whatever the repeats");
    let tampered = body.replace(&encrypted[..8], "AAAAAAAA");
    assert_eq!(app.http.post(&url).body(tampered).send().await.unwrap().status(), 401);

    // A mini-program's message push: its subscribe messages' results, a list, decrypted with the
    // mini-program's app id (the account's key does not open it).
    assert_eq!(status_of(&app, "order-3").await["status"], "sent");
    let sent = "<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName><FromUserName><![CDATA[o-receipt]]></FromUserName>\
        <CreateTime>1620963428</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_sent_event]]></Event>\
        <SubscribeMsgSentEvent><List><TemplateId><![CDATA[tpl-2]]></TemplateId><MsgID>1864323726461255680</MsgID>\
        <ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent></xml>";
    let mini_path = "/callbacks/wechat/brand/mini";
    for (app_id, expected) in [(APP_ID, 401), (MINI_APP_ID, 200)] {
        let crypto = CallbackCrypto::new(TOKEN, AES_KEY, app_id).unwrap();
        let (encrypted, msg_signature) = crypto.encrypt(sent, &ts, nonce).unwrap();
        let url = format!(
            "{}{mini_path}?signature={signature}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_signature}",
            app.base_url
        );
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        );
        assert_eq!(app.http.post(&url).body(body).send().await.unwrap().status(), expected, "{app_id}");
    }
    assert_eq!(status_of(&app, "order-3").await["status"], "delivered");

    // The SMS gateway's report: a wrong token is refused; the right one answered as Aliyun expects.
    let report = json!([{"phone_number": "13800000077", "success": false, "err_code": "MK:0001", "err_msg": "空号",
        "biz_id": "900619746936498440^0", "out_id": "order-2", "send_time": "2026-12-03 10:00:00", "report_time": "2026-12-03 10:00:05", "sms_size": "1"}]);
    let report_url = |token: &str| format!("{}/callbacks/sms/brand/sms/{token}", app.base_url);
    let refused = app.http.post(report_url("guess")).json(&report).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(status_of(&app, "order-2").await["status"], "sent", "a refused report changes nothing");
    // A receipt for an id no message has (yet) is answered with a conflict, so the gateway sends
    // it again; the others in the report are applied meanwhile.
    let unknown = json!([{"biz_id": "not-sent-yet", "success": true}]);
    let answer = app.http.post(report_url(REPORT_TOKEN)).json(&unknown).send().await.unwrap();
    assert_eq!(answer.status(), 409);
    let answer = app.http.post(report_url(REPORT_TOKEN)).json(&report).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"code": 0, "msg": "接收成功"}));
    let message = status_of(&app, "order-2").await;
    assert_eq!((message["status"].as_str(), message["reason"].as_str()), (Some("undelivered"), Some("MK:0001 空号")));
    assert_eq!(events_of(&app, id, "Message Undelivered").await, 1);
    // Counted on the channels, and another workspace's URL reaches nothing.
    let (_, channels, _) = app.call("GET", "/api/v1/channels", &app.key, None).await;
    let sms = channels["items"].as_array().unwrap().iter().find(|c| c["name"] == "sms").unwrap().clone();
    let counted = ["accepted", "forged", "unmatched"].map(|outcome| sms["callbacks"][outcome].as_u64());
    assert_eq!(counted, [Some(1), Some(1), Some(1)], "{sms}");
    let elsewhere = app.http.post(format!("{}/callbacks/sms/nobody/sms/{REPORT_TOKEN}", app.base_url)).json(&report);
    assert_eq!(elsewhere.send().await.unwrap().status(), 404);
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receipts_turn_sent_messages_delivered_once() {
        let app = super::spawn_app_with(super::Backend::Sqlite, |c| c.channels.allow_private_addresses = true).await;
        super::receipts_turn_sent_messages_delivered_once(app.unwrap()).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receipts_turn_sent_messages_delivered_once() {
        if let Some(app) =
            super::spawn_app_with(super::Backend::Postgres, |c| c.channels.allow_private_addresses = true).await
        {
            super::receipts_turn_sent_messages_delivered_once(app).await;
        }
    }
}
