"""The numbers behind the results: median and spread of repeats, Bradley-Terry ratings with
bootstrap confidence intervals, Wilson intervals for pass rates and the exact McNemar (sign)
test for two contenders on the same prompts.

Pure Python on purpose: a few hundred votes fit in milliseconds, and the maths stays
readable and testable against hand-computed answers.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate

Game = tuple[int, int, float]  # (a, b, a's score: 1 win, 0.5 tie, 0 loss)

ELO_SCALE = 400 / math.log(10)  # rating points per unit of log-strength
BASE = 1000.0
Z95 = 1.959963984540054

#: Virtual wins and losses each player gets against an average player. Chosen by the
#: coverage simulation in tests/core/test_trials_ratings.py (4 players 0-261 Elo apart, 200
#: replications): with 1 the intervals cover the true rating 95.3% / 96.6% / 94.1% of the time
#: at 30 / 300 / 1,000 votes; at 30 votes a prior of 2 over-shrinks (91% with the reflected
#: interval) and the percentile interval alone covers 90-91% with a prior of 0.5 to 2.
DEFAULT_PRIOR = 1.0
#: The fit stops when no log-strength moves by more than this (1e-9 is ~4e-7 Elo points).
TOLERANCE = 1e-9
MAX_NEWTON_STEPS = 200  # Newton converges in < 10 steps here; the cap only guards a bug


@dataclass
class Spread:
    """Median, min and max of repeated measurements (n of them)."""

    median: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


def spread(values: Sequence[float | None]) -> Spread:
    clean = [float(v) for v in values if v is not None]
    if not clean:
        return Spread(None, None, None, 0)
    return Spread(statistics.median(clean), min(clean), max(clean), len(clean))


# Bradley-Terry -----------------------------------------------------------------------------

@dataclass
class _Tally:
    """Games summed up: each player's score and the number of games per pair."""

    names: list[int]
    wins: list[float]
    pairs: dict[tuple[int, int], float]  # (index, index) with i < j -> games


