"""Side by side: contenders, comparisons, prompt suites, trials, votes and recommendations.

Everything here is Qt-free and usable from the command line. Long jobs (a comparison, a trial)
are iterators of progress events with a ``stop()``, so the window's task manager and the CLI
drive them the same way.
"""

from workbench.trials.contenders import Contender, make_contender, parse_set_options

__all__ = ["Contender", "make_contender", "parse_set_options"]
