"""Workbench: find, run and compare local GGUF language models, privately.

The core library. It never imports Qt: the window (package ``ui``) is a thin view over it,
and every feature is reachable headless through the ``llm-workbench`` command.
"""

__version__ = "0.1.0"