def _tally(weighted: Sequence[tuple[Sequence[Game], float]], names: list[int]) -> _Tally:
    index = {p: i for i, p in enumerate(names)}
    wins = [0.0] * len(names)
    pairs: dict[tuple[int, int], float] = {}
    for games, weight in weighted:
        for a, b, score in games:
            i, j = index[a], index[b]
            wins[i] += score * weight
            wins[j] += (1 - score) * weight
            key = (i, j) if i < j else (j, i)
            pairs[key] = pairs.get(key, 0.0) + weight
    return _Tally(names, wins, pairs)


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the systems here are a few players big)."""
    n = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if abs(a[col][col]) < 1e-300:
            raise ZeroDivisionError("singular system")
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            if factor:
                for k in range(col, n + 1):
                    a[r][k] -= factor * a[col][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][k] * x[k] for k in range(r + 1, n))) / a[r][r]
    return x


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _fit(tally: _Tally, prior: float, start: list[float] | None = None) -> list[float]:
    """Maximise the Bradley-Terry log-likelihood (plus the prior) by Newton's method.

    The prior gives each player ``prior`` virtual wins and as many losses against a fixed
    player of log-strength 0, which makes the problem strictly concave: Newton with step
    halving converges from anywhere, to ``TOLERANCE``, in a handful of steps. ``prior=0`` is
    the plain maximum-likelihood fit; it is kept finite (an unbeaten record has no finite
    maximum) by a vanishing prior of 1e-9 virtual games.
    """
    k = len(tally.names)
    prior = prior if prior > 0 else 1e-9
    theta = list(start) if start else [0.0] * k

    def loglik(t: list[float]) -> float:
        value = sum(w * x for w, x in zip(tally.wins, t, strict=True))
        for (i, j), n in tally.pairs.items():
            high = max(t[i], t[j])
            value -= n * (high + math.log(math.exp(t[i] - high) + math.exp(t[j] - high)))
        for x in t:  # prior wins and losses against log-strength 0
            value += prior * x - 2 * prior * (max(x, 0) + math.log1p(math.exp(-abs(x))))
        return value

    current = loglik(theta)
    for _ in range(MAX_NEWTON_STEPS):
        grad = [w + prior for w in tally.wins]
        hess = [[0.0] * k for _ in range(k)]
        for i in range(k):
            s = _sigmoid(theta[i])
            grad[i] -= 2 * prior * s
            hess[i][i] -= 2 * prior * s * (1 - s)
        for (i, j), n in tally.pairs.items():
            p = _sigmoid(theta[i] - theta[j])
            grad[i] -= n * p
            grad[j] -= n * (1 - p)
            curvature = n * p * (1 - p)
            hess[i][i] -= curvature
            hess[j][j] -= curvature
            hess[i][j] += curvature
            hess[j][i] += curvature
        step = _solve([[-v for v in row] for row in hess], grad)  # -H d = g
        scale = 1.0
        while True:
            trial = [x + scale * d for x, d in zip(theta, step, strict=True)]
            value = loglik(trial)
            if value >= current - 1e-12 or scale < 1e-6:
                break
            scale /= 2
        moved = max(abs(scale * d) for d in step) if step else 0.0
        theta, current = trial, value
        if moved < TOLERANCE:
            break
    return theta


def _to_elo(names: list[int], theta: list[float]) -> dict[int, float]:
    """Elo-scale ratings whose average is exactly 1000."""
    mean = sum(theta) / len(theta)
    return {p: BASE + ELO_SCALE * (x - mean) for p, x in zip(names, theta, strict=True)}


def bradley_terry(games: Sequence[Game], players: Sequence[int] | None = None,
                  prior: float = DEFAULT_PRIOR) -> dict[int, float]:
    """Bradley-Terry ratings on the Elo scale, fitted to convergence; their average is 1000.

    A tie is half a win for each side. ``prior`` gives each player that many virtual wins and
    as many virtual losses against an average player, which keeps an unbeaten record finite
    and pulls thin evidence towards the middle; ``prior=0`` is the plain maximum-likelihood fit.
    """
    names = sorted(set(players or []) | {p for g in games for p in g[:2]})
    if not names:
        return {}
    return _to_elo(names, _fit(_tally([(games, 1.0)], names), prior))


@dataclass
class Rating:
    player: int
    rating: float
    low: float | None  # None with fewer than two votes: no interval to speak of
    high: float | None
    games: int


def rate_with_intervals(votes: Sequence[Sequence[Game]], rounds: int = 300, seed: int = 0,
                        prior: float = DEFAULT_PRIOR, level: float = 0.95) -> list[Rating]:
    """Ratings with bootstrap intervals, resampling whole votes (the games of one multi-way
    vote are not independent). Every bootstrap round is fitted to the same tolerance as the
    point estimate. Sorted best first.

    Each end is the wider of the percentile interval ``[q2.5, q97.5]`` and the basic
    (reflected) one ``[2r - q97.5, 2r - q2.5]``. With plenty of votes the two agree; with few,
    the prior pulls each resampled fit towards 1000 a little more than the point estimate,
    which the percentile interval doubles and the reflected one undoes. In the coverage
    simulation (tests/core/test_trials_ratings.py) the percentile interval alone covers the
    true rating 91% of the time at 30 votes, the reflected one 95%."""
    games = [g for vote in votes for g in vote]
    names = sorted({p for g in games for p in g[:2]})
    if not names:
        return []
    theta = _fit(_tally([(games, 1.0)], names), prior)
    point = _to_elo(names, theta)
    # Identical votes are resampled as one kind with a count, so a round costs one draw per
    # vote and one small fit, however many votes there are.
    kinds = Counter(tuple(vote) for vote in votes)
    keys = list(kinds)
    cumulative = list(accumulate(float(kinds[key]) for key in keys))
    rng = random.Random(seed)
    samples: dict[int, list[float]] = {p: [] for p in names}
    n = len(votes)
    slots = range(len(keys))
    for _ in range(rounds if n > 1 else 0):
        drawn = Counter(rng.choices(slots, cum_weights=cumulative, k=n))
        tally = _tally([(keys[i], float(c)) for i, c in drawn.items()], names)
        fitted = _to_elo(names, _fit(tally, prior, start=theta))
        for p in names:
            samples[p].append(fitted[p])
    count = {p: sum(1 for g in games if p in g[:2]) for p in names}
    tail = (1 - level) / 2
    ratings = []
    for p in names:
        values = sorted(samples[p])
        if not values:
            ratings.append(Rating(p, point[p], None, None, count[p]))
            continue
        q_low, q_high = _quantile(values, tail), _quantile(values, 1 - tail)
        low = min(q_low, 2 * point[p] - q_high)
        high = max(q_high, 2 * point[p] - q_low)
        ratings.append(Rating(p, point[p], min(low, point[p]), max(high, point[p]), count[p]))
    return sorted(ratings, key=lambda r: -r.rating)


def _quantile(values: list[float], q: float) -> float:
    position = q * (len(values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (position - lower)


# Proportions -------------------------------------------------------------------------------

def wilson(successes: float, total: float, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: honest with few trials and 0% or 100%.

    ``successes`` may be fractional (prompts whose repeats partly pass count their share of
    passing repeats); the interval is then the one for that proportion over ``total`` prompts.
    """
    if total <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, successes / total))
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)  # exact at the ends, not 0.99999...
    return low, high


