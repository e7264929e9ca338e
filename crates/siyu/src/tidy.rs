//! The tidy test: repository-wide rules that reviews would otherwise have to remember.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_says_what_it_is_for() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    // Files under siyu-store/src/sql are include!d into both backend modules, where inner doc
    // comments are not allowed; they open with a plain comment instead.
    let missing: Vec<_> = files
        .iter()
        .filter(|f| !f.to_string_lossy().contains("siyu-store/src/sql/"))
        .filter(|f| !std::fs::read_to_string(f).unwrap_or_default().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "files without a //! header: {missing:?}");
}

#[test]
fn no_test_is_ignored_or_expects_a_panic() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let this_file = file!().rsplit('/').next().unwrap_or_default().to_string();
    let banned = [concat!("#[", "ignore"), concat!("should", "_panic")];
    for file in files.iter().filter(|f| !f.ends_with(&this_file)) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for word in banned {
            assert!(!text.contains(word), "{} contains {word}", file.display());
        }
    }
}

#[test]
fn architecture_names_every_crate() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    for entry in std::fs::read_dir(root().join("crates")).expect("crates dir").flatten() {
        let name = format!("crates/{}", entry.file_name().to_string_lossy());
        assert!(architecture.contains(&format!("`{name}`")), "ARCHITECTURE.md does not describe {name}");
    }
}

#[test]
fn committed_openapi_document_is_the_generated_one() {
    let path = root().join("docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = siyu_web::api::openapi_json() + "\n";
    if committed != generated {
        if std::env::var_os("SIYU_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write docs/openapi.json");
        } else {
            panic!("docs/openapi.json is stale: run `SIYU_BLESS=1 cargo test -p siyu tidy` and commit it");
        }
    }
}

#[test]
fn permission_docs_match_the_code() {
    let docs = std::fs::read_to_string(root().join("docs/PERMISSIONS.md")).expect("docs/PERMISSIONS.md exists");
    let table = siyu_domain::access::permission_matrix_markdown();
    assert!(docs.contains(&table), "docs/PERMISSIONS.md must contain this matrix:\n{table}");
}

#[test]
fn permission_docs_list_every_route_with_the_permissions_the_code_checks() {
    use siyu_web::api::{Access, ROUTES};
    let docs = std::fs::read_to_string(root().join("docs/PERMISSIONS.md")).expect("docs/PERMISSIONS.md exists");
    let rows: Vec<&str> = docs
        .lines()
        .filter(|l| l.starts_with("| `GET /api") || l.starts_with("| `P") || l.starts_with("| `DELETE /api"))
        .collect();
    for (method, route, access) in ROUTES {
        let Access::Role(permissions) = access else { continue };
        let row = rows
            .iter()
            .find(|row| row.starts_with(&format!("| `{method} {route}` |")))
            .unwrap_or_else(|| panic!("docs/PERMISSIONS.md has no row for `{method} {route}`"));
        for permission in *permissions {
            assert!(row.contains(&format!("`{}`", permission.name())), "{row} must name `{}`", permission.name());
        }
        if permissions.is_empty() {
            assert!(row.contains("any role"), "{row} must say any role");
        }
    }
    for row in rows.iter().filter(|row| row.starts_with("| `") && row.contains(" /api/")) {
        let operation = row.trim_start_matches("| `").split('`').next().unwrap_or_default();
        let (method, route) = operation.split_once(' ').unwrap_or_default();
        assert!(
            ROUTES.iter().any(|(m, r, _)| *m == method && *r == route),
            "docs/PERMISSIONS.md lists `{operation}`, which is not a route"
        );
    }
}

/// Returns every store trait method of `siyu-domain` whose first parameter is not a `WorkspaceId`, as
/// `Trait::method`.
fn unscoped_store_methods() -> std::collections::BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("crates/siyu-domain/src"), &mut files);
    let mut found = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (start, _) in text.match_indices("pub trait ") {
            let rest = &text[start + "pub trait ".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.ends_with("Store") {
                continue;
            }
            let body = &rest[..rest.find("\n}").unwrap_or(rest.len())];
            for (at, _) in body.match_indices("fn ") {
                let signature = &body[at + 3..];
                let method: String = signature.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let Some(open) = signature.find('(') else { continue };
                let params = &signature[open + 1..signature.find(')').unwrap_or(signature.len())];
                let first = params.split(',').map(str::trim).find(|p| !p.is_empty() && !p.contains("self"));
                let scoped =
                    first.and_then(|p| p.split_once(':')).is_some_and(|(_, ty)| ty.trim().ends_with("WorkspaceId"));
                if !scoped {
                    found.insert(format!("{name}::{method}"));
                }
            }
        }
    }
    found
}

