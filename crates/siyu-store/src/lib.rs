//! Storage for siyu on SQLite (embedded default) and PostgreSQL (scale-out), with one behaviour.
//!
//! The SQL lives once, in `sql/*.rs`, written in the dialect both engines accept (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`); [`sqlite`] and [`postgres`] each compile it against their own driver
//! types with `include!`, so a query can never silently differ between backends. Migrations are
//! per backend in `migrations/{sqlite,postgres}/`. Events live in [`eventlog`] segment files beside
//! the SQLite database, or in an `events` table on PostgreSQL.

pub mod bench;
pub mod eventlog;
mod migrations;
pub mod postgres;
pub mod private_files;
pub mod sqlite;

use siyu_core::StoreError;
use siyu_domain::Stores;
use std::path::PathBuf;

/// Which database to open; chosen once at start-up. `Debug` prints [`Backend::describe`], without
/// the URL's password.
#[derive(Clone, PartialEq, Eq)]
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
                let redacted = redact_url(url);
                match schema {
                    Some(schema) => format!("{redacted} (schema {schema})"),
                    None => redacted,
                }
            }
        }
    }
}

/// What stands in for a secret wherever one would be printed.
pub const REDACTED: &str = "[redacted]";

/// Returns a database URL fit to print: a parsable URL keeps its user and host with the password
/// (also a `password=` parameter) replaced by `[redacted]`; anything else loses all before its last `@`.
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return match url.rsplit_once('@') {
            Some((_, host)) => format!("…@{host}"),
            None => url.to_string(),
        };
    };
    let mut redacted = format!("{}://", parsed.scheme());
    if !parsed.username().is_empty() {
        redacted.push_str(parsed.username());
    }
    if parsed.password().is_some() {
        redacted.push(':');
        redacted.push_str(REDACTED);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        redacted.push('@');
    }
    redacted.push_str(parsed.host_str().unwrap_or_default());
    if let Some(port) = parsed.port() {
        redacted.push_str(&format!(":{port}"));
    }
    redacted.push_str(parsed.path());
    if let Some(query) = parsed.query() {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") || name.ends_with("password") => {
                    format!("{name}={}", REDACTED)
                }
                _ => pair.to_string(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&pairs.join("&"));
    }
    redacted
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Opens the database, applies pending migrations, and returns the stores.
pub async fn open(backend: &Backend) -> Result<Stores, StoreError> {
    match backend {
        Backend::Sqlite { path } => sqlite::open(path).await,
        Backend::Postgres { url, schema } => postgres::open(url, schema.as_deref()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_never_prints_its_password() {
        let backend = Backend::Postgres {
            url: "postgres://siyu:hunter2@db.internal:5432/crm?sslmode=require&password=hunter3".into(),
            schema: None,
        };
        for shown in [format!("{backend:?}"), backend.describe()] {
            assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
            assert!(shown.contains("db.internal") && shown.contains("sslmode=require"), "{shown}");
        }
    }
}