def more_successes_needed(successes: float, total: float, bar: float,
                          limit: int = 100_000) -> int | None:
    """How many more trials, all successes, lift the Wilson lower bound to ``bar``.

    None when no number up to ``limit`` does (a bar of 100% can never be shown: the lower
    bound of a finite sample is always below 1)."""
    if wilson(successes, total)[0] >= bar:
        return 0
    if wilson(successes + limit, total + limit)[0] < bar:
        return None
    low, high = 0, limit  # the lower bound rises with every added success: bisect
    while high - low > 1:
        middle = (low + high) // 2
        if wilson(successes + middle, total + middle)[0] >= bar:
            high = middle
        else:
            low = middle
    return high


# Paired comparison -------------------------------------------------------------------------

def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p of ``k`` successes in ``n`` fair coin flips (the sign test):
    twice the smaller tail, at most 1. With the discordant pairs of two classifiers this is
    the exact McNemar test."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, float(Fraction(2 * tail, 2 ** n)))


def min_discordant_for_significance(alpha: float = 0.05) -> int:
    """The fewest discordant prompts (all going one way) that an exact McNemar test can call
    significant: 6 at the 5% level (p = 2/64), so a suite needs at least 6 prompts."""
    d = 1
    while binomial_two_sided(0, d) >= alpha:
        d += 1
    return d


def needed_split(discordant: int, alpha: float = 0.05) -> int | None:
    """With ``discordant`` prompts that two contenders score differently, the smallest
    difference (one's count minus the other's) that would be significant; None if none."""
    for difference in range(discordant % 2, discordant + 1, 2):
        fewer = (discordant - difference) // 2
        if binomial_two_sided(fewer, discordant) < alpha:
            return difference
    return None


@dataclass
class Paired:
    """Two contenders on the prompts both were checked on."""

    prompts: int  # prompts both have a score for
    better: int  # prompts where the first scored higher
    worse: int  # prompts where the second scored higher
    difference: float  # first's passing prompts minus the second's (fractional with repeats)
    p_value: float

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def paired_test(first: dict[int, float], second: dict[int, float]) -> Paired:
    """Exact McNemar (sign) test on prompt scores: prompts scored differently are the
    discordant ones; their split is tested against a fair coin. With one repeat per prompt
    the scores are 0 or 1 and this is exactly McNemar's test."""
    shared = sorted(set(first) & set(second))
    better = sum(1 for p in shared if first[p] > second[p])
    worse = sum(1 for p in shared if first[p] < second[p])
    difference = sum(first[p] - second[p] for p in shared)
    return Paired(len(shared), better, worse, difference,
                  binomial_two_sided(better, better + worse))


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters over the same items, ``(first rater's category, second
    rater's)`` per item: (p_o - p_e) / (1 - p_e), where p_o is the share of items on which
    they agree and p_e the share expected by chance, the sum over categories of the product
    of the two raters' own shares of that category. 1 is perfect agreement, 0 what chance
    gives, below 0 worse than chance. None when there are no items or chance agreement is
    certain (both raters used one and the same category throughout: nothing to measure)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)
