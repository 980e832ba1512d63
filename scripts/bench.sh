#!/usr/bin/env bash
# Whole-process performance figures of a release build, as a Markdown table (stdout and
# docs/bench-latest.md): binary size, start to first frame and idle behaviour of the desktop
# app under Xvfb (against an empty eframe window, the floor; idle memory with an empty store
# and with 1,000 stored conversations), the delay from a streamed text delta to the frame
# that shows it at 2,000 tokens/s (typed into the window with xdotool), and `rustbot ask` on
# a 200,000-chunk stream against aichat on the same local server. Medians of RUNS runs.
#
#   scripts/bench.sh            # everything (installs aichat with cargo if missing)
#   SKIP_AICHAT=1 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CHUNKS=${CHUNKS:-200000}
# The latency stream: this many tokens per run at TOKENS_PER_SEC.
LATENCY_TOKENS=${LATENCY_TOKENS:-2000}
TOKENS_PER_SEC=${TOKENS_PER_SEC:-2000}
OUT=docs/bench-latest.md
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
cargo build --release --quiet --bin rustbot --example sse_server --example seed_store
have_gui=0
if cargo build --release --quiet --example empty_window 2>/dev/null; then have_gui=1; fi
T=${CARGO_TARGET_DIR:-target}
BIN=$T/release/rustbot
cp "$BIN" "$work/rustbot-stripped" && strip "$work/rustbot-stripped"
size_mb=$(awk "BEGIN {printf \"%.1f\", $(stat -c %s "$work/rustbot-stripped")/1048576}")

export RUSTBOT_DATA_DIR="$work/data" RUSTBOT_CONFIG="$work/config.toml"
rows=()
rows+=("| release binary (stripped) | ${size_mb} MB | ≤ 15 MB |")

# --- ask vs aichat on a local 200,000-chunk stream --------------------------------------
$T/release/examples/sse_server 0 "$CHUNKS" > "$work/port" &
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(head -1 "$work/port")
url="http://127.0.0.1:$port/v1"
measure() { # prints "cpu_seconds peak_rss_kb" for one run of the command
  /usr/bin/time -f "%U %S %M" -o "$work/t" "$@" > "$work/out" 2>/dev/null || true
  awk '{printf "%.3f %d\n", $1+$2, $3}' "$work/t"
}
for _ in $(seq "$RUNS"); do
  measure "$BIN" --provider custom --base-url "$url" --model m ask hi >> "$work/ask.txt"
done
ask_bytes=$(wc -c < "$work/out")
ask_cpu=$(cut -d' ' -f1 "$work/ask.txt" | median)
ask_rss=$(cut -d' ' -f2 "$work/ask.txt" | median)
rows+=("| \`ask\`, ${CHUNKS}-chunk stream: CPU (user+sys) | ${ask_cpu} s | ≤ 0.5× aichat |")
rows+=("| \`ask\`, ${CHUNKS}-chunk stream: peak RSS | $((ask_rss / 1024)) MB | ≤ 1.0× aichat |")
rows+=("| \`ask\` engine+decode CPU per chunk | $(awk "BEGIN {printf \"%.2f\", $ask_cpu*1e6/$CHUNKS}") µs | |")

if [ "${SKIP_AICHAT:-0}" != 1 ]; then
  if ! command -v aichat >/dev/null; then
    echo "installing aichat (cargo install aichat --locked)..." >&2
    cargo install aichat --locked --quiet
  fi
  mkdir -p "$work/aichat"
  cat > "$work/aichat/config.yaml" <<YAML
model: local:m
stream: true
save: false
clients:
  - type: openai-compatible
    name: local
    api_base: $url
    api_key: x
    models:
      - name: m
YAML
  for _ in $(seq "$RUNS"); do
    AICHAT_CONFIG_DIR="$work/aichat" measure aichat -m local:m hi >> "$work/aichat.txt"
  done
  ai_bytes=$(wc -c < "$work/out")
  ai_cpu=$(cut -d' ' -f1 "$work/aichat.txt" | median)
  ai_rss=$(cut -d' ' -f2 "$work/aichat.txt" | median)
  rows+=("| aichat $(aichat --version | awk '{print $2}'), same stream: CPU / peak RSS | ${ai_cpu} s / $((ai_rss / 1024)) MB | |")
  rows+=("| ratio ask/aichat: CPU / peak RSS | $(awk "BEGIN {printf \"%.2f× / %.2f×\", $ask_cpu/$ai_cpu, $ask_rss/$ai_rss}") | ≤ 0.5× / ≤ 1.0× |")
  rows+=("| bytes printed: ask / aichat | ${ask_bytes} / ${ai_bytes} | equal text |")
fi

# --- desktop app under Xvfb ------------------------------------------------------------
if [ "$have_gui" = 1 ] && command -v Xvfb >/dev/null; then
  Xvfb :97 -screen 0 1280x800x24 >/dev/null 2>&1 &
  export DISPLAY=:97 LIBGL_ALWAYS_SOFTWARE=1
  sleep 1
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
  gui_run() { # $@ = command, prints "first_frame_ms idle_rss_kb frames_in_10s idle_cpu_ms"
    local log="$work/gui.log"
    RUSTBOT_TRACE_STARTUP=1 RUSTBOT_TRACE_FRAMES=1 "$@" > "$log" 2>&1 &
    local pid=$!
    sleep 3
    local f0; f0=$(grep -c "^frame " "$log" || true)
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
  echo "Command: \`scripts/bench.sh\`"
} | tee "$OUT"
