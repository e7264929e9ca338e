//! Messages queued to customers and sent as durable jobs through a configured webhook channel (the
//! real adapter) to a receiver on 127.0.0.1 that verifies every request and answers as scripted:
//! retried with back-off (and no sooner than `Retry-After`), dead-lettered when refused, never sent
//! twice once recorded, sent again under the same idempotency key when a process stopped between
//! the provider's answer and its record, and held at send time to consent, the frequency cap
//! (under concurrency) and quiet hours.

use crate::{Fixture, at, start};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use siyu_channels::factory::Factory;
use siyu_channels::webhook;
use siyu_core::CustomerId;
use siyu_core::clock::{Clock, ManualClock};
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::channels::guardrails::MessageClass;
use siyu_domain::channels::messaging::{ChannelInput, MessageInput, MessagingSettings};
use siyu_domain::channels::store::MessageStatus;
use siyu_domain::customers::{ConsentChange, CustomerInput};
use siyu_domain::jobs::{JobState, JobStore};
use siyu_jobs::send::{SEND_KIND, SendHandler};
use siyu_jobs::{Handler, JobWorker, Outcome, Worker};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec-jobs-0123456789";

pub(crate) type Script = Vec<(StatusCode, Option<&'static str>, &'static str)>;

/// A receiver: answers the scripted responses in turn (then 200), and records each request's
/// idempotency key, customer and whether its signature verified at the test's clock.
pub(crate) struct Receiver {
    script: Mutex<VecDeque<(StatusCode, Option<&'static str>, &'static str)>>,
    seen: Mutex<Vec<(String, i64, bool)>>,
    bodies: Mutex<Vec<serde_json::Value>>,
    clock: Arc<ManualClock>,
}

impl Receiver {
    pub(crate) fn seen(&self) -> Vec<(String, i64, bool)> {
        self.seen.lock().unwrap().clone()
    }

    /// Each request's JSON body, in order.
    pub(crate) fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = webhook::verify_headers(
        SECRET.as_bytes(),
        &headers,
        &body,
        receiver.clock.now().as_second(),
        webhook::DEFAULT_REPLAY_WINDOW,
    )
    .is_ok();
    let json = serde_json::from_slice::<serde_json::Value>(&body).unwrap();
    let customer = json["customer_id"].as_i64().unwrap_or(0);
    receiver.seen.lock().unwrap().push((key(&headers), customer, verified));
    receiver.bodies.lock().unwrap().push(json);
    let (status, retry_after, text) =
        receiver.script.lock().unwrap().pop_front().unwrap_or((StatusCode::OK, None, "ok"));
    match retry_after {
        Some(seconds) => (status, [("retry-after", seconds)], text).into_response(),
        None => (status, text).into_response(),
    }
}

/// Starts a receiver; returns it and its URL.
pub(crate) async fn receiver(clock: &Arc<ManualClock>, script: Script) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        script: Mutex::new(script.into()),
        seen: Mutex::new(Vec::new()),
        bodies: Mutex::new(Vec::new()),
        clock: clock.clone(),
    });
    let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (receiver, url)
}

/// The fixture's services sending through the real adapters (private addresses allowed: the
/// receiver is on 127.0.0.1), with a webhook channel `hooks` to `url` whose customers' marketing
/// consent is on SMS; returns them with an owner of the first workspace.
pub(crate) async fn services(f: &Fixture, url: &str, dry_run: bool) -> (Services, Principal) {
    let factory = Arc::new(Factory::new(f.clock.clone(), true));
    let services = f.services.clone().with_channels(factory, Some("https://siyu.example"));
    let owner = Principal::cli(f.workspaces[0]);
    let input = ChannelInput {
        kind: "webhook".into(),
        settings: serde_json::json!({"url": url, "consent_channel": "sms", "timeout_ms": 5000, "dry_run": dry_run})
            .as_object()
            .unwrap()
            .clone(),
        secrets: [("secret".to_string(), SECRET.to_string())].into(),
    };
    services.messaging.save_channel(&owner, "hooks", input).await.unwrap();
    (services, owner)
}

