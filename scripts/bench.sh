#!/usr/bin/env bash
# Whole-process performance figures of a release build, as a Markdown table (stdout and
# docs/bench-latest.md): binary size, start to first frame and idle behaviour of the desktop
# app under Xvfb (against an empty eframe window, the floor; idle memory with an empty store
# and with 1,000 stored conversations), the delay from a streamed text delta to the frame
# that shows it at 2,000 tokens/s (typed into the window with xdotool), and `rustbot ask`
# against aichat on the same local servers: 200,000 one-word chunks as fast as the socket
# takes them, the same chunks paced in bursts of 64 over 1.5 s, and a realistic answer at
# 80 tokens/s (CPU per token). Medians of RUNS runs, ask and aichat alternating. Then the
# local-model figures next to llama.cpp (scripts/bench_local.sh: docs/local-bench-latest.md)
# and the knowledge-base figures (scripts/bench_knowledge.sh), each skippable.
#
#   scripts/bench.sh            # everything (installs aichat with cargo if missing)
#   SKIP_AICHAT=1 scripts/bench.sh
#   SKIP_GUI=1 SKIP_REALISTIC=1 scripts/bench.sh              # ask vs aichat, fast and paced
#   ASK_BIN=/path/to/old/rustbot SKIP_GUI=1 scripts/bench.sh  # another build, same script
#   SKIP_LOCAL=1 SKIP_KNOWLEDGE=1 scripts/bench.sh            # without the local models
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CHUNKS=${CHUNKS:-200000}
# The latency stream: this many tokens per run at TOKENS_PER_SEC.
LATENCY_TOKENS=${LATENCY_TOKENS:-2000}
TOKENS_PER_SEC=${TOKENS_PER_SEC:-2000}
OUT=${OUT:-docs/bench-latest.md}
work=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
p99() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else {i=int(NR*0.99); if (i<NR*0.99) i++; print a[i]}}'; }

# A fresh machine may lack the X server and the typing tool the GUI figures need, and GNU time.
if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null || [ ! -x /usr/bin/time ]; then
  bash scripts/install-deps.sh xvfb xdotool time >&2
fi

echo "building release binaries..." >&2
# The binary on its own, as `cargo build --release` makes it: built with an example, the
# dev-dependencies' features would be unified into its dependencies, which changes its
# function names and so what link/hot-text.ld finds (build.rs).
cargo build --release --quiet --bin rustbot
cargo build --release --quiet --example sse_server
have_gui=0
if [ "${SKIP_GUI:-0}" != 1 ]; then
  cargo build --release --quiet --example seed_store
  if cargo build --release --quiet --example empty_window 2>/dev/null; then have_gui=1; fi
fi
T=${CARGO_TARGET_DIR:-target}
BIN=$T/release/rustbot
cp "$BIN" "$work/rustbot-stripped" && strip "$work/rustbot-stripped"
size_bytes=$(stat -c %s "$work/rustbot-stripped")
size_mb=$(awk "BEGIN {printf \"%.2f\", $size_bytes/1000000}")

export RUSTBOT_DATA_DIR="$work/data" RUSTBOT_CONFIG="$work/config.toml"
rows=()
# Issue 15 moved the budget to 25 MB with local inference inside (MB = 10^6 bytes).
rows+=("| release binary (stripped) | ${size_bytes} bytes (${size_mb} MB) | ≤ 25 MB |")

