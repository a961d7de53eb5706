"""Fixtures for the Models page tests: services on a workspace wired to the Hub stand-in, and
the page itself. Test modules import them, so they replace the window's ``services`` there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ui.services import Services
from ui.views.models.page import ModelsPage

WAIT_MS = 30_000


@pytest.fixture(name="services")
def hub_services(hub_workspace) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    made = Services(hub_workspace)
    yield made
    made.shutdown()


@pytest.fixture(name="page")
def models_page(qtbot, services) -> Iterator[ModelsPage]:  # type: ignore[no-untyped-def]
    widget = ModelsPage(services)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitUntil(lambda: widget.library.busy == 0, timeout=WAIT_MS)
    yield widget
    widget.shutdown()
