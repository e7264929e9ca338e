//! The examples of README.md and docs/*.md run as written against a demo server: shell blocks (curl
//! and `siyu …` commands) through bash with the test server's address and data directory, segment
//! definitions through the preview endpoint, CSV blocks through the customer import, and TOML blocks
//! (configuration files) through `siyu config check`.

use crate::{Backend, spawn_app};
use std::path::{Path, PathBuf};

/// One example: where it is written and what it says.
struct Example {
    place: String,
    language: String,
    text: String,
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns the code blocks of a Markdown file: fenced blocks with their language, and indented blocks
/// (four spaces or more after a blank line) as `indented`.
fn code_blocks(file: &Path) -> Vec<Example> {
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut examples = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(language) = line.trim_start().strip_prefix("```") {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && !lines[end].trim_start().starts_with("```") {
                end += 1;
            }
            examples.push(Example {
                place: format!("{name}:{}", start + 1),
                language: language.trim().to_string(),
                text: lines[start..end].join("\n"),
            });
            i = end + 1;
            continue;
        }
        let indented = |l: &str| l.starts_with("    ") && !l.trim().is_empty();
        if indented(line) && i > 0 && lines[i - 1].trim().is_empty() {
            let start = i;
            while i < lines.len() && indented(lines[i]) {
                i += 1;
            }
            let indent = line.len() - line.trim_start().len();
            let body: Vec<&str> = lines[start..i].iter().map(|l| l.get(indent..).unwrap_or(l.trim_start())).collect();
            examples.push(Example {
                place: format!("{name}:{}", start + 1),
                language: "indented".into(),
                text: body.join("\n"),
            });
            continue;
        }
        i += 1;
    }
    examples
}

/// Every example of README.md and docs/*.md.
fn examples() -> Vec<Example> {
    let root = repository_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files.iter().flat_map(|f| code_blocks(f)).collect()
}

/// Whether a shell block is one of the two commands the test itself stands for: starting the demo
/// server (the test's server is that server) and running the whole test suite.
fn stood_for_by_the_test(text: &str) -> bool {
    text.contains("serve --demo") || text.contains("./scripts/test")
}

/// Rewrites a shell example to run here: `siyu` and `cargo run --release --` become the built binary,
/// and the documented address becomes the test server's.
fn runnable(text: &str, base_url: &str) -> String {
    let mut script = String::from(
        "set -euo pipefail\n\
         curl() { command curl --silent --show-error --fail-with-body \"$@\"; }\n",
    );
    for line in text.lines() {
        let line = line.replace("cargo run --release -- ", "\"$SIYU\" ").replace("http://127.0.0.1:8080", base_url);
        let line = match line.strip_prefix("siyu ") {
            Some(rest) => format!("\"$SIYU\" {rest}"),
            None => line.replace("$(siyu ", "$(\"$SIYU\" "),
        };
        script.push_str(&line);
        script.push('\n');
    }
    script
}

