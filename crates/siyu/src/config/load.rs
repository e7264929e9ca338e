//! Loading the configuration: the layers (defaults < `siyu.toml` < `SIYU_…` environment < flags),
//! their merge with figment, errors that name the key and where its value came from, and the
//! report `siyu config check` prints.

use super::{Config, DEFAULT_DATA_DIR};
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variables that name a key in their own way (they predate the tree); every other
/// `SIYU_SECTION__KEY` names `section.key`, with `__` nesting. A nested name wins over one of these.
pub const ENV_NAMES: [(&str, &str); 5] = [
    ("SIYU_DATA_DIR", "data_dir"),
    ("SIYU_DATABASE_URL", "database.url"),
    ("SIYU_ADDR", "http.addr"),
    ("SIYU_PUBLIC_URL", "http.public_url"),
    ("SIYU_MASTER_KEY", "secrets.master_key"),
];

/// The variable naming a configuration file, like `--config`.
pub const CONFIG_ENV: &str = "SIYU_CONFIG";

const ENV_LAYER: &str = "environment";
const FLAG_LAYER: &str = "flags";

/// What the configuration is read from; built by `main` from the process, by tests from literals.
#[derive(Default)]
pub struct Sources {
    /// `--config PATH`.
    pub config_file: Option<PathBuf>,
    /// Environment variables; only `SIYU_…` ones that name a key are read, and an empty one counts
    /// as unset.
    pub env: Vec<(String, String)>,
    /// Flags given on the command line; an empty one counts as not given.
    pub flags: Vec<Flag>,
}

/// A flag that sets a key, e.g. `--addr` sets `http.addr`.
pub struct Flag {
    /// The flag as typed, e.g. `--addr`.
    pub name: &'static str,
    /// The key it sets.
    pub key: &'static str,
    /// Its value.
    pub value: String,
}

/// A loaded, valid configuration and the layers it was merged from.
pub struct Loaded {
    /// The effective configuration, checked; `database.url` is filled in.
    pub config: Config,
    /// The layers, lowest first: defaults, file, environment, flags.
    pub layers: Vec<Layer>,
    /// Advice about the sources, e.g. a file holding secrets that others may read.
    pub warnings: Vec<String>,
}

/// One layer of the merge, for `siyu config check`.
#[derive(Serialize)]
pub struct Layer {
    /// `defaults`, `file`, `environment` or `flags`.
    pub layer: &'static str,
    /// The file read (the file layer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How the file was found (`--config`, `SIYU_CONFIG`, `data dir`), or why there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<String>,
    /// The keys this layer sets, with the variable or flag that set each.
    pub set: Vec<Setting>,
}

/// A key set by a layer.
#[derive(Clone, Serialize)]
pub struct Setting {
    /// The dotted key, e.g. `http.addr`.
    pub key: String,
    /// The variable or flag (absent for the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// How `siyu config check` prints.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputFormat {
    Toml,
    Json,
}

/// One problem with the configuration: the key (or file) it concerns, what is wrong, and where
/// the value came from. It never holds a secret's value.
#[derive(Debug)]
pub struct ConfigError {
    /// The dotted key, or the file or variable when the problem is the file itself.
    pub key: String,
    /// What is wrong, lowercase, quoting the value unless it is secret.
    pub message: String,
    /// `in /etc/siyu/siyu.toml`, `from SIYU_ADDR`, `from --addr`.
    pub origin: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)?;
        match &self.origin {
            Some(origin) => write!(f, " ({origin})"),
            None => Ok(()),
        }
    }
}

/// Every problem found, one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            all => {
                write!(f, "invalid configuration:")?;
                all.iter().try_for_each(|error| write!(f, "\n  {error}"))
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    fn one(key: impl Into<String>, message: impl Into<String>, origin: Option<String>) -> Self {
        Self(vec![ConfigError { key: key.into(), message: message.into(), origin }])
    }
}

/// Settings given as text (environment variables or flags), each with the name it came under.
/// Values stay text: figment's lossy extraction reads `"60"` or `"false"` where a number or a
/// boolean is wanted, and a string stays exactly as given (no trimming, no unquoting).
struct TextLayer {
    name: &'static str,
    settings: Vec<(String, String, String)>,
}

impl TextLayer {
    fn value(&self, key: &str) -> Option<&str> {
        self.settings.iter().rev().find(|(_, k, _)| k == key).map(|(_, _, v)| v.as_str())
    }

