//! What syntect's compiled patterns cost: loads the syntaxes as the app does, highlights a
//! sample of each common language and prints the resident memory after each, how long the
//! first highlight of a language takes (its patterns compile then) and a later one, and RSS
//! after handing freed heap back to the OS. `cargo run --release --example highlight_rss`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

/// Short samples of the languages models write most, touching their common patterns.
const SAMPLES: &[(&str, &str)] = &[
    (
        "rs",
        "use std::io;\n/// doc\n#[derive(Debug)]\npub fn f<'a>(x: &'a str) -> Result<u8, E> {\n    let v = vec![1, 2.0, 0x1f];\n    match x { \"a\" => Ok(1), _ => Err(e)? } // c\n}\nimpl T for S { const N: usize = 1; }\n",
    ),
    (
        "py",
        "import os\n@dec\ndef f(a: int = 1) -> str:\n    \"\"\"doc\"\"\"\n    with open(a) as h:  # c\n        return f\"{a!r}\" + 'x' * 2.5\nclass C(B):\n    pass\n",
    ),
    (
        "js",
        "import { a } from 'b';\nconst f = async (x) => { let y = `t${x}`; return /re/g.test(y) ? 1 : null; }; // c\nclass C extends B { constructor() { super(); } }\n",
    ),
    (
        "sh",
        "#!/bin/sh\nset -e\nfor f in *.txt; do echo \"$f\" | grep -v x > \"${f%.txt}.out\"; done # c\nif [ -n \"$A\" ]; then export B=$(pwd); fi\n",
    ),
    (
        "json",
        "{\"a\": [1, 2.5, true, null], \"b\": {\"c\": \"d\"}}\n",
    ),
];

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let ctx = egui::Context::default();
    let style = ctx.global_style();
    let theme = egui_extras::syntax_highlighting::CodeTheme::from_style(&style);
    println!("start: {} kB", rss_kb());
    let _ = egui_extras::syntax_highlighting::highlight(&ctx, &style, &theme, "", "rs");
    println!("syntaxes loaded: {} kB", rss_kb());
    for (language, code) in SAMPLES {
        let started = std::time::Instant::now();
        let _ = egui_extras::syntax_highlighting::highlight(&ctx, &style, &theme, code, language);
        let first = started.elapsed();
        let again = format!("{code}// again\n");
        let started = std::time::Instant::now();
        let _ = egui_extras::syntax_highlighting::highlight(&ctx, &style, &theme, &again, language);
        println!(
            "{language}: {} kB; first highlight {:.1} ms, a changed block after it {:.2} ms",
            rss_kb(),
            first.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
    println!("after malloc_trim: {} kB", rss_kb());
}
