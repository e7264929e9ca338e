//! Acknowledged events survive SIGKILL: a real `siyu serve` process is killed in the middle of a
//! load; after a restart every acknowledged event is in the log, and the client's retries of every
//! batch (acknowledged or not) leave each event stored exactly once. A journey's sends survive it
//! too: killed while customers enter and messages go out, the restarted server delivers one
//! message per customer — none lost, none under a second key — to a receiver that counts them.

use siyu::{App, Config};
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

fn serve(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_siyu"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("SIYU_LOG", "warn")
        .env("SIYU_CHANNELS__ALLOW_PRIVATE_ADDRESSES", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("siyu starts")
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

fn batch(n: usize) -> String {
    let items: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            serde_json::json!({"type": "track", "userId": format!("u{}", (n * 100 + i) % 997), "event": "Product Viewed",
                               "messageId": format!("b{n}-{i}")})
        })
        .collect();
    serde_json::json!({ "batch": items }).to_string()
}

async fn send(http: &reqwest::Client, base: &str, key: &str, n: usize) -> Result<serde_json::Value, reqwest::Error> {
    http.post(format!("{base}/v1/batch"))
        .basic_auth(key, Some(""))
        .body(batch(n))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_and_retries_store_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_tests(dir.path(), None);
    let key = {
        let app = App::build(&config).await.unwrap();
        let ws = app
            .services()
            .access
            .create_workspace(&NewWorkspace::parse("crash", None, None, None).unwrap())
            .await
            .unwrap();
        app.services()
            .access
            .create_key(&Principal::cli(ws.id), KeyKind::Write, Role::Operator, "crash")
            .await
            .unwrap()
            .1
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let http = siyu::http_client().build().unwrap();
    let mut server = serve(dir.path(), port);
    wait_ready(&http, &base).await;

    const BATCHES: usize = 400;
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (http, base, key, acknowledged, next) =
            (http.clone(), base.clone(), key.clone(), acknowledged.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= BATCHES {
                    return;
                }
                match send(&http, &base, &key, n).await {
                    Ok(answer) if answer["accepted"] == 100 => {
                        acknowledged.lock().unwrap().insert(n);
                    }
                    _ => return,
                }
            }
        }));
    }
    // Kill the server while batches are in flight.
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() < BATCHES, "the kill came too late to test anything");

    // Restart; the client retries every batch it did not see acknowledged, and a few it did.
    let mut server = serve(dir.path(), port);
    wait_ready(&http, &base).await;
    let mut duplicates = 0;
    for n in 0..BATCHES {
        let answer = send(&http, &base, &key, n).await.unwrap();
        duplicates += answer["duplicates"].as_u64().unwrap();
        if acknowledged.contains(&n) {
            assert_eq!(answer["duplicates"], 100, "batch {n} was acknowledged before the crash: {answer}");
        }
    }
    assert!(duplicates >= acknowledged.len() as u64 * 100);
    server.kill().unwrap();
    server.wait().unwrap();

    let app = App::build(&config).await.unwrap();
    let ws = app.services().access.workspace_by_slug("crash").await.unwrap();
    let mut stored: HashMap<String, u32> = HashMap::new();
    app.services()
        .stores
        .events
        .scan(ws.id, &mut |event| *stored.entry(event.message_id.to_string()).or_default() += 1)
        .await
        .unwrap();
    assert_eq!(stored.len(), BATCHES * 100, "every event is stored");
    assert!(stored.values().all(|n| *n == 1), "no event is stored twice");
}

const HOOK_SECRET: &str = "whsec-durability-0123456789";

/// A receiver of webhook messages: each verified delivery's idempotency key and customer.
#[derive(Default)]
struct Receiver {
    deliveries: Mutex<Vec<(String, i64)>>,
}

async fn receiver() -> (Arc<Receiver>, String) {
    use axum::extract::State;
    let receiver = Arc::new(Receiver::default());
    let route = axum::routing::post(
        |State(receiver): State<Arc<Receiver>>, headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
            let now = siyu_core::Clock::now(&siyu_core::SystemClock).as_second();
            let window = siyu_channels::webhook::DEFAULT_REPLAY_WINDOW;
            if siyu_channels::webhook::verify_headers(HOOK_SECRET.as_bytes(), &headers, &body, now, window).is_err() {
                return axum::http::StatusCode::UNAUTHORIZED;
            }
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let message: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            receiver.deliveries.lock().unwrap().push((key, message["customer_id"].as_i64().unwrap_or(0)));
            axum::http::StatusCode::OK
        },
    );
    let router = axum::Router::new().route("/hook", route).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (receiver, url)
}

