//! Channels and messages over the API: a channel's settings are checked when it is saved (each
//! problem named), its secret is never shown again, a test message reaches the receiver, and a
//! message queued to a customer is sent by the server's own send worker, signed, and logged; a
//! private address is refused unless the server allows it.

use crate::{Backend, TestApp, spawn_app_with};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use siyu_channels::webhook;
use siyu_domain::access::Role;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

const SECRET: &str = "whsec-e2e-0123456789abcdef";

#[derive(Default)]
struct Receiver {
    /// Each request's idempotency key and body, if its signature verified.
    seen: Mutex<Vec<(String, serde_json::Value)>>,
    arrived: Notify,
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> &'static str {
    let now = siyu_core::Clock::now(&siyu_core::SystemClock).as_second();
    if webhook::verify_headers(SECRET.as_bytes(), &headers, &body, now, webhook::DEFAULT_REPLAY_WINDOW).is_ok() {
        let key = headers.get(webhook::IDEMPOTENCY_HEADER).unwrap().to_str().unwrap().to_string();
        receiver.seen.lock().unwrap().push((key, serde_json::from_slice(&body).unwrap()));
        receiver.arrived.notify_one();
    }
    "ok"
}

async fn receiver() -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver::default());
    let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (receiver, url)
}

/// Waits (without sleeping) until the receiver holds `n` requests; fails after 20 s.
async fn wait_for(receiver: &Receiver, n: usize) {
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while receiver.seen.lock().unwrap().len() < n {
            receiver.arrived.notified().await;
        }
    })
    .await
    .expect("the message arrives");
}

fn fields(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"].as_array().map_or(Vec::new(), |errors| {
        errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_string()).collect()
    })
}

