"""Batched cells on the real llama.cpp: for a seed, batched replies are the sequential ones
(and a batch rerun in the same layout is the same bit for bit), and batched logits are
measured against single-sequence ones; a trial cancelled in the middle of a batch
keeps its finished cells, early stopping stops a batch at the first prefix of the prompt order
where its rule holds (the unbatched verdict), and a width that does not fit memory shrinks and
says so."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from workbench.engine import Engine, LoadSettings, SamplingSettings
from workbench.engine.batched import BatchCell, fit_width, kv_bytes
from workbench.errors import InvalidInputError
from workbench.trials import store
from workbench.trials.compare import build_messages
from workbench.trials.contenders import make_contender
from workbench.trials.recommend import Bar, recommend
from workbench.trials.results import trial_summary
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.sequential import FAILS
from workbench.trials.suites import SuitePrompt, create_suite
from workbench.units import reply_metrics

LOAD = LoadSettings(n_ctx=1024, n_threads=1, gpu_layers=0)
TOPICS = ["a river", "gravity", "a violin", "bread"]
NEVER = [{"max_tokens": 0}]  # a check no reply passes


def _cells(temperature: float, max_tokens: int = 12) -> list[BatchCell]:
    sampling = SamplingSettings(temperature=temperature, max_tokens=max_tokens)
    return [BatchCell(build_messages(f"In one short sentence, what is {t}?", None),
                      replace(sampling, seed=11 + i)) for i, t in enumerate(TOPICS)]


def _batched(engine: Engine, path, cells, width: int, **extra):  # type: ignore[no-untyped-def]
    batch = engine.reply_batch(path, cells, width=width, load=LOAD, **extra)
    results = sorted(batch, key=lambda r: r.index)
    assert [r.index for r in results] == list(range(len(cells)))
    return batch, results


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_a_batch_of_one_is_the_sequential_reply_and_a_layout_reruns_exactly(
        engine, model_path, temperature) -> None:
    cells = _cells(temperature)
    sequential = []
    for cell in cells:
        reply = engine.reply(model_path, cell.messages, load=LOAD, sampling=cell.sampling,
                             fresh=True, keep_prefix=True)
        for _ in reply:
            pass
        sequential.append(reply.text)
    _, one = _batched(engine, model_path, cells, 1)
    assert [r.text for r in one] == sequential
    _, first = _batched(engine, model_path, cells, 4)
    _, again = _batched(engine, model_path, cells, 4)
    assert [r.text for r in again] == [r.text for r in first]
    assert [r.text for r in first] == sequential  # batched as one after another
    for position, result in enumerate(first):
        settings = result.stats.settings
        assert (settings["batch_width"], settings["batch_position"]) == (4, position)
        assert settings["seed"] == cells[position].sampling.seed
        assert result.stats.completion_tokens > 0 and result.stats.ttft_ms is not None
        assert result.stats.gen_tps and result.stats.gen_tps > 0


def test_batched_logits_differ_from_single_sequence_ones_by_little(model_path) -> None:
    """One token decoded alone and the same token decoded in a batch of four sequences (the
    same cached prefix in each): the difference is measured and printed."""
    import llama_cpp
    import numpy as np

    from workbench.engine.batched import BatchContext
    from workbench.engine.loaded import load_model

    loaded = load_model(model_path, LOAD)
    try:
        llama = loaded.llama
        prompt = llama.tokenize(b"The capital of France is", add_bos=True)
        n_vocab = llama.n_vocab()
        context = BatchContext(loaded, 4, 4 * 64)
        memory = llama_cpp.llama_get_memory(context.ctx)

        def step(width: int) -> np.ndarray:
            llama_cpp.llama_memory_clear(memory, True)
            batch = context.batch
            for i, token in enumerate(prompt[:-1]):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, i, 1
                batch.seq_id[i][0], batch.logits[i] = 0, False
            batch.n_tokens = len(prompt) - 1
            assert llama_cpp.llama_decode(context.ctx, batch) == 0
            for seq in range(1, width):
                llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
            for seq in range(width):
                batch.token[seq], batch.pos[seq], batch.n_seq_id[seq] = (
                    prompt[-1], len(prompt) - 1, 1)
                batch.seq_id[seq][0], batch.logits[seq] = seq, True
            batch.n_tokens = width
            assert llama_cpp.llama_decode(context.ctx, batch) == 0
            rows = [np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(context.ctx, s),
                                          shape=(n_vocab,)).copy() for s in range(width)]
            return np.array(rows)

        alone = step(1)[0]
        together = step(4)
        assert np.array_equal(step(1)[0], alone)  # a layout reruns exactly
        spread = float(np.abs(alone).max())
        worst = float(np.abs(together - alone).max())
        print(f"logits: largest |batched - alone| {worst:.3g} against |logit| up to "
              f"{spread:.3g} ({worst / spread:.2e} of it)")
        assert worst == 0.0  # a stream of KV cells per sequence: no difference at all
        assert all(int(row.argmax()) == int(alone.argmax()) for row in together)
        context.close()
    finally:
        loaded.close()


@pytest.mark.parametrize("penalty", [1.1, 1.6, 0.7, 1.0])
def test_greedy_over_the_tokens_that_can_win_picks_what_the_full_chain_picks(model_path,
                                                                              penalty) -> None:
    """A batch's greedy cells run llama.cpp's chain over the window and the best of the rest
    (GreedyChain): at every step of a repetitive reply it picks what the same chain picks over
    the whole vocabulary, with penalties above 1 that change some picks (so the penalty is
    tested, not bypassed) and below 1."""
    import llama_cpp
    import numpy as np

    from workbench.engine.generate import build_sampler
    from workbench.engine.greedy import GreedyChain
    from workbench.engine.loaded import load_model

    loaded = load_model(model_path, LOAD)
    llama = loaded.llama
    settings = SamplingSettings(temperature=0.0, repeat_penalty=penalty)
    full = build_sampler(llama, settings, 0, None)
    reduced = build_sampler(llama, settings, 0, None)
    ours = GreedyChain(reduced, llama.n_vocab())
    try:
        ctx = llama.ctx
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        tokens = llama.tokenize(b"cat cat cat dog cat dog cat cat dog dog cat", add_bos=True)
        batch = llama_cpp.llama_batch_get_one((llama_cpp.llama_token * len(tokens))(*tokens),
                                              len(tokens))
        assert llama_cpp.llama_decode(ctx, batch) == 0
        turned = 0
        for step in range(80):  # past the 64-token window
            plain = int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1),
                                                        shape=(llama.n_vocab(),))))
            theirs = int(llama_cpp.llama_sampler_sample(full, ctx, -1))
            token = ours.sample(ctx, -1)
            assert token == theirs, f"step {step}"
            turned += token != plain
            one = (llama_cpp.llama_token * 1)(token)
            assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(one, 1)) == 0
        if penalty > 1.0:  # the penalty changed some picks: it is tested, not bypassed
            assert turned > 0
        elif penalty == 1.0:
            assert turned == 0
    finally:
        llama_cpp.llama_sampler_free(full)
        llama_cpp.llama_sampler_free(reduced)
        loaded.close()


def test_a_width_that_does_not_fit_shrinks_and_says_so(engine, model_path) -> None:
    assert fit_width(8, 100, 1000) == (8, "")
    width, message = fit_width(8, 300, 1000)
    assert width == 3 and message.startswith("batch width 8 does not fit: each sequence needs")
    assert message.endswith("running 3 at a time")
    cells = _cells(0.0, max_tokens=6)
    loaded = engine.load(model_path, LOAD)
    del loaded
    from workbench.engine.loaded import load_model

    probe = load_model(model_path, LOAD)
    try:
        prompt_and_reply = 64  # more than any cell here needs
        two = 2 * kv_bytes(probe, prompt_and_reply)
    finally:
        probe.close()
    batch, results = _batched(engine, model_path, cells, 4, kv_budget=two)
    assert batch.width <= 2 and "batch width 4 does not fit" in batch.message
    assert f"running {batch.width} at a time" in batch.message
    assert all(r.text and r.stats.settings["batch_width"] == batch.width for r in results)


def _suite(db, n: int, checks=None):  # type: ignore[no-untyped-def]
    return create_suite(db, f"suite{n}", [SuitePrompt(f"Say the number {i}.", checks=checks)
                                          for i in range(n)])


BASE = {"n_ctx": 1024, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 4}


def test_a_cancel_in_the_middle_of_a_batch_keeps_every_finished_cell(db, engine,
                                                                     library_model) -> None:
    contender = make_contender(db, library_model, {**BASE, "max_tokens": 120})
    # The run order is the trial seed's shuffle: put one short answer first in the second
    # batch of four and long ones beside it, so the cancel comes while they still run.
    order = TrialRun.order_for(8, seed=5)
    texts = ["Write a long story about a dragon."] * 8
    texts[order[4]] = "Reply with just the word yes."
    suite = create_suite(db, "mixed", [SuitePrompt(text) for text in texts])
    trial_id = create_trial(db, suite.id, [contender], seed=5)
    run = TrialRun(db, engine, trial_id, batch=4)
    seen = []
    for event in run:
        if event.cell is not None:
            seen.append(event.cell)
            if len(seen) == 5:  # the second batch's first cell: cancel in its middle
                threading.Thread(target=run.stop).start()
    cells = store.trial_cells(db, trial_id)
    assert 5 <= len(cells) < 8 and len(cells) == len(seen)
    assert {c["prompt_id"] for c in cells} == {c["prompt_id"] for c in seen}
    assert store.get_trial_row(db, trial_id)["status"] == "cancelled"
    assert {c["settings"]["batch_width"] for c in cells} == {4}
    list(TrialRun(db, engine, trial_id, batch=4))  # the resume runs the rest
    assert len(store.trial_cells(db, trial_id)) == 8


FIVE_WORDS = [{"regex": r"(\w+\W+){4}\w"}]  # a 2-token reply cannot pass it
QUESTIONS = [f"In one short sentence, what is {t}?" for t in
             ["a river", "gravity", "a violin", "bread", "a cloud", "a bridge", "a forest",
              "a clock", "the moon", "a volcano", "a library", "a magnet"]]


def _stops_and_cells(db, trial_id):  # type: ignore[no-untyped-def]
    stops = {c: (s["after_prompts"], s["outcome"], s["text"])
             for c, s in store.trial_stops(db, trial_id).items()}
    cells = {(c["prompt_id"], c["contender_id"], c["repeat"]): c["content"]
             for c in store.trial_cells(db, trial_id)}
    return stops, cells


@pytest.mark.parametrize(("repeats", "width"), [(1, 8), (2, 16)])
def test_a_batch_stops_at_the_first_prefix_where_the_rule_holds(db, engine, library_model,
                                                                repeats, width) -> None:
    """The clear suite of bench_verdict: a contender capped at 2 tokens cannot pass a
    five-word check. The rule settles it after 4 prompts; batched 8 prompts wide it stops
    there, mid-batch, with the verdict a run one cell at a time gives (Holm across two)."""
    low = make_contender(db, library_model, {**BASE, "max_tokens": 2})
    high = make_contender(db, library_model, {**BASE, "max_tokens": 16})
    suite = create_suite(db, f"clear{repeats}", [SuitePrompt(q, checks=FIVE_WORDS)
                                                 for q in QUESTIONS])
    results = {}
    for batch in (width, 1):
        trial_id = create_trial(db, suite.id, [low, high], seed=1, repeats=repeats)
        events = list(TrialRun(db, engine, trial_id, bar=0.8, batch=batch))
        stops, cells = _stops_and_cells(db, trial_id)
        summary = trial_summary(db, trial_id)
        verdict = recommend(summary["contenders"], Bar(min_pass_rate=0.8))
        results[batch] = (stops, cells, verdict.to_dict()["choice"], verdict.reason,
                          [(v.label, [(p.name, p.outcome, p.count, p.total, p.level)
                                      for p in v.parts]) for v in verdict.verdicts])
        assert events[-1].done == events[-1].total == summary["done"] == len(cells)
        after, outcome, text = stops[low.id]
        assert (after, outcome) == (4, FAILS) and any(text in e.message for e in events)
        mine = [k for k in cells if k[1] == low.id]
        run = TrialRun(db, engine, trial_id)
        first = {suite.prompts[i].id for i in run.prompt_order()[:after]}
        assert {k[0] for k in mine} == first and len(mine) == after * repeats
        assert summary["contenders"][0]["stopped"]["after_prompts"] == after
    # fewer cells than one batch's width ran, and the verdict is the unbatched one
    assert len([k for k in results[width][1] if k[1] == low.id]) < width
    assert results[width][0] == results[1][0]
    assert results[width][1] == results[1][1]
    assert results[width][2:] == results[1][2:]


def test_cells_finished_past_the_prefix_are_not_counted(db, engine, library_model) -> None:
    """Short replies finish first: the cells after the settling prefix that finished before
    it are dropped, so the contender's cells are exactly its first prompts in the order."""
    contender = make_contender(db, library_model, {**BASE, "max_tokens": 40})
    order = TrialRun.order_for(12, seed=5)
    texts = ["Write a long story about a dragon."] * 12
    for k in order[4:8]:  # after the prefix the rule settles on: replies that end soon
        texts[k] = "Reply with just the word yes."
    suite = create_suite(db, "outoforder", [SuitePrompt(t, checks=NEVER) for t in texts])
    trial_id = create_trial(db, suite.id, [contender], seed=5)
    seen = []
    events = []
    for event in TrialRun(db, engine, trial_id, bar=0.8, batch=8):
        events.append(event)
        if event.cell is not None:
            seen.append(event.cell["prompt_index"])
    stop = store.trial_stops(db, trial_id)[contender.id]
    cells = store.trial_cells(db, trial_id)
    assert (stop["after_prompts"], stop["outcome"]) == (4, FAILS)
    assert {c["prompt_id"] for c in cells} == {suite.prompts[i].id for i in order[:4]}
    assert any(i in order[4:8] for i in seen[:4])  # some finished out of order, were dropped
    assert events[-1].done == events[-1].total == 4
    # run the rest: the dropped ones run again, with the seeds they had
    list(TrialRun(db, engine, trial_id, bar=0.8, batch=8, stop_early=False))
    assert len(store.trial_cells(db, trial_id)) == 12


