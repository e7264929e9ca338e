//! The built binary reads its configuration from a file, the environment and flags, in that order of
//! precedence: `siyu config check` prints it without secrets and refuses a bad one by key, and the
//! other commands act on it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const FAKE_KEY: &str = "feedface0123456789feedface0123456789feedface0123456789feedface01";

/// The binary with no `SIYU_…` variable of the test process (and quiet logs).
fn siyu() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_siyu"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SIYU_") {
            command.env_remove(name);
        }
    }
    command.env("SIYU_LOG", "warn");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(command: &mut Command, options: &[&str]) -> Output {
    command.args(["config", "check"]).args(options).output().unwrap()
}

#[test]
fn config_check_prints_the_merged_configuration_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("siyu.toml");
    let toml = format!(
        "[http]\naddr = \"127.0.0.1:7001\"\npublic_url = \"https://crm.brand.cn\"\n\n\
         [jobs]\npass_interval_s = 300\n\n[secrets]\nmaster_key = \"{FAKE_KEY}\"\n"
    );
    std::fs::write(&file, toml).unwrap();
    let output = check(
        siyu()
            .arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("SIYU_HTTP__ADDR", "127.0.0.1:7002")
            .env("SIYU_DATABASE_URL", "postgres://siyu:hunter2@db.internal:5432/siyu"),
        &[],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    for shown in [&stdout, &stderr] {
        assert!(!shown.contains(FAKE_KEY) && !shown.contains("feedface") && !shown.contains("hunter2"), "{shown}");
    }
    let effective: toml::Table = stdout.parse().unwrap();
    assert_eq!(effective["http"]["addr"].as_str(), Some("127.0.0.1:7002"), "the environment beats the file");
    assert_eq!(effective["http"]["public_url"].as_str(), Some("https://crm.brand.cn"));
    assert_eq!(effective["jobs"]["pass_interval_s"].as_integer(), Some(300));
    assert_eq!(effective["secrets"]["master_key"].as_str(), Some("[redacted]"));
    assert_eq!(effective["database"]["url"].as_str(), Some("postgres://siyu:[redacted]@db.internal:5432/siyu"));
    assert!(stdout.contains(&format!("#   file {} (found by --config): http.addr", file.display())), "{stdout}");
    assert!(stdout.contains("#   environment: database.url (SIYU_DATABASE_URL), http.addr (SIYU_HTTP__ADDR)"));
    assert!(stdout.contains("#   flags: data_dir (--data-dir)"), "{stdout}");

    // The file may be named by SIYU_CONFIG too; JSON says the same.
    let output = check(siyu().env("SIYU_CONFIG", &file).env("SIYU_ADDR", "127.0.0.1:7002"), &["--format", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["config"]["http"]["addr"], "127.0.0.1:7002");
    assert_eq!(json["layers"][1]["found_by"], "SIYU_CONFIG");
}

#[test]
fn config_check_refuses_a_bad_configuration_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("siyu.toml");
    std::fs::write(&file, format!("[http]\nadress = \"0.0.0.0:80\"\n[secrets]\nmaster_key = \"{FAKE_KEY}\"\n"))
        .unwrap();
    let output = check(siyu().arg("--config").arg(&file), &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("http.adress: unknown key (expected addr, public_url)"), "{stderr}");
    assert!(!stderr.contains("feedface"), "{stderr}");
    assert!(output.stdout.is_empty());

    let empty = dir.path().join("empty");
    let output = check(siyu().arg("--data-dir").arg(&empty).env("SIYU_MASTER_KEY", "feedface-not-a-key"), &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("secrets.master_key: must be 64 hexadecimal characters (from SIYU_MASTER_KEY)"));
    assert!(!stderr.contains("feedface"), "{stderr}");

    let output = check(siyu().arg("--config").arg(dir.path().join("missing.toml")), &[]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("missing.toml: cannot read the configuration file"));
}

/// Waits until a server answers on `addr`, or fails after about 30 s.
fn wait_ready(addr: &str) -> bool {
    for _ in 0..600 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn serve_and_migrate_follow_the_siyu_toml_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let database = dir.path().join("elsewhere.db");
    let toml = format!("[http]\naddr = \"{addr}\"\n\n[database]\nurl = \"sqlite:{}\"\n", database.display());
    std::fs::write(data.join("siyu.toml"), toml).unwrap();

    let output = siyu().env("SIYU_DATA_DIR", &data).env("SIYU_MASTER_KEY", FAKE_KEY).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("sqlite:{}", database.display())));
    assert!(database.exists() && !data.join("siyu.db").exists());

    let mut server = siyu()
        .env("SIYU_DATA_DIR", &data)
        .env("SIYU_MASTER_KEY", FAKE_KEY)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = wait_ready(&addr);
    server.kill().unwrap();
    let output = server.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert!(ready, "serve did not listen on {addr}: {stderr}");
    assert!(stderr.contains(&format!("siyu is serving on http://{addr}")), "{stderr}");
    assert!(!stderr.contains("feedface"), "{stderr}");
    assert!(!Path::new(&data.join("master.key")).exists(), "the key came from the environment");
}