async fn channels_and_messages_go_end_to_end(app: TestApp) {
    let (receiver, url) = receiver().await;
    let key = app.key.clone();
    let analyst = app.key_with_role(Role::Analyst).await;
    let operator = app.key_with_role(Role::Operator).await;
    let channel = serde_json::json!({
        "kind": "webhook",
        "settings": {"url": url, "consent_channel": "sms"},
        "secrets": {"secret": SECRET},
    });

    // Roles first: an analyst sees no channels, an operator configures none.
    assert_eq!(app.call("GET", "/api/v1/channels", &analyst, None).await.0, 403);
    assert_eq!(app.call("PUT", "/api/v1/channels/hooks", &operator, Some(channel.clone())).await.0, 403);

    // Every problem of a channel is named at once.
    let bad = serde_json::json!({"kind": "webhook", "settings": {"url": "ftp://x", "timout_ms": 1}, "secrets": {"secret": "short"}});
    let (status, problem, _) = app.call("PUT", "/api/v1/channels/hooks", &key, Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["settings.timout_ms"], "{problem}");
    let bad = serde_json::json!({"kind": "webhook", "settings": {"url": "ftp://x"}, "secrets": {"secret": SECRET}});
    let (_, problem, _) = app.call("PUT", "/api/v1/channels/hooks", &key, Some(bad)).await;
    assert_eq!(fields(&problem), ["settings.url"], "{problem}");
    let (status, problem, _) =
        app.call("PUT", "/api/v1/channels/hooks", &key, Some(serde_json::json!({"kind": "pigeon"}))).await;
    assert_eq!((status, fields(&problem)), (422, vec!["kind".to_string()]), "{problem}");
    let (status, problem, _) = app.call("PUT", "/api/v1/channels/Bad%20Name", &key, Some(channel.clone())).await;
    assert_eq!((status, fields(&problem)), (422, vec!["name".to_string()]), "{problem}");

    // Saved: the secret is never shown again, only that it is set; saving without it keeps it.
    let (status, saved, _) = app.call("PUT", "/api/v1/channels/hooks", &key, Some(channel)).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["secrets"], serde_json::json!(["secret"]));
    let kept =
        serde_json::json!({"kind": "webhook", "settings": {"url": url, "consent_channel": "sms", "timeout_ms": 5000}});
    assert_eq!(app.call("PUT", "/api/v1/channels/hooks", &key, Some(kept)).await.0, 200);
    let (status, list, _) = app.call("GET", "/api/v1/channels", &operator, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["settings"]["timeout_ms"], 5000);
    assert!(!list.to_string().contains(SECRET), "{list}");

    // A test message goes at once, signed with the kept secret.
    let (status, outcome, _) =
        app.call("POST", "/api/v1/channels/hooks/test", &key, Some(serde_json::json!({"body": "你好"}))).await;
    assert_eq!((status, outcome["outcome"].as_str()), (200, Some("accepted")), "{outcome}");
    wait_for(&receiver, 1).await;

    // A message to a customer: a variable nobody has is refused when queued; a good one is sent by
    // the server's worker and logged.
    let (_, customer, _) = app
        .call(
            "POST",
            "/api/v1/customers",
            &key,
            Some(
                serde_json::json!({"identities": [{"type": "user_id", "value": "u-msg"}], "traits": {"city": "上海"}}),
            ),
        )
        .await;
    let id = customer["id"].as_i64().unwrap();
    let message = |body: &str, key: &str| serde_json::json!({"channel": "hooks", "customer_id": id, "class": "transactional", "body": body, "key": key});
    let (status, problem, _) =
        app.call("POST", "/api/v1/messages", &key, Some(message("{{ customer.traits.shoe_size }}", "m-0"))).await;
    assert_eq!((status, fields(&problem)), (422, vec!["body".to_string()]), "{problem}");
    // A preview renders for the customer and sends nothing; the same unknown variable is refused.
    let preview =
        |body: &str| serde_json::json!({"customer_id": id, "body": body, "subject": "{{ customer.traits.city }}"});
    let (status, rendered, _) =
        app.call("POST", "/api/v1/messages/preview", &key, Some(preview("{{ customer.traits.city }}见"))).await;
    assert_eq!(status, 200, "{rendered}");
    assert_eq!((rendered["body"].as_str(), rendered["subject"].as_str()), (Some("上海见"), Some("上海")), "{rendered}");
    let (status, problem, _) =
        app.call("POST", "/api/v1/messages/preview", &key, Some(preview("{{ customer.traits.shoe_size }}"))).await;
    assert_eq!((status, fields(&problem)), (422, vec!["body".to_string()]), "{problem}");
    assert_eq!(receiver.seen.lock().unwrap().len(), 1, "a preview sends nothing");
    let (status, queued, _) =
        app.call("POST", "/api/v1/messages", &operator, Some(message("{{ customer.traits.city }}见", "order:1"))).await;
    assert_eq!((status, queued["status"].as_str()), (202, Some("queued")), "{queued}");
    wait_for(&receiver, 2).await;
    let (sent_key, body) = receiver.seen.lock().unwrap()[1].clone();
    assert_eq!(
        (sent_key.as_str(), body["body"].as_str(), body["customer_id"].as_i64()),
        ("order:1", Some("上海见"), Some(id))
    );
    // The log says sent once the worker recorded it (the receiver may answer first).
    let log = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let log = app.call("GET", "/api/v1/messages?status=sent&channel=hooks", &key, None).await.1;
            if log["items"].as_array().is_some_and(|items| !items.is_empty()) {
                return log;
            }
        }
    })
    .await
    .expect("the send is recorded");
    assert_eq!(log["items"][0]["key"], "order:1", "{log}");
    let (status, problem, _) = app.call("GET", "/api/v1/messages?status=lost", &key, None).await;
    assert_eq!((status, fields(&problem)), (400, vec!["status".to_string()]), "{problem}");
    assert_eq!(app.call("GET", "/api/v1/messages", &analyst, None).await.0, 403);
    // Marketing on a channel that cannot check consent is refused when queued.
    app.call(
        "PUT",
        "/api/v1/channels/raw",
        &key,
        Some(serde_json::json!({"kind": "webhook", "settings": {"url": url}, "secrets": {"secret": SECRET}})),
    )
    .await;
    let marketing = serde_json::json!({"channel": "raw", "customer_id": id, "class": "marketing", "body": "sale"});
    let (status, problem, _) = app.call("POST", "/api/v1/messages", &key, Some(marketing)).await;
    assert_eq!((status, fields(&problem)), (422, vec!["channel".to_string()]), "{problem}");
    assert_eq!(app.call("DELETE", "/api/v1/channels/raw", &key, None).await.0, 204);
    assert_eq!(app.call("DELETE", "/api/v1/channels/raw", &key, None).await.0, 404);
}