/// Creates a customer, with marketing consent on SMS when `consent`.
pub(crate) async fn customer(services: &Services, owner: &Principal, phone: &str, consent: bool) -> CustomerId {
    let input: CustomerInput = serde_json::from_value(serde_json::json!({
        "identities": [{"type": "phone", "value": phone}],
        "traits": {"name": "王小明"},
    }))
    .unwrap();
    let id = services.customers.upsert_customer(owner, input).await.unwrap().id;
    if consent {
        set_consent(services, owner, id, true).await;
    }
    id
}

pub(crate) async fn set_consent(services: &Services, owner: &Principal, id: CustomerId, granted: bool) {
    let change = ConsentChange {
        purpose: "marketing".into(),
        channel: "sms".into(),
        granted,
        source: None,
        policy_version: "v1".into(),
    };
    services.customers.change_consent(owner, id, vec![change]).await.unwrap();
}

pub(crate) async fn queue(
    services: &Services,
    owner: &Principal,
    key: &str,
    to: CustomerId,
    class: MessageClass,
) -> MessageStatus {
    let input = MessageInput {
        channel: "hooks".into(),
        customer_id: to,
        class: Some(class),
        saved_template: None,
        subject: None,
        body: "{{ customer.traits.name }}，生日快乐".into(),
        html: None,
        data: serde_json::Value::Null,
        template: None,
        params: Default::default(),
        en: None,
        key: Some(key.into()),
    };
    services.messaging.send(owner, input).await.unwrap().status
}

pub(crate) fn worker(services: &Services, owner: &str) -> JobWorker {
    JobWorker::new("channels.send", services.stores.jobs.clone(), owner, SignedDuration::from_secs(60), 100)
        .handle(SEND_KIND, SendHandler::new(services.messaging.clone()))
        .concurrency(8)
}

async fn state_of(store: &Arc<dyn JobStore>, f: &Fixture, state: JobState) -> Vec<(String, Option<String>)> {
    store.jobs(f.workspaces[0], state, 10).await.unwrap().into_iter().map(|r| (r.job.key, r.last_error)).collect()
}

