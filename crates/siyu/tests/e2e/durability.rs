//! Acknowledged events survive SIGKILL: a real `siyu serve` process is killed in the middle of a
//! load; after a restart every acknowledged event is in the log, and the client's retries of every
//! batch (acknowledged or not) leave each event stored exactly once.

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
