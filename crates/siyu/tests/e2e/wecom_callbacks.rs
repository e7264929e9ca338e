//! WeCom's callbacks over HTTP, made as WeCom makes them (signed and encrypted with the channel's
//! token and EncodingAESKey by `siyu_channels::wecom`): the URL check is answered with its
//! plaintext; a contact added becomes the customer with that external user id, owned by the staff
//! member, with an event and a welcome sent through a double of WeCom's API with the callback's
//! welcome code; a repeat is answered but applied once; a forged or stale callback is refused; a
//! deletion clears the owner; every outcome is counted on the channel; another workspace's URL
//! reaches nothing.

use crate::{Backend, TestApp, spawn_app_with};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use siyu_channels::wecom::CallbackCrypto;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

const CORP: &str = "ww-corp-e2e";
const TOKEN: &str = "QDG6eK";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

#[derive(Default)]
struct WeComDouble {
    welcomes: Mutex<Vec<Value>>,
    arrived: Notify,
}

async fn double() -> (Arc<WeComDouble>, String) {
    let double = Arc::new(WeComDouble::default());
    let router = axum::Router::new()
        .route(
            "/cgi-bin/gettoken",
            axum::routing::get(|| async {
                Json(json!({"errcode": 0, "errmsg": "ok", "access_token": "t-1", "expires_in": 7200}))
            }),
        )
        .route(
            "/cgi-bin/externalcontact/send_welcome_msg",
            axum::routing::post(|State(double): State<Arc<WeComDouble>>, Json(body): Json<Value>| async move {
                double.welcomes.lock().unwrap().push(body);
                double.arrived.notify_one();
                Json(json!({"errcode": 0, "errmsg": "ok"}))
            }),
        )
        .with_state(double.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (double, base)
}

fn now() -> i64 {
    siyu_core::Clock::now(&siyu_core::SystemClock).as_second()
}

/// A callback's query and body as WeCom sends a message, at `timestamp`.
fn signed_message(xml: &str, timestamp: i64, nonce: &str) -> (String, String) {
    let crypto = CallbackCrypto::new(TOKEN, AES_KEY, CORP).unwrap();
    let (encrypted, signature) = crypto.encrypt(xml, &timestamp.to_string(), nonce).unwrap();
    let query = format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}");
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    );
    (query, body)
}

fn contact_change(change: &str, contact: &str, welcome_code: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>\
         <UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[{contact}]]></ExternalUserID>\
         <State><![CDATA[spring-poster]]></State><WelcomeCode><![CDATA[{welcome_code}]]></WelcomeCode></xml>"
    )
}

