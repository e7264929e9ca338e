//! The storage contract: every case runs against SQLite and PostgreSQL through the domain services.

// Test cases are plain async fns called by generated #[test]s; a panic is their failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod campaigns;
mod checkins;
mod coupons;
mod customers;
mod events;
mod feed;
mod group_buys;
mod lotteries;
mod models;
mod personal_data;
mod quizzes;
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

    /// Runs raw SQL on the store (to stage what an older siyu left behind).
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        match &self.backend {
            Backend::Sqlite { path } => {
                let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut db).await.unwrap();
            }
            Backend::Postgres { url, schema } => {
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                let set = format!("SET search_path TO {}", schema.as_deref().unwrap());
                sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(&mut db).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut db).await.unwrap();
            }
        }
    }

    /// Returns the rows of `sql`, a query of four columns (integer, text, text, integer), sorted.
    pub async fn rows(&self, sql: &str) -> Vec<(i64, String, String, i64)> {
        use sqlx::Connection;
        let mut rows: Vec<(i64, String, String, i64)> = match &self.backend {
            Backend::Sqlite { path } => {
                let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
                sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&mut db).await.unwrap()
            }
            Backend::Postgres { url, schema } => {
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                let set = format!("SET search_path TO {}", schema.as_deref().unwrap());
                sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(&mut db).await.unwrap();
                sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&mut db).await.unwrap()
            }
        };
        rows.sort();
        rows
    }

    /// Makes a workspace's event log look as an older siyu left it: without the file that says
    /// every event of it is sealed (SQLite's log files; PostgreSQL finds clear rows by their text).
    pub fn unmark_sealed_log(&self, ws: siyu_core::WorkspaceId) {
        if let Backend::Sqlite { path } = &self.backend {
            let marker = path.parent().unwrap().join("events").join(format!("ws-{}", ws.0)).join("sealed.v1");
            std::fs::remove_file(&marker).unwrap();
        }
    }

    /// Returns every `(table, column)` of the store's schema.
    pub async fn columns(&self) -> Vec<(String, String)> {
        use sqlx::Connection;
        match &self.backend {
            Backend::Sqlite { path } => {
                let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
                sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '\\_%' ESCAPE '\\'",
                )
                .fetch_all(&mut db)
                .await
                .unwrap()
            }
            Backend::Postgres { url, schema } => {
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name NOT LIKE '\\_%'",
                )
                .bind(schema.as_deref().unwrap())
                .fetch_all(&mut db)
                .await
                .unwrap()
            }
        }
    }

    /// Returns where the store's bytes at rest hold `needle`: every file of the SQLite data
    /// directory read raw (the database, its write-ahead log, the event log files, snapshots), or
    /// every row of every PostgreSQL table of the schema, as text and, for byte columns, as bytes.
    pub async fn found_at_rest(&self, needle: &str) -> Vec<String> {
        use sqlx::Connection;
        let mut found = Vec::new();
        match &self.backend {
            Backend::Sqlite { path } => {
                let mut dirs = vec![path.parent().unwrap().to_path_buf()];
                while let Some(dir) = dirs.pop() {
                    for entry in std::fs::read_dir(&dir).unwrap() {
                        let file = entry.unwrap().path();
                        if file.is_dir() {
                            dirs.push(file);
                        } else if std::fs::read(&file)
                            .unwrap_or_default()
                            .windows(needle.len())
                            .any(|w| w == needle.as_bytes())
                        {
                            found.push(file.display().to_string());
                        }
                    }
                }
            }
            Backend::Postgres { url, schema } => {
                let schema = schema.as_deref().unwrap();
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                )
                .bind(schema)
                .fetch_all(&mut db)
                .await
                .unwrap();
                let binary: Vec<(String, String)> = sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND data_type = 'bytea'",
                )
                .bind(schema)
                .fetch_all(&mut db)
                .await
                .unwrap();
                for (table, column) in binary {
                    let sql = format!(
                        "SELECT count(*) FROM {schema}.{table} WHERE position(convert_to($1, 'UTF8') IN {column}) > 0"
                    );
                    let n: i64 =
                        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(needle).fetch_one(&mut db).await.unwrap();
                    if n > 0 {
                        found.push(format!("{table}.{column}"));
                    }
                }
                for table in tables {
                    let sql = format!("SELECT count(*) FROM {schema}.{table} t WHERE strpos(t::text, $1) > 0");
                    let n: i64 =
                        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(needle).fetch_one(&mut db).await.unwrap();
                    if n > 0 {
                        found.push(table);
                    }
                }
            }
        }
        found
    }

    /// Returns services over the same store, opened anew (as another process, or a restart, would).
    pub async fn reopen(&self) -> Services {
        self.reopen_with_clock(Arc::new(SystemClock)).await
    }

    /// [`Self::reopen`] with another clock.
    pub async fn reopen_with_clock(&self, clock: Arc<dyn siyu_core::Clock>) -> Services {
        let stores = siyu_store::open(&self.backend).await.unwrap();
        Services::new(stores, self.key.clone(), clock)
    }
}

