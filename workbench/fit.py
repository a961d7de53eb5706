"""Will a model fit? Memory needed for a context length, against this machine.

needed = weights + KV cache + compute buffer, computed the way llama.cpp allocates them:
the KV cache holds, for every layer, ``n_ctx`` cells of K and V (f16) per KV head, with ``n_ctx``
padded to 256 and sliding-window layers capped at their window plus one micro-batch (the
loader passes ``swa_full=False``, as llama.cpp's own tools do: :data:`SWA_FULL`); the
compute buffer is the larger of the logits (vocabulary x micro-batch, f32) and, without flash
attention, the attention scores (context x micro-batch x heads, f32). The inputs come from the
file's GGUF header (before download over HTTP Range, or on disk), else from the file size and
the Hub's parameter count.

This is the one memory model: a download's verdict, ``models``' fit column, GPU layers on
``auto`` and whether contenders may run together (:func:`estimate_together`) all use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.gguf_header import GGUFHeader
from workbench.hardware import Hardware
from workbench.units import human_size

MiB = 2**20
N_UBATCH = 512
CTX_PAD = 256
KV_BYTES = 2  # f16 cache, llama.cpp's default type_k/type_v
#: Memory kept free for the system and other programs.
RAM_HEADROOM = 512 * MiB
#: VRAM kept free for the driver's context and fragmentation.
VRAM_HEADROOM = 512 * MiB
#: ``swa_full`` as every load passes it (workbench.engine.loaded): sliding-window layers keep
#: ``window + n_ubatch`` cells, not the whole context (llama.cpp, llama-kv-cache-iswa.cpp).
SWA_FULL = False
#: Sliding-window patterns (every Nth layer is global) of architectures whose headers omit
#: them: llama.cpp's ``hparams.set_swa_pattern(N)`` in llama-model.cpp, where layer ``il`` is
#: sliding-window when ``il % N < N - 1`` (gemma3: 5 of every 6 layers).
_SWA_PATTERNS = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4, "gpt-oss": 2}


def _per_layer(value: Any, n_layer: int, default: int) -> list[int]:
    if isinstance(value, list):
        values = [int(v) for v in value]
        return (values + [values[-1] if values else default] * n_layer)[:n_layer]
    return [int(value if value is not None else default)] * n_layer


@dataclass
class ModelShape:
    """The figures the estimate needs, and where they came from ("header" or "estimate")."""

    n_layer: int
    n_embd: int
    n_head: list[int]
    n_head_kv: list[int]
    key_length: int
    value_length: int
    n_vocab: int
    n_ff: int
    sliding_window: int | None
    swa_layers: list[bool]
    #: Bytes of weights inside the repeating blocks, and outside them (embeddings, output).
    layer_weights: int
    other_weights: int
    source: str = "header"
    #: The output layer's weights as a device holding it loads them, and how much of that is a
    #: copy of the token embeddings (tied: they also stay here for the input).
    output_weights: int = 0
    output_shared: int = 0

    @classmethod
    def from_header(cls, header: GGUFHeader) -> ModelShape:
        n_layer = int(header.arch_value("block_count") or 0)
        if n_layer <= 0:
            raise ValueError("the header has no block_count")
        n_embd = int(header.arch_value("embedding_length") or 0)
        heads = _per_layer(header.arch_value("attention.head_count"), n_layer, 1)
        kv_heads = _per_layer(header.arch_value("attention.head_count_kv"), n_layer, heads[0])
        key_length = int(header.arch_value("attention.key_length")
                         or (n_embd // max(heads[0], 1)))
        value_length = int(header.arch_value("attention.value_length") or key_length)
        vocab = header.arch_value("vocab_size")
        if vocab is None:
            tokens = header.get("tokenizer.ggml.tokens")
            vocab = len(tokens) if isinstance(tokens, list) else getattr(tokens, "length", None)
        n_vocab = int(vocab or 32000)
        n_ff_raw = header.arch_value("feed_forward_length") or 4 * n_embd
        n_ff = max(n_ff_raw) if isinstance(n_ff_raw, list) else int(n_ff_raw)
        window = header.arch_value("attention.sliding_window")
        window = int(window) if window else None
        swa = _swa_layers(header, n_layer, window)
        layer_bytes = sum(t.n_bytes for t in header.tensors if t.name.startswith("blk."))
        other_bytes = sum(t.n_bytes for t in header.tensors if not t.name.startswith("blk."))
        sizes = {t.name: t.n_bytes for t in header.tensors}
        shared = 0 if "output.weight" in sizes else sizes.get("token_embd.weight", 0)
        output = shared + sum(n for k, n in sizes.items() if k.startswith("output"))
        return cls(n_layer, n_embd, heads, kv_heads, key_length, value_length, n_vocab, n_ff,
                   window, swa, layer_bytes, other_bytes, "header", output, shared)

    @classmethod
    def guess(cls, file_size: int, parameters: int | None = None,
              context_length: int | None = None) -> ModelShape:
        """A rough shape from the file size and the Hub's parameter count (no header), fitted
        to common GQA models: KV bytes per token ~ 1.5 * sqrt(parameters), and about one
        block per 60 parameters^(1/3); good to a factor of ~1.5, which the verdict states."""
        params = parameters or int(file_size * 8 / 4.5)  # ~4.5 bits per weight if unknown
        n_layer = max(8, round(params ** (1 / 3) / 60))
        kv_per_token = 1.5 * math.sqrt(params)
        head_dim = 128
        kv_heads = max(1, round(kv_per_token / (n_layer * 2 * KV_BYTES * head_dim)))
        n_embd = max(512, int(math.sqrt(params / (12 * n_layer))))
        n_head = max(1, n_embd // head_dim)
        other = int(file_size * 0.08)
        return cls(n_layer, n_embd, [n_head] * n_layer, [kv_heads] * n_layer, head_dim,
                   head_dim, 128000, 4 * n_embd, None, [False] * n_layer,
                   file_size - other, other, "estimate", other // 2)

    def scaled(self, file_size: int, header_file_size: int) -> ModelShape:
        """The same architecture quantized differently (another file of the same repo)."""
        ratio = file_size / header_file_size if header_file_size else 1.0
        copy = ModelShape(**self.__dict__)
        copy.layer_weights = int(self.layer_weights * ratio)
        copy.other_weights = int(self.other_weights * ratio)
        copy.output_weights = int(self.output_weights * ratio)
        copy.output_shared = int(self.output_shared * ratio)
        return copy


def _swa_layers(header: GGUFHeader, n_layer: int, window: int | None) -> list[bool]:
    if not window:
        return [False] * n_layer
    pattern = header.arch_value("attention.sliding_window_pattern")
    if isinstance(pattern, list):
        return [bool(v) for v in (pattern + [False] * n_layer)[:n_layer]]
    every = int(pattern) if pattern else _SWA_PATTERNS.get(header.architecture, 0)
    if every <= 0:
        return [False] * n_layer  # unknown pattern: count every layer as full (conservative)
    return [(i % every) < every - 1 for i in range(n_layer)]


def pad_ctx(n_ctx: int) -> int:
    return -(-n_ctx // CTX_PAD) * CTX_PAD


@dataclass
class MemoryEstimate:
    n_ctx: int
    weights: int
    kv_cache: int
    compute: int
    n_layer: int
    #: Per repeating block: its weights and its KV cache (what one offloaded layer costs).
    layer_weights: int
    layer_kv: int
    source: str
    #: The output layer's weights on the device holding it, and the part of them that is a
    #: copy of the embeddings (:class:`ModelShape`); 0 where unknown.
    output_weights: int = 0
    output_shared: int = 0
    #: A paired vision projector's file (loaded whole beside the model) and the image tokens
    #: one picture costs at the projector's own image size (:func:`image_tokens`).
    projector: int = 0
    image_tokens: int | None = None

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute + self.projector

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "total": self.total}


def kv_cache_bytes(shape: ModelShape, n_ctx: int, *, swa_full: bool = SWA_FULL) -> int:
    """llama.cpp's KV cache for ``n_ctx`` (one sequence, f16 K and V)."""
    cells = pad_ctx(n_ctx)
    swa_cells = cells
    if shape.sliding_window and not swa_full:
        swa_cells = min(cells, pad_ctx(shape.sliding_window + N_UBATCH))
    total = 0
    for layer in range(shape.n_layer):
        per_cell = shape.n_head_kv[layer] * (shape.key_length + shape.value_length) * KV_BYTES
        total += per_cell * (swa_cells if shape.swa_layers[layer] else cells)
    return total


