//! Configuration: where data lives, which database, the master key, the listen address. Loaded once
//! here (flags, then `SIYU_*` environment variables, then defaults) and passed down; nothing deeper
//! reads the environment or files.

use anyhow::{Context, bail};
use siyu_core::crypto::SecretKey;
use siyu_store::Backend;
use std::path::{Path, PathBuf};

/// Everything siyu needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory for the SQLite file and the master key file.
    pub data_dir: PathBuf,
    /// Database to use.
    pub backend: Backend,
    /// Master key (hex) given explicitly; otherwise the key file in `data_dir` is used or created.
    pub master_key_hex: Option<String>,
    /// Public base URL for links (defaults to `http://<addr>`).
    pub public_url: Option<String>,
}

impl Config {
    /// Builds a config from the global flags (`--data-dir`, `--database-url`).
    pub fn new(
        data_dir: PathBuf,
        database_url: Option<String>,
        master_key_hex: Option<String>,
    ) -> anyhow::Result<Self> {
        let backend = match database_url.as_deref().filter(|u| !u.is_empty()) {
            None => Backend::Sqlite { path: data_dir.join("siyu.db") },
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Backend::Postgres { url: url.to_string(), schema: None }
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                Backend::Sqlite { path: PathBuf::from(path.split('?').next().unwrap_or(path)) }
            }
            Some(other) => bail!("--database-url must start with postgres:// or sqlite:, got \"{}\"", redact(other)),
        };
        Ok(Self { data_dir, backend, master_key_hex, public_url: None })
    }

    /// A config for tests: a fresh SQLite file in `dir`, or a fresh schema in the PostgreSQL of
    /// `SIYU_TEST_PG_URL` when `postgres` is true.
    pub fn for_tests(dir: &Path, postgres: Option<String>) -> Self {
        let backend = match postgres {
            Some(url) => {
                let schema = format!("t_{}", &SecretKey::generate().expect("random source works").to_hex()[..16]);
                Backend::Postgres { url, schema: Some(schema) }
            }
            None => Backend::Sqlite { path: dir.join("siyu.db") },
        };
        Self { data_dir: dir.to_path_buf(), backend, master_key_hex: None, public_url: None }
    }

    /// Creates the data directory private to this account (0700), tightening one an older version made
    /// wider, together with its database files (0600).
    pub fn prepare_data_dir(&self) -> anyhow::Result<()> {
        siyu_store::private_files::create_dir(&self.data_dir)
            .with_context(|| format!("cannot create data dir {}", self.data_dir.display()))?;
        for entry in std::fs::read_dir(&self.data_dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                siyu_store::private_files::tighten(&entry.path(), 0o600)?;
            }
        }
        Ok(())
    }

    /// Returns the master key: from `SIYU_MASTER_KEY`, else from `<data dir>/master.key`, which is
    /// created (mode 0600) on first start.
    pub fn master_key(&self) -> anyhow::Result<SecretKey> {
        if let Some(hex) = &self.master_key_hex {
            return SecretKey::from_hex(hex).context("SIYU_MASTER_KEY must be 64 hexadecimal characters");
        }
        let path = self.data_dir.join("master.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            return SecretKey::from_hex(&text).with_context(|| format!("{} is not a valid key", path.display()));
        }
        self.prepare_data_dir()?;
        let key = SecretKey::generate()?;
        write_private(&path, key.to_hex().as_bytes())?;
        tracing::info!(path = %path.display(), "created a new master key; back it up, data cannot be read without it");
        Ok(key)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot create {}", path.display()))
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path().to_path_buf(), None, None).unwrap();
        let first = config.master_key().unwrap();
        let second = config.master_key().unwrap();
        assert_eq!(*first.to_hex(), *second.to_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_dir_database_and_event_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let config = Config::new(dir.clone(), None, None).unwrap();
        config.prepare_data_dir().unwrap();
        let stores = siyu_store::open(&config.backend).await.unwrap();
        let ws = siyu_core::WorkspaceId(1);
        let event = siyu_domain::events::NewEvent {
            customer: siyu_core::CustomerId(1),
            kind: siyu_domain::events::EventKind::Track,
            name: "Signed Up".into(),
            ts_us: 1,
            received_us: 1,
            message_id: String::new(),
            user_id: String::new(),
            anonymous_id: String::new(),
            properties: "{}".into(),
            context: "{}".into(),
        };
        stores.events.append(ws, &[event]).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("siyu.db")), 0o600);
        let mut files = vec![dir.join("events")];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
        for wal in ["siyu.db-wal", "siyu.db-shm"] {
            if dir.join(wal).exists() {
                assert_eq!(mode(&dir.join(wal)), 0o600, "{wal}");
            }
        }
        // An older install's wide files are tightened on the next start.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("siyu.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        config.prepare_data_dir().unwrap();
        assert_eq!((mode(&dir), mode(&dir.join("siyu.db"))), (0o700, 0o600));
    }

    #[test]
    fn database_urls_choose_the_backend() {
        let dir = PathBuf::from("/tmp/x");
        assert!(matches!(Config::new(dir.clone(), None, None).unwrap().backend, Backend::Sqlite { .. }));
        assert!(matches!(
            Config::new(dir.clone(), Some("postgres://u@h/db".into()), None).unwrap().backend,
            Backend::Postgres { .. }
        ));
        assert!(Config::new(dir, Some("mysql://secret@h/db".into()), None).unwrap_err().to_string().contains("…@h/db"));
    }
}
