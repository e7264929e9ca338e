//! Messages sent as durable jobs through the real webhook adapter to a receiver on 127.0.0.1 that
//! verifies every request and answers as scripted: retried with back-off (and no sooner than
//! `Retry-After`), dead-lettered when refused, never sent for another workspace, and sent again
//! under the same idempotency key when a process stopped between the provider's answer and the
//! job's completion.

use crate::{Fixture, start};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use siyu_channels::webhook::{self, Webhook, WebhookConfig};
use siyu_core::clock::{Clock, ManualClock};
use siyu_core::{CustomerId, WorkspaceId};
use siyu_domain::channels::OutgoingMessage;
use siyu_domain::jobs::{JobState, JobStore};
use siyu_jobs::send::{SEND_KIND, SendHandler, send_job};
use siyu_jobs::{Handler, JobWorker, Outcome, Worker};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec-jobs-0123456789";

/// A receiver: answers the scripted responses in turn (then 200), and records each request's
/// idempotency key and whether its signature verified at the test's clock.
struct Receiver {
    script: Mutex<VecDeque<(StatusCode, Option<&'static str>, &'static str)>>,
    seen: Mutex<Vec<(String, bool)>>,
    clock: Arc<ManualClock>,
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
    receiver.seen.lock().unwrap().push((key(&headers), verified));
    let (status, retry_after, text) =
        receiver.script.lock().unwrap().pop_front().unwrap_or((StatusCode::OK, None, "ok"));
    match retry_after {
        Some(seconds) => (status, [("retry-after", seconds)], text).into_response(),
        None => (status, text).into_response(),
    }
}

/// Starts a receiver; returns it and its URL.
async fn receiver(
    clock: &Arc<ManualClock>,
    script: Vec<(StatusCode, Option<&'static str>, &'static str)>,
) -> (Arc<Receiver>, String) {
    let receiver =
        Arc::new(Receiver { script: Mutex::new(script.into()), seen: Mutex::new(Vec::new()), clock: clock.clone() });
    let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (receiver, url)
}

/// A process's send handler whose channel `hooks` posts to `url`.
fn handler(url: &str, clock: &Arc<ManualClock>) -> SendHandler {
    let config = WebhookConfig {
        url: url.parse().unwrap(),
        secret: secrecy::SecretString::from(SECRET),
        timeout: std::time::Duration::from_secs(5),
        allow_private_addresses: true,
    };
    let hook = Webhook::new(config, clock.clone()).unwrap();
    SendHandler::default().with("hooks", Arc::new(hook))
}

fn message(ws: WorkspaceId, key: &str) -> OutgoingMessage {
    OutgoingMessage {
        idempotency_key: key.into(),
        workspace: ws,
        customer: Some(CustomerId(7)),
        to: String::new(),
        subject: None,
        body: "生日快乐".into(),
        data: serde_json::json!({}),
        html: None,
        unsubscribe_url: None,
    }
}

fn worker(store: &Arc<dyn JobStore>, owner: &str, handler: SendHandler) -> JobWorker {
    JobWorker::new("channels.send", store.clone(), owner, SignedDuration::from_secs(60), 100)
        .handle(SEND_KIND, handler)
        .concurrency(8)
}

async fn state_of(store: &Arc<dyn JobStore>, ws: WorkspaceId, state: JobState) -> Vec<(String, Option<String>)> {
    store.jobs(ws, state, 10).await.unwrap().into_iter().map(|r| (r.job.key, r.last_error)).collect()
}

