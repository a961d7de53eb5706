"""The numbers behind the results: median and spread of repeats, Bradley-Terry ratings with
bootstrap confidence intervals, and Wilson intervals for pass rates.

Pure Python on purpose: a few hundred votes fit in milliseconds, and the maths stays
readable and testable against hand-computed answers.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Game = tuple[int, int, float]  # (a, b, a's score: 1 win, 0.5 tie, 0 loss)

ELO_SCALE = 400 / math.log(10)  # rating points per unit of log-strength
BASE = 1000.0


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


def bradley_terry(games: Sequence[Game], players: Sequence[int] | None = None,
                  prior: float = 1.0, iterations: int = 500) -> dict[int, float]:
    """Bradley-Terry ratings on the Elo scale (1000 = average), fitted by Hunter's MM.

    A tie is half a win for each side. ``prior`` gives each player that many virtual wins and
    as many virtual losses against a fixed reference player of rating 1000, which keeps an
    unbeaten record finite and pulls thin evidence towards the middle; with ``prior=0`` the
    fit is the plain maximum-likelihood one (then normalised so the geometric mean strength is 1).
    """
    names = sorted(set(players or []) | {p for g in games for p in g[:2]})
    if not names:
        return {}
    wins = {p: 0.0 for p in names}
    pairs: dict[tuple[int, int], float] = {}
    for a, b, score in games:
        wins[a] += score
        wins[b] += 1 - score
        key = (min(a, b), max(a, b))
        pairs[key] = pairs.get(key, 0) + 1
    strength = {p: 1.0 for p in names}
    for _ in range(iterations):
        new: dict[int, float] = {}
        for p in names:
            denominator = prior * 2 / (strength[p] + 1.0) if prior else 0.0
            for (a, b), count in pairs.items():
                if p in (a, b):
                    other = b if p == a else a
                    denominator += count / (strength[p] + strength[other])
            numerator = wins[p] + prior
            new[p] = numerator / denominator if denominator else strength[p]
            new[p] = max(new[p], 1e-12)
        if not prior:
            mean_log = sum(math.log(v) for v in new.values()) / len(new)
            new = {p: v / math.exp(mean_log) for p, v in new.items()}
        change = max(abs(math.log(new[p] / strength[p])) for p in names)
        strength = new
        if change < 1e-10:
            break
    return {p: BASE + ELO_SCALE * math.log(strength[p]) for p in names}


@dataclass
class Rating:
    player: int
    rating: float
    low: float | None  # None with fewer than two votes: no interval to speak of
    high: float | None
    games: int


def rate_with_intervals(votes: Sequence[Sequence[Game]], rounds: int = 300, seed: int = 0,
                        prior: float = 1.0, level: float = 0.95) -> list[Rating]:
    """Ratings with percentile bootstrap intervals, resampling whole votes (the games of one
    multi-way vote are not independent). Sorted best first."""
    games = [g for vote in votes for g in vote]
    players = sorted({p for g in games for p in g[:2]})
    point = bradley_terry(games, players, prior)
    rng = random.Random(seed)
    samples: dict[int, list[float]] = {p: [] for p in players}
    for _ in range(rounds if len(votes) > 1 else 0):
        picked = [g for _ in votes for g in votes[rng.randrange(len(votes))]]
        fitted = bradley_terry(picked, players, prior, iterations=200)
        for p in players:
            samples[p].append(fitted[p])
    count = {p: sum(1 for g in games if p in g[:2]) for p in players}
    tail = (1 - level) / 2
    ratings = []
    for p in players:
        values = sorted(samples[p])
        if not values:
            ratings.append(Rating(p, point[p], None, None, count[p]))
            continue
        low, high = _quantile(values, tail), _quantile(values, 1 - tail)
        ratings.append(Rating(p, point[p], min(low, point[p]), max(high, point[p]), count[p]))
    return sorted(ratings, key=lambda r: -r.rating)


def _quantile(values: list[float], q: float) -> float:
    position = q * (len(values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (position - lower)


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: honest with few trials and 0% or 100%."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)