/// Each message's status and reason, by key.
pub(crate) async fn statuses(services: &Services, owner: &Principal) -> Vec<(String, MessageStatus, Option<String>)> {
    let log = services.messaging.messages(owner, Default::default(), 100).await.unwrap();
    let mut all: Vec<_> = log.into_iter().map(|m| (m.key, m.status, m.reason)).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

pub(crate) async fn a_message_is_sent_once_through_retries_and_a_refusal_is_dead_lettered(f: Fixture) {
    let script = vec![
        (StatusCode::SERVICE_UNAVAILABLE, Some("30"), "maintenance"),
        (StatusCode::BAD_GATEWAY, None, ""),
        (StatusCode::OK, None, "ok"),
        (StatusCode::BAD_REQUEST, None, "unknown recipient"),
    ];
    let (receiver, url) = receiver(&f.clock, script).await;
    let (services, owner) = services(&f, &url, false).await;
    let store = f.store.clone();
    let mut worker = worker(&services, "node-a");
    let c = customer(&services, &owner, "+8613800000001", false).await;

    // The same key queued twice is one message and one job.
    let key = "birthday:v2:send:7:2026";
    assert_eq!(queue(&services, &owner, key, c, MessageClass::Transactional).await, MessageStatus::Queued);
    assert_eq!(queue(&services, &owner, key, c, MessageClass::Transactional).await, MessageStatus::Queued);
    assert_eq!(state_of(&store, &f, JobState::Pending).await.len(), 1);

    // 503 with Retry-After: 30 → not before 30 s, though the back-off says 10 s.
    assert_eq!(worker.run_once(start()).await.unwrap(), Outcome::Worked);
    assert_eq!(worker.run_once(at(29)).await.unwrap(), Outcome::Idle { next_due: Some(at(30)) });
    assert_eq!(statuses(&services, &owner).await[0].1, MessageStatus::Queued, "waiting for its retry");
    // 502 → the back-off: 20 s after the second attempt.
    f.clock.advance(SignedDuration::from_secs(30));
    assert_eq!(worker.run_once(at(30)).await.unwrap(), Outcome::Worked);
    assert_eq!(worker.run_once(at(31)).await.unwrap(), Outcome::Idle { next_due: Some(at(50)) });
    // 200 → sent, and never sent again.
    f.clock.advance(SignedDuration::from_secs(20));
    assert_eq!(worker.run_once(at(50)).await.unwrap(), Outcome::Worked);
    assert!(matches!(worker.run_once(at(100_000)).await.unwrap(), Outcome::Idle { .. }));
    assert_eq!(state_of(&store, &f, JobState::Done).await.len(), 1);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3, "two failed attempts and one accepted");
    assert!(seen.iter().all(|(k, to, verified)| k == key && *to == c.0 && *verified), "{seen:?}");
    assert_eq!(statuses(&services, &owner).await, vec![(key.to_string(), MessageStatus::Sent, None)]);

    // A refusal is dead-lettered with the provider's reason, at once, and the message failed.
    queue(&services, &owner, "welcome:v1:send:8", c, MessageClass::Transactional).await;
    assert_eq!(worker.run_once(at(50)).await.unwrap(), Outcome::Worked);
    let reason = "HTTP 400 Bad Request: unknown recipient".to_string();
    assert_eq!(
        state_of(&store, &f, JobState::Dead).await,
        vec![("welcome:v1:send:8".to_string(), Some(reason.clone()))]
    );
    assert!(statuses(&services, &owner).await.contains(&(
        "welcome:v1:send:8".into(),
        MessageStatus::Failed,
        Some(reason)
    )));
    // Both outcomes are events of the customer.
    let export = services.export_customer(&owner, c).await.unwrap().to_string();
    assert!(export.contains("Message Sent") && export.contains("Message Failed"), "{export}");

    // Another workspace's job naming this workspace's message key sends nothing.
    let other = f.workspaces[1];
    let job = siyu_domain::jobs::NewJob {
        kind: SEND_KIND.into(),
        key: "forged".into(),
        payload: format!("{{\"key\":\"{key}\"}}"),
        run_at: at(50),
        max_attempts: 3,
    };
    store.schedule(other, &job, at(50)).await.unwrap();
    assert_eq!(worker.run_once(at(50)).await.unwrap(), Outcome::Worked);
    assert_eq!(receiver.seen().len(), 4, "the forged job reached nobody");
}

pub(crate) async fn a_send_repeated_after_a_stopped_process_carries_the_same_key(f: Fixture) {
    let (receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let c = customer(&services, &owner, "+8613800000002", false).await;
    let ws = f.workspaces[0];
    queue(&services, &owner, "recall:v1:send:9", c, MessageClass::Transactional).await;

    // Process A claims the job, reserves the message and the provider accepts it; A stops before
    // recording that (the worst moment).
    let lease = start().checked_add(SignedDuration::from_secs(60)).unwrap();
    let claimed = f.store.claim(&[SEND_KIND.to_string()], "node-a", start(), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    services.stores.messages.reserve(ws, "recall:v1:send:9", None, start()).await.unwrap();
    let spec_url = url.parse().unwrap();
    let hook = webhook::Webhook::new(
        webhook::WebhookConfig {
            url: spec_url,
            secret: secrecy::SecretString::from(SECRET),
            timeout: std::time::Duration::from_secs(5),
            allow_private_addresses: true,
        },
        f.clock.clone(),
    )
    .unwrap();
    let as_a = siyu_domain::channels::OutgoingMessage {
        idempotency_key: "recall:v1:send:9".into(),
        workspace: ws,
        customer: Some(c),
        to: String::new(),
        subject: None,
        body: "x".into(),
        html: None,
        unsubscribe_url: None,
        data: serde_json::Value::Null,
        template: None,
        params: Default::default(),
    };
    assert!(matches!(
        siyu_domain::channels::ChannelAdapter::send(&hook, &as_a).await,
        siyu_domain::channels::Delivery::Accepted { .. }
    ));

    // Process B finds it once A's lease has ended and sends it again, under the same key.
    let mut b = worker(&services, "node-b");
    assert!(matches!(b.run_once(start()).await.unwrap(), Outcome::Idle { .. }), "A's lease still holds");
    f.clock.advance(SignedDuration::from_secs(61));
    assert_eq!(b.run_once(f.clock.now()).await.unwrap(), Outcome::Worked);
    assert_eq!(state_of(&f.store, &f, JobState::Done).await.len(), 1);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(key, _, verified)| key == "recall:v1:send:9" && *verified), "{seen:?}");

    // Once recorded as sent, a job run again (its completion lost) sends nothing.
    let job = f.store.jobs(ws, JobState::Done, 1).await.unwrap().remove(0).job;
    SendHandler::new(services.messaging.clone()).handle(&job).await.unwrap();
    assert_eq!(receiver.seen().len(), 2);
}

