#!/usr/bin/env bash
# The knowledge-base budgets of issue 21 on a release build, as Markdown (stdout and
# docs/knowledge-bench-latest.md): one hybrid search over 100,000 chunks, the memory a
# searched base adds, indexing 1,000 files × 4 KB from scratch and again after one changed,
# and embedding throughput (chunk-sized texts and ~40-token sentences) next to
# sentence-transformers (PyTorch CPU, same texts, same threads) when
# scripts/bench_embeddings_st.py can run.
#
#   scripts/bench_knowledge.sh
#   CHUNKS=20000 FILES=200 scripts/bench_knowledge.sh      # quicker
#   SKIP_INDEX=1 scripts/bench_knowledge.sh                # search and embeddings only
set -euo pipefail
cd "$(dirname "$0")/.."
CHUNKS=${CHUNKS:-100000}
FILES=${FILES:-1000}
TEXTS=${TEXTS:-512}
THREADS=${THREADS:-2}
OUT=${OUT:-docs/knowledge-bench-latest.md}
if [ -z "${RUSTBOT_TEST_EMBEDDING_MODEL:-}" ]; then
  eval "$(bash ../shared/tools/model-fixtures.sh)"
fi
export RUSTBOT_TEST_EMBEDDING_MODEL
# candle's CPU kernels use rayon's pool: the same thread count as the PyTorch side.
export RAYON_NUM_THREADS=$THREADS
echo "building the release example..." >&2
cargo build --release --quiet --example knowledge_bench
BENCH=${CARGO_TARGET_DIR:-target}/release/examples/knowledge_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
  echo "# Knowledge-base figures ($(date -u +%Y-%m-%d), $(nproc) cores, RAYON_NUM_THREADS=$THREADS)"
  echo
  echo '```'
  "$BENCH" search "$CHUNKS"
  "$BENCH" embed "$work/chunks.json" "$TEXTS"
  if python3 -c "import sentence_transformers" 2>/dev/null; then
    python3 scripts/bench_embeddings_st.py "$RUSTBOT_TEST_EMBEDDING_MODEL" "$work/chunks.json" "$THREADS"
    python3 scripts/bench_embeddings_st.py "$RUSTBOT_TEST_EMBEDDING_MODEL" "$work/chunks.sentences.json" "$THREADS"
  else
    echo "sentence-transformers is not installed: no reference figure (see scripts/bench_embeddings_st.py)"
  fi
  if [ "${SKIP_INDEX:-0}" != 1 ]; then
    "$BENCH" index "$FILES"
  fi
  echo '```'
} | tee "$OUT"
