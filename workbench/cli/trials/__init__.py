"""``compare``, ``vote``, ``votes``, ``leaderboard``, ``comparison``, ``suite`` and ``trial``:
side-by-side comparisons, prompt suites and trials, headless.

One module per command group: :mod:`.comparisons` (compare, vote, votes, leaderboard,
comparison), :mod:`.suites` (suite) and :mod:`.runs` (trial); what they share (naming the
contenders, Ctrl+C, writing a file) is in :mod:`.common`. Importing this package registers
them all on :data:`workbench.cli.cli`.
"""

from workbench.cli.trials import comparisons, runs, suites  # noqa: F401  (registers the commands)