async fn a_journey_is_checked_whole_and_runs_on_the_server(app: TestApp) {
    let (receiver, url) = receiver().await;
    let key = app.key.clone();
    let channel = serde_json::json!({"kind": "webhook", "settings": {"url": url}, "secrets": {"secret": SECRET}});
    assert_eq!(app.call("PUT", "/api/v1/channels/hooks", &key, Some(channel)).await.0, 200);
    // A graph with every kind of mistake: each named by its path when published.
    let bad = serde_json::json!({"name": "坏", "definition": {
        "trigger": {"type": "segment_entered", "segment": "nope"},
        "start": "a",
        "nodes": {
            "a": {"type": "branch", "condition": {"tag": "missing"}, "yes": "b", "no": "ghost"},
            "b": {"type": "send", "channel": "hooks", "class": "marketing", "body": "{{ customer.traits.shoe_size }}"},
            "c": {"type": "split", "arms": [{"name": "x", "percent": 60}]},
        },
    }});
    let (status, draft, _) = app.call("POST", "/api/v1/journeys", &key, Some(bad)).await;
    assert_eq!(status, 201, "a draft is saved as it is: {draft}");
    let (status, problem, _) = app.call("POST", &format!("/api/v1/journeys/{}/publish", draft["id"]), &key, None).await;
    assert_eq!(status, 422, "{problem}");
    let mut got = fields(&problem);
    got.sort();
    assert_eq!(
        got,
        [
            "definition.nodes.a.condition.tag",
            "definition.nodes.a.no",
            "definition.nodes.b.body",
            "definition.nodes.b.channel",
            "definition.nodes.c.arms",
            "definition.trigger.segment",
        ],
        "{problem}"
    );
    // The same check without saving: the problems, each by its path.
    let definition = serde_json::json!({"definition": draft["draft"]});
    let (status, checked, _) = app.call("POST", "/api/v1/journeys/check", &key, Some(definition)).await;
    assert_eq!(status, 200, "{checked}");
    let mut found: Vec<String> =
        checked["problems"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap().to_string()).collect();
    found.sort();
    assert_eq!(found, got, "{checked}");
    let cyclic = serde_json::json!({"name": "环", "definition": {"trigger": {"type": "api"}, "start": "a", "nodes": {
        "a": {"type": "branch", "condition": {"consent": "sms"}, "yes": "b", "no": "b"},
        "b": {"type": "branch", "condition": {"consent": "email"}, "yes": "a", "no": "a"},
    }}});
    let (_, draft, _) = app.call("POST", "/api/v1/journeys", &key, Some(cyclic)).await;
    let (status, problem, _) = app.call("POST", &format!("/api/v1/journeys/{}/publish", draft["id"]), &key, None).await;
    assert_eq!((status, fields(&problem)), (422, vec!["definition.nodes.a".to_string()]), "{problem}");
    let (status, problem, _) = app
        .call("POST", "/api/v1/journeys", &key, Some(serde_json::json!({"name": "x", "definition": {"start": "a"}})))
        .await;
    assert_eq!((status, fields(&problem)), (400, vec!["definition".to_string()]), "{problem}");
    let nodes: serde_json::Map<String, serde_json::Value> =
        (0..201).map(|i| (format!("n{i}"), serde_json::json!({"type": "exit"}))).collect();
    let huge =
        serde_json::json!({"name": "大", "definition": {"trigger": {"type": "api"}, "start": "n0", "nodes": nodes}});
    let (status, problem, _) = app.call("POST", "/api/v1/journeys", &key, Some(huge)).await;
    assert_eq!((status, fields(&problem)), (422, vec!["definition.nodes".to_string()]), "{problem}");

    // A good one: entered by API, its send goes out through the server's workers.
    let good = serde_json::json!({"name": "发货通知", "definition": {"trigger": {"type": "api"}, "start": "send", "nodes": {
        "send": {"type": "send", "channel": "hooks", "class": "transactional", "body": "{{ customer.traits.city }}的订单已发货"},
    }}});
    // The template names a trait some customer has (checked when published).
    let (_, customer, _) = app
        .call(
            "POST",
            "/api/v1/customers",
            &key,
            Some(serde_json::json!({"identities": [{"type": "user_id", "value": "u-j"}], "traits": {"city": "杭州"}})),
        )
        .await;
    let (_, journey, _) = app.call("POST", "/api/v1/journeys", &key, Some(good)).await;
    let id = journey["id"].as_i64().unwrap();
    let (status, published, _) = app.call("POST", &format!("/api/v1/journeys/{id}/publish"), &key, None).await;
    assert_eq!((status, published["status"].as_str(), published["version"].as_i64()), (200, Some("active"), Some(1)));
    let entries = serde_json::json!({"customer_ids": [customer["id"]], "key": "order-9"});
    let (status, entered, _) =
        app.call("POST", &format!("/api/v1/journeys/{id}/entries"), &key, Some(entries.clone())).await;
    assert_eq!((status, entered["entered"].as_i64()), (200, Some(1)), "{entered}");
    let (_, again, _) = app.call("POST", &format!("/api/v1/journeys/{id}/entries"), &key, Some(entries)).await;
    assert_eq!(again["entered"], 0);
    wait_for(&receiver, 1).await;
    let (sent_key, body) = receiver.seen.lock().unwrap()[0].clone();
    assert!(sent_key.starts_with(&format!("journey:{id}:v1:send:")), "{sent_key}");
    assert_eq!(body["body"], "杭州的订单已发货");
    let path = format!("/api/v1/customers/{}/journeys", customer["id"]);
    let (_, activity, _) = app.call("GET", &path, &key, None).await;
    assert_eq!(activity["items"][0]["state"], "done", "{activity}");
    let (status, problem, _) = app
        .call(
            "POST",
            &format!("/api/v1/journeys/{id}/entries"),
            &key,
            Some(serde_json::json!({"customer_ids": [], "key": "k"})),
        )
        .await;
    assert_eq!((status, fields(&problem)), (422, vec!["customer_ids".to_string()]), "{problem}");
}