async fn post(app: &TestApp, path: &str, query: &str, body: String) -> (u16, String) {
    let url = format!("{}{path}?{query}", app.base_url);
    let response = app.http.post(url).header("content-type", "text/xml").body(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn customer_with(app: &TestApp, contact: &str) -> Value {
    let path = format!("/api/v1/customers?identity=wecom_external_userid:{contact}");
    let (_, page, _) = app.call("GET", &path, &app.key, None).await;
    page["items"].as_array().and_then(|items| items.first()).cloned().unwrap_or(Value::Null)
}

async fn wecom_contacts_arrive_by_callback(app: TestApp) {
    let (double, base) = double().await;
    let channel = json!({
        "kind": "wecom",
        "settings": {"corp_id": CORP, "sender": "zhangsan", "base_url": base, "welcome": "欢迎加入思语会员，新人礼已到账"},
        "secrets": {"secret": "app-secret", "callback_token": TOKEN, "encoding_aes_key": AES_KEY},
    });
    let (status, view, _) = app.call("PUT", "/api/v1/channels/wecom", &app.key, Some(channel)).await;
    assert_eq!(status, 200, "{view}");
    // A welcome naming a variable no customer has is refused when the channel is saved.
    let bad = json!({"kind": "wecom", "settings": {"corp_id": CORP, "sender": "zhangsan", "welcome": "{{ customer.traits.nickname }}"},
        "secrets": {"secret": "s", "callback_token": TOKEN, "encoding_aes_key": "too-short"}});
    let (status, problem, _) = app.call("PUT", "/api/v1/channels/other", &app.key, Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    let named: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(named.contains(&"settings.welcome") && named.contains(&"secrets.encoding_aes_key"), "{problem}");

    let path = "/callbacks/wecom/brand/wecom";
    // WeCom's URL check: the echo's plaintext comes back.
    let crypto = CallbackCrypto::new(TOKEN, AES_KEY, CORP).unwrap();
    let ts = now().to_string();
    let (echo, signature) = crypto.encrypt("1616140317555161061", &ts, "77").unwrap();
    let response = app
        .http
        .get(format!("{}{path}", app.base_url))
        .query(&[("msg_signature", signature.as_str()), ("timestamp", &ts), ("nonce", "77"), ("echostr", &echo)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "1616140317555161061");

    // A contact added: the customer, owned by zhangsan, and the welcome with its code.
    let (query, body) = signed_message(&contact_change("add_external_contact", "wmE2E001", "WELCOME-1"), now(), "1");
    assert_eq!(post(&app, path, &query, body.clone()).await, (200, "success".into()));
    let customer = customer_with(&app, "wmE2E001").await;
    assert_eq!(customer["traits"]["wecom_owner"]["value"], "zhangsan", "{customer}");
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while double.welcomes.lock().unwrap().is_empty() {
            double.arrived.notified().await;
        }
    })
    .await
    .expect("the welcome is sent");
    assert_eq!(
        double.welcomes.lock().unwrap()[0],
        json!({"welcome_code": "WELCOME-1", "text": {"content": "欢迎加入思语会员，新人礼已到账"}})
    );

    // WeCom repeating the callback: answered, not applied again.
    assert_eq!(post(&app, path, &query, body).await, (200, "success".into()));

    // Forged (signed with another token), stale (signed, but ten minutes old), not XML: refused.
    let (query, body) = signed_message(&contact_change("del_follow_user", "wmE2E001", ""), now(), "2");
    let forged = query.replace("msg_signature=", "msg_signature=0");
    let (status, problem) = post(&app, path, &forged, body.clone()).await;
    assert_eq!(status, 401, "{problem}");
    assert!(problem.contains("msg_signature does not match"), "{problem}");
    let (old_query, old_body) = signed_message(&contact_change("del_follow_user", "wmE2E001", ""), now() - 600, "3");
    let (status, problem) = post(&app, path, &old_query, old_body).await;
    assert_eq!(status, 401, "{problem}");
    assert!(problem.contains("timestamp"), "{problem}");
    assert_eq!(post(&app, path, &query, "<not-xml".into()).await.0, 401);
    let (status, problem) = post(&app, path, "timestamp=1&nonce=2", body.clone()).await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem.contains("msg_signature"), "{problem}");
    assert_eq!(customer_with(&app, "wmE2E001").await["traits"]["wecom_owner"]["value"], "zhangsan");

    // The customer deletes the staff member: the owner cleared, the event recorded.
    assert_eq!(post(&app, path, &query, body).await, (200, "success".into()));
    let customer = customer_with(&app, "wmE2E001").await;
    assert!(customer["traits"].get("wecom_owner").is_none(), "{customer}");
    let id = customer["id"].as_i64().unwrap();
    let export = app.services.export_customer(&app.owner, siyu_core::CustomerId(id)).await.unwrap().to_string();
    assert!(export.contains("WeCom Contact Added") && export.contains("WeCom Contact Deleted"), "{export}");
    assert!(export.contains("spring-poster") && export.contains("\"deleted_by\":\"customer\""), "{export}");

    // Every outcome is counted on the channel.
    let (_, channels, _) = app.call("GET", "/api/v1/channels", &app.key, None).await;
    let counts = &channels["items"].as_array().unwrap().iter().find(|c| c["name"] == "wecom").unwrap()["callbacks"];
    assert_eq!(counts, &json!({"accepted": 2, "repeated": 1, "verified": 1, "forged": 2, "stale": 1}), "{channels}");
    assert_eq!(double.welcomes.lock().unwrap().len(), 1, "one welcome");

    // Another workspace's URL, an unknown channel, a channel without callbacks: nothing there.
    app.other_workspace("rival").await;
    let (query, body) = signed_message(&contact_change("add_external_contact", "wmE2E002", ""), now(), "4");
    for other in ["/callbacks/wecom/rival/wecom", "/callbacks/wecom/brand/nope", "/callbacks/wecom/nobody/wecom"] {
        assert_eq!(post(&app, other, &query, body.clone()).await.0, 404, "{other}");
    }
    assert_eq!(customer_with(&app, "wmE2E002").await, Value::Null);
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wecom_contacts_arrive_by_callback() {
        let app = super::spawn_app_with(super::Backend::Sqlite, |c| c.channels.allow_private_addresses = true).await;
        super::wecom_contacts_arrive_by_callback(app.unwrap()).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wecom_contacts_arrive_by_callback() {
        if let Some(app) =
            super::spawn_app_with(super::Backend::Postgres, |c| c.channels.allow_private_addresses = true).await
        {
            super::wecom_contacts_arrive_by_callback(app).await;
        }
    }
}
