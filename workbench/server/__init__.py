"""The local OpenAI-compatible server (issue 13): other apps use the model a trial chose.

:mod:`~workbench.server.app` is the HTTP API, :mod:`~workbench.server.host` the one engine
thread that serves it, :mod:`~workbench.server.aliases` the task names, and
:mod:`~workbench.server.serve` the address checks and uvicorn. Nothing here imports Qt.
"""