/// The message a receiver got under `key`, waiting for it (without sleeping) up to 20 s.
async fn received(receiver: &Receiver, key: &str) -> serde_json::Value {
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let notified = receiver.arrived.notified();
            if let Some((_, body)) = receiver.seen.lock().unwrap().iter().find(|(k, _)| k == key) {
                return body.clone();
            }
            notified.await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("message {key} arrives"))
}

async fn saved_templates_are_chosen_by_name_in_each_customers_language(app: TestApp) {
    let (receiver, url) = receiver().await;
    let key = app.key.clone();
    let analyst = app.key_with_role(Role::Analyst).await;
    // No consent channel: only transactional messages may go through it.
    let channel = serde_json::json!({"kind": "webhook", "settings": {"url": url}, "secrets": {"secret": SECRET}});
    assert_eq!(app.call("PUT", "/api/v1/channels/hooks", &key, Some(channel)).await.0, 200);
    let customer = |user: &str, traits: serde_json::Value| serde_json::json!({"identities": [{"type": "user_id", "value": user}], "traits": traits});
    let (_, zh, _) =
        app.call("POST", "/api/v1/customers", &key, Some(customer("u-zh", serde_json::json!({"city": "上海"})))).await;
    let en = serde_json::json!({"city": "London", "language": "en-GB"});
    let (_, en, _) = app.call("POST", "/api/v1/customers", &key, Some(customer("u-en", en))).await;
    let (zh, en) = (zh["id"].as_i64().unwrap(), en["id"].as_i64().unwrap());

    // Checked when saved: every problem named, in either language's text; nothing saved.
    let bad = serde_json::json!({"title": " ", "class": "transactional", "body": "{{ customer.traits.city }}",
        "en": {"body": "{{ customer.traits.shoe_size }}"}});
    let (status, problem, _) = app.call("PUT", "/api/v1/templates/shipped", &key, Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["title", "en.body"], "{problem}");
    let (status, problem, _) = app
        .call(
            "PUT",
            "/api/v1/templates/Bad%20Name",
            &key,
            Some(serde_json::json!({"title": "x", "class": "marketing", "body": "x"})),
        )
        .await;
    assert_eq!((status, fields(&problem)), (422, vec!["name".to_string()]), "{problem}");
    assert_eq!(app.call("GET", "/api/v1/templates/shipped", &key, None).await.0, 404);
    let template = |body: &str| {
        serde_json::json!({"title": "发货通知", "class": "transactional", "body": body,
            "en": {"body": "Shipped to {{ customer.traits.city }}"}})
    };
    let (status, saved, _) =
        app.call("PUT", "/api/v1/templates/shipped", &key, Some(template("已发往{{ customer.traits.city }}"))).await;
    assert_eq!((status, saved["class"].as_str()), (200, Some("transactional")), "{saved}");
    let (status, list, _) = app.call("GET", "/api/v1/templates", &key, None).await;
    assert_eq!((status, list["items"][0]["name"].as_str()), (200, Some("shipped")), "{list}");
    assert_eq!(app.call("GET", "/api/v1/templates", &analyst, None).await.0, 403);

    // Sent by name: each customer gets their language; the template's class lets it through a
    // channel that takes no marketing.
    let send = |customer: i64, message: &str| serde_json::json!({"channel": "hooks", "customer_id": customer, "saved_template": "shipped", "key": message});
    assert_eq!(app.call("POST", "/api/v1/messages", &key, Some(send(zh, "t-zh"))).await.0, 202);
    assert_eq!(app.call("POST", "/api/v1/messages", &key, Some(send(en, "t-en"))).await.0, 202);
    assert_eq!(received(&receiver, "t-zh").await["body"], "已发往上海");
    assert_eq!(received(&receiver, "t-en").await["body"], "Shipped to London");
    // A template and text of its own, a class the template does not have, a template that does not
    // exist: each refused, naming the field.
    let mut both = send(zh, "t-x");
    both["body"] = "hi".into();
    let (status, problem, _) = app.call("POST", "/api/v1/messages", &key, Some(both)).await;
    assert_eq!((status, fields(&problem)), (422, vec!["saved_template".to_string()]), "{problem}");
    let mut marketing = send(zh, "t-x");
    marketing["class"] = "marketing".into();
    let (status, problem, _) = app.call("POST", "/api/v1/messages", &key, Some(marketing)).await;
    assert_eq!((status, fields(&problem)), (422, vec!["class".to_string()]), "{problem}");
    let mut missing = send(zh, "t-x");
    missing["saved_template"] = "nope".into();
    let (status, problem, _) = app.call("POST", "/api/v1/messages", &key, Some(missing)).await;
    assert_eq!((status, fields(&problem)), (422, vec!["saved_template".to_string()]), "{problem}");
    let untyped = serde_json::json!({"channel": "hooks", "customer_id": zh, "body": "hi"});
    let (status, problem, _) = app.call("POST", "/api/v1/messages", &key, Some(untyped)).await;
    assert_eq!((status, fields(&problem)), (422, vec!["class".to_string()]), "{problem}");
    // A preview in the customer's language, or the one asked for.
    let preview = |language: Option<&str>| serde_json::json!({"customer_id": en, "saved_template": "shipped", "language": language});
    let (status, shown, _) = app.call("POST", "/api/v1/messages/preview", &key, Some(preview(None))).await;
    assert_eq!(
        (status, shown["language"].as_str(), shown["body"].as_str()),
        (200, Some("en"), Some("Shipped to London"))
    );
    let (_, shown, _) = app.call("POST", "/api/v1/messages/preview", &key, Some(preview(Some("zh")))).await;
    assert_eq!(shown["body"], "已发往London", "{shown}");

    // A journey's send node names it: publishing copies it into the version, so a later edit, or
    // deleting the template, changes nothing that version sends.
    let journey = serde_json::json!({"name": "发货", "definition": {"trigger": {"type": "api"}, "start": "send", "nodes": {
        "send": {"type": "send", "channel": "hooks", "saved_template": "shipped"},
    }}});
    let (_, journey, _) = app.call("POST", "/api/v1/journeys", &key, Some(journey)).await;
    let id = journey["id"].as_i64().unwrap();
    let (status, published, _) = app.call("POST", &format!("/api/v1/journeys/{id}/publish"), &key, None).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(app.call("PUT", "/api/v1/templates/shipped", &key, Some(template("改过的文案"))).await.0, 200);
    assert_eq!(app.call("DELETE", "/api/v1/templates/shipped", &key, None).await.0, 204);
    assert_eq!(app.call("DELETE", "/api/v1/templates/shipped", &key, None).await.0, 404);
    let entries = serde_json::json!({"customer_ids": [zh, en], "key": "ship-1"});
    let (status, entered, _) = app.call("POST", &format!("/api/v1/journeys/{id}/entries"), &key, Some(entries)).await;
    assert_eq!((status, entered["entered"].as_i64()), (200, Some(2)), "{entered}");
    let sent: Vec<String> = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let notified = receiver.arrived.notified();
            let seen = receiver.seen.lock().unwrap().clone();
            let journey: Vec<String> = seen
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("journey:{id}:")))
                .map(|(_, body)| body["body"].as_str().unwrap_or_default().to_string())
                .collect();
            if journey.len() == 2 {
                return journey;
            }
            notified.await;
        }
    })
    .await
    .expect("the journey's messages arrive");
    let mut sent = sent;
    sent.sort();
    assert_eq!(sent, ["Shipped to London", "已发往上海"]);
    // Published again, the draft names a template that is gone: refused at the node.
    let (status, problem, _) = app.call("POST", &format!("/api/v1/journeys/{id}/publish"), &key, None).await;
    assert_eq!(
        (status, fields(&problem)),
        (422, vec!["definition.nodes.send.saved_template".to_string()]),
        "{problem}"
    );
}