#[test]
fn store_methods_not_scoped_to_a_workspace_are_the_ones_architecture_lists() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    // The list is the invariant's paragraph: from "global by nature" to the next invariant.
    let start = architecture.find("global by nature").expect("ARCHITECTURE.md lists the global store methods");
    let paragraph = &architecture[start..];
    let paragraph = &paragraph[..paragraph.find("**Invariant:**").unwrap_or(paragraph.len())];
    let listed: std::collections::BTreeSet<String> =
        paragraph.split('`').skip(1).step_by(2).filter(|token| token.contains("Store::")).map(String::from).collect();
    let found = unscoped_store_methods();
    assert!(found.len() > 10, "the store traits were read: {found:?}");
    let unlisted: Vec<_> = found.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&found).collect();
    assert!(
        unlisted.is_empty(),
        "store methods without a workspace first that ARCHITECTURE.md does not list: {unlisted:?}"
    );
    assert!(stale.is_empty(), "ARCHITECTURE.md lists store methods that take a workspace first or are gone: {stale:?}");
}

/// Returns the modules a crate's `lib.rs` declares.
fn top_modules(krate: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap_or_default();
    lib.lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod ")))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(String::from)
        .collect()
}

#[test]
fn every_source_file_is_a_declared_module() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let mut stray = Vec::new();
    for file in &files {
        let path = file.to_string_lossy();
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        // Crate roots, test and bench binaries, and the SQL that both backends include!, are no modules.
        if ["lib", "main", "mod"].contains(&stem) || !path.contains("/src/") || path.contains("siyu-store/src/sql/") {
            continue;
        }
        let dir = file.parent().expect("a file has a folder");
        let parents = [dir.join("mod.rs"), dir.with_extension("rs"), dir.join("lib.rs"), dir.join("main.rs")];
        let declared = parents.iter().any(|parent| {
            let text = std::fs::read_to_string(parent).unwrap_or_default();
            text.lines().map(str::trim).any(|line| {
                // Any visibility: `pub`, `pub(crate)`, `pub(super)`.
                let line = match line.strip_prefix("pub") {
                    Some(rest) if rest.starts_with('(') => rest.split_once(") ").map_or(line, |(_, after)| after),
                    Some(rest) => rest.trim_start(),
                    None => line,
                };
                line == format!("mod {stem};")
            })
        });
        if !declared {
            stray.push(path.to_string());
        }
    }
    assert!(stray.is_empty(), "source files no module declares (dead code): {stray:?}");
}

#[test]
fn architecture_names_every_module_of_every_crate() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).expect("crates dir").flatten() {
        for module in top_modules(&entry.path()) {
            let named =
                [format!("`{module}`"), format!("`{module}.rs`"), format!("`{module}/`"), format!("/{module}.rs`")]
                    .iter()
                    .any(|token| architecture.contains(token.as_str()));
            if !named {
                missing.push(format!("{}::{module}", entry.file_name().to_string_lossy()));
            }
        }
    }
    assert!(missing.is_empty(), "modules ARCHITECTURE.md's code map does not name: {missing:?}");
}

/// The Rust statement that ends at `end` (from the `;` or `{` before it).
fn statement_before(text: &str, end: usize) -> &str {
    let start = text[..end].rfind([';', '{']).unwrap_or(0);
    &text[start..end]
}

