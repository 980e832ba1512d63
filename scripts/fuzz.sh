#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target under fuzz/ for a set time each, one at a time,
# starting from the seeds in fuzz/corpus/<target>/ (what a run adds there, and crash inputs in
# fuzz/artifacts/<target>/, are not committed). Prints per target: executions, time, crashes.
# Exits non-zero when any target crashed (or failed to build or run).
#
#   scripts/fuzz.sh                          # every target, 60 s each
#   SECONDS_PER_TARGET=180 scripts/fuzz.sh   # longer
#   scripts/fuzz.sh sse_framing config       # some targets
#
# Environment: SECONDS_PER_TARGET (60), NICE (10, the niceness of the fuzzers),
# SANITIZER (none; `address` finds memory errors in C dependencies at ~2x the cost),
# RSS_LIMIT_MB (2048), CARGO_TARGET_DIR (cargo-fuzz's default is fuzz/target).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-60}
NICE=${NICE:-10}
SANITIZER=${SANITIZER:-none}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)" >&2
    exit 2
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "building ${#targets[@]} targets (sanitizer: $SANITIZER, debug assertions on)..."
if [ $# -gt 0 ]; then
    for t in "${targets[@]}"; do
        nice -n "$NICE" cargo +nightly fuzz build -s "$SANITIZER" "$t"
    done
else
    nice -n "$NICE" cargo +nightly fuzz build -s "$SANITIZER"
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=0
rows=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    echo "== $t: ${SECONDS_PER_TARGET}s"
    set +e
    nice -n "$NICE" cargo +nightly fuzz run -s "$SANITIZER" "$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb="$RSS_LIMIT_MB" >"$logs/$t.log" 2>&1
    rc=$?
    set -e
    elapsed=$(($(date +%s) - start))
    after=$(find "fuzz/artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*$' || true)
    if [ -z "$runs" ]; then
        # No final stats (the run died): the last status line's count.
        runs=$(grep -o '^#[0-9]*' "$logs/$t.log" | tail -1 | tr -d '#' || true)
    fi
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed=1
        [ "$crashes" -gt 0 ] || crashes="? (exit $rc)"
        echo "   CRASH: see fuzz/artifacts/$t/; the end of the log:"
        grep -v '^#' "$logs/$t.log" | tail -25 | sed 's/^/   | /'
    fi
    rows+=("$(printf '%-18s %10s %12s %8s %8s' "$t" "${elapsed}s" "${runs:-?}" "$corpus" "$crashes")")
done

echo
printf '%-18s %10s %12s %8s %8s\n' target time runs corpus crashes
printf '%s\n' "${rows[@]}"
exit "$failed"
