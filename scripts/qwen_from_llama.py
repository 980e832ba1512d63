#!/usr/bin/env python3
"""Writes a Qwen2 or Qwen3 GGUF made from a llama-family GGUF, for measuring and testing the
Qwen code path where no Qwen file can be downloaded (this machine reaches PyPI, not Hugging
Face). The weights are the llama file's, unchanged (quantized bytes copied); the architecture
keys are renamed; Qwen2 gets small query/key/value biases and Qwen3 per-head query/key norms
of ones. The result is a valid file of that architecture with the llama model's sizes: its
answers are not meaningful (Qwen's rotary layout differs), its speed and shapes are.

usage: qwen_from_llama.py LLAMA.gguf OUT.gguf qwen2|qwen3   (needs `pip install gguf numpy`)
"""
import sys

import gguf
import numpy as np


def main() -> None:
    src, dst, arch = sys.argv[1], sys.argv[2], sys.argv[3]
    if arch not in ("qwen2", "qwen3"):
        sys.exit("the architecture is qwen2 or qwen3")
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = field.contents()
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key.replace("llama.", f"{arch}.", 1), value, vtype, sub)
    fields = reader.fields
    heads = int(fields["llama.attention.head_count"].contents())
    kv_heads = int(fields["llama.attention.head_count_kv"].contents())
    width = int(fields["llama.embedding_length"].contents())
    head_dim = width // heads
    writer.add_uint32(f"{arch}.attention.key_length", head_dim)
    rng = np.random.default_rng(7)
    for t in reader.tensors:
        writer.add_tensor(t.name, t.data, raw_shape=None, raw_dtype=t.tensor_type)
        if t.name.endswith("attn_norm.weight"):
            block = t.name[: -len("attn_norm.weight")]
            if arch == "qwen2":
                for part, rows in (("q", heads), ("k", kv_heads), ("v", kv_heads)):
                    bias = (rng.standard_normal(rows * head_dim) * 0.01).astype(np.float32)
                    writer.add_tensor(f"{block}attn_{part}.bias", bias)
            else:
                for part in ("q", "k"):
                    norm = np.ones(head_dim, dtype=np.float32)
                    writer.add_tensor(f"{block}attn_{part}_norm.weight", norm)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
