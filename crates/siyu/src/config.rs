//! Configuration: one tree (`data_dir`, `http`, `database`, `jobs`, `channels`, `secrets`) merged
//! from defaults < `siyu.toml` < `SIYU_…` environment variables < flags ([`load`]), checked once at
//! start with errors that name the key, then passed down; nothing deeper reads the environment or
//! files. Secrets are [`Secret`]s and the database URL prints without its password, so neither
//! `Debug`, a log line nor `siyu config check` shows them (docs/CONFIG.md).

mod load;
mod secret;

pub use load::{ConfigError, ConfigErrors, Flag, Layer, Loaded, OutputFormat, Sources, load};
pub use secret::Secret;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use siyu_core::crypto::SecretKey;
use siyu_store::{Backend, redact_url as redact};
use std::fmt;
use std::path::{Path, PathBuf};

/// The data directory when none is configured.
pub const DEFAULT_DATA_DIR: &str = "./siyu-data";

/// Everything siyu needs to start: the effective configuration tree.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite file, the event log, the master key file and an optional
    /// `siyu.toml`; a relative path is relative to the working directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub jobs: JobsConfig,
    #[serde(default)]
    pub channels: ChannelsConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
}

/// `[http]`: where `siyu serve` listens and how browsers reach it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on, `host:port` (`SIYU_ADDR`, `--addr`).
    #[serde(default = "default_addr")]
    pub addr: String,
    /// Public base URL used in links and to decide on `Secure` cookies; `http://<bound address>`
    /// when unset (`SIYU_PUBLIC_URL`, `--public-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { addr: default_addr(), public_url: None }
    }
}

/// `[database]`: which store to open.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite:PATH`; [`load`] fills in the SQLite file `siyu.db` in the data
    /// directory when none is given (`SIYU_DATABASE_URL`, `--database-url`).
    #[serde(default)]
    pub url: Option<DatabaseUrl>,
    /// Tests only: a PostgreSQL schema to create and confine the store to.
    #[serde(skip)]
    pub schema: Option<String>,
}

/// `[jobs]`: the background work of `siyu serve`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Whether `serve` runs background work: segment upkeep and the periodic pass.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Seconds between periodic passes (models past their refresh interval are recomputed, every
    /// segment is re-evaluated), 1 to 86,400.
    #[serde(default = "default_pass_interval_s")]
    pub pass_interval_s: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { enabled: true, pass_interval_s: default_pass_interval_s() }
    }
}

/// `[channels]`: what every workspace's channels may do (each workspace configures its own
/// channels and their credentials through the API).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Whether channels may reach loopback, private and link-local addresses (a relay or receiver
    /// inside the network; `SIYU_CHANNELS__ALLOW_PRIVATE_ADDRESSES`). Off by default: otherwise a
    /// workspace's webhook could reach the server's own network.
    #[serde(default)]
    pub allow_private_addresses: bool,
}

/// `[secrets]`: every secret siyu is given, in one table (so one file mode or one set of variables
/// protects them all); printed only as `[redacted]` or `[not set]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// The master key (64 hexadecimal characters) that wraps every workspace's data key; when unset,
    /// `<data dir>/master.key` is read, or created on first start (`SIYU_MASTER_KEY`).
    #[serde(default)]
    pub master_key: Option<Secret>,
}

impl Serialize for SecretsConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut table = serializer.serialize_struct("SecretsConfig", 1)?;
        table.serialize_field("master_key", if self.master_key.is_some() { secret::REDACTED } else { "[not set]" })?;
        table.end()
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}

fn default_addr() -> String {
    "127.0.0.1:8080".into()
}

fn default_true() -> bool {
    true
}

fn default_pass_interval_s() -> u64 {
    60
}

/// A database URL, parsed: an SQLite file or a PostgreSQL URL. It prints (`Debug`, `Display`,
/// `Serialize`) with any password replaced by `[redacted]`.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// `sqlite:PATH` (or `sqlite://PATH`; a `?…` suffix is ignored).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(Secret),
}

impl DatabaseUrl {
    /// Parses a URL; the error never contains the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return match url::Url::parse(text) {
                Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(Self::Postgres(Secret::new(text))),
                Ok(_) => Err(format!("\"{}\" names no host", redact(text))),
                Err(error) => Err(format!("\"{}\" is not a valid URL ({error})", redact(text))),
            };
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err("sqlite: needs a file path, e.g. sqlite:/var/lib/siyu/siyu.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err(format!("must start with postgres://, postgresql:// or sqlite:, got \"{}\"", redact(text)))
    }

    /// Whether this is the embedded SQLite store.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact(url.expose())),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read into a `Secret` first, so that not even a failed parse leaves the text lying around.
        let text = Secret::deserialize(deserializer)?;
        Self::parse(text.expose()).map_err(serde::de::Error::custom)
    }
}

impl Config {
    /// A config for tests: a fresh SQLite file in `dir`, or a fresh schema in the PostgreSQL of
    /// `SIYU_TEST_PG_URL` when `postgres` is given; defaults elsewhere.
    pub fn for_tests(dir: &Path, postgres: Option<String>) -> Self {
        let database = match postgres {
            Some(url) => {
                let schema = format!("t_{}", &SecretKey::generate().expect("random source works").to_hex()[..16]);
                DatabaseConfig { url: Some(DatabaseUrl::Postgres(Secret::new(url))), schema: Some(schema) }
            }
            None => DatabaseConfig { url: Some(DatabaseUrl::Sqlite(dir.join("siyu.db"))), schema: None },
        };
        Self {
            data_dir: dir.to_path_buf(),
            http: HttpConfig::default(),
            database,
            jobs: JobsConfig::default(),
            channels: ChannelsConfig::default(),
            secrets: SecretsConfig::default(),
        }
    }