pub(crate) async fn marketing_is_held_to_consent_the_cap_and_quiet_hours_when_it_is_sent(f: Fixture) {
    let (receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let mut worker = worker(&services, "node-a");
    let fan = customer(&services, &owner, "+8613800000003", true).await;
    let stranger = customer(&services, &owner, "+8613800000004", false).await;
    let leaver = customer(&services, &owner, "+8613800000005", true).await;
    let erased = customer(&services, &owner, "+8613800000006", true).await;

    // 16:00 in Shanghai. Three marketing messages to one customer, sent side by side: the default
    // cap (2 in 7 days) lets exactly two through. No consent, consent withdrawn after queuing, and
    // a customer erased after queuing: nothing reaches them.
    for n in 1..=3 {
        queue(&services, &owner, &format!("promo:{n}"), fan, MessageClass::Marketing).await;
    }
    queue(&services, &owner, "promo:stranger", stranger, MessageClass::Marketing).await;
    queue(&services, &owner, "promo:leaver", leaver, MessageClass::Marketing).await;
    queue(&services, &owner, "promo:erased", erased, MessageClass::Marketing).await;
    set_consent(&services, &owner, leaver, false).await;
    services.erase_customer(&owner, erased).await.unwrap();
    assert_eq!(worker.run_once(start()).await.unwrap(), Outcome::Worked);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|(_, to, verified)| *to == fan.0 && *verified));
    let all = statuses(&services, &owner).await;
    let count = |status| all.iter().filter(|(_, s, _)| *s == status).count();
    assert_eq!((count(MessageStatus::Sent), count(MessageStatus::Blocked)), (2, 3), "{all:?}");
    assert!(!all.iter().any(|(key, ..)| key == "promo:erased"), "an erased customer's messages are gone");
    let fans = ["promo:1", "promo:2", "promo:3"];
    let capped = all.iter().find(|(k, s, _)| fans.contains(&k.as_str()) && *s == MessageStatus::Blocked);
    assert_eq!(capped.unwrap().2.as_deref(), Some("2 marketing messages on hooks in the last 7 days (at most 2)"));
    let (_, _, why) = all.iter().find(|(k, ..)| k == "promo:leaver").unwrap();
    assert_eq!(why.as_deref(), Some("the customer withdrew marketing consent on sms"));
    let export = services.export_customer(&owner, stranger).await.unwrap().to_string();
    assert!(export.contains("Message Blocked") && export.contains("consent"), "{export}");

    // 22:00 in Shanghai: a marketing message waits for 09:00, then goes; a transactional one goes now.
    let night = start().checked_add(SignedDuration::from_hours(6)).unwrap();
    f.clock.advance(SignedDuration::from_hours(6));
    let owl = customer(&services, &owner, "+8613800000007", true).await;
    queue(&services, &owner, "night:marketing", owl, MessageClass::Marketing).await;
    queue(&services, &owner, "night:receipt", owl, MessageClass::Transactional).await;
    assert_eq!(worker.run_once(night).await.unwrap(), Outcome::Worked);
    let morning = start().checked_add(SignedDuration::from_hours(17)).unwrap();
    assert_eq!(worker.run_once(night).await.unwrap(), Outcome::Idle { next_due: Some(morning) });
    let keys: Vec<String> = receiver.seen().into_iter().skip(2).map(|(k, ..)| k).collect();
    assert_eq!(keys, ["night:receipt"]);
    f.clock.advance(SignedDuration::from_hours(11));
    assert_eq!(worker.run_once(morning).await.unwrap(), Outcome::Worked);
    let keys: Vec<String> = receiver.seen().into_iter().skip(2).map(|(k, ..)| k).collect();
    assert_eq!(keys, ["night:receipt", "night:marketing"]);
}

