"""Fixtures for the window's tests: the real window on a fresh workspace with the real test
model, a heartbeat that proves the GUI thread is never blocked, and a screenshot folder.

Replies use temperature 0, a fixed seed and few tokens, so they are quick and repeatable.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

REPLY_TIMEOUT_MS = 90_000


@pytest.fixture(scope="session")
def qapp_cls():  # type: ignore[no-untyped-def]
    return QApplication


@pytest.fixture
def themed(qapp):  # type: ignore[no-untyped-def]
    """Every test starts light: screenshots and colours do not depend on test order."""
    from ui import theme

    theme.apply_theme(qapp, "light")
    return qapp


@pytest.fixture
def bare_services(workspace, engine, themed):  # type: ignore[no-untyped-def]
    """Services on an empty workspace (no model: the first-run case)."""
    from ui.services import Services

    services = Services(workspace, engine=engine)
    yield services
    services.tasks.shutdown()  # the session's engine stays loaded for the next test


@pytest.fixture
def services(bare_services, model_path):  # type: ignore[no-untyped-def]
    """Services on a workspace holding the real test model, as a fresh install has it."""
    from workbench.demo import ensure_demo_model
    from workbench.library import add_model, list_models

    db = bare_services.workspace.db
    ensure_demo_model(db)
    if not list_models(db):
        add_model(db, model_path)
    return bare_services


def make_window(qtbot, services, size=(1280, 800)):  # type: ignore[no-untyped-def]
    from ui.main_window import MainWindow

    window = MainWindow(services)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    return window


@pytest.fixture
def main_window(qtbot, services):  # type: ignore[no-untyped-def]
    window = make_window(qtbot, services)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    yield window
    if window.chat.is_streaming:
        window.chat.stop()
        qtbot.waitUntil(lambda: not window.chat.is_streaming, timeout=REPLY_TIMEOUT_MS)
    window.close()


def quick_sampling(window, max_tokens: int = 32) -> None:  # type: ignore[no-untyped-def]
    """Temperature 0 and a fixed seed: the same short reply every time."""
    panel = window.chat.panel
    panel.temperature.setValue(0.0)
    panel.seed.setValue(7)
    panel.max_tokens.setValue(max_tokens)


def send_and_wait(qtbot, window, text: str, max_tokens: int = 32):  # type: ignore[no-untyped-def]
    quick_sampling(window, max_tokens)
    window.chat.input.setPlainText(text)
    window.chat.send()
    assert window.chat.is_streaming
    wait_reply(qtbot, window)
    return window.chat.view.messages


def wait_reply(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not window.chat.is_streaming, timeout=REPLY_TIMEOUT_MS)
    # the conversation is reloaded from the database once the reply is saved
    qtbot.wait(150)
    qtbot.waitUntil(lambda: not window.services.tasks.running, timeout=10_000)
    qtbot.wait(50)


def _short_stack(frame: Any, depth: int) -> str:
    stack = traceback.extract_stack(frame)[-depth:]
    return " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack))


def _thread_names() -> dict[int | None, str]:
    return {thread.ident: thread.name for thread in threading.enumerate()}


class Heartbeat:
    """A 10 ms timer on the GUI thread; the longest gap between its ticks is the longest
    time the GUI thread was blocked (a frozen window would show a large gap).

    A sampler thread looks at the GUI thread's stack while a tick is overdue, so a failing
    run says *what* blocked it (``long_gaps`` holds the most frequent stack of each gap).
    """

    OVERDUE_MS = 25  # start sampling once a 10 ms tick is this late

    def __init__(self, interval_ms: int = 10) -> None:
        self.interval_ms = interval_ms
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.max_gap_ms = 0.0
        self.ticks = 0
        # (ms since start, gap ms, where the GUI thread was) for gaps over 30 ms
        self.long_gaps: list[tuple[float, float, str]] = []
        self._last = 0.0
        self._start = 0.0
        self._samples: Counter[str] = Counter()
        self._gui_thread = threading.get_ident()
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            gap = (now - self._last) * 1000
            self.max_gap_ms = max(self.max_gap_ms, gap)
            if gap > 30:
                where = self._samples.most_common(1)[0][0] if self._samples else "not sampled"
                self.long_gaps.append((round((self._last - self._start) * 1000, 1),
                                       round(gap, 1), where))
        self._samples = Counter()
        self._last = now
        self.ticks += 1

    def _sample(self) -> None:
        while self._sampling.is_set() and not os.environ.get("NO_SAMPLER"):
            time.sleep(0.004)
            last = self._last
            if not last or (time.perf_counter() - last) * 1000 < self.OVERDUE_MS:
                continue
            frames = sys._current_frames()
            gui = frames.get(self._gui_thread)
            if gui is None:
                continue
            # The GUI thread's stack, then where the other threads were: a thread holding
            # the GIL in C code shows up there, with the GUI thread waiting in Qt's exec.
            where = [_short_stack(gui, 4)]
            where += [f"[{name}] {_short_stack(frame, 1)}"
                      for ident, frame in frames.items()
                      if ident not in (self._gui_thread, threading.get_ident())
                      and (name := _thread_names().get(ident, str(ident)))
                      and not name.startswith(("pydevd", "heartbeat"))]
            self._samples[" | ".join(where)] += 1

    def start(self) -> Heartbeat:
        # Collect what earlier tests left (thousands of Qt wrappers) now, not in the middle of
        # the measurement: that pause belongs to the test run, not to the work measured.
        gc.collect()
        self._last = 0.0
        self._start = time.perf_counter()
        self.max_gap_ms = 0.0
        self.ticks = 0
        self.long_gaps = []
        self._gui_thread = threading.get_ident()
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample, name="heartbeat-sampler",
                                         daemon=True)
        self._sampler.start()
        self.timer.start()
        return self

    def stop(self) -> float:
        self.timer.stop()
        self._sampling.clear()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None
        return self.max_gap_ms

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@pytest.fixture
def heartbeat(qapp) -> Iterator[Heartbeat]:  # type: ignore[no-untyped-def]
    beat = Heartbeat()
    yield beat
    beat.stop()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$WORKBENCH_SCREENSHOTS if set (e.g. the repository's ignored /screenshots), else a
    folder under pytest's temporary directory."""
    chosen = os.environ.get("WORKBENCH_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