def compute_bytes(shape: ModelShape, n_ctx: int, *, flash_attn: bool = False) -> int:
    """The compute buffer llama.cpp reserves for one micro-batch."""
    logits = shape.n_vocab * N_UBATCH * 4
    attention = 0 if flash_attn else pad_ctx(n_ctx) * N_UBATCH * (max(shape.n_head) + 1) * 4
    activations = N_UBATCH * (4 * shape.n_embd + shape.n_ff) * 4
    return max(logits, attention) + activations


def estimate(shape: ModelShape, n_ctx: int, *, flash_attn: bool = False,
             swa_full: bool = SWA_FULL) -> MemoryEstimate:
    kv = kv_cache_bytes(shape, n_ctx, swa_full=swa_full)
    return MemoryEstimate(
        n_ctx=n_ctx,
        weights=shape.layer_weights + shape.other_weights,
        kv_cache=kv,
        compute=compute_bytes(shape, n_ctx, flash_attn=flash_attn),
        n_layer=shape.n_layer,
        layer_weights=shape.layer_weights // max(shape.n_layer, 1),
        layer_kv=kv // max(shape.n_layer, 1),
        source=shape.source,
        output_weights=shape.output_weights,
        output_shared=shape.output_shared,
    )


def estimate_for_header(header: GGUFHeader | None, file_size: int, n_ctx: int, *,
                        parameters: int | None = None, header_file_size: int | None = None,
                        flash_attn: bool = False, swa_full: bool = SWA_FULL,
                        ) -> MemoryEstimate:
    """The estimate for a file: from its header (or a sibling's, scaled), else guessed."""
    shape: ModelShape | None = None
    if header is not None:
        try:
            shape = ModelShape.from_header(header)
        except (ValueError, TypeError):
            shape = None
    if shape is not None and header_file_size and header_file_size != file_size:
        shape = shape.scaled(file_size, header_file_size)
    if shape is None:
        shape = ModelShape.guess(file_size, parameters)
    return estimate(shape, n_ctx, flash_attn=flash_attn, swa_full=swa_full)


