//! Link options; each function below says why.
//!
//! All builds: packs the binary's relative relocations (`-z pack-relative-relocs`, DT_RELR, as
//! Fedora and Chrome OS build everything): `.rela.dyn` goes from 1.2 MB of 24-byte entries to a
//! few KB of bitmaps, and the loader has less to read at start. Only where the C toolchain links
//! and runs such a program (GNU ld ≥ 2.38 and glibc ≥ 2.36); elsewhere the binary is built as
//! before. Release: identical code folding, and the hot code first (`hot_text_first`).

use std::path::PathBuf;
use std::process::Command;

const FLAG: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let cross = std::env::var("TARGET").ok() != std::env::var("HOST").ok();
    if target_os != "linux" || target_env != "gnu" || cross {
        return;
    }
    if links_and_runs_with_packed_relocs() {
        println!("cargo:rustc-link-arg={FLAG}");
    }
    // Identical code folding: generic code monomorphised to the same machine code (drop glue,
    // `Vec<T>` methods for same-sized `T`, serde visitors...) is kept once. Release binary
    // only (it slows the link); rust-lld, the default linker on this target, has it.
    if std::env::var("PROFILE").is_ok_and(|p| p == "release") {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
        hot_text_first();
    }
}

/// Puts the functions `ask` runs (link/hot-text.ld, made by scripts/hot_text.sh) together at
/// the start of the code. The kernel maps code 64 KiB around each page a process first runs;
/// spread over the 17.8 MB segment, `ask`'s 1.3 MB of code mapped 9 MB of it, most of its
/// peak memory (docs/PERFORMANCE.md). The script only adds an output section before `.text`
/// (INSERT), so a name it lists that no longer exists changes nothing.
fn hot_text_first() {
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let script = PathBuf::from(dir).join("link").join("hot-text.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if script.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=rustbot=-Wl,-T,{}",
            script.display()
        );
    }
}

/// Compiles, links and runs a tiny C program with the flag: an old linker refuses it and an
/// old glibc cannot load the result, so either keeps the flag off.
fn links_and_runs_with_packed_relocs() -> bool {
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let source = out_dir.join("relr_probe.c");
    let program = out_dir.join("relr_probe");
    // A pointer in writable data needs a relative relocation, so the probe really has one.
    let code = "static int x; int *p = &x; int main(void) { return *p; }\n";
    if std::fs::write(&source, code).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let linked = Command::new(cc)
        .args(["-pie", "-fPIE", FLAG, "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
