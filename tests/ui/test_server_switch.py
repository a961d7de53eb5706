"""The status bar's Server switch (start, a real request with the openai client, the count
and the model in memory updating, the snippets, stop) and the recommendation card's "Use for
a task...", which creates or repoints an alias at the recommended contender."""

from __future__ import annotations

import socket

import openai
from PySide6.QtWidgets import QApplication, QInputDialog

from tests.ui.conftest import make_window
from workbench.server.aliases import find_alias
from workbench.settings import set_setting
from workbench.trials.recommend import Recommendation


def test_the_server_switch_serves_counts_and_stops(qtbot, services) -> None:
    db = services.workspace.db
    set_setting(db, "threads", 1)
    set_setting(db, "context_length", 512)
    window = make_window(qtbot, services)
    switch = window.server_switch
    switch.port = 0  # a free port: the test must not depend on 8080 being free
    assert switch.button.text() == "Server: off" and not switch.label.isVisible()
    qtbot.mouseClick(switch.button, qtbot_left())
    qtbot.waitUntil(lambda: switch.running is not None and switch.button.isEnabled(),
                    timeout=20_000)
    running = switch.running
    assert running is not None and running.host == "127.0.0.1"
    assert switch.button.text() == "Server: on" and switch.label.isVisible()
    assert running.url in switch.label.full_text() and "0 requests" in switch.label.full_text()
    # What is in memory is said once, by the window's label, not again by the switch.
    assert "memory" not in switch.label.full_text()
    assert window.model_label.full_text() == "No model loaded"

    client = openai.OpenAI(base_url=running.url, api_key="unused", max_retries=0, timeout=90)
    answer = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Say hi."}], max_tokens=4)
    assert answer.choices[0].message.content
    qtbot.waitUntil(lambda: "1 request" in switch.label.full_text(), timeout=5_000)
    width = switch.label.width()
    # one engine: the window's loaded-model label names the model the server loaded
    qtbot.waitUntil(lambda: window.model_label.full_text() == "● SmolLM2-135M-Instruct.Q4_1",
                    timeout=5_000)
    assert switch.label.width() == width  # a new count moves nothing in the status bar

    switch.copy("python")
    qtbot.waitUntil(lambda: bool(switch.copied), timeout=5_000)
    clipboard = QApplication.clipboard().text()
    assert f'base_url="{running.url}"' in clipboard and 'model="SmolLM2' in clipboard
    switch.copy("curl")
    qtbot.waitUntil(lambda: switch.copied.startswith("curl"), timeout=5_000)
    assert f"{running.url}/chat/completions" in QApplication.clipboard().text()

    qtbot.mouseClick(switch.button, qtbot_left())
    qtbot.waitUntil(lambda: switch.button.isEnabled() and switch.running is None,
                    timeout=30_000)
    assert switch.button.text() == "Server: off" and not switch.copy_button.isVisible()
    with socket.socket() as probe:  # nothing listens there any more
        assert probe.connect_ex(("127.0.0.1", running.port)) != 0
    assert running.model_host.engine.worker_pid is None  # its model was unloaded
    assert window.model_label.full_text() == "No model loaded"
    window.close()


def test_a_port_in_use_is_one_line_and_the_switch_stays_off(qtbot, services) -> None:
    errors: list[str] = []
    services.events.error.connect(errors.append)
    window = make_window(qtbot, services)
    switch = window.server_switch
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        set_setting(services.workspace.db, "server_port", port)  # the window's port is a setting
        assert switch.port is None
        switch.start()
        qtbot.waitUntil(lambda: bool(errors) and switch.button.isEnabled(), timeout=20_000)
    assert errors == [f"Server: 127.0.0.1:{port}: cannot listen there (already in use)"]
    assert switch.running is None and switch.button.text() == "Server: off"
    assert not switch.button.isChecked()
    window.close()


def qtbot_left():  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_use_for_a_task_creates_then_repoints_an_alias(qtbot, services, monkeypatch) -> None:
    from ui.views.trials.recommendation_card import RecommendationCard
    from workbench.library import list_models
    from workbench.trials.contenders import make_contender

    db = services.workspace.db
    model = list_models(db)[0]
    first = make_contender(db, model, {"temperature": 0.3, "n_threads": 1})
    second = make_contender(db, model, {"temperature": 0.9, "system_prompt": "Be brief."})
    card = RecommendationCard(services=services)
    qtbot.addWidget(card)
    card.show()
    card.show_recommendation(Recommendation(None, "No bar set.", None, []))
    assert not card.use_button.isVisible()  # nothing recommended: nothing to use

    def recommend(contender) -> None:  # type: ignore[no-untyped-def]
        card.show_recommendation(Recommendation(
            {"contender_id": contender.id, "label": contender.label},
            f"{contender.label} is recommended.", None, []))

    recommend(first)
    assert card.use_button.isVisible()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("summarize", True))
    qtbot.mouseClick(card.use_button, qtbot_left())
    qtbot.waitUntil(lambda: bool(card.last_alias), timeout=5_000)
    alias = find_alias(db, "summarize")
    assert alias is not None and alias.model_id == model.id
    assert alias.settings["temperature"] == 0.3 and "n_threads" not in alias.settings
    assert card.last_alias == f"summarize now answers with {model.name}"

    card.last_alias = ""
    recommend(second)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Summarize", True))
    qtbot.mouseClick(card.use_button, qtbot_left())
    qtbot.waitUntil(lambda: bool(card.last_alias), timeout=5_000)
    alias = find_alias(db, "summarize")
    assert alias is not None and alias.name == "summarize"  # repointed, not a second one
    assert alias.settings["temperature"] == 0.9
    assert alias.settings["system_prompt"] == "Be brief."
    assert db.table("server_aliases").count == 1


def test_chat_and_server_share_one_engine(qtbot, services) -> None:
    from tests.ui.conftest import send_and_wait

    db = services.workspace.db
    set_setting(db, "threads", 1)
    set_setting(db, "context_length", 512)
    window = make_window(qtbot, services)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    switch = window.server_switch
    switch.port = 0
    switch.start()
    qtbot.waitUntil(lambda: switch.running is not None and switch.button.isEnabled(),
                    timeout=20_000)
    assert switch.running is not None
    client = openai.OpenAI(base_url=switch.running.url, api_key="x", max_retries=0,
                           timeout=90)
    client.chat.completions.create(model="smollm2", max_tokens=2,
                                   messages=[{"role": "user", "content": "Hi"}])
    pid = services.engine.worker_pid
    assert pid is not None and switch.running.model_host.engine is services.engine
    messages = send_and_wait(qtbot, window, "Say hi.", max_tokens=4)
    assert messages[-1].text
    client.chat.completions.create(model="smollm2", max_tokens=2,
                                   messages=[{"role": "user", "content": "Hi"}])
    assert services.engine.worker_pid == pid  # one engine process, one model in memory
    switch.shutdown()
    window.close()