    /// Returns the database URL: the configured one, else the SQLite file `siyu.db` in the data dir.
    pub fn database_url(&self) -> DatabaseUrl {
        self.database.url.clone().unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.join("siyu.db")))
    }

    /// Returns the store to open.
    pub fn backend(&self) -> Backend {
        match self.database_url() {
            DatabaseUrl::Sqlite(path) => Backend::Sqlite { path },
            DatabaseUrl::Postgres(url) => {
                Backend::Postgres { url: url.expose().to_string(), schema: self.database.schema.clone() }
            }
        }
    }

    /// Returns every problem of values that parsed but are out of bounds, each naming its key.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            problems.push(("data_dir", "must not be empty".to_string()));
        }
        if !is_listen_address(&self.http.addr) {
            problems.push(("http.addr", format!("\"{}\" is not a socket address (host:port)", self.http.addr)));
        }
        if let Some(public_url) = &self.http.public_url {
            let web = url::Url::parse(public_url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if !web {
                problems.push(("http.public_url", format!("\"{public_url}\" is not an http:// or https:// URL")));
            }
        }
        if !(1..=86_400).contains(&self.jobs.pass_interval_s) {
            problems.push((
                "jobs.pass_interval_s",
                format!("must be between 1 and 86400 seconds, got {}", self.jobs.pass_interval_s),
            ));
        }
        if let Some(key) = &self.secrets.master_key {
            // The value is not quoted: an almost-right key is still most of a key.
            if SecretKey::from_hex(key.expose()).is_err() {
                problems.push(("secrets.master_key", "must be 64 hexadecimal characters".to_string()));
            }
        }
        problems
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

    /// Returns the master key: `secrets.master_key`, else `<data dir>/master.key`, which is created
    /// (mode 0600) on first start.
    pub fn master_key(&self) -> anyhow::Result<SecretKey> {
        if let Some(key) = &self.secrets.master_key {
            // The cause is left out: it quotes a character of the key.
            return SecretKey::from_hex(key.expose())
                .or_else(|_| bail!("secrets.master_key: must be 64 hexadecimal characters"));
        }
        let path = self.data_dir.join("master.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            return SecretKey::from_hex(&text).or_else(|_| bail!("{} is not a valid key", path.display()));
        }
        self.prepare_data_dir()?;
        let key = SecretKey::generate()?;
        write_private(&path, key.to_hex().as_bytes())?;
        tracing::info!(path = %path.display(), "created a new master key; back it up, data cannot be read without it");
        Ok(key)
    }
}

/// Whether `addr` is `ip:port` or `hostname:port` (resolved only when `serve` binds it).
fn is_listen_address(addr: &str) -> bool {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    let Some((host, port)) = addr.rsplit_once(':') else { return false };
    let hostname = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty() && !label.starts_with('-') && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    hostname && port.parse::<u16>().is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        Config::for_tests(dir, None)
    }

    #[test]
    fn master_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
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
        let config = config_in(&dir);
        config.prepare_data_dir().unwrap();
        let stores = siyu_store::open(&config.backend()).await.unwrap();
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
        let parse = |text: &str| DatabaseUrl::parse(text);
        assert!(
            matches!(parse("sqlite:/var/lib/siyu/siyu.db"), Ok(DatabaseUrl::Sqlite(p)) if p == Path::new("/var/lib/siyu/siyu.db"))
        );
        assert!(
            matches!(parse("sqlite:///tmp/x.db?mode=rwc"), Ok(DatabaseUrl::Sqlite(p)) if p == Path::new("/tmp/x.db"))
        );
        assert!(matches!(parse("postgres://u@h/db"), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!(parse("postgresql://u@h/db"), Ok(DatabaseUrl::Postgres(_))));
        let refused = parse("mysql://user:hunter2@h/db").unwrap_err();
        assert_eq!(
            refused,
            "must start with postgres://, postgresql:// or sqlite:, got \"mysql://user:[redacted]@h/db\""
        );
        let unparsable = parse("my sql://user:hunter2@h/db").unwrap_err();
        assert!(unparsable.ends_with("got \"…@h/db\""), "{unparsable}");
        assert!(parse("sqlite:").is_err());
        let bad_port = parse("postgres://u:hunter2@h:99999/db").unwrap_err();
        assert!(!bad_port.contains("hunter2"), "{bad_port}");
    }

    #[test]
    fn database_urls_print_without_their_password() {
        let url = DatabaseUrl::parse("postgres://siyu:hunter2@db.internal:5432/siyu?sslmode=require&password=hunter3")
            .unwrap();
        let shown = "postgres://siyu:[redacted]@db.internal:5432/siyu?sslmode=require&password=[redacted]";
        assert_eq!(url.to_string(), shown);
        assert_eq!(format!("{url:?}"), format!("\"{shown}\""));
        assert_eq!(serde_json::to_value(&url).unwrap(), shown);
        assert_eq!(redact("postgres://db.internal/siyu"), "postgres://db.internal/siyu");
    }

    #[test]
    fn listen_addresses_are_host_and_port() {
        for good in ["127.0.0.1:8080", "0.0.0.0:0", "[::1]:8080", "localhost:8080", "siyu-1.internal:443"] {
            assert!(is_listen_address(good), "{good}");
        }
        for bad in ["x", "8080", ":8080", "localhost:", "localhost:99999", "a b:80", "http://x:80"] {
            assert!(!is_listen_address(bad), "{bad}");
        }
    }
}
