"""A tiny vision projector (mmproj) for the image tests: llama.cpp's real CLIP encoder with
the LLaVA-1.5 ``mlp`` projector, one small layer of seeded random weights, written with the
gguf package's writer in well under a second. Its output width is the test model's embedding
width (576), so libmtmd pairs it with SmolLM2 and encodes real images through it; what the
model then says is meaningless, the path through llama.cpp is real.

No small real vision model is available offline here; this has the shape in miniature.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

IMAGE_SIZE, PATCH, N_EMBD, N_FF, N_HEAD = 32, 8, 32, 64, 2
N_PATCHES = (IMAGE_SIZE // PATCH) ** 2  # image tokens per picture


def write_mmproj(target: Path, text_embd: int = 576, name: str = "tiny-vision") -> Path:
    """Write the projector to ``target``; ``text_embd`` is the width of the text model it
    feeds (another width makes the mismatched projector the pairing tests refuse)."""
    writer = gguf.GGUFWriter(target, arch="clip")
    writer.add_name(name)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.has_llava_projector", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH)
    writer.add_uint32("clip.vision.embedding_length", N_EMBD)
    writer.add_uint32("clip.vision.feed_forward_length", N_FF)
    writer.add_uint32("clip.vision.projection_dim", text_embd)
    writer.add_uint32("clip.vision.block_count", 1)
    writer.add_uint32("clip.vision.attention.head_count", N_HEAD)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    rng = np.random.default_rng(0)

    def tensor(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    def ones(name: str, n: int) -> None:
        writer.add_tensor(name, np.ones(n, np.float32))

    tensor("v.patch_embd.weight", N_EMBD, 3, PATCH, PATCH)
    tensor("v.class_embd", N_EMBD)
    tensor("v.position_embd.weight", N_PATCHES + 1, N_EMBD)
    ones("v.pre_ln.weight", N_EMBD)
    tensor("v.pre_ln.bias", N_EMBD)
    block = "v.blk.0."
    for part in ("attn_q", "attn_k", "attn_v", "attn_out"):
        tensor(block + part + ".weight", N_EMBD, N_EMBD)
        tensor(block + part + ".bias", N_EMBD)
    for norm in ("ln1", "ln2"):
        ones(block + norm + ".weight", N_EMBD)
        tensor(block + norm + ".bias", N_EMBD)
    tensor(block + "ffn_up.weight", N_FF, N_EMBD)
    tensor(block + "ffn_up.bias", N_FF)
    tensor(block + "ffn_down.weight", N_EMBD, N_FF)
    tensor(block + "ffn_down.bias", N_EMBD)
    tensor("mm.0.weight", text_embd, N_EMBD)
    tensor("mm.0.bias", text_embd)
    tensor("mm.2.weight", text_embd, text_embd)
    tensor("mm.2.bias", text_embd)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
