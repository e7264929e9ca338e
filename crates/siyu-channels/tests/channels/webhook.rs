//! The webhook adapter against a receiver on 127.0.0.1 that verifies each request with
//! `siyu_channels::webhook::verify`, as docs/CHANNELS.md tells receivers to, and answers as the
//! test sets it to: accepted, failing, rate limited, redirecting, or never answering.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use siyu_channels::webhook::{self, Webhook, WebhookConfig};
use siyu_core::clock::{Clock, ManualClock, SystemClock};
use siyu_core::{CustomerId, WorkspaceId};
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec-test-0123456789";

/// What the receiver saw: per request, the idempotency key, whether the signature verified, and
/// the JSON body.
#[derive(Default)]
struct Received {
    requests: Mutex<Vec<(String, bool, serde_json::Value)>>,
}

async fn receive(State(seen): State<Arc<Received>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = webhook::verify_headers(
        SECRET.as_bytes(),
        &headers,
        &body,
        SystemClock.now().as_second(),
        webhook::DEFAULT_REPLAY_WINDOW,
    )
    .is_ok();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    seen.requests.lock().unwrap().push((key(&headers), verified, json));
    if verified {
        ([("x-request-id", "r-1")], "ok").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "bad signature").into_response()
    }
}

/// Starts a receiver with the given routes on an ephemeral port; returns its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn receiver() -> (String, Arc<Received>) {
    let seen = Arc::new(Received::default());
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .route(
            "/busy",
            axum::routing::post(|| async {
                (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "7")], "down for upkeep")
            }),
        )
        .route("/limited", axum::routing::post(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }))
        .route("/gone", axum::routing::post(|| async { (StatusCode::GONE, "x".repeat(10_000)) }))
        .route(
            "/moved",
            axum::routing::post(|| async { (StatusCode::FOUND, [("location", "http://169.254.169.254/")]) }),
        )
        .route("/silent", axum::routing::post(std::future::pending::<&'static str>))
        .with_state(seen.clone());
    (serve(router).await, seen)
}

fn adapter(url: &str, secret: &str, allow_private_addresses: bool) -> Webhook {
    adapter_at(url, secret, allow_private_addresses, Arc::new(SystemClock))
}

fn adapter_at(url: &str, secret: &str, allow_private_addresses: bool, clock: Arc<dyn Clock>) -> Webhook {
    Webhook::new(
        WebhookConfig {
            url: url.parse().unwrap(),
            secret: SecretString::from(secret),
            timeout: Duration::from_millis(500),
            allow_private_addresses,
        },
        clock,
    )
    .unwrap()
}

fn message(key: &str) -> OutgoingMessage {
    OutgoingMessage {
        idempotency_key: key.into(),
        workspace: WorkspaceId(3),
        customer: Some(CustomerId(42)),
        to: String::new(),
        subject: Some("欢迎".into()),
        body: "新人礼已到账".into(),
        data: serde_json::json!({"coupon": "WELCOME10"}),
        template: None,
        params: Default::default(),
        html: None,
        unsubscribe_url: None,
    }
}

#[tokio::test]
async fn a_message_arrives_signed_with_its_idempotency_key_and_body() {
    let (base, seen) = receiver().await;
    let hook = adapter(&format!("{base}/hook"), SECRET, true);
    assert_eq!(hook.send(&message("j1:v1:n2:e9")).await, Delivery::Accepted { provider_id: Some("r-1".into()) });
    // A retry of the same message carries the same key, so the receiver can drop it.
    assert!(matches!(hook.send(&message("j1:v1:n2:e9")).await, Delivery::Accepted { .. }));
    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    for (key, verified, body) in requests.iter() {
        assert_eq!(key, "j1:v1:n2:e9");
        assert!(verified, "the receiver verified the signature");
        assert_eq!(body["id"], "j1:v1:n2:e9");
        assert_eq!(body["workspace_id"], 3);
        assert_eq!(body["customer_id"], 42);
        assert_eq!(body["body"], "新人礼已到账");
        assert_eq!(body["data"]["coupon"], "WELCOME10");
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver_and_rejected_for_good() {
    let (base, seen) = receiver().await;
    let hook = adapter(&format!("{base}/hook"), "not-the-receivers-secret", true);
    assert_eq!(
        hook.send(&message("k")).await,
        Delivery::Rejected { reason: "HTTP 401 Unauthorized: bad signature".into() }
    );
    assert!(!seen.requests.lock().unwrap()[0].1);
}

#[tokio::test]
async fn an_attempt_dated_outside_the_replay_window_is_refused_by_the_receiver() {
    let (base, seen) = receiver().await;
    let an_hour_ago = SystemClock.now() - jiff::SignedDuration::from_hours(1);
    let hook = adapter_at(&format!("{base}/hook"), SECRET, true, Arc::new(ManualClock::new(an_hour_ago)));
    assert!(matches!(hook.send(&message("k")).await, Delivery::Rejected { reason } if reason.contains("401")));
    assert!(!seen.requests.lock().unwrap()[0].1, "the receiver found the timestamp stale");
}

#[tokio::test]
async fn failures_are_told_apart_retryable_or_for_good() {
    let (base, _) = receiver().await;
    let send = |path: &str| {
        let hook = adapter(&format!("{base}{path}"), SECRET, true);
        async move { hook.send(&message("k")).await }
    };
    assert_eq!(
        send("/busy").await,
        Delivery::Retry {
            reason: "HTTP 503 Service Unavailable: down for upkeep".into(),
            after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        send("/limited").await,
        Delivery::Retry { reason: "HTTP 429 Too Many Requests: slow down".into(), after: None }
    );
    match send("/gone").await {
        Delivery::Rejected { reason } => {
            assert_eq!(reason.len(), "HTTP 410 Gone: ".len() + siyu_channels::http::MAX_ERROR_BODY)
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(send("/moved").await, Delivery::Rejected { reason } if reason.contains("no redirect")));
    match send("/silent").await {
        Delivery::Retry { reason, after: None } => {
            assert!(reason.contains("no answer") && reason.contains("500ms"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Nobody listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let hook = adapter(&format!("http://{closed}/hook"), SECRET, true);
    assert!(
        matches!(hook.send(&message("k")).await, Delivery::Retry { reason, .. } if reason.contains("could not connect"))
    );
}

#[tokio::test]
async fn a_name_leading_to_a_private_address_is_refused_unless_allowed() {
    let (base, seen) = receiver().await;
    let port = base.rsplit(':').next().unwrap();
    let hook = adapter(&format!("http://localhost:{port}/hook"), SECRET, false);
    match hook.send(&message("k")).await {
        Delivery::Rejected { reason } => {
            assert!(reason.contains("localhost resolves to no public address"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(seen.requests.lock().unwrap().is_empty(), "nothing reached the private address");
    let allowed = adapter(&format!("http://localhost:{port}/hook"), SECRET, true);
    assert!(matches!(allowed.send(&message("k")).await, Delivery::Accepted { .. }));
}

/// The request's idempotency key, or empty.
fn key(headers: &HeaderMap) -> String {
    headers.get(webhook::IDEMPOTENCY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}
