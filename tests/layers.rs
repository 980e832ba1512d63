//! The layers hold by themselves: no module imports one above it (issue 16). Reads every file
//! under `src/` (test code aside: `#[cfg(test)]` modules and `tests.rs` / `*_tests.rs` files) and fails on
//! any `crate::` path from a module to a higher layer.
//!
//! Bottom up: core → config → store · llm · tools · agents · attachments · local · knowledge
//! → engine → bootstrap → server · ui · cli → main. Modules of one layer may use each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

/// Each top-level module's layer; a module may import its own layer and those below.
const LAYERS: &[(&str, u8)] = &[
    ("core", 0),
    ("time", 0),
    ("logging", 0),
    ("config", 1),
    ("store", 2),
    ("llm", 2),
    ("tools", 2),
    ("agents", 2),
    ("attachments", 2),
    ("local", 2),
    ("knowledge", 2),
    ("engine", 3),
    ("bootstrap", 4),
    ("server", 5),
    ("ui", 5),
    ("cli", 5),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a file without its test module (everything from `#[cfg(test)]` on: the
/// crate keeps test modules last).
fn non_test_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// Every `crate::NAME` in `code`, with its line number.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((n + 1, name));
            rest = after;
        }
    }
    out
}

/// The upward imports under `src`, as "file:line: a → b" lines.
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy();
        let module = module.trim_end_matches(".rs");
        let Some(own) = layer(module) else {
            continue; // lib.rs, main.rs: the top
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, target) in crate_paths(non_test_code(&text)) {
            if let Some(theirs) = layer(&target)
                && theirs > own
            {
                found.push(format!(
                    "{}:{line}: {module} (layer {own}) imports {target} (layer {theirs})",
                    relative.display()
                ));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = upward_imports(&src);
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

/// Imports a door may not make even though the layers allow them: the window draws and sends
/// commands, so it never talks to a provider (`llm`) itself.
const FORBIDDEN: &[(&str, &str)] = &[("ui", "llm")];

fn forbidden_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy();
        let module = module.trim_end_matches(".rs");
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, target) in crate_paths(non_test_code(&text)) {
            if FORBIDDEN.contains(&(module, target.as_str())) {
                found.push(format!(
                    "{}:{line}: {module} imports {target}",
                    relative.display()
                ));
            }
        }
    }
    found
}

#[test]
fn the_window_never_talks_to_a_provider_itself() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = forbidden_imports(&src);
    assert!(found.is_empty(), "forbidden imports:\n{}", found.join("\n"));
    // And the check sees one.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ui")).unwrap();
    std::fs::write(
        dir.path().join("ui/models.rs"),
        "use crate::llm::build_provider;\n",
    )
    .unwrap();
    assert_eq!(forbidden_imports(dir.path()).len(), 1);
}

/// Files of the window that hold the store's writing handle, with the reason: everywhere else
/// the window has a `StoreReader`, whose closures run with SQLite in `query_only` mode.
const STORE_HANDLE_ALLOWED: &[&str] = &["ui/bridge.rs"]; // assembles the window: hands it readers

fn store_writers_in_the_window(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&src.join("ui"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if STORE_HANDLE_ALLOWED.contains(&relative.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in non_test_code(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("StoreHandle") {
                found.push(format!("{relative}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_window_reads_the_store_and_never_writes_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = store_writers_in_the_window(&src);
    assert!(
        found.is_empty(),
        "the window holds a writing store handle:\n{}",
        found.join("\n")
    );
    // And the check sees one.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ui")).unwrap();
    std::fs::write(
        dir.path().join("ui/history.rs"),
        "pub struct History { store: crate::store::StoreHandle }\n",
    )
    .unwrap();
    assert_eq!(store_writers_in_the_window(dir.path()).len(), 1);
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
        .map(|l| l.trim_end_matches(';'))
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn the_check_catches_an_upward_import() {
    // A config file that reached up into the engine must be reported.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("bad.rs"),
        "use crate::core::VERSION;\nuse crate::engine::Command; // up\n#[cfg(test)]\nmod tests { use crate::ui::App; }\n",
    )
    .unwrap();
    let found = upward_imports(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("bad.rs:2: config (layer 1) imports engine (layer 3)"),
        "{found:?}"
    );
}