/// Whether a JSON block is a segment definition (rather than an answer shown as an example).
fn is_definition(value: &serde_json::Value) -> bool {
    let keys = ["and", "or", "not", "tag", "segment", "consent", "has_identity", "trait", "model", "did"];
    value.as_object().is_some_and(|o| o.keys().next().is_some_and(|k| keys.contains(&k.as_str())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_in_the_readme_and_docs_runs_against_the_demo() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    siyu::demo::run(&app.services, 300, 7, false).await.unwrap();
    let ws = app.services.access.workspace_by_slug(siyu::demo::SLUG).await.unwrap();
    let (_, key) = app
        .services
        .access
        .create_key(
            &siyu_domain::access::Principal::cli(ws.id),
            siyu_domain::access::api_keys::KeyKind::Secret,
            siyu_domain::access::Role::Owner,
            "doc examples",
        )
        .await
        .unwrap();
    let data_dir = app._dir.path().to_path_buf();
    let mut ran = Vec::new();
    for example in examples() {
        let place = &example.place;
        match (example.language.as_str(), place.split(':').next().unwrap()) {
            ("bash" | "sh" | "shell" | "indented", _) => {
                if stood_for_by_the_test(&example.text) {
                    continue;
                }
                let script = runnable(&example.text, &app.base_url);
                let dir = data_dir.clone();
                let output = tokio::task::spawn_blocking(move || {
                    std::process::Command::new("bash")
                        .arg("-c")
                        .arg(&script)
                        .env("SIYU", env!("CARGO_BIN_EXE_siyu"))
                        .env("SIYU_DATA_DIR", &dir)
                        .env_remove("SIYU_DATABASE_URL")
                        .env_remove("SIYU_MASTER_KEY")
                        .env("SIYU_LOG", "warn")
                        .output()
                        .unwrap()
                })
                .await
                .unwrap();
                assert!(
                    output.status.success(),
                    "{place} failed ({}):\n{}\nstdout: {}\nstderr: {}",
                    output.status,
                    example.text,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                ran.push(place.clone());
            }
            ("text", "SEGMENTS.md") => {
                let body = serde_json::json!({ "text": example.text });
                let (status, answer, _) = app.call("POST", "/api/v1/segments/preview", &key, Some(body)).await;
                assert_eq!(status, 200, "{place}: {answer}");
                assert_eq!(answer["warnings"], serde_json::json!([]), "{place} names only what the demo has");
                ran.push(place.clone());
            }
            ("json", "JOURNEYS.md") => {
                let value: serde_json::Value =
                    serde_json::from_str(&example.text).unwrap_or_else(|e| panic!("{place} is not JSON: {e}"));
                let definition: Result<siyu_domain::journeys::Definition, _> = serde_json::from_value(value);
                assert!(definition.is_ok(), "{place} is not a journey definition: {:?}", definition.err());
                ran.push(place.clone());
            }
            ("json", _) => {
                let value: serde_json::Value =
                    serde_json::from_str(&example.text).unwrap_or_else(|e| panic!("{place} is not JSON: {e}"));
                if !is_definition(&value) {
                    continue;
                }
                let body = serde_json::json!({ "definition": value });
                let (status, answer, _) = app.call("POST", "/api/v1/segments/preview", &key, Some(body)).await;
                assert_eq!(status, 200, "{place}: {answer}");
                assert_eq!(answer["warnings"], serde_json::json!([]), "{place} names only what the demo has");
                ran.push(place.clone());
            }
            ("toml", _) => {
                // A configuration file: `siyu config check` must accept it as written.
                let file = data_dir.join("doc-example.toml");
                std::fs::write(&file, &example.text).unwrap();
                let output = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"))
                    .arg("--config")
                    .arg(&file)
                    .args(["config", "check"])
                    .env("SIYU_DATA_DIR", &data_dir)
                    .env_remove("SIYU_DATABASE_URL")
                    .env_remove("SIYU_MASTER_KEY")
                    .env("SIYU_LOG", "warn")
                    .output()
                    .unwrap();
                std::fs::remove_file(&file).unwrap();
                assert!(output.status.success(), "{place} is refused: {}", String::from_utf8_lossy(&output.stderr));
                ran.push(place.clone());
            }
            ("csv", _) => {
                let (status, answer, _) = app
                    .call_raw("POST", "/api/v1/customers/import", &key, "text/csv", example.text.clone().into_bytes())
                    .await;
                assert_eq!(status, 200, "{place}: {answer}");
                assert_eq!(answer["failed"], 0, "{place}: {answer}");
                ran.push(place.clone());
            }
            _ => {}
        }
    }
    // The README's script, the segment examples, the query examples and the configuration are among
    // what ran.
    for expected in ["README.md", "SEGMENTS.md", "EVENTS.md", "CONFIG.md", "PRIVACY.md"] {
        assert!(ran.iter().any(|p| p.starts_with(expected)), "no example of {expected} ran: {ran:?}");
    }
}

#[test]
fn indented_and_fenced_blocks_are_both_examples() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("X.md");
    std::fs::write(&file, "Intro:\n\n      a \\\n        b\n\n```bash\nsiyu query x\n```\n  - not code\n").unwrap();
    let blocks = code_blocks(&file);
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].language.as_str(), blocks[0].text.as_str()), ("indented", "a \\\n  b"));
    assert_eq!((blocks[1].language.as_str(), blocks[1].text.as_str()), ("bash", "siyu query x"));
    assert!(runnable("siyu query x", "http://h").contains("\"$SIYU\" query x"));
}
