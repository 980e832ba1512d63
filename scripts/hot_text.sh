#!/usr/bin/env bash
# Regenerates link/hot-text.ld, the list of functions `rustbot ask` runs, which build.rs hands
# to the linker so that they sit together at the start of the release binary's code (why:
# scripts/hot_text.py; figures: docs/PERFORMANCE.md). Run it after changes to the streaming
# path, the start-up or the dependencies, or a toolchain update, then rebuild and measure
# (`SKIP_GUI=1 SKIP_REALISTIC=1 scripts/bench.sh`). Needs valgrind and Python 3; ~15 min.
#
#   scripts/hot_text.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || bash scripts/install-deps.sh valgrind >&2
T=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The release binary exactly as `cargo build --release` makes it, symbols kept: extra rustc
# flags of `cargo rustc` do not enter the crates' -C metadata, so the functions have the names
# (hashes included) they have in the shipped build. The profile's `strip` would change them.
echo "building the release binary with its symbols..." >&2
cargo rustc --release --quiet --bin rustbot -- -C strip=none
cp "$T/release/rustbot" "$work/rustbot"
# Built on its own: with an example in the same build, dev-dependencies' features would be
# unified into the binary's dependencies and change its names.
cargo build --release --quiet --example sse_server

export RUSTBOT_DATA_DIR="$work/data" RUSTBOT_CONFIG="$work/config.toml"
n=0
traced() { # runs `rustbot "$@"` under callgrind, one profile per run
  n=$((n + 1))
  valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$work/cg.$n" "$work/rustbot" "$@" > "$work/out" 2>> "$work/valgrind.log"
}
serve() { # $@ = sse_server arguments after the port; sets $url
  kill $(jobs -p) 2>/dev/null || true
  "$T/release/examples/sse_server" 0 "$@" > "$work/port" &
  for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
  url="http://127.0.0.1:$(head -1 "$work/port")/v1"
}
ask() { traced --provider custom --base-url "$url" --model m ask "$@"; }

echo "tracing..." >&2
# bench.sh's three streams, shorter: bursts of one-word chunks into a new data directory, the
# same as fast as the socket takes them (an existing database, its WAL), a Markdown answer
# paced like a model; then a follow-up in the first conversation (history read back).
serve 20000 13333 64
ask "hi"
serve 20000
ask "hi"
serve 400 200
ask "hi"
conversation=$(awk '/^conversation: / {print $2; exit}' "$work/valgrind.log")
ask --conversation "$conversation" "and again"

python3 scripts/hot_text.py "$work/rustbot" link/hot-text.ld "$work"/cg.*
echo "rebuild (cargo build --release) to link with the new list" >&2
