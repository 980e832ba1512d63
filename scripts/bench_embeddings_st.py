#!/usr/bin/env python3
"""Reference benchmark: all-MiniLM-L6-v2 embeddings with sentence-transformers (PyTorch, CPU).

Usage:
    python3 scripts/bench_embeddings_st.py MODEL_DIR CHUNKS_JSON THREADS

Prints exactly one line to stdout:
    sentences_per_sec=<f> tokens_per_sec=<f> n=<int> seconds=<f> torch=<ver> st=<ver>
With ST_PRINT_VECTORS=1, the first 5 components of the first text's vector go to stderr.

Install (worked on Debian 12, Python 3.11, x86_64; ~6 GB in site-packages, ~2 min):
    python3 -m pip install --break-system-packages torch sentence-transformers
Note: the PyPI torch wheel cannot be imported without its nvidia-* CUDA wheels
(`pip install --no-deps torch` fails at `import torch` with "libcudart.so.13: cannot
open shared object file"), so the plain install above, CUDA wheels included, is needed
unless the PyTorch CPU index is reachable, in which case this is much smaller:
    python3 -m pip install --break-system-packages torch --index-url https://download.pytorch.org/whl/cpu
    python3 -m pip install --break-system-packages sentence-transformers
"""

import json
import os
import sys
import time

# Never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BATCH_SIZE = 32


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_model(model_dir):
    import sentence_transformers as st

    try:
        try:
            return st.SentenceTransformer(model_dir, device="cpu", local_files_only=True)
        except TypeError:  # older sentence-transformers without local_files_only
            return st.SentenceTransformer(model_dir, device="cpu")
    except Exception as e:  # e.g. missing modules.json / pooling config
        log(f"loading {model_dir} as-is failed ({type(e).__name__}: {e}); building modules in code")

    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer

    word = Transformer(model_dir, max_seq_length=256)
    dim = word.get_word_embedding_dimension() if hasattr(word, "get_word_embedding_dimension") else 384
    pool = Pooling(dim, "mean")  # positional: parameter name differs between versions
    return st.SentenceTransformer(modules=[word, pool, Normalize()], device="cpu")


def main():
    if len(sys.argv) != 4:
        log(__doc__)
        log("usage: bench_embeddings_st.py MODEL_DIR CHUNKS_JSON THREADS")
        sys.exit(2)
    model_dir, chunks_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])

    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)

    import sentence_transformers as st

    with open(chunks_path, encoding="utf-8") as f:
        texts = json.load(f)
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        log(f"{chunks_path}: expected a JSON array of strings")
        sys.exit(2)
    if not texts:
        log(f"{chunks_path}: no texts")
        sys.exit(2)

    model = load_model(model_dir)
    model.eval()
    if not os.path.exists(os.path.join(model_dir, "sentence_bert_config.json")):
        # Without it, sentence-transformers falls back to the BERT limit (512);
        # all-MiniLM-L6-v2 uses 256.
        model.max_seq_length = 256
    max_len = model.max_seq_length or 256

    # Token count: model tokenizer, special tokens included, truncated to max_seq_length.
    enc = model.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_len)
    n_tokens = sum(len(ids) for ids in enc["input_ids"])

    def encode(batch):
        return model.encode(
            batch,
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )

    encode(texts[:BATCH_SIZE])  # warm-up

    t0 = time.perf_counter()
    vecs = encode(texts)
    seconds = time.perf_counter() - t0

    if os.environ.get("ST_PRINT_VECTORS") == "1":
        first = ", ".join(f"{float(x):.6f}" for x in vecs[0][:5])
        log(f"first_vector[0:5]=[{first}] dim={vecs.shape[1]} max_seq_length={max_len}")

    n = len(texts)
    print(
        f"sentences_per_sec={n / seconds:.3f} tokens_per_sec={n_tokens / seconds:.1f} "
        f"n={n} seconds={seconds:.4f} torch={torch.__version__} st={st.__version__}",
        flush=True,
    )


if __name__ == "__main__":
    main()
