//! Storage for siyu on SQLite (embedded default) and PostgreSQL (scale-out), with one behaviour.
//!
//! The SQL lives once, in `sql/*.rs`, written in the dialect both engines accept (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`); [`sqlite`] and [`postgres`] each compile it against their own driver
//! types with `include!`, so a query can never silently differ between backends. Migrations are
//! per backend in `migrations/{sqlite,postgres}/`. Events live in [`eventlog`] segment files beside
//! the SQLite database, or in an `events` table on PostgreSQL.

pub mod eventlog;
mod migrations;
pub mod postgres;
pub mod private_files;
pub mod sqlite;

use siyu_core::StoreError;
use siyu_domain::Stores;
use std::path::PathBuf;

/// Which database to open; chosen once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (created if missing).
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
    },
    /// A PostgreSQL database, optionally confined to one schema (used by tests).
    Postgres {
        /// `postgres://` URL.
        url: String,
        /// Schema to create and use instead of `public`.
        schema: Option<String>,
    },
}

impl Backend {
    /// Returns a description without credentials, for logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite:{}", path.display()),
            Self::Postgres { url, schema } => {
                let redacted = match url::Url::parse(url) {
                    Ok(mut parsed) => {
                        let _ = parsed.set_password(None);
                        parsed.to_string()
                    }
                    Err(_) => "postgres://<unparsable url>".into(),
                };
                match schema {
                    Some(schema) => format!("{redacted} (schema {schema})"),
                    None => redacted,
                }
            }
        }
    }
}

/// Opens the database, applies pending migrations, and returns the stores.
pub async fn open(backend: &Backend) -> Result<Stores, StoreError> {
    match backend {
        Backend::Sqlite { path } => sqlite::open(path).await,
        Backend::Postgres { url, schema } => postgres::open(url, schema.as_deref()).await,
    }
}