pub(crate) async fn a_message_is_sent_once_through_retries_and_a_refusal_is_dead_lettered(f: Fixture) {
    let clock = Arc::new(ManualClock::new(start()));
    let script = vec![
        (StatusCode::SERVICE_UNAVAILABLE, Some("30"), "maintenance"),
        (StatusCode::BAD_GATEWAY, None, ""),
        (StatusCode::OK, None, "ok"),
        (StatusCode::BAD_REQUEST, None, "unknown recipient"),
    ];
    let (receiver, url) = receiver(&clock, script).await;
    let store = f.store.clone();
    let mut worker = worker(&store, "node-a", handler(&url, &clock));
    let ws = f.workspaces[0];
    let at = |seconds: i64| start().checked_add(SignedDuration::from_secs(seconds)).unwrap();

    // The same message scheduled twice is one job.
    let birthday = message(ws, "birthday:v2:send:7:2026");
    let (id, new) = store.schedule(ws, &send_job("hooks", &birthday, start()), start()).await.unwrap();
    assert!(new);
    assert_eq!(store.schedule(ws, &send_job("hooks", &birthday, start()), start()).await.unwrap(), (id, false));

    // 503 with Retry-After: 30 → not before 30 s, though the back-off says 10 s.
    assert_eq!(worker.run_once(start()).await.unwrap(), Outcome::Worked);
    assert_eq!(worker.run_once(at(29)).await.unwrap(), Outcome::Idle { next_due: Some(at(30)) });
    // 502 → the back-off: 20 s after the second attempt.
    clock.advance(SignedDuration::from_secs(30));
    assert_eq!(worker.run_once(at(30)).await.unwrap(), Outcome::Worked);
    assert_eq!(worker.run_once(at(31)).await.unwrap(), Outcome::Idle { next_due: Some(at(50)) });
    // 200 → done, and never sent again.
    clock.advance(SignedDuration::from_secs(20));
    assert_eq!(worker.run_once(at(50)).await.unwrap(), Outcome::Worked);
    assert!(matches!(worker.run_once(at(100_000)).await.unwrap(), Outcome::Idle { .. }));
    assert_eq!(state_of(&store, ws, JobState::Done).await.len(), 1);
    {
        let seen = receiver.seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "two failed attempts and one accepted");
        assert!(seen.iter().all(|(key, verified)| key == "birthday:v2:send:7:2026" && *verified), "{seen:?}");
    }

    // A refusal is buried with the provider's reason, at once.
    let refused = message(ws, "welcome:v1:send:8");
    store.schedule(ws, &send_job("hooks", &refused, at(50)), at(50)).await.unwrap();
    assert_eq!(worker.run_once(at(50)).await.unwrap(), Outcome::Worked);
    assert_eq!(
        state_of(&store, ws, JobState::Dead).await,
        vec![("welcome:v1:send:8".to_string(), Some("HTTP 400 Bad Request: unknown recipient".to_string()))]
    );

    // A job whose message names another workspace is never sent; nor one for an unknown channel.
    let other = f.workspaces[1];
    store.schedule(other, &send_job("hooks", &message(ws, "forged"), at(50)), at(50)).await.unwrap();
    store.schedule(other, &send_job("sms", &message(other, "no-channel"), at(50)), at(50)).await.unwrap();
    assert_eq!(worker.run_once(at(50)).await.unwrap(), Outcome::Worked);
    let mut dead = state_of(&store, other, JobState::Dead).await;
    dead.sort();
    assert_eq!(dead[0].0, "forged");
    assert!(dead[0].1.as_deref().unwrap().contains("belongs to workspace"), "{dead:?}");
    assert_eq!(dead[1], ("no-channel".to_string(), Some("no channel \"sms\" is configured".to_string())));
    assert_eq!(receiver.seen.lock().unwrap().len(), 4, "neither reached the receiver");
}

pub(crate) async fn a_send_repeated_after_a_stopped_process_carries_the_same_key(f: Fixture) {
    let clock = Arc::new(ManualClock::new(start()));
    let (receiver, url) = receiver(&clock, Vec::new()).await;
    let store = f.store.clone();
    let ws = f.workspaces[0];
    store.schedule(ws, &send_job("hooks", &message(ws, "recall:v1:send:9"), start()), start()).await.unwrap();

    // Process A claims the job and the provider accepts the message; A stops before completing it.
    let lease = start().checked_add(SignedDuration::from_secs(60)).unwrap();
    let claimed = store.claim(&[SEND_KIND.to_string()], "node-a", start(), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    handler(&url, &clock).handle(&claimed[0]).await.unwrap();
    assert_eq!(state_of(&store, ws, JobState::Pending).await.len(), 1);

    // Process B finds it once A's lease has ended and sends it again, under the same key.
    let mut b = worker(&store, "node-b", handler(&url, &clock));
    assert!(matches!(b.run_once(start()).await.unwrap(), Outcome::Idle { .. }), "A's lease still holds");
    clock.advance(SignedDuration::from_secs(61));
    assert_eq!(b.run_once(clock.now()).await.unwrap(), Outcome::Worked);
    assert_eq!(state_of(&store, ws, JobState::Done).await.len(), 1);
    let seen = receiver.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(key, verified)| key == "recall:v1:send:9" && *verified), "{seen:?}");
}

/// The request's idempotency key, or empty.
fn key(headers: &HeaderMap) -> String {
    headers.get(webhook::IDEMPOTENCY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}