async fn a_private_address_is_refused_unless_the_server_allows_it(app: TestApp) {
    let channel = serde_json::json!({
        "kind": "webhook",
        "settings": {"url": "http://127.0.0.1:9/hook"},
        "secrets": {"secret": SECRET},
    });
    let (status, problem, _) = app.call("PUT", "/api/v1/channels/hooks", &app.key, Some(channel)).await;
    assert_eq!((status, fields(&problem)), (422, vec!["settings.url".to_string()]), "{problem}");
    assert!(problem.to_string().contains("not public"), "{problem}");
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn channels_and_messages_go_end_to_end() {
        let app = super::spawn_app_with(super::Backend::Sqlite, |c| c.channels.allow_private_addresses = true).await;
        super::channels_and_messages_go_end_to_end(app.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_journey_is_checked_whole_and_runs_on_the_server() {
        let app = super::spawn_app_with(super::Backend::Sqlite, |c| c.channels.allow_private_addresses = true).await;
        super::a_journey_is_checked_whole_and_runs_on_the_server(app.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saved_templates_are_chosen_by_name_in_each_customers_language() {
        let app = super::spawn_app_with(super::Backend::Sqlite, |c| c.channels.allow_private_addresses = true).await;
        super::saved_templates_are_chosen_by_name_in_each_customers_language(app.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_private_address_is_refused_unless_the_server_allows_it() {
        let app = super::spawn_app_with(super::Backend::Sqlite, |_| {}).await;
        super::a_private_address_is_refused_unless_the_server_allows_it(app.unwrap()).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn channels_and_messages_go_end_to_end() {
        if let Some(app) =
            super::spawn_app_with(super::Backend::Postgres, |c| c.channels.allow_private_addresses = true).await
        {
            super::channels_and_messages_go_end_to_end(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_journey_is_checked_whole_and_runs_on_the_server() {
        if let Some(app) =
            super::spawn_app_with(super::Backend::Postgres, |c| c.channels.allow_private_addresses = true).await
        {
            super::a_journey_is_checked_whole_and_runs_on_the_server(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saved_templates_are_chosen_by_name_in_each_customers_language() {
        if let Some(app) =
            super::spawn_app_with(super::Backend::Postgres, |c| c.channels.allow_private_addresses = true).await
        {
            super::saved_templates_are_chosen_by_name_in_each_customers_language(app).await;
        }
    }
}
