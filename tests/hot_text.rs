//! The hot-text linker script (link/hot-text.ld, build.rs): the committed script is accepted by
//! the linker, and scripts/hot_text.py turns a callgrind profile into a script that really moves
//! the traced function into `.text.hot`. Small programs are compiled with `rustc` here, linked
//! the way the release binary is (the default linker of the target, rust-lld on x86_64 Linux).
#![cfg(all(target_os = "linux", target_env = "gnu"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAM: &str = r#"
#[inline(never)]
pub fn traced_for_the_hot_text_test(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ 7
}
fn main() {
    println!("{}", traced_for_the_hot_text_test(std::env::args().count() as u64));
}
"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compiles PROGRAM in `dir` (optimised, like a release build), linked with `script` if given.
fn compile(dir: &Path, name: &str, script: Option<&Path>) -> PathBuf {
    let source = dir.join("main.rs");
    std::fs::write(&source, PROGRAM).unwrap();
    let out = dir.join(name);
    let mut cmd = Command::new("rustc");
    cmd.args(["--edition=2024", "-O"]);
    if let Some(script) = script {
        cmd.arg("-C")
            .arg(format!("link-arg=-Wl,-T,{}", script.display()));
    }
    cmd.arg("-o").arg(&out).arg(&source);
    run(&mut cmd);
    out
}

/// `(start, end)` of the `.text.hot` section, if the binary has one.
fn hot_section(binary: &Path) -> Option<(u64, u64)> {
    let sections = run(Command::new("readelf").arg("-SW").arg(binary));
    sections.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == ".text.hot")?;
        // [Nr] Name Type Address Off Size ...
        let address = u64::from_str_radix(fields.get(at + 2)?, 16).ok()?;
        let size = u64::from_str_radix(fields.get(at + 4)?, 16).ok()?;
        Some((address, address + size))
    })
}

/// The function's mangled name and address in `binary`.
fn traced_function(binary: &Path) -> (String, u64) {
    let symbols = run(Command::new("nm").arg("--defined-only").arg(binary));
    symbols
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.next()?;
            let _kind = fields.next()?;
            let name = fields.next()?;
            name.contains("traced_for_the_hot_text_test")
                .then(|| (name.to_string(), u64::from_str_radix(address, 16).unwrap()))
        })
        .expect("the test program's function is in its symbol table")
}

#[test]
fn the_committed_script_is_accepted_by_the_linker() {
    let script = repo().join("link/hot-text.ld");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("SECTIONS") && text.trim_end().ends_with("INSERT BEFORE .text;"));
    let dir = tempfile::tempdir().unwrap();
    let binary = compile(dir.path(), "with_committed", Some(&script));
    let out = run(&mut Command::new(&binary));
    assert!(out.trim().parse::<u64>().is_ok(), "the program runs: {out}");
}

#[test]
fn a_traced_function_is_moved_into_the_hot_section() {
    let dir = tempfile::tempdir().unwrap();
    let plain = compile(dir.path(), "plain", None);
    assert_eq!(hot_section(&plain), None);
    let (name, _) = traced_function(&plain);

    // What callgrind writes for a function it saw run (--demangle=no), and one of another object.
    let profile = dir.path().join("callgrind.out");
    std::fs::write(
        &profile,
        format!(
            "ob={}\nfn={name}\ncalls=1 0\nob=/usr/lib/libc.so.6\nfn=memcpy\n",
            plain.display()
        ),
    )
    .unwrap();
    let script = dir.path().join("hot.ld");
    run(Command::new("python3")
        .arg(repo().join("scripts/hot_text.py"))
        .arg(&plain)
        .arg(&script)
        .arg(&profile));
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains(&format!("*(.text.{name} ")), "{text}");
    assert!(
        !text.contains("memcpy"),
        "only the binary's own functions: {text}"
    );
    // The hash-free pattern too, for a build whose hashes differ: the legacy hash
    // (`17h<16 hex>E`) or, with v0 mangling, the crate disambiguator (`Cs<base62>_`).
    let pattern = if name.starts_with("_ZN") {
        format!("*(.text.{}17h*E ", &name[..name.len() - 20])
    } else {
        assert!(name.starts_with("_R"), "a legacy or v0 Rust name: {name}");
        "Cs*_4main".to_string()
    };
    assert!(text.contains(&pattern), "{pattern} in {text}");

    let hot = compile(dir.path(), "hot", Some(&script));
    let (start, end) = hot_section(&hot).expect("a .text.hot section");
    let (_, address) = traced_function(&hot);
    assert!(
        (start..end).contains(&address),
        "{name} at {address:#x}, .text.hot {start:#x}..{end:#x}"
    );
}