/// Posts sign-ups `25n..25(n+1)` (users `s{i}`, message ids `su-{i}`).
async fn post_signups(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> Result<reqwest::Response, reqwest::Error> {
    let items: Vec<serde_json::Value> = (n * 25..(n + 1) * 25)
        .map(|i| serde_json::json!({"type": "track", "userId": format!("s{i}"), "event": "Signed Up", "messageId": format!("su-{i}")}))
        .collect();
    let body = serde_json::json!({"batch": items}).to_string();
    http.post(format!("{base}/v1/batch")).basic_auth(key, Some("")).body(body).send().await?.error_for_status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journeys_sends_survive_sigkill_once_per_customer() {
    const CUSTOMERS: usize = 1_000;
    let (receiver, url) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path(), None);
    config.channels.allow_private_addresses = true;
    let key = {
        let app = App::build(&config).await.unwrap();
        let services = app.services();
        let ws =
            services.access.create_workspace(&NewWorkspace::parse("crash", None, None, None).unwrap()).await.unwrap();
        let owner = Principal::cli(ws.id);
        let channel = serde_json::from_value(serde_json::json!({
            "kind": "webhook", "settings": {"url": url, "timeout_ms": 5000}, "secrets": {"secret": HOOK_SECRET},
        }))
        .unwrap();
        services.messaging.save_channel(&owner, "hook", channel).await.unwrap();
        let journey = serde_json::from_value(serde_json::json!({
            "name": "欢迎",
            "definition": {"trigger": {"type": "event", "event": "Signed Up"}, "start": "send",
                "nodes": {"send": {"type": "send", "channel": "hook", "class": "transactional", "body": "欢迎，{{ customer.id }}"}}},
        }))
        .unwrap();
        let id = services.journeys.create(&owner, &journey).await.unwrap().id;
        services.journeys.publish(&owner, id).await.unwrap();
        services.access.create_key(&owner, KeyKind::Write, Role::Operator, "crash").await.unwrap().1
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let http = siyu::http_client().build().unwrap();
    let mut server = serve(dir.path(), port);
    wait_ready(&http, &base).await;

    // Sign-ups keep arriving while the server is killed once some messages went out.
    let poster = {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        tokio::spawn(async move {
            for n in 0..CUSTOMERS / 25 {
                if post_signups(&http, &base, &key, n).await.is_err() {
                    return;
                }
            }
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while receiver.deliveries.lock().unwrap().len() < 10 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    poster.await.unwrap();
    let before = receiver.deliveries.lock().unwrap().len();
    assert!(before < CUSTOMERS, "the kill came too late to test anything ({before} delivered)");

    // Restarted, the server finishes — what the killed process had claimed once its leases (two
    // minutes) end — and the client sends every batch again (the acknowledged ones are
    // duplicates, stored and heard once): every customer gets their one message.
    let mut server = serve(dir.path(), port);
    wait_ready(&http, &base).await;
    for n in 0..CUSTOMERS / 25 {
        post_signups(&http, &base, &key, n).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let distinct = || receiver.deliveries.lock().unwrap().iter().map(|(k, _)| k.clone()).collect::<HashSet<_>>().len();
    while distinct() < CUSTOMERS && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let deliveries = receiver.deliveries.lock().unwrap().clone();
    let mut keys_per_customer: HashMap<i64, HashSet<String>> = HashMap::new();
    for (key, customer) in &deliveries {
        keys_per_customer.entry(*customer).or_default().insert(key.clone());
    }
    assert_eq!(
        keys_per_customer.len(),
        CUSTOMERS,
        "every customer who signed up got a message ({before} before the kill)"
    );
    assert!(keys_per_customer.values().all(|keys| keys.len() == 1), "no customer got a second message");
    // A delivery repeated under its key (the provider answered, the process died before recording
    // it) is what the key is for; there are at most as many as were in flight.
    let repeats = deliveries.len() - CUSTOMERS;
    assert!(repeats <= 64, "{repeats} repeated deliveries");
}