# --- ask vs aichat on local streams -----------------------------------------------------
# fast: CHUNKS one-word chunks as fast as the socket takes them; paced: the same chunks in
# writes of 64 over PACED_SECS (bursts, like a real provider); realistic: REAL_SECS of a
# Markdown answer at REAL_TOKENS_PER_SEC (CPU time per token while streaming).
PACED_SECS=${PACED_SECS:-1.5}
REAL_SECS=${REAL_SECS:-20}
REAL_TOKENS_PER_SEC=${REAL_TOKENS_PER_SEC:-80}
# ASK_BIN measures another build of `rustbot` (say the one before a change) with this script.
ASK_BIN=${ASK_BIN:-$BIN}
measure() { # prints "cpu_seconds peak_rss_kb" for one run of the command
  /usr/bin/time -f "%U %S %M" -o "$work/t" "$@" > "$work/out" 2>/dev/null || true
  awk '{printf "%.3f %d\n", $1+$2, $3}' "$work/t"
}
start_server() { # $1 = name, rest = sse_server arguments after the port; sets $url
  $T/release/examples/sse_server 0 "${@:2}" > "$work/$1.port" &
  for _ in $(seq 50); do [ -s "$work/$1.port" ] && break; sleep 0.1; done
  url="http://127.0.0.1:$(head -1 "$work/$1.port")/v1"
}
have_aichat=0
if [ "${SKIP_AICHAT:-0}" != 1 ]; then
  if ! command -v aichat >/dev/null; then
    echo "installing aichat (cargo install aichat --locked)..." >&2
    cargo install aichat --locked --quiet
  fi
  have_aichat=1
  ai_version=$(aichat --version | awk '{print $2}')
