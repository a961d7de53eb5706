"""Side by side: contenders, comparisons, prompt suites, trials, votes and recommendations.

Everything here is Qt-free and usable from the command line. Long jobs (a comparison, a trial)
are iterators of progress events with a ``stop()``, so the window's task manager and the CLI
drive them the same way.

Import the modules themselves (``workbench.trials.contenders``): this ``__init__`` re-exports
nothing, so the pure ones (``stats``, ``svg``, ``checks``) load without llama.cpp.
"""
