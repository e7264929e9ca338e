//! The storage contract: every case runs against SQLite and PostgreSQL through the domain services.

// Test cases are plain async fns called by generated #[test]s; a panic is their failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod customers;
mod events;
mod feed;
mod models;
mod segments;

use siyu_core::SystemClock;
use siyu_core::crypto::SecretKey;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_store::Backend;
use std::sync::Arc;

/// Services over a fresh store, plus what keeps it alive.
pub struct Fixture {
    pub services: Services,
    /// Whether the store is PostgreSQL.
    pub postgres: bool,
    backend: Backend,
    key: SecretKey,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    /// Creates a workspace and returns an owner principal for it.
    pub async fn workspace(&self, slug: &str) -> Principal {
        let ws =
            self.services.access.create_workspace(&NewWorkspace::parse(slug, None, None, None).unwrap()).await.unwrap();
        Principal::cli(ws.id)
    }

    /// Returns services over the same store, opened anew (as another process, or a restart, would).
    pub async fn reopen(&self) -> Services {
        let stores = siyu_store::open(&self.backend).await.unwrap();
        Services::new(stores, self.key.clone(), Arc::new(SystemClock))
    }
}

pub async fn fresh_sqlite() -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::Sqlite { path: dir.path().join("siyu.db") };
    let stores = siyu_store::open(&backend).await.unwrap();
    let key = SecretKey::generate().unwrap();
    let services = Services::new(stores, key.clone(), Arc::new(SystemClock));
    Some(Fixture { services, postgres: false, backend, key, _dir: Some(dir) })
}

/// A fresh schema in the PostgreSQL named by `SIYU_TEST_PG_URL`; `None` (test skipped with a note)
/// when it is unset. `.ci/run` always sets it.
pub async fn fresh_postgres() -> Option<Fixture> {
    let Ok(url) = std::env::var("SIYU_TEST_PG_URL") else {
        assert!(std::env::var_os("SIYU_CI").is_none(), "SIYU_TEST_PG_URL must be set under CI (scripts/test)");
        eprintln!("SIYU_TEST_PG_URL is unset: PostgreSQL case skipped");
        return None;
    };
    let schema = format!("t_{}", &SecretKey::generate().unwrap().to_hex()[..16]);
    let backend = Backend::Postgres { url, schema: Some(schema) };
    let stores = siyu_store::open(&backend).await.unwrap();
    let key = SecretKey::generate().unwrap();
    let services = Services::new(stores, key.clone(), Arc::new(SystemClock));
    Some(Fixture { services, postgres: true, backend, key, _dir: None })
}

/// Runs each named case against both backends.
#[macro_export]
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() {
                if let Some(fixture) = $crate::fresh_sqlite().await { super::$case(fixture).await }
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() {
                if let Some(fixture) = $crate::fresh_postgres().await { super::$case(fixture).await }
            })*
        }
    };
}