pub async fn fresh_sqlite() -> Option<Fixture> {
    Some(sqlite_fixture(None).await)
}

/// A fresh SQLite store that moves pending identities into the index at every second one, so
/// that the moves happen between (and inside) a case's steps.
pub async fn fresh_sqlite_flushing() -> Option<Fixture> {
    Some(sqlite_fixture(Some(2)).await)
}

/// A fresh SQLite store, moving pending identities at `identity_flush_at` (default if `None`).
async fn sqlite_fixture(identity_flush_at: Option<usize>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("siyu.db");
    let stores = match identity_flush_at {
        Some(n) => siyu_store::sqlite::open_with(&path, n).await,
        None => siyu_store::sqlite::open(&path).await,
    };
    let key = SecretKey::generate().unwrap();
    let services = Services::new(stores.unwrap(), key.clone(), Arc::new(SystemClock));
    Fixture { services, postgres: false, backend: Backend::Sqlite { path }, key, _dir: Some(dir) }
}

/// Runs the segment upkeep's rounds (as its workers on the runner would) until nothing is queued.
pub async fn run_upkeep(services: &Services) {
    for _ in 0..100 {
        let applied = services.segments.apply_upkeep().await.unwrap();
        let recorded = services.segments.record_upkeep().await.unwrap();
        if !applied && !recorded {
            return;
        }
    }
    panic!("the segment upkeep kept finding work");
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

/// Runs each named case against both backends; cases named after `flushing:` also against SQLite
/// with the identity index's pending rows moved every second identity.
#[macro_export]
macro_rules! contract {
    ($($case:ident),* $(,)? ; flushing: $($flushing:ident),* $(,)?) => {
        $crate::contract!($($case),*);
        mod sqlite_flushing {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $flushing() {
                if let Some(fixture) = $crate::fresh_sqlite_flushing().await { super::$flushing(fixture).await }
            })*
        }
    };
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

/// A customer's pass to the customer API, as a token issued by the owner gives it.
pub async fn pass(
    s: &siyu_domain::Services,
    owner: &siyu_domain::access::Principal,
    customer: siyu_core::CustomerId,
) -> siyu_domain::campaigns::CustomerPass {
    let input = siyu_domain::campaigns::TokenInput::default();
    let token = s.campaigns.customer_token(owner, customer, &input).await.unwrap();
    s.campaigns.authenticate(Some(&token.token), None).await.unwrap()
}

/// The campaign refusal a result is (a panic when it is anything else).
pub fn refusal<T: std::fmt::Debug>(
    result: Result<T, siyu_domain::DomainError>,
) -> siyu_domain::campaigns::CampaignError {
    match result {
        Err(siyu_domain::DomainError::Campaigns(error)) => error,
        other => panic!("expected a campaign refusal, got {other:?}"),
    }
}