def test_batch_width_is_checked_and_the_cli_records_the_layout(workspace, library_model,
                                                              tmp_path) -> None:
    from click.testing import CliRunner

    from workbench.cli import cli

    with pytest.raises(InvalidInputError, match="batch 0: must be a whole number"):
        TrialRun(workspace.db, Engine(), 1, batch=0)
    suite_file = tmp_path / "three.jsonl"
    suite_file.write_text("".join(json.dumps({"prompt": f"Say {i}."}) + "\n" for i in range(3)))
    sets = [item for key, value in BASE.items() for item in ("--set", f"{key}={value}")]
    ran = CliRunner().invoke(cli, ["trial", "run", str(suite_file), *sets, "-m", "1",
                                   "--batch", "3"])
    assert ran.exit_code == 0, ran.output
    cells = store.trial_cells(workspace.db, 1)
    assert sorted(c["settings"]["batch_position"] for c in cells) == [0, 1, 2]
    shown = json.loads(CliRunner().invoke(cli, ["trial", "show", "1", "--json"]).output)
    cell = shown["matrix"][0]["cells"][0]
    assert cell["batch_width"] == 3
    assert "batch of 3" in reply_metrics(cell, short=True)  # the metrics say it was batched
    bad = CliRunner().invoke(cli, ["trial", "resume", "1", "--batch", "0"])
    assert bad.exit_code != 0 and "--batch" in bad.output
