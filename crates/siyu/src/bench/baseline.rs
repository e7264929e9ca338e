//! The bare ingest baseline of `siyu bench ingest`: the Tracking API's batches received over HTTP,
//! parsed into typed messages, appended to one file as lines and fsync'd in groups, and nothing else
//! (docs/BENCHMARKS.md, "The ingest baseline"). siyu's rate divided by its rate, measured in the same
//! run, is a figure that means the same on any machine.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

/// A Segment batch body, as the baseline reads it (other fields are skipped).
#[derive(Deserialize)]
struct Batch {
    batch: Vec<Message>,
}

/// Segment's message types.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum MessageKind {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

/// One Tracking API message, typed: the fields siyu reads, the free-form objects (`properties`,
/// `traits`, `context`) as JSON maps, since siyu too must read them whole to check and keep them.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(rename = "type")]
    kind: MessageKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anonymous_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    properties: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traits: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<Map<String, Value>>,
}

/// The lines of one request, and whom to tell once they are durable.
struct Append {
    lines: Vec<u8>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// A running baseline server; [`Baseline::stop`] ends it and removes its file.
pub(super) struct Baseline {
    /// `http://127.0.0.1:<port>/v1/batch`.
    pub url: String,
    file: PathBuf,
    fsyncs: Arc<AtomicU64>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: std::thread::JoinHandle<std::io::Result<()>>,
    writer: std::thread::JoinHandle<()>,
}

impl Baseline {
    /// Starts the baseline on a loopback port, appending to a new file `file`. It runs on a tokio
    /// runtime and threads of its own, as `siyu serve` runs in its own process, so the load
    /// generator's runtime is not shared with it.
    pub fn start(file: &Path) -> anyhow::Result<Self> {
        let output = siyu_store::private_files::options().write(true).create(true).truncate(true).open(file)?;
        let fsyncs = Arc::new(AtomicU64::new(0));
        let (appends, queue) = mpsc::channel::<Append>();
        let counter = fsyncs.clone();
        let writer = std::thread::Builder::new()
            .name("bench-baseline-writer".into())
            .spawn(move || write_groups(output, queue, &counter))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/v1/batch", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = axum::Router::new().route("/v1/batch", axum::routing::post(batch)).with_state(appends);
        let server = std::thread::Builder::new().name("bench-baseline".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        stopped.await.ok();
                    })
                    .await
            })
        })?;
        Ok(Self { url, file: file.to_path_buf(), fsyncs, stop, server, writer })
    }

    /// Returns the fsyncs done so far (one per group of concurrent requests).
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Stops the server and its writer, then removes the file.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let Self { server, writer, file, .. } = self;
        tokio::task::spawn_blocking(move || {
            server.join().map_err(|_| anyhow::anyhow!("the baseline server panicked"))??;
            // The router, and with it the last sender of appends, went with the server's runtime.
            writer.join().map_err(|_| anyhow::anyhow!("the baseline writer panicked"))?;
            std::fs::remove_file(&file)?;
            anyhow::Ok(())
        })
        .await?
    }
}

/// POST /v1/batch: parses the batch, hands its messages as lines to the writer and answers, as
/// siyu's Tracking API does, once they are durable.
async fn batch(State(appends): State<mpsc::Sender<Append>>, headers: HeaderMap, body: Bytes) -> Response {
    // The key is not checked: only the header's presence, as a client must send it.
    if !headers.get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"Basic ")) {
        return (StatusCode::UNAUTHORIZED, "missing Basic authorization").into_response();
    }
    let parsed: Batch = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut lines = Vec::with_capacity(body.len());
    for message in &parsed.batch {
        if let Err(e) = serde_json::to_writer(&mut lines, message) {
            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
        lines.push(b'\n');
    }
    let (done, durable) = tokio::sync::oneshot::channel();
    if appends.send(Append { lines, done }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the writer has stopped").into_response();
    }
    match durable.await {
        Ok(Ok(())) => axum::Json(serde_json::json!({"success": true, "accepted": parsed.batch.len(), "rejected": []}))
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the writer has stopped").into_response(),
    }
}

/// Group commit: takes every append waiting, writes them, syncs the file once, then answers them
/// all; returns when every sender is gone.
fn write_groups(mut file: std::fs::File, queue: mpsc::Receiver<Append>, fsyncs: &AtomicU64) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        group.extend(queue.try_iter());
        let written = group.iter().try_for_each(|append| file.write_all(&append.lines)).and_then(|()| file.sync_data());
        fsyncs.fetch_add(1, Ordering::Relaxed);
        let result = written.map_err(|e| format!("write or fsync failed: {e}"));
        for append in group {
            let _ = append.done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn baseline_acknowledges_a_batch_once_its_lines_are_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.ndjson");
        let baseline = Baseline::start(&path).unwrap();
        let body = serde_json::json!({"batch": [
            {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m1",
             "timestamp": "2026-01-05T00:00:00Z", "properties": {"revenue": 39.5}},
            {"type": "identify", "anonymousId": "a1", "traits": {"city": "上海"}},
        ]});
        let client = crate::http_client().build().unwrap();
        let answer: Value = client
            .post(&baseline.url)
            .basic_auth("key", Some(""))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["accepted"], 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["properties"]["revenue"], 39.5);
        assert_eq!(lines[1]["traits"]["city"], "上海");
        assert!(baseline.fsyncs() >= 1);
        let unauthenticated = client.post(&baseline.url).json(&body).send().await.unwrap();
        assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
        drop(client);
        baseline.stop().await.unwrap();
        assert!(!path.exists());
    }
}