    fn report(&self) -> Vec<Setting> {
        self.settings.iter().map(|(from, key, _)| Setting { key: key.clone(), from: Some(from.clone()) }).collect()
    }
}

impl Provider for TextLayer {
    fn metadata(&self) -> Metadata {
        let origins: Arc<Vec<(String, String)>> =
            Arc::new(self.settings.iter().map(|(from, key, _)| (key.clone(), from.clone())).collect());
        Metadata::named(self.name).interpolater(move |_: &Profile, path: &[&str]| {
            let key = path.join(".");
            origins.iter().rev().find(|(k, _)| *k == key).map(|(_, from)| from.clone()).unwrap_or(key)
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (_, key, value) in &self.settings {
            insert(&mut dict, key, Value::from(value.clone()));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Sets `key` (dotted) in `dict`; a later setting of the same key replaces an earlier one.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = dict.entry(head.to_string()).or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// Returns the key an environment variable sets, if it sets one.
fn env_key(name: &str) -> Option<String> {
    if let Some((_, key)) = ENV_NAMES.iter().find(|(n, _)| *n == name) {
        return Some((*key).to_string());
    }
    let rest = name.strip_prefix("SIYU_")?;
    rest.contains("__").then(|| rest.to_ascii_lowercase().replace("__", "."))
}

fn env_layer(env: &[(String, String)]) -> TextLayer {
    let mut named = Vec::new();
    let mut nested = Vec::new();
    for (name, value) in env {
        if value.is_empty() {
            continue;
        }
        if let Some(key) = env_key(name) {
            let list = if ENV_NAMES.iter().any(|(n, _)| n == name) { &mut named } else { &mut nested };
            list.push((name.clone(), key, value.clone()));
        }
    }
    // Deterministic whatever the order of the environment; nested names last, so they win.
    named.sort();
    nested.sort();
    named.extend(nested);
    TextLayer { name: ENV_LAYER, settings: named }
}

fn flag_layer(flags: &[Flag]) -> TextLayer {
    let settings = flags
        .iter()
        .filter(|flag| !flag.value.is_empty())
        .map(|flag| (flag.name.to_string(), flag.key.to_string(), flag.value.clone()))
        .collect();
    TextLayer { name: FLAG_LAYER, settings }
}

/// The configuration file to read, how it was found, and whether it must exist.
struct FileChoice {
    path: PathBuf,
    found_by: String,
    explicit: bool,
}

fn choose_file(sources: &Sources, data_dir: &Path) -> FileChoice {
    if let Some(path) = &sources.config_file {
        return FileChoice { path: path.clone(), found_by: "--config".into(), explicit: true };
    }
    let from_env = sources.env.iter().rev().find(|(name, value)| name == CONFIG_ENV && !value.is_empty());
    if let Some((_, path)) = from_env {
        return FileChoice { path: PathBuf::from(path), found_by: CONFIG_ENV.into(), explicit: true };
    }
    FileChoice { path: data_dir.join("siyu.toml"), found_by: "data dir".into(), explicit: false }
}

/// Returns the dotted keys of the leaves of a TOML table.
fn leaf_keys(table: &toml::Table, prefix: &str, keys: &mut Vec<String>) {
    for (name, value) in table {
        let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        match value {
            toml::Value::Table(inner) if !inner.is_empty() => leaf_keys(inner, &key, keys),
            _ => keys.push(key),
        }
    }
}

/// Returns the 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads and parses the file, with an error that names its line but never quotes it (it may hold a
/// secret).
fn read_file(choice: &FileChoice) -> Result<Option<toml::Table>, ConfigErrors> {
    let path = &choice.path;
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !choice.explicit => return Ok(None),
        Err(error) => {
            let origin = Some(format!("given by {}", choice.found_by));
            return Err(ConfigErrors::one(shown, format!("cannot read the configuration file: {error}"), origin));
        }
    };
    match text.parse::<toml::Table>() {
        Ok(table) => Ok(Some(table)),
        Err(error) => {
            let line = error.span().map(|span| format!("line {}: ", line_of(&text, span.start))).unwrap_or_default();
            Err(ConfigErrors::one(shown, format!("{line}not valid TOML: {}", error.message().trim_end()), None))
        }
    }
}

/// Says where a value came from, given the metadata of the layer that set it.
fn origin(metadata: &Metadata, path: &[String]) -> Option<String> {
    match &metadata.source {
        Some(Source::File(file)) => Some(format!("in {}", file.display())),
        _ if metadata.name == ENV_LAYER || metadata.name == FLAG_LAYER => {
            Some(format!("from {}", metadata.interpolate(&Profile::Default, path)))
        }
        _ => None,
    }
}

/// Whether a key holds a secret, so that not even a refused value of it is printed.
fn is_secret(key: &str) -> bool {
    key.starts_with("secrets") || key.starts_with("database.url")
}

/// Turns figment's errors into ones that name the key and never quote a secret.
fn figment_errors(error: figment::Error) -> ConfigErrors {
    use figment::error::Kind;
    ConfigErrors(
        error
            .into_iter()
            .map(|error| {
                let mut path = error.path.clone();
                let message = match &error.kind {
                    Kind::UnknownField(field, expected) => {
                        if path.last() != Some(field) {
                            path.push(field.clone());
                        }
                        match expected {
                            [] => "unknown key (this table takes no keys yet)".to_string(),
                            _ => format!("unknown key (expected {})", expected.join(", ")),
                        }
                    }
                    Kind::InvalidType(_, expected) if is_secret(&path.join(".")) => {
                        format!("invalid type: expected {expected}")
                    }
                    Kind::InvalidValue(_, expected) if is_secret(&path.join(".")) => {
                        format!("invalid value: expected {expected}")
                    }
                    kind => kind.to_string(),
                };
                let origin = error.metadata.as_ref().and_then(|metadata| origin(metadata, &path));
                ConfigError { key: path.join("."), message, origin }
            })
            .collect(),
    )
}

/// Merges the layers, checks every value, and returns the configuration with a report of the
/// layers; errors name each key that is wrong and where its value came from.
pub fn load(sources: &Sources) -> Result<Loaded, ConfigErrors> {
    let env = env_layer(&sources.env);
    let flags = flag_layer(&sources.flags);
    // The default file lives in the data dir, so the data dir comes from flags, env or default.
    let data_dir = PathBuf::from(flags.value("data_dir").or(env.value("data_dir")).unwrap_or(DEFAULT_DATA_DIR));
    let choice = choose_file(sources, &data_dir);
    let table = read_file(&choice)?;
    let mut warnings = Vec::new();
    let mut figment = Figment::new();
    let mut file_keys = Vec::new();
    if let Some(table) = &table {
        if !choice.explicit && table.contains_key("data_dir") {
            return Err(ConfigErrors::one(
                "data_dir",
                "a siyu.toml found in the data dir cannot move the data dir: set it with --data-dir or SIYU_DATA_DIR",
                Some(format!("in {}", choice.path.display())),
            ));
        }
        leaf_keys(table, "", &mut file_keys);
        let url_password = table
            .get("database")
            .and_then(|database| database.get("url"))
            .and_then(|url| url.as_str())
            .and_then(|url| url::Url::parse(url).ok())
            .is_some_and(|url| url.password().is_some());
        if (table.contains_key("secrets") || url_password) && readable_by_others(&choice.path) {
            warnings
                .push(format!("{} holds secrets and is readable by other users: chmod 600 it", choice.path.display()));
        }
        figment = figment.merge(Toml::file_exact(&choice.path));
    }
    let figment = figment.merge(&env).merge(&flags);
    let mut config: Config = figment.extract_lossy().map_err(figment_errors)?;
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(ConfigErrors(
            problems
                .into_iter()
                .map(|(key, message)| {
                    let path: Vec<String> = key.split('.').map(str::to_string).collect();
                    let origin = figment.find_metadata(key).and_then(|metadata| origin(metadata, &path));
                    ConfigError { key: key.to_string(), message, origin }
                })
                .collect(),
        ));
    }
    config.database.url = Some(config.database.url.take().unwrap_or_else(|| config.database_url()));
    let file_layer = match table {
        Some(_) => Layer {
            layer: "file",
            path: Some(choice.path),
            found_by: Some(choice.found_by),
            set: file_keys.into_iter().map(|key| Setting { key, from: None }).collect(),
        },
        None => Layer {
            layer: "file",
            path: None,
            found_by: Some(format!("none: no --config or {CONFIG_ENV}, and no {}", choice.path.display())),
            set: Vec::new(),
        },
    };
    let layers = vec![
        Layer { layer: "defaults", path: None, found_by: None, set: Vec::new() },
        file_layer,
        Layer { layer: ENV_LAYER, path: None, found_by: None, set: env.report() },
        Layer { layer: FLAG_LAYER, path: None, found_by: None, set: flags.report() },
    ];
    Ok(Loaded { config, layers, warnings })
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}

impl Loaded {
    /// Returns the effective configuration with its secrets redacted, and the layers it came from:
    /// TOML with the layers as comments, or JSON `{"layers": […], "config": {…}}`.
    pub fn render(&self, format: OutputFormat) -> anyhow::Result<String> {
        match format {
            OutputFormat::Json => {
                let document = serde_json::json!({ "layers": self.layers, "config": self.config });
                Ok(serde_json::to_string_pretty(&document)? + "\n")
            }
            OutputFormat::Toml => {
                let mut text = String::from("# siyu config check: valid\n# layers, lowest first:\n");
                for layer in &self.layers {
                    text.push_str(&format!("#   {}", layer.layer));
                    if let Some(path) = &layer.path {
                        text.push_str(&format!(" {}", path.display()));
                    }
                    if let Some(found_by) = &layer.found_by {
                        text.push_str(&match &layer.path {
                            Some(_) => format!(" (found by {found_by})"),
                            None => format!(": {found_by}"),
                        });
                    }
                    let set: Vec<String> = layer
                        .set
                        .iter()
                        .map(|s| match &s.from {
                            Some(from) => format!("{} ({from})", s.key),
                            None => s.key.clone(),
                        })
                        .collect();
                    match (layer.layer, set.is_empty()) {
                        ("defaults", _) => text.push_str(": every key no later layer sets"),
                        (_, false) => text.push_str(&format!(": {}", set.join(", "))),
                        (_, true) if layer.path.is_some() || layer.found_by.is_none() => text.push_str(": nothing set"),
                        _ => {}
                    }
                    text.push('\n');
                }
                for warning in &self.warnings {
                    text.push_str(&format!("# warning: {warning}\n"));
                }
                text.push('\n');
                text.push_str(&toml::to_string_pretty(&self.config)?);
                Ok(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAKE_KEY: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Sources with a fresh data dir (so no stray siyu.toml is found) and the given layers.
    fn sources(dir: &Path, file: Option<&str>, vars: &[(&str, &str)], flags: Vec<Flag>) -> Sources {
        let config_file = file.map(|text| {
            let path = dir.join("given.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let mut env = env(vars);
        if !vars.iter().any(|(name, _)| *name == "SIYU_DATA_DIR") {
            env.push(("SIYU_DATA_DIR".into(), dir.join("data").display().to_string()));
        }
        Sources { config_file, env, flags }
    }

    fn addr_flag(value: &str) -> Flag {
        Flag { name: "--addr", key: "http.addr", value: value.into() }
    }

    fn error_text(sources: &Sources) -> String {
        match load(sources) {
            Ok(_) => panic!("the configuration was accepted"),
            Err(errors) => errors.to_string(),
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let loaded = load(&Sources::default()).unwrap();
        let config = loaded.config;
        assert_eq!(config.data_dir, Path::new("./siyu-data"));
        assert_eq!(config.http.addr, "127.0.0.1:8080");
        assert_eq!(config.database_url().to_string(), "sqlite:./siyu-data/siyu.db");
        assert!(config.jobs.enabled);
        assert_eq!(config.jobs.pass_interval_s, 60);
        assert!(config.secrets.master_key.is_none());
    }

    #[test]
    fn flags_beat_environment_beats_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = "[http]\naddr = \"127.0.0.1:1001\"\npublic_url = \"https://file.example\"\n\
                    [jobs]\npass_interval_s = 30\n";
        let only_file = load(&sources(dir.path(), Some(file), &[], vec![])).unwrap().config;
        assert_eq!(only_file.http.addr, "127.0.0.1:1001");
        assert_eq!(only_file.jobs.pass_interval_s, 30);
        assert!(only_file.jobs.enabled, "a key the file does not set keeps its default");

        let vars = [("SIYU_ADDR", "127.0.0.1:1002"), ("SIYU_JOBS__PASS_INTERVAL_S", "15")];
        let with_env = load(&sources(dir.path(), Some(file), &vars, vec![])).unwrap().config;
        assert_eq!(with_env.http.addr, "127.0.0.1:1002");
        assert_eq!(with_env.http.public_url.as_deref(), Some("https://file.example"));
        assert_eq!(with_env.jobs.pass_interval_s, 15);

        let with_flag = load(&sources(dir.path(), Some(file), &vars, vec![addr_flag("127.0.0.1:1003")])).unwrap();
        assert_eq!(with_flag.config.http.addr, "127.0.0.1:1003");
        let flags = &with_flag.layers[3];
        assert_eq!((flags.set[0].key.as_str(), flags.set[0].from.as_deref()), ("http.addr", Some("--addr")));
    }

    #[test]
    fn nested_environment_names_reach_every_key_and_win_over_the_old_names() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("SIYU_ADDR", "127.0.0.1:1"),
            ("SIYU_HTTP__ADDR", "127.0.0.1:2"),
            ("SIYU_JOBS__ENABLED", "false"),
            ("SIYU_SECRETS__MASTER_KEY", FAKE_KEY),
            ("SIYU_DATABASE__URL", "postgres://siyu:hunter2@db.internal/siyu"),
            ("SIYU_LOG", "debug"),
            ("SIYU_USER_PASSWORD", "not config"),
            ("SIYU_PUBLIC_URL", ""),
        ];
        let config = load(&sources(dir.path(), None, &vars, vec![])).unwrap().config;
        assert_eq!(config.http.addr, "127.0.0.1:2");
        assert!(!config.jobs.enabled);
        assert_eq!(config.secrets.master_key.as_ref().map(|k| k.expose()), Some(FAKE_KEY));
        assert!(!config.database_url().is_sqlite());
        assert_eq!(config.http.public_url, None, "an empty variable counts as unset");
    }

    #[test]
    fn an_empty_flag_counts_as_not_given() {
        let dir = tempfile::tempdir().unwrap();
        let flag = Flag { name: "--database-url", key: "database.url", value: String::new() };
        let config = load(&sources(dir.path(), None, &[], vec![flag])).unwrap().config;
        assert!(config.database_url().is_sqlite());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let typo = error_text(&sources(dir.path(), Some("[http]\nadress = \"127.0.0.1:80\"\n"), &[], vec![]));
        assert!(
            typo.starts_with("invalid configuration: http.adress: unknown key (expected addr, public_url) (in "),
            "{typo}"
        );
        assert!(typo.contains("given.toml"), "{typo}");
        let top = error_text(&sources(dir.path(), Some("dta_dir = \"x\"\n"), &[], vec![]));
        assert!(top.contains("dta_dir: unknown key"), "{top}");
        let channel = error_text(&sources(dir.path(), Some("[channels.smtp]\nhost = \"x\"\n"), &[], vec![]));
        assert!(channel.contains("channels.smtp: unknown key (expected allow_private_addresses)"), "{channel}");
        let env = error_text(&sources(dir.path(), None, &[("SIYU_HTTP__PORT", "80")], vec![]));
        assert!(env.contains("http.port: unknown key") && env.contains("from SIYU_HTTP__PORT"), "{env}");
    }

    #[test]
    fn bad_values_are_named_with_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let addr = error_text(&sources(dir.path(), None, &[], vec![addr_flag("x")]));
        assert_eq!(addr, "invalid configuration: http.addr: \"x\" is not a socket address (host:port) (from --addr)");
        let url = error_text(&sources(dir.path(), None, &[("SIYU_DATABASE_URL", "mysql://u:hunter2@h/db")], vec![]));
        assert!(url.contains("database.url: must start with postgres://, postgresql:// or sqlite:"), "{url}");
        assert!(url.contains("from SIYU_DATABASE_URL") && !url.contains("hunter2"), "{url}");
        let interval = error_text(&sources(dir.path(), Some("[jobs]\npass_interval_s = 0\n"), &[], vec![]));
        assert!(
            interval.contains("jobs.pass_interval_s: must be between 1 and 86400 seconds, got 0 (in "),
            "{interval}"
        );
        let kind = error_text(&sources(dir.path(), Some("[jobs]\nenabled = \"maybe\"\n"), &[], vec![]));
        assert!(kind.contains("jobs.enabled: invalid type"), "{kind}");
        let syntax = error_text(&sources(dir.path(), Some("[secrets]\nmaster_key = \"hunter2\n"), &[], vec![]));
        assert!(syntax.contains("line 2: not valid TOML") && !syntax.contains("hunter2"), "{syntax}");
    }

    #[test]
    fn every_problem_is_reported_at_once_without_secret_values() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("SIYU_MASTER_KEY", "hunter2-not-hex"), ("SIYU_PUBLIC_URL", "ftp://x")];
        let text = error_text(&sources(dir.path(), None, &vars, vec![addr_flag("nope")]));
        assert!(text.contains("\n  http.addr: \"nope\""), "{text}");
        assert!(
            text.contains("\n  http.public_url: \"ftp://x\" is not an http:// or https:// URL (from SIYU_PUBLIC_URL)")
        );
        assert!(text.contains("\n  secrets.master_key: must be 64 hexadecimal characters (from SIYU_MASTER_KEY)"));
        assert!(!text.contains("hunter2"), "{text}");
        let typed = error_text(&sources(dir.path(), Some("[secrets]\nmaster_key = 12345\n"), &[], vec![]));
        assert!(typed.contains("secrets.master_key: invalid type: expected a string") && !typed.contains("12345"));
    }

    #[test]
    fn the_config_file_is_explicit_or_found_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Sources { config_file: Some(dir.path().join("nope.toml")), ..Sources::default() };
        let text = error_text(&missing);
        assert!(text.contains("nope.toml: cannot read the configuration file") && text.contains("given by --config"));
        let by_env = sources(dir.path(), None, &[(CONFIG_ENV, "/nonexistent/siyu.toml")], vec![]);
        assert!(error_text(&by_env).contains("given by SIYU_CONFIG"));

        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let none = load(&sources(dir.path(), None, &[], vec![])).unwrap();
        assert!(none.layers[1].found_by.as_deref().is_some_and(|s| s.starts_with("none")));
        std::fs::write(data.join("siyu.toml"), "[http]\naddr = \"127.0.0.1:1004\"\n").unwrap();
        let found = load(&sources(dir.path(), None, &[], vec![])).unwrap();
        assert_eq!(found.config.http.addr, "127.0.0.1:1004");
        assert_eq!(found.layers[1].found_by.as_deref(), Some("data dir"));
        std::fs::write(data.join("siyu.toml"), "data_dir = \"/elsewhere\"\n").unwrap();
        assert!(error_text(&sources(dir.path(), None, &[], vec![])).contains("cannot move the data dir"));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_with_secrets_that_others_may_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = format!("[secrets]\nmaster_key = \"{FAKE_KEY}\"\n");
        let given = sources(dir.path(), Some(&file), &[], vec![]);
        let path = given.config_file.clone().unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warnings = load(&given).unwrap().warnings;
        assert!(warnings.iter().any(|w| w.contains("readable by other users")), "{warnings:?}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&given).unwrap().warnings.is_empty());
        let url = "[database]\nurl = \"postgres://siyu:hunter2@db/siyu\"\n";
        let given = sources(dir.path(), Some(url), &[], vec![]);
        std::fs::set_permissions(given.config_file.as_ref().unwrap(), std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(load(&given).unwrap().warnings.len(), 1);
    }

    #[test]
    fn secrets_never_show_in_debug_or_in_the_check_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("[secrets]\nmaster_key = \"{FAKE_KEY}\"\n");
        let vars = [("SIYU_DATABASE_URL", "postgres://siyu:hunter2@db.internal:5432/siyu")];
        let loaded = load(&sources(dir.path(), Some(&file), &vars, vec![])).unwrap();
        assert_eq!(loaded.config.secrets.master_key.as_ref().map(|k| k.expose()), Some(FAKE_KEY));
        let debug = format!("{:?}", loaded.config);
        let toml = loaded.render(OutputFormat::Toml).unwrap();
        let json = loaded.render(OutputFormat::Json).unwrap();
        for shown in [&debug, &toml, &json] {
            assert!(!shown.contains(FAKE_KEY) && !shown.contains("c0ffee"), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        assert!(toml.contains("url = \"postgres://siyu:[redacted]@db.internal:5432/siyu\""), "{toml}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["config"]["secrets"]["master_key"], "[redacted]");
        assert_eq!(value["layers"][2]["set"][0]["from"], "SIYU_DATABASE_URL");
        // The TOML printed is itself a configuration file (with the secrets to fill in).
        let reread: toml::Table = toml.parse().unwrap();
        assert_eq!(reread["http"]["addr"].as_str(), Some("127.0.0.1:8080"));
    }
}