#[test]
fn every_write_of_the_shared_sql_takes_a_turn_to_write() {
    // Straight on the pool, a write meets SQLite's busy handler instead of the process's write
    // queue: it sleeps, and so does the queued writer it got in the way of.
    let mut files = Vec::new();
    rust_files(&root().join("crates/siyu-store/src/sql"), &mut files);
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for call in
            [".execute(&self.pool)", ".fetch_one(&self.pool)", ".fetch_optional(&self.pool)", ".fetch_all(&self.pool)"]
        {
            for (at, _) in text.match_indices(call) {
                let statement = statement_before(&text, at);
                if call == ".execute(&self.pool)"
                    || ["INSERT INTO", "UPDATE ", "DELETE FROM"].iter().any(|w| statement.contains(w))
                {
                    let line = text[..at].lines().count();
                    offenders.push(format!("{}:{line}", file.display()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "writes straight on the pool (use begin_write or write_one): {offenders:?}");
}

#[test]
fn the_domain_knows_no_sql_and_no_http() {
    let manifest = std::fs::read_to_string(root().join("crates/siyu-domain/Cargo.toml")).expect("manifest");
    let mut files = Vec::new();
    rust_files(&root().join("crates/siyu-domain/src"), &mut files);
    for banned in ["sqlx", "axum", "reqwest", "tower"] {
        assert!(!manifest.contains(banned), "siyu-domain depends on {banned}");
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            assert!(!text.contains(&format!("{banned}::")), "{} uses {banned}", file.display());
        }
    }
}

#[test]
fn every_slice_error_converts_into_the_domain_error() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/siyu-domain/src"), &mut files);
    let mut enums = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub enum ") else { continue };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.ends_with("Error") || name == "DomainError" {
                continue;
            }
            enums += 1;
            assert!(
                text.contains(&format!("impl From<{name}> for DomainError")),
                "{} defines {name} without converting it into DomainError",
                file.display()
            );
        }
    }
    assert!(enums >= 2, "the slices' error enums were found ({enums})");
}

/// The modules of a crate's `lib.rs` that each of them names (`crate::m…`, or an item `lib.rs`
/// re-exports from `m`), comments left out.
fn module_graph(krate: &Path) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let modules = top_modules(krate);
    let lib = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap_or_default();
    // `pub use m::{A, B};` or `pub use m::A;`: the item names `lib.rs` hands on, by module.
    let mut reexported = std::collections::HashMap::new();
    for line in lib.lines().filter_map(|l| l.trim().strip_prefix("pub use ")) {
        let Some((module, items)) = line.trim_end_matches(';').split_once("::") else { continue };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let item = item.trim().rsplit(" as ").next().unwrap_or_default().to_string();
            reexported.insert(item, module.to_string());
        }
    }
    let mut graph = std::collections::BTreeMap::new();
    for module in &modules {
        let mut files = Vec::new();
        let dir = krate.join("src").join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        files.push(krate.join("src").join(format!("{module}.rs")));
        let mut uses = std::collections::BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let code: String =
                text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                // `crate::{a::X, b}` names several.
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
                    None => vec![rest],
                };
                for name in names {
                    let name: String = name.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    let target = if modules.contains(&name) { Some(name) } else { reexported.get(&name).cloned() };
                    if let Some(target) = target.filter(|t| t != module) {
                        uses.insert(target);
                    }
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

#[test]
fn no_crate_has_an_import_loop_between_its_modules() {
    let mut loops = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).expect("crates dir").flatten() {
        let graph = module_graph(&entry.path());
        // A loop exists where a module reaches itself through what it names.
        for start in graph.keys() {
            let mut seen = std::collections::BTreeSet::new();
            let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
            while let Some((at, path)) = stack.pop() {
                for next in graph.get(&at).into_iter().flatten() {
                    if next == start {
                        loops.push(format!(
                            "{}: {} -> {start}",
                            entry.file_name().to_string_lossy(),
                            path.join(" -> ")
                        ));
                    } else if seen.insert(next.clone()) {
                        stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
                    }
                }
            }
        }
    }
    assert!(loops.is_empty(), "modules that import each other in a loop: {loops:#?}");
}

#[test]
fn the_domain_slices_depend_on_each_other_in_one_direction() {
    // access ← customers ← events ← models ← segments ← channels ← campaigns ← journeys; the facade composes them.
    let graph = module_graph(&root().join("crates/siyu-domain"));
    let order = ["access", "customers", "events", "models", "segments", "channels", "campaigns", "journeys"];
    for (i, slice) in order.iter().enumerate() {
        for later in &order[i + 1..] {
            assert!(!graph[*slice].contains(*later), "{slice} depends on {later}, which depends on it");
        }
        assert!(!graph[*slice].contains("facade") && !graph[*slice].contains("stores"), "{slice} reaches the facade");
    }
}
