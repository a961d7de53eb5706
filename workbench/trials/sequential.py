"""Pass-rate verdicts that stay honest however often they are looked at.

A verdict ("meets 80%", "fails 80%") is checked after every prompt while a trial runs (to stop
a contender early), every time someone opens an unfinished trial, and again when a suite is
extended. A fixed-n interval checked like that is wrong far more often than its 95% says
(a contender exactly at 80% is "shown to meet 80%" 9.6% of the time within 100 prompts when
Wilson's bound is checked after each). So the decision here is a *confidence sequence*: two
beta-binomial mixture martingales, one betting that the rate is above the bar and one that it
is below. Under the bar's side of the question each is a nonnegative supermartingale
starting at 1, so by Ville's inequality it ever reaches ``1/alpha`` with probability at most
``alpha``: the verdict may be read after every prompt, at a stop, or after the suite grows,
and the chance of a false "meets" stays at most ``alpha`` (2.5%: one side of a 95% interval).

The mixture is uniform over the rates on the martingale's side of the bar (``(bar, 1)`` for
"meets"), so it depends only on the number of prompts and the passes, not on their order.
Prompts with repeats score a share in [0, 1]; the likelihood ratio is convex in that score, so
the supermartingale property holds for fractional scores too.

:func:`clopper_pearson` is the exact fixed-n interval (beta quantiles found by bisection on
the regularized incomplete beta, computed with ``math.lgamma`` and a continued fraction, so
no scipy): conservative at every n, unlike Wilson's. :func:`holm` keeps the chance of any
false "meets" across several contenders at ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: One side of a 95% interval: the largest chance of a false "meets" (or a false "fails").
ALPHA = 0.025
_EPS = 1e-15
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (Lentz's method, Numerical Recipes 6.4)."""
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1) < _EPS:
            break
    return h


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b) for a, b > 0 (the Beta(a, b) CDF at x)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (the CDF rises with x): 60 halvings, 1e-18."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if betainc(a, b, middle) < q:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def clopper_pearson(successes: float, total: float, alpha: float = ALPHA
                    ) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval, ``alpha`` on each side: 2.5% gives the 95%
    interval. At the bar, the chance that the lower bound reaches it is at most ``alpha``
    for every n (tests/core/test_trials_sequential.py checks n = 1..100 against exact
    binomial sums). ``successes`` may be fractional (prompts whose repeats partly pass)."""
    if total <= 0:
        return 0.0, 1.0
    k = min(max(successes, 0.0), total)
    low = 0.0 if k <= 0 else beta_quantile(alpha, k, total - k + 1)
    high = 1.0 if k >= total else beta_quantile(1 - alpha, k + 1, total - k)
    return low, high


# The confidence sequence -------------------------------------------------------------------

def _log_tail_mass(a: float, b: float, bar: float, upper: bool) -> float:
    """log of the integral of q^(a-1) (1-q)^(b-1) over (bar, 1) (``upper``) or (0, bar)."""
    cdf = betainc(a, b, bar)
    mass = 1 - cdf if upper else cdf
    if mass <= 0:  # the whole Beta(a, b) lies on the other side of the bar
        return -math.inf
    return _log_beta(a, b) + math.log(mass)


def log_evidence(successes: float, total: float, bar: float, above: bool) -> float:
    """log of the mixture martingale after ``total`` prompts with ``successes`` passes: the
    evidence that the pass rate is above the bar (``above``) or below it."""
    if total <= 0:
        return 0.0
    k = min(max(successes, 0.0), total)
    f = total - k
    mixture = _log_tail_mass(k + 1, f + 1, bar, upper=above)
    prior = math.log(1 - bar if above else bar)  # the uniform prior's normalising width
    null = k * math.log(bar) + f * math.log1p(-bar)
    return mixture - prior - null


def meets_p(successes: float, total: float, bar: float) -> float:
    """An anytime-valid p-value for "the pass rate is below the bar": 1 / the evidence."""
    return min(1.0, math.exp(-log_evidence(successes, total, bar, above=True)))


def fails_p(successes: float, total: float, bar: float) -> float:
    """An anytime-valid p-value for "the pass rate is at or above the bar"."""
    return min(1.0, math.exp(-log_evidence(successes, total, bar, above=False)))


MEETS, FAILS, UNSURE = "meets", "fails", "not enough evidence"


def settle(successes: float, total: float, bar: float, alpha: float = ALPHA) -> str:
    """meets, fails or not enough evidence, valid whenever it is read."""
    if total <= 0:
        return UNSURE
    if meets_p(successes, total, bar) <= alpha:
        return MEETS
    if fails_p(successes, total, bar) <= alpha:
        return FAILS
    return UNSURE


def sequence_bounds(successes: float, total: float, alpha: float = ALPHA
                    ) -> tuple[float, float]:
    """The confidence sequence at this point: the bars not yet ruled out on either side
    (found by bisection: the evidence for "above" falls as the bar rises)."""
    if total <= 0:
        return 0.0, 1.0

    def edge(below: Callable[[float], bool]) -> tuple[float, float]:
        """Where ``below`` (true for low bars, false for high ones) turns, within 2^-40."""
        low, high = 0.0, 1.0
        for _ in range(40):
            middle = (low + high) / 2
            if below(middle):
                low = middle
            else:
                high = middle
        return low, high

    lowest = edge(lambda bar: meets_p(successes, total, bar) <= alpha)[0]
    highest = edge(lambda bar: fails_p(successes, total, bar) > alpha)[1]
    return lowest, highest


def more_to_meet(successes: float, total: float, bar: float, alpha: float = ALPHA,
                 limit: int = 100_000) -> int | None:
    """How many more prompts, all passing, would show the bar by the same rule; None when
    no number up to ``limit`` does. The rule holds however many are added, so the figure
    is an honest target, not an invitation to add prompts until it happens to pass."""
    if settle(successes, total, bar, alpha) == MEETS:
        return 0
    if meets_p(successes + limit, total + limit, bar) > alpha:
        return None
    low, high = 0, limit
    while high - low > 1:
        middle = (low + high) // 2
        if meets_p(successes + middle, total + middle, bar) <= alpha:
            high = middle
        else:
            low = middle
    return high


def fewest_to_fail(successes: float, total: float, bar: float, alpha: float = ALPHA,
                   limit: int = 100_000) -> int | None:
    """How many more prompts, all failing, would show the rate below the bar."""
    if fails_p(successes, total, bar) <= alpha:
        return 0
    for more in range(1, limit + 1):
        if fails_p(successes, total + more, bar) <= alpha:
            return more
    return None


@dataclass
class Holm:
    """Which hypotheses Holm's step-down procedure rejects, and the level each was held to."""

    rejected: list[bool]
    levels: list[float]


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> Holm:
    """Holm's step-down procedure: the smallest p against alpha/k, the next against
    alpha/(k-1)..., stopping at the first that is not small enough. The chance that any
    true null is rejected is at most ``alpha`` whatever the dependence between them."""
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    rejected = [False] * k
    levels = [alpha / k if k else alpha] * k
    going = True
    for rank, i in enumerate(order):
        levels[i] = alpha / (k - rank)
        if going and p_values[i] <= levels[i]:
            rejected[i] = True
        else:
            going = False
    return Holm(rejected, levels)


def stop_verdict(successes: float, total: float, bar: float, contenders: int = 1
                 ) -> str | None:
    """Whether a running contender's pass rate is settled, so its other prompts can wait:
    "meets" at Bonferroni's ``alpha / contenders`` (the strictest of Holm's levels, so the
    final recommendation agrees), "fails" at ``alpha``; None while it is not."""
    if total <= 0:
        return None
    if meets_p(successes, total, bar) <= ALPHA / max(1, contenders):
        return MEETS
    if fails_p(successes, total, bar) <= ALPHA:
        return FAILS
    return None


def stop_text(outcome: str, after: int, total: int, bar: float) -> str:
    """"stopped after 14 of 40 prompts: the pass rate cannot reach 80%"."""
    why = (f"the pass rate cannot reach {bar:.0%}" if outcome == FAILS else
           f"the pass rate is shown to reach {bar:.0%}")
    return f"stopped after {after} of {total} prompts: {why}"