/// The request's idempotency key, or empty.
fn key(headers: &HeaderMap) -> String {
    headers.get(webhook::IDEMPOTENCY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

pub(crate) async fn the_workspace_sets_its_guardrails_and_a_channel_its_rate(f: Fixture) {
    let (receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let messaging = &services.messaging;
    // Bad settings are refused, each named; good ones apply to the next send.
    let bad: MessagingSettings = serde_json::from_value(serde_json::json!({
        "quiet_hours": {"start": "25:00", "end": "09:00"}, "frequency_cap": {"max": 2, "days": 0},
    }))
    .unwrap();
    match messaging.set_messaging_settings(&owner, &bad).await {
        Err(siyu_domain::DomainError::Invalid(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["quiet_hours.start", "frequency_cap.days"]);
        }
        other => panic!("{other:?}"),
    }
    let night_owl: MessagingSettings =
        serde_json::from_value(serde_json::json!({"quiet_hours": null, "frequency_cap": {"max": 1, "days": 1}}))
            .unwrap();
    messaging.set_messaging_settings(&owner, &night_owl).await.unwrap();
    assert_eq!(messaging.messaging_settings(&owner).await.unwrap(), night_owl);
    let fan = customer(&services, &owner, "+8613500000001", true).await;
    let night = start().checked_add(SignedDuration::from_hours(7)).unwrap();
    f.clock.advance(SignedDuration::from_hours(7));
    let mut worker = worker(&services, "node-a");
    queue(&services, &owner, "owl:1", fan, MessageClass::Marketing).await;
    queue(&services, &owner, "owl:2", fan, MessageClass::Marketing).await;
    assert_eq!(worker.run_once(night).await.unwrap(), Outcome::Worked);
    let all = statuses(&services, &owner).await;
    let count = |status| all.iter().filter(|(_, s, _)| *s == status).count();
    assert_eq!((count(MessageStatus::Sent), count(MessageStatus::Blocked)), (1, 1), "no quiet hours, a cap of one");

    // Two a minute on the channel: four receipts go 30 s apart, waiting without losing attempts.
    let paced = ChannelInput {
        kind: "webhook".into(),
        settings: serde_json::json!({"url": url, "consent_channel": "sms", "rate_per_minute": 2})
            .as_object()
            .unwrap()
            .clone(),
        secrets: Default::default(),
    };
    messaging.save_channel(&owner, "hooks", paced).await.unwrap();
    for n in 1..=4 {
        queue(&services, &owner, &format!("receipt:{n}"), fan, MessageClass::Transactional).await;
    }
    let at = |s: i64| night.checked_add(SignedDuration::from_secs(s)).unwrap();
    assert_eq!(worker.run_once(at(0)).await.unwrap(), Outcome::Worked);
    assert_eq!(receiver.seen().len(), 2, "one receipt now");
    assert_eq!(worker.run_once(at(1)).await.unwrap(), Outcome::Idle { next_due: Some(at(30)) });
    for (s, sent) in [(30, 3), (60, 4), (90, 5)] {
        f.clock.advance(SignedDuration::from_secs(30));
        assert_eq!(worker.run_once(at(s)).await.unwrap(), Outcome::Worked);
        assert_eq!(receiver.seen().len(), sent, "at {s} s");
    }
    let jobs = services.stores.jobs.jobs(f.workspaces[0], JobState::Done, 20).await.unwrap();
    assert!(jobs.iter().all(|r| r.job.attempts <= 1), "waiting for a slot costs no attempt");
}

/// A JSON SMS gateway's double: records each request and answers `{"code": "OK", "id": …}`.
async fn gateway() -> (Arc<Mutex<Vec<serde_json::Value>>>, String) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let router = axum::Router::new()
        .route(
            "/sms",
            axum::routing::post(
                |State(received): State<Arc<Mutex<Vec<serde_json::Value>>>>,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    received.lock().unwrap().push(body);
                    axum::Json(serde_json::json!({"code": "OK", "message": "ok", "id": "biz-1"}))
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (received, url)
}

pub(crate) async fn an_sms_reaches_the_customers_phone_with_its_parameters_rendered(f: Fixture) {
    let (received, url) = gateway().await;
    let (services, owner) = services(&f, "http://127.0.0.1:9/unused", false).await;
    let body = serde_json::json!({
        "Phone": "{phone}", "Sign": "{sign_name}", "Template": "{template_code}", "Params": "{params}", "OutId": "{key}",
    });
    let input = ChannelInput {
        kind: "sms".into(),
        settings: serde_json::json!({"url": url, "format": "json", "body": body, "sign_name": "思语",
            "template_code": "SMS_1", "code_field": "code", "ok_codes": ["OK"], "id_field": "id"})
        .as_object()
        .unwrap()
        .clone(),
        secrets: Default::default(),
    };
    services.messaging.save_channel(&owner, "sms", input).await.unwrap();
    let with_consent = customer(&services, &owner, "+8613800000031", true).await;
    let without = customer(&services, &owner, "+8613800000032", false).await;
    for (key, to) in [("points:1", with_consent), ("points:2", without)] {
        let input = MessageInput {
            channel: "sms".into(),
            customer_id: to,
            class: Some(MessageClass::Marketing),
            saved_template: None,
            subject: None,
            body: "{{ customer.traits.name }}，您的积分即将过期".into(),
            html: None,
            data: serde_json::Value::Null,
            template: Some("SMS_2".into()),
            params: [("name".to_string(), "{{ customer.traits.name }}".to_string())].into(),
            en: None,
            key: Some(key.into()),
        };
        services.messaging.send(&owner, input).await.unwrap();
    }
    // A parameter naming a variable no customer has is refused when the message is queued.
    let bad: MessageInput = serde_json::from_value(serde_json::json!({
        "channel": "sms", "customer_id": with_consent.0, "class": "marketing", "body": "x",
        "params": {"name": "{{ customer.traits.nickname }}"},
    }))
    .unwrap();
    let refused = services.messaging.send(&owner, bad).await.unwrap_err().to_string();
    assert!(refused.contains("params.name"), "{refused}");

    let mut worker = worker(&services, "node-a");
    // The fixture's start is 16:00 in the workspace's zone: outside quiet hours.
    while worker.run_once(start()).await.unwrap() == Outcome::Worked {}
    let received = received.lock().unwrap().clone();
    assert_eq!(
        received,
        vec![
            serde_json::json!({"Phone": "13800000031", "Sign": "思语", "Template": "SMS_2", "Params": {"name": "王小明"}, "OutId": "points:1"})
        ],
        "only the customer with consent on SMS"
    );
    let statuses = statuses(&services, &owner).await;
    assert!(statuses.contains(&("points:1".into(), MessageStatus::Sent, None)), "{statuses:?}");
    assert!(statuses.iter().any(|(k, s, _)| k == "points:2" && *s == MessageStatus::Blocked), "{statuses:?}");
}

/// A Feishu group robot's double: records each text posted and answers `{"code": 0}`.
async fn feishu_robot() -> (Arc<Mutex<Vec<String>>>, String) {
    let texts: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = texts.clone();
    let router = axum::Router::new().route(
        "/open-apis/bot/v2/hook/t",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| async move {
            seen.lock().unwrap().push(body["content"]["text"].as_str().unwrap_or_default().to_string());
            axum::Json(serde_json::json!({"code": 0, "msg": "success"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/open-apis/bot/v2/hook/t", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (texts, url)
}

pub(crate) async fn staff_hear_of_each_new_task_and_of_failed_messages_once_a_window(f: Fixture) {
    let refusal = (StatusCode::BAD_REQUEST, None, "no such account");
    let (_, url) = receiver(&f.clock, vec![refusal; 3]).await;
    let (services, owner) = services(&f, &url, false).await;
    let (robot, robot_url) = feishu_robot().await;
    let input = ChannelInput {
        kind: "feishu".into(),
        settings: Default::default(),
        secrets: [("url".to_string(), robot_url), ("secret".to_string(), "feishu-secret".to_string())].into(),
    };
    services.messaging.save_channel(&owner, "ops", input).await.unwrap();

    // Only a channel that notifies staff can be the staff channel.
    for (name, says) in [("hooks", "messages customers"), ("ghost", "no channel")] {
        let settings = MessagingSettings { staff_channel: Some(name.into()), ..Default::default() };
        match services.messaging.set_messaging_settings(&owner, &settings).await {
            Err(siyu_domain::DomainError::Invalid(errors)) => {
                assert!(errors[0].field == "staff_channel" && errors[0].reason.contains(says), "{errors:?}")
            }
            other => panic!("{name} as the staff channel: {other:?}"),
        }
    }
    let settings = MessagingSettings { staff_channel: Some("ops".into()), ..Default::default() };
    services.messaging.set_messaging_settings(&owner, &settings).await.unwrap();

    // Two messages refused in one window: staff hear once, with the channel, customer and reason.
    let a = customer(&services, &owner, "+8613900000001", true).await;
    let b = customer(&services, &owner, "+8613900000002", true).await;
    queue(&services, &owner, "bill-a", a, MessageClass::Transactional).await;
    queue(&services, &owner, "bill-b", b, MessageClass::Transactional).await;
    let mut sends = worker(&services, "node-a");
    let now = f.clock.now();
    sends.run_once(now).await.unwrap();
    sends.run_once(now).await.unwrap();
    let texts = robot.lock().unwrap().clone();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("「hooks」") && texts[0].contains("no such account"), "{texts:?}");
    assert!(texts[0].contains(&format!("#{}", a.0)) || texts[0].contains(&format!("#{}", b.0)), "{texts:?}");
    assert!(texts[0].contains("https://siyu.example/messages?channel=hooks&status=failed"), "{texts:?}");
    let notices = services.messaging.messages(&owner, Default::default(), 50).await.unwrap();
    let notice = notices.iter().find(|m| m.key.starts_with("staff:failed:hooks:")).expect("the notice is logged");
    assert_eq!((notice.channel.as_str(), notice.status), ("ops", MessageStatus::Sent));

    // The next window's first failure is told again.
    f.clock.advance(SignedDuration::from_mins(11));
    queue(&services, &owner, "bill-c", a, MessageClass::Transactional).await;
    let later = f.clock.now();
    sends.run_once(later).await.unwrap();
    sends.run_once(later).await.unwrap();
    assert_eq!(robot.lock().unwrap().len(), 2);

    // A journey's new follow-up task is told once, with its reason and the customer's page.
    let journey: siyu_domain::journeys::JourneyInput = serde_json::from_value(serde_json::json!({
        "name": "回访",
        "definition": {"trigger": {"type": "api"}, "start": "follow",
                       "nodes": {"follow": {"type": "task", "reason": "回访高价值客户"}}},
    }))
    .unwrap();
    let id = services.journeys.create(&owner, &journey).await.unwrap().id;
    services.journeys.publish(&owner, id).await.unwrap();
    services.journeys.enter_customers(&owner, id, &[b], "vip-1").await.unwrap();
    let mut steps = siyu_jobs::journeys::StepWorker::new(services.journeys.clone(), "node-a", 100);
    assert_eq!(steps.run_once(later).await.unwrap(), Outcome::Worked);
    sends.run_once(later).await.unwrap();
    let texts = robot.lock().unwrap().clone();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[2].contains("回访高价值客户") && texts[2].contains(&format!("https://siyu.example/customers/{}", b.0))
    );
    assert!(!matches!(steps.run_once(later).await.unwrap(), Outcome::Worked));
    sends.run_once(later).await.unwrap();
    assert_eq!(robot.lock().unwrap().len(), 3, "once");
}
