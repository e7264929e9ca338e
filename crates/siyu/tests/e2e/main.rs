//! End-to-end tests: a real siyu server on an ephemeral port, driven over HTTP (and, for the
//! console, through a real headless Chromium). Every API case runs on SQLite and PostgreSQL.

// Test cases are plain async fns called by generated #[test]s; a panic is their failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_access;
mod api_customers;
mod config;
mod console;
mod console_analytics;
mod console_channels;
mod console_journeys;
mod console_segments;
mod console_support;
mod console_ux;
mod coupons;
mod demo;
mod doc_examples;
mod durability;
mod events;
mod flash_sales;
mod group_buys;
mod hostile;
mod invitations;
mod limits;
mod message_links;
mod messages_api;
mod models;
mod receipts;
mod tracking;
mod wecom;
mod wecom_callbacks;
mod workers;

use siyu::{App, Config};
use siyu_domain::Services;
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use tokio::sync::oneshot;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server with one workspace (`brand`) and an owner secret key.
pub struct TestApp {
    pub base_url: String,
    pub http: reqwest::Client,
    pub services: Services,
    pub owner: Principal,
    pub key: String,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// Starts a server; `None` when the backend is PostgreSQL and `SIYU_TEST_PG_URL` is unset.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a server whose test configuration `configure` changed first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match std::env::var("SIYU_TEST_PG_URL") {
            Ok(url) => Some(url),
            Err(_) => {
                assert!(std::env::var_os("SIYU_CI").is_none(), "SIYU_TEST_PG_URL must be set under CI (scripts/test)");
                eprintln!("SIYU_TEST_PG_URL is unset: PostgreSQL case skipped");
                return None;
            }
        },
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path(), postgres);
    configure(&mut config);
    let app = App::build(&config).await.expect("test config is valid");
    let services = app.services().clone();
    let ws = services
        .access
        .create_workspace(&NewWorkspace::parse("brand", Some("Brand"), None, None).unwrap())
        .await
        .unwrap();
    let owner = Principal::cli(ws.id);
    let (_, key) = services.access.create_key(&owner, KeyKind::Secret, Role::Owner, "tests").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.serve(listener, async move {
        stopped.await.ok();
    }));
    Some(TestApp { base_url, http: siyu::http_client().build().unwrap(), services, owner, key, _stop: stop, _dir: dir })
}

impl TestApp {
    /// Creates a secret key with `role` in the test workspace.
    pub async fn key_with_role(&self, role: Role) -> String {
        self.services.access.create_key(&self.owner, KeyKind::Secret, role, "role key").await.unwrap().1
    }

    /// Creates another workspace and returns an owner key for it.
    pub async fn other_workspace(&self, slug: &str) -> (Principal, String) {
        let ws =
            self.services.access.create_workspace(&NewWorkspace::parse(slug, None, None, None).unwrap()).await.unwrap();
        let owner = Principal::cli(ws.id);
        let (_, key) = self.services.access.create_key(&owner, KeyKind::Secret, Role::Owner, "other").await.unwrap();
        (owner, key)
    }

    /// Sends a request with a key to an API path; returns the status and the JSON body (Null if empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base_url)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json, content_type)
    }

    /// Sends raw bytes with a content type.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)), content_type)
    }
}

/// Runs each named case against a server on SQLite and one on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() {
                if let Some(app) = $crate::spawn_app($crate::Backend::Sqlite).await { super::$case(app).await }
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() {
                if let Some(app) = $crate::spawn_app($crate::Backend::Postgres).await { super::$case(app).await }
            })*
        }
    };
}