def estimate_for_file(path: str | Path, n_ctx: int, *, file_size: int | None = None,
                      ) -> MemoryEstimate:
    """The estimate for a model file on disk, from its own header; guessed from its size
    when the header cannot be read (the estimate's ``source`` says which)."""
    from workbench.errors import ModelFileError
    from workbench.gguf_header import read_header

    try:
        size = file_size if file_size is not None else Path(path).stat().st_size
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        header: GGUFHeader | None = read_header(path)
    except (ModelFileError, OSError, ValueError):
        header = None
    return estimate_for_header(header, size, n_ctx)


#: How many patches a side each projector type merges into one image token when its header
#: has no ``clip.vision.projector.scale_factor`` (clip.cpp's defaults: gemma3 pools 4x4, the
#: Qwen-VL mergers 2x2; LLaVA's ``mlp`` keeps every patch).
_MERGE = {"gemma3": 4, "qwen2vl_merger": 2, "qwen2.5vl_merger": 2, "qwen3vl_merger": 2,
          "internvl": 2, "idefics3": 3, "lfm2": 2}


def image_tokens(header: GGUFHeader) -> int | None:
    """Image tokens for one picture at the projector's own image size, from its header: a
    documented estimate, ``(image_size / patch_size / merge) ** 2``, where ``merge`` is the
    header's ``clip.vision.projector.scale_factor`` or the type's default (:data:`_MERGE`).
    Models that tile large images (SmolVLM, Qwen-VL at high resolution) spend more per
    picture; None when the header does not say its image or patch size."""
    size, patch = header.get("clip.vision.image_size"), header.get("clip.vision.patch_size")
    try:
        size, patch = int(size), int(patch)
    except (TypeError, ValueError):
        return None
    if size <= 0 or patch <= 0:
        return None
    kind = str(header.get("clip.projector_type") or "mlp")
    merge = header.get("clip.vision.projector.scale_factor") or _MERGE.get(kind, 1)
    merge = max(1, merge) if isinstance(merge, int) else 1
    return max(1, (size // patch // merge) ** 2)


def with_projector(e: MemoryEstimate, size: int, header: GGUFHeader | None) -> MemoryEstimate:
    """``e`` plus a vision projector of ``size`` bytes (its header gives the image tokens)."""
    return replace(e, projector=max(0, int(size)),
                   image_tokens=image_tokens(header) if header is not None else None)


def projector_line(e: MemoryEstimate) -> str:
    """" + projector 1.2 MB (256 image tokens a picture)", or "" without one."""
    if not e.projector:
        return ""
    tokens = f" ({e.image_tokens:,} image tokens a picture)" if e.image_tokens else ""
    return f" + projector {human_size(e.projector)}{tokens}"


def estimate_together(parts: list[tuple[str, MemoryEstimate]]) -> MemoryEstimate:
    """What several models loaded at once need, each in its own engine process: every KV
    cache and compute buffer, and the weights of each distinct file once (llama.cpp maps a
    file's weights, and processes mapping the same file share its pages)."""
    weights: dict[str, int] = {}
    for key, part in parts:
        weights[key] = max(weights.get(key, 0), part.weights)
    n_layer = sum(p.n_layer for _, p in parts)
    kv = sum(p.kv_cache for _, p in parts)
    return MemoryEstimate(
        n_ctx=max((p.n_ctx for _, p in parts), default=0),
        weights=sum(weights.values()),
        kv_cache=kv,
        compute=sum(p.compute for _, p in parts),
        n_layer=n_layer,
        layer_weights=sum(p.layer_weights * p.n_layer for _, p in parts) // max(n_layer, 1),
        layer_kv=kv // max(n_layer, 1),
        source="estimate" if any(p.source == "estimate" for _, p in parts) else "header",
        projector=sum(p.projector for _, p in parts),
    )


GPU, PARTIAL, CPU, NO = "gpu", "partial", "cpu", "no"


@dataclass
class Verdict:
    kind: str  # gpu, partial, cpu, no
    estimate: MemoryEstimate
    gpu_layers: int
    ram_available: int
    ram_total: int
    vram_free: int
    gpu_offload: bool

    @property
    def fits(self) -> bool:
        return self.kind != NO

    def summary(self) -> str:
        e = self.estimate
        need, vram, ram = human_size(e.total), human_size(self.vram_free), human_size(
            self.ram_available)
        approx = "~" if e.source == "estimate" else ""
        parts = (f"weights {human_size(e.weights)} + KV cache {human_size(e.kv_cache)} + compute "
                 f"{human_size(e.compute)}{projector_line(e)} at {e.n_ctx:,} tokens")
        if self.kind == GPU:
            head = f"fits on the GPU: needs {approx}{need} of {vram} free VRAM"
        elif self.kind == PARTIAL:
            head = (f"fits with {self.gpu_layers} of {e.n_layer} layers offloaded to the GPU "
                    f"({vram} free VRAM, {ram} free RAM); "
                    f"needs {approx}{need}")
        elif self.kind == CPU:
            head = (f"fits in RAM (CPU only): needs {approx}{need} of "
                    f"{ram} available")
        else:
            room = ram + " available RAM"
            if self.gpu_offload and self.vram_free:
                room += f" + {vram} free VRAM"
            head = f"will not fit: needs {approx}{need}, this machine has {room}"
        return f"{head} ({parts})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary(), "gpu_layers": self.gpu_layers,
                "ram_available": self.ram_available, "ram_total": self.ram_total,
                "vram_free": self.vram_free, "estimate": self.estimate.to_dict()}


def _layers_on_gpu(e: MemoryEstimate, vram_free: int) -> int:
    per_layer = e.layer_weights + e.layer_kv
    room = vram_free - VRAM_HEADROOM - e.compute
    if per_layer <= 0 or room <= 0:
        return 0
    return max(0, min(e.n_layer, int(room // per_layer)))


def judge(e: MemoryEstimate, hardware: Hardware) -> Verdict:
    """GPU, partly on the GPU, CPU only, or not at all; with the numbers behind it."""
    ram_room = hardware.ram_available - RAM_HEADROOM
    vram = hardware.vram_free if hardware.gpu_offload else 0

    def verdict(kind: str, layers: int) -> Verdict:
        return Verdict(kind, e, layers, hardware.ram_available, hardware.ram_total, vram,
                       hardware.gpu_offload)

    if vram:
        if e.total <= vram - VRAM_HEADROOM:
            return verdict(GPU, e.n_layer + 1)
        layers = _layers_on_gpu(e, vram)
        if layers > 0:
            on_cpu = e.total - layers * (e.layer_weights + e.layer_kv) - e.compute
            if on_cpu + N_UBATCH * 1024 <= ram_room:
                return verdict(PARTIAL, layers)
    if e.total <= ram_room:
        return verdict(CPU, 0)
    return verdict(NO, 0)


def auto_gpu_layers(header: GGUFHeader, n_ctx: int, file_size: int,
                    hardware: Hardware | None = None) -> int:
    """``n_gpu_layers`` for ``--gpu-layers auto``: 0 without a GPU backend.

    ``block_count + 1`` means everything, the output layer included (llama.cpp counts it as
    one more layer); a smaller number is how many blocks fit in free VRAM beside the KV cache
    and the compute buffer.
    """
    from workbench import hardware as hw

    machine = hardware or hw.detect()
    if not machine.gpu_offload or not machine.vram_free:
        return 0
    e = estimate_for_header(header, file_size, n_ctx)
    result = judge(e, machine)
    if result.kind == GPU:
        return e.n_layer + 1
    return _layers_on_gpu(e, machine.vram_free)


# --- a model split across this computer and workers (llama.cpp's RPC backend) -------------
LOCAL_GPU = "this computer's GPU"  #: a plan's name for one: "this computer's GPU 0 (NAME)"

@dataclass
class Share:
    """One part of a split model: where it sits, how many repeating layers, and its memory."""

    where: str  # "this computer", a worker's HOST:PORT, or LOCAL_GPU + " N (description)"
    layers: int
    weights: int
    kv_cache: int
    compute: int
    free: int
    #: Whether llama.cpp puts the output layer here (the last device holding layers).
    output: bool = False

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "total": self.total}


@dataclass
class PoolPlan:
    """How a model is split: this computer's CPU first, then each device in llama.cpp's
    device list (``tensor_split``: theirs; workers, then this computer's GPUs where it has
    some); the embeddings stay with the CPU, the output layer goes with the last device
    holding layers (llama.cpp offloads the last ``n_gpu_layers`` of the layers and the
    output layer together: :mod:`workbench.split_choice`)."""

    estimate: MemoryEstimate
    shares: list[Share]

    @property
    def workers(self) -> list[Share]:
        return [s for s in self.shares[1:] if not s.where.startswith(LOCAL_GPU)]

    @property
    def offloaded(self) -> int:
        """``n_gpu_layers``: the layers on devices (the last ones) and the output layer."""
        on = sum(s.layers for s in self.shares[1:])
        return on + 1 if on else 0

    @property
    def tensor_split(self) -> list[float]:
        """Each device's slots: its layers, the output layer's with the device holding it."""
        return [float(s.layers + s.output) for s in self.shares[1:]]

    @property
    def fits(self) -> bool:
        return all(s.total <= s.free - RAM_HEADROOM for s in self.shares)

    @property
    def pool_too_small(self) -> bool:
        room = sum(max(0, s.free - RAM_HEADROOM) for s in self.shares)
        return self.estimate.total > room

    def summary(self) -> str:
        """"fits across this computer and 2 workers (31 GB + 12 GB + 12 GB)", with the split
        and the KV cache; "too large" only when the whole pool is too small."""
        e = self.estimate
        n = len(self.workers)
        pool = f"this computer and {n} worker{'s' if n != 1 else ''}"
        sizes = " + ".join(human_size(s.total) for s in self.shares)
        split = "; ".join(f"{s.where}: {s.layers} of {e.n_layer} layers, "
                          f"{human_size(s.total)} of {human_size(s.free)} free"
                          for s in self.shares)
        cache = f"KV cache {human_size(e.kv_cache)} at {e.n_ctx:,} tokens"
        if self.fits:
            return f"fits across {pool} ({sizes}): {split}; {cache}"
        if self.pool_too_small:
            room = human_size(sum(s.free for s in self.shares))
            return (f"too large for {pool}: needs {human_size(e.total)}, they have {room} "
                    f"free ({cache})")
        crowded = next(s.where for s in self.shares if s.total > s.free - RAM_HEADROOM)
        return (f"does not fit as split across {pool}: {crowded} has too little free memory "
                f"for its part ({split}; {cache})")

    def to_dict(self) -> dict[str, Any]:
        return {"fits": self.fits, "summary": self.summary(), "n_gpu_layers": self.offloaded,
                "tensor_split": self.tensor_split,
                "split": [s.to_dict() for s in self.shares],
                "estimate": self.estimate.to_dict()}

