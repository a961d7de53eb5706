"""A tiny Gemma 3 model for the sliding-window memory tests: llama.cpp's real ``gemma3``
architecture (5 of every 6 layers sliding-window), 12 small layers of seeded random weights,
and the test model's own tokenizer, written with the gguf package's writer. It loads and
generates (nonsense) in llama.cpp, so the KV cache it logs is llama.cpp's, not ours.

gemma-3-270m itself is not available offline here; this has its shape in miniature.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

N_LAYER, N_EMBD, N_HEAD, N_HEAD_KV, HEAD_DIM, N_FF = 12, 64, 2, 1, 32, 128


def write_gemma3(source: Path, target: Path, window: int) -> Path:
    reader = gguf.GGUFReader(source, "r")
    writer = gguf.GGUFWriter(target, arch="gemma3")
    writer.add_context_length(32768)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_sliding_window(window)
    writer.add_rope_freq_base(10000.0)
    for name, found in reader.fields.items():
        if name.startswith("tokenizer.") and name != "tokenizer.chat_template":
            kind = found.types[0]
            sub = found.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(name, found.contents(), kind, sub_type=sub)
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].contents())
    rng = np.random.default_rng(0)

    def matrix(name: str, n_in: int, n_out: int) -> None:
        writer.add_tensor(name, (rng.standard_normal((n_out, n_in)) * 0.02).astype(np.float32))

    def ones(name: str, n: int) -> None:
        writer.add_tensor(name, np.ones(n, np.float32))

    matrix("token_embd.weight", N_EMBD, n_vocab)
    ones("output_norm.weight", N_EMBD)
    for layer in range(N_LAYER):
        block = f"blk.{layer}."
        for norm in ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"):
            ones(block + norm + ".weight", N_EMBD)
        ones(block + "attn_q_norm.weight", HEAD_DIM)
        ones(block + "attn_k_norm.weight", HEAD_DIM)
        matrix(block + "attn_q.weight", N_EMBD, N_HEAD * HEAD_DIM)
        matrix(block + "attn_k.weight", N_EMBD, N_HEAD_KV * HEAD_DIM)
        matrix(block + "attn_v.weight", N_EMBD, N_HEAD_KV * HEAD_DIM)
        matrix(block + "attn_output.weight", N_HEAD * HEAD_DIM, N_EMBD)
        matrix(block + "ffn_gate.weight", N_EMBD, N_FF)
        matrix(block + "ffn_up.weight", N_EMBD, N_FF)
        matrix(block + "ffn_down.weight", N_FF, N_EMBD)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
