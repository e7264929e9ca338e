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
                let redacted = match url::Url::parse(url) {
                    Ok(mut parsed) => {
                        let _ = parsed.set_password(None);
                        // A password may also come as a query parameter (`?password=…`).
                        let pairs: Vec<(String, String)> = parsed
                            .query_pairs()
                            .map(|(k, v)| {
                                let v = if k.eq_ignore_ascii_case("password") {
                                    "[redacted]".into()
                                } else {
                                    v.into_owned()
                                };
                                (k.into_owned(), v)
                            })
                            .collect();
                        if !pairs.is_empty() {
                            parsed.query_pairs_mut().clear().extend_pairs(pairs);
                        }
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