fi
aichat_config() { # $1 = base URL
  mkdir -p "$work/aichat"
  cat > "$work/aichat/config.yaml" <<YAML
model: local:m
stream: true
save: false
clients:
  - type: openai-compatible
    name: local
    api_base: $1
    api_key: x
    models:
      - name: m
YAML
}
ask_vs_aichat() { # $1 = name, $2 = what (row label), $3 = tokens, rest = sse_server arguments
  local name=$1 what=$2 tokens=$3
  shift 3
  start_server "$name" "$@"
  : > "$work/$name.ask.txt"; : > "$work/$name.ai.txt"
  [ "$have_aichat" = 1 ] && aichat_config "$url"
  for _ in $(seq "$RUNS"); do # alternate, so both see the same machine load
    RUSTBOT_DATA_DIR="$work/data-$name" measure "$ASK_BIN" --provider custom --base-url "$url" \
      --model m ask hi >> "$work/$name.ask.txt"
    ask_bytes=$(wc -c < "$work/out")
    if [ "$have_aichat" = 1 ]; then
      AICHAT_CONFIG_DIR="$work/aichat" measure aichat -m local:m hi >> "$work/$name.ai.txt"
      ai_bytes=$(wc -c < "$work/out")
    fi
  done
  local db_kb; db_kb=$(du -ck "$work/data-$name"/rustbot.db* | tail -1 | cut -f1)
  local a_cpu a_rss; a_cpu=$(cut -d' ' -f1 "$work/$name.ask.txt" | median)
  a_rss=$(cut -d' ' -f2 "$work/$name.ask.txt" | median)
  rows+=("| \`ask\`, ${what}: CPU (user+sys) / peak RSS | ${a_cpu} s / $((a_rss / 1024)) MB | |")
  rows+=("| \`ask\`, ${what}: CPU per token | $(awk "BEGIN {printf \"%.2f\", $a_cpu*1e6/$tokens}") µs | |")
  rows+=("| \`ask\`, ${what}: rustbot.db + WAL after ${RUNS} answers | $((db_kb / 1024)) MB | |")
  if [ "$have_aichat" = 1 ]; then
    local i_cpu i_rss; i_cpu=$(cut -d' ' -f1 "$work/$name.ai.txt" | median)
    i_rss=$(cut -d' ' -f2 "$work/$name.ai.txt" | median)
    rows+=("| aichat ${ai_version}, ${what}: CPU / peak RSS / CPU per token | ${i_cpu} s / $((i_rss / 1024)) MB / $(awk "BEGIN {printf \"%.2f\", $i_cpu*1e6/$tokens}") µs | |")
    rows+=("| ratio ask/aichat, ${what}: CPU / peak RSS | $(awk "BEGIN {printf \"%.2f× / %.2f×\", $a_cpu/$i_cpu, $a_rss/$i_rss}") | ≤ 0.5× / ≤ 1.0× |")
    rows+=("| bytes printed, ${what}: ask / aichat | ${ask_bytes} / ${ai_bytes} | equal text |")
  fi
}
ask_vs_aichat fast "${CHUNKS}-chunk stream, fast" "$CHUNKS" "$CHUNKS"
ask_vs_aichat paced "${CHUNKS}-chunk stream, paced (64 a write, ${PACED_SECS} s)" "$CHUNKS" \
  "$CHUNKS" "$(awk "BEGIN {print $CHUNKS / $PACED_SECS}")" 64
if [ "${SKIP_REALISTIC:-0}" != 1 ]; then
  real_tokens=$(awk "BEGIN {print int($REAL_SECS * $REAL_TOKENS_PER_SEC)}")
  ask_vs_aichat real "${REAL_SECS} s at ${REAL_TOKENS_PER_SEC} tokens/s" "$real_tokens" \
    "$real_tokens" "$REAL_TOKENS_PER_SEC"
fi

# --- desktop app under Xvfb ------------------------------------------------------------
if [ "${SKIP_GUI:-0}" = 1 ]; then
  rows+=("| desktop app figures | not measured (SKIP_GUI=1) | |")
elif [ "$have_gui" = 1 ] && command -v Xvfb >/dev/null; then
  Xvfb :97 -screen 0 1280x800x24 >/dev/null 2>&1 &
  export DISPLAY=:97 LIBGL_ALWAYS_SOFTWARE=1
  # Wait for the server's socket: a window started before it exits at once.
  for _ in $(seq 50); do [ -S /tmp/.X11-unix/X97 ] && break; sleep 0.1; done
  sleep 1
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
  gui_run() { # $@ = command, prints "first_frame_ms idle_rss_kb frames_in_10s idle_cpu_ms"
    local log="$work/gui.log"
    RUSTBOT_TRACE_STARTUP=1 RUSTBOT_TRACE_FRAMES=1 "$@" > "$log" 2>&1 &
    local pid=$!
    sleep 3
    local f0; f0=$(grep -c "^frame " "$log" || true)
    if ! kill -0 $pid 2>/dev/null; then # it exited: say why, and leave this run out
      echo "bench: $* exited within 3 s:" >&2; tail -5 "$log" >&2; return 0
    fi
    local rss; rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    local t0; t0=$(cpu_ticks $pid)
    sleep 10
    local f1; f1=$(grep -c "^frame " "$log" || true)
    local t1; t1=$(cpu_ticks $pid)
    kill $pid; wait $pid 2>/dev/null || true
    local ms; ms=$(grep -m1 -o "first frame after [0-9.]* ms" "$log" | grep -o "[0-9.]*" | head -1)
    echo "${ms:-nan} ${rss:-0} $((f1 - f0)) $(((t1 - t0) * 1000 / $(getconf CLK_TCK)))"
  }
  for _ in $(seq "$RUNS"); do gui_run $T/release/examples/empty_window >> "$work/floor.txt"; done
  for i in $(seq "$RUNS"); do gui_run env RUSTBOT_DATA_DIR="$work/empty$i" "$BIN" >> "$work/app.txt"; done
  $T/release/examples/seed_store "$work/seeded" 1000 10 >&2
  for _ in $(seq "$RUNS"); do gui_run env RUSTBOT_DATA_DIR="$work/seeded" "$BIN" >> "$work/seeded.txt"; done
  s_rss=$(cut -d' ' -f2 "$work/seeded.txt" | median)

  # Streamed delta → frame: the app logs, for each frame, how long the earliest text delta
  # it had not shown yet waited for that frame to start (RUSTBOT_TRACE_FRAMES).
  $T/release/examples/sse_server 0 "$LATENCY_TOKENS" "$TOKENS_PER_SEC" > "$work/lport" &
  for _ in $(seq 50); do [ -s "$work/lport" ] && break; sleep 0.1; done
  lat_url="http://127.0.0.1:$(head -1 "$work/lport")/v1"
  latency_run() { # $1 = run number; appends one latency in µs per frame to lat.txt
    local log="$work/lat$1.log"
    RUSTBOT_DATA_DIR="$work/lat$1" RUSTBOT_TRACE_STARTUP=1 RUSTBOT_TRACE_FRAMES=1 \
      "$BIN" --provider custom --base-url "$lat_url" --model m > "$log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do grep -q "first frame after" "$log" && break; sleep 0.1; done
    sleep 1
    local wid; wid=$(xdotool search --onlyvisible --name '^Rustbot$' | head -1)
    # No window manager under Xvfb: give the window the keyboard focus directly.
    xdotool windowfocus --sync "$wid" && xdotool type --delay 30 hi && xdotool key Return \
      || echo "xdotool could not type into the window" >&2
    sleep "$(awk "BEGIN {print $LATENCY_TOKENS / $TOKENS_PER_SEC + 2}")"
    kill $pid; wait $pid 2>/dev/null || true
    grep -o "^delta latency [0-9]*" "$log" | awk '{print $3}' >> "$work/lat.txt" || true
  }
  : > "$work/lat.txt"
  if command -v xdotool >/dev/null; then
    for i in $(seq "$RUNS"); do latency_run "$i"; done
  fi
  # The app's CPU while an answer streams at REAL_TOKENS_PER_SEC into a conversation of 1,000
  # messages (issue 15), next to the floor: an empty window repainting as often (the app
  # repaints once per delta). A 15 s window in the middle of a 20 s answer. A context window
  # large enough for the whole history, so no compaction runs first.
  stream_secs=15
  $T/release/examples/seed_store "$work/big" 1 1000 >&2
  printf '[context]\ndefault_tokens = 1000000\n' > "$work/big.toml"
  $T/release/examples/sse_server 0 "$((REAL_TOKENS_PER_SEC * (stream_secs + 5)))" \
    "$REAL_TOKENS_PER_SEC" > "$work/sport" &
  for _ in $(seq 50); do [ -s "$work/sport" ] && break; sleep 0.1; done
  stream_url="http://127.0.0.1:$(head -1 "$work/sport")/v1"
  cpu_ms_then_stop() { # $1 = pid; prints its CPU ms over the next stream_secs, then stops it
    local t0; t0=$(cpu_ticks "$1")
    sleep "$stream_secs"
    local t1; t1=$(cpu_ticks "$1")
    kill "$1"; wait "$1" 2>/dev/null || true
    echo $(((t1 - t0) * 1000 / $(getconf CLK_TCK)))
  }
  stream_gui_run() { # $1 = run number; prints the app's CPU ms over the window
    local dir="$work/big$1" log="$work/sg$1.log"
    rm -rf "$dir"; cp -r "$work/big" "$dir"
    RUSTBOT_CONFIG="$work/big.toml" RUSTBOT_DATA_DIR="$dir" RUSTBOT_TRACE_STARTUP=1 \
      "$BIN" --provider custom --base-url "$stream_url" --model m > "$log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do grep -q "first frame after" "$log" && break; sleep 0.1; done
    sleep 1
    local wid; wid=$(xdotool search --onlyvisible --name '^Rustbot$' | head -1)
    # The seeded conversation is the sidebar's first entry; then the input box, at the
    # default 1000 × 720 window's coordinates (no window manager: the window sits at 0,0).
    xdotool windowfocus --sync "$wid" && xdotool mousemove 95 100 click 1 && sleep 2 \
      && xdotool mousemove 580 685 click 1 && xdotool type --delay 30 hi && xdotool key Return \
      || echo "xdotool could not type into the window" >&2
    sleep 2
    cpu_ms_then_stop $pid
  }
  floor_rate_run() { # prints the empty window's CPU ms over the same window at the same rate
    FLOOR_REPAINT_SECS=$((stream_secs + 5)) FLOOR_REPAINT_HZ=$REAL_TOKENS_PER_SEC \
      $T/release/examples/empty_window > /dev/null 2>&1 &
    local pid=$!
    sleep 3
    cpu_ms_then_stop $pid
  }
  : > "$work/stream_cpu.txt"; : > "$work/floor_cpu.txt"
  if command -v xdotool >/dev/null; then
    for i in $(seq "$RUNS"); do
      stream_gui_run "$i" >> "$work/stream_cpu.txt"
      floor_rate_run >> "$work/floor_cpu.txt"
    done
  fi
  # The floor's own frame on this GL: an empty window repainting continuously for 3 s.
  FLOOR_REPAINT_SECS=3 $T/release/examples/empty_window > "$work/floor_frames.log" 2>&1 &
  floor_pid=$!
  sleep 5; kill $floor_pid 2>/dev/null; wait $floor_pid 2>/dev/null || true
  grep -o "^floor frame interval [0-9]*" "$work/floor_frames.log" | awk '{print $4}' > "$work/floor_int.txt" || true
  lat_frames=$(wc -l < "$work/lat.txt")
  lat_med=$(median < "$work/lat.txt"); lat_p99=$(p99 < "$work/lat.txt")
  ms() { awk -v us="$1" 'BEGIN {if (us == "n/a") print us; else printf "%.1f ms", us/1000}'; }
  f_ms=$(cut -d' ' -f1 "$work/floor.txt" | median); a_ms=$(cut -d' ' -f1 "$work/app.txt" | median)
  f_rss=$(cut -d' ' -f2 "$work/floor.txt" | median); a_rss=$(cut -d' ' -f2 "$work/app.txt" | median)
  a_frames=$(cut -d' ' -f3 "$work/app.txt" | median)
  a_cpu=$(cut -d' ' -f4 "$work/app.txt" | median)
  rows+=("| start → first frame: floor / app | ${f_ms} ms / ${a_ms} ms | app ≤ floor + 50 ms and ≤ 200 ms |")
  rows+=("| idle RSS: floor / app (empty store) | $((f_rss / 1024)) MB / $((a_rss / 1024)) MB | app ≤ floor + 25 MB |")
  rows+=("| idle RSS with 1,000 stored conversations (10 messages each) | $((s_rss / 1024)) MB (floor + $(((s_rss - f_rss) / 1024)) MB) | ≤ floor + 25 MB |")
  rows+=("| streamed delta → start of the frame showing it, ${TOKENS_PER_SEC} tokens/s: median / p99 (${lat_frames} frames) | $(ms "$lat_med") / $(ms "$lat_p99") | ≤ 16 ms |")
  rows+=("| floor: an empty window's frame on this GL, repainting continuously: median / p99 ($(wc -l < "$work/floor_int.txt") frames) | $(ms "$(median < "$work/floor_int.txt")") / $(ms "$(p99 < "$work/floor_int.txt")") | |")
  s_cpu=$(median < "$work/stream_cpu.txt"); fl_cpu=$(median < "$work/floor_cpu.txt")
  s_tokens=$((REAL_TOKENS_PER_SEC * stream_secs))
  rows+=("| CPU while an answer streams at ${REAL_TOKENS_PER_SEC} tokens/s into 1,000 messages, ${stream_secs} s: app / floor repainting as often (per token) | ${s_cpu} ms / ${fl_cpu} ms ($(awk "BEGIN {printf \"%.0f µs / %.0f µs, %.2f×\", $s_cpu*1000/$s_tokens, $fl_cpu*1000/$s_tokens, $s_cpu/($fl_cpu > 0 ? $fl_cpu : 1)}")) | app ≤ 2× floor |")
  rows+=("| frames painted in 10 s idle (app) | ${a_frames} | 0 |")
  rows+=("| CPU time used in those 10 s idle (app, user + system) | ${a_cpu} ms | |")
else
  rows+=("| desktop app figures | not measured: no GUI build or no Xvfb | |")
fi

{
  echo "| what | measured (median of $RUNS) | budget |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%d)."
  echo "Command: \`${BENCH_COMMAND:-scripts/bench.sh}\`"
} | tee "$OUT"

# Local models next to llama.cpp's server on the same files and threads (issue 20), and the
# knowledge base's search, embedding and indexing figures (issue 21): their own scripts, which
# write their own reports.
if [ "${SKIP_LOCAL:-0}" != 1 ]; then
  RUNS=$RUNS bash scripts/bench_local.sh
fi
if [ "${SKIP_KNOWLEDGE:-0}" != 1 ]; then
  bash scripts/bench_knowledge.sh
fi
