"""Bradley–Terry ratings for the arena leaderboard, with bootstrap confidence intervals.

Model: P(i beats j) = σ(β_i − β_j). β is fitted by maximum likelihood (scipy's L-BFGS on the
log-likelihood of the aggregated outcomes) with a weak Gaussian prior (ridge λ = 0.1, σ ≈ 3.2 in
log-strength) so that a model that has won every comparison still gets a finite rating; with a
few dozen votes the prior's pull is negligible.

- A win counts 1 for the winner, a tie counts as half a win for each side.
- "both bad" says nothing about which is better: it is excluded from the fit (and from win
  rates) but counted in each model's vote total.
- Ratings are shown on the familiar Elo scale: 1000 + 400·log10(e)·β, centred so that the
  rated models average 1000. A difference of 400 points means 10:1 odds.
- Confidence intervals: percentile bootstrap over votes (resampling whole votes with
  replacement, refitting each time).
- Rank (as in Chatbot Arena): 1 + the number of models whose lower bound is above this
  model's upper bound, so models whose intervals overlap share a rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from threadpoolctl import threadpool_limits

SCALE = 400.0 / math.log(10.0)  # Elo points per unit of natural-log strength
CENTRE = 1000.0
RIDGE = 0.1
OUTCOME_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}  # score of model A; "both_bad" is excluded


@dataclass(frozen=True)
class Outcome:
    """One vote: `winner` is "a", "b", "tie" or "both_bad" (any object with these fields works,
    e.g. tsukeku.arena.store.Vote)."""

    model_a: str
    model_b: str
    winner: str


@dataclass
class Row:
    model: str
    rank: int | None
    rating: float | None
    ci_low: float | None
    ci_high: float | None
    votes: int  # every vote the model took part in, "both bad" included
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float | None  # (wins + ties/2) / (wins + losses + ties)


@dataclass
class Leaderboard:
    rows: list[Row]
    models: list[str]  # the order of the matrices (same as rows)
    win_rate: list[list[float | None]]  # win_rate[i][j]: share of i's comparisons with j it won
    battles: list[list[int]]  # battles[i][j]: votes between i and j, "both bad" included
    total_votes: int
    n_bootstrap: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def fit_bradley_terry(
    outcomes: Iterable[Outcome], models: Sequence[str] | None = None, *, ridge: float = RIDGE
) -> dict[str, float]:
    """Maximum-likelihood β (natural-log strength, mean 0 over the models) for each model."""
    outcomes = list(outcomes)
    names = _model_names(outcomes, models)
    index = {m: k for k, m in enumerate(names)}
    i, j, s, w = _aggregate(outcomes, index)
    with _one_blas_thread():
        beta = _fit(len(names), i, j, s, w, ridge)
    return dict(zip(names, beta.tolist(), strict=True))


def to_elo(beta: np.ndarray | float) -> np.ndarray | float:
    return CENTRE + SCALE * beta


def leaderboard(
    outcomes: Iterable[Outcome],
    models: Sequence[str] = (),
    *,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    ridge: float = RIDGE,
) -> Leaderboard:
    """Ratings, intervals, counts and the win-rate matrix. `models` adds configured models that
    have no votes yet (they are listed without a rating)."""
    outcomes = list(outcomes)
    names = _model_names(outcomes, models)
    index = {m: k for k, m in enumerate(names)}
    n = len(names)

    wins = np.zeros((n, n))  # wins[a, b]: a beat b (ties add ½ to both)
    battles = np.zeros((n, n), dtype=int)
    counts = {m: {"votes": 0, "wins": 0, "losses": 0, "ties": 0, "both_bad": 0} for m in names}
    for o in outcomes:
        a, b = index[o.model_a], index[o.model_b]
        battles[a, b] += 1
        battles[b, a] += 1
        ca, cb = counts[o.model_a], counts[o.model_b]
        ca["votes"] += 1
        cb["votes"] += 1
        if o.winner == "both_bad":
            ca["both_bad"] += 1
            cb["both_bad"] += 1
            continue
        score = OUTCOME_SCORE[o.winner]
        wins[a, b] += score
        wins[b, a] += 1.0 - score
        if o.winner == "tie":
            ca["ties"] += 1
            cb["ties"] += 1
        else:
            winner, loser = (ca, cb) if o.winner == "a" else (cb, ca)
            winner["wins"] += 1
            loser["losses"] += 1

    compared = wins + wins.T  # comparisons that count for the fit, per pair
    rated = [k for k in range(n) if compared[k].sum() > 0]
    notes: list[str] = []
    ratings: dict[int, tuple[float, float, float]] = {}
    if rated:
        sub = {names[k]: r for r, k in enumerate(rated)}
        rated_outcomes = [o for o in outcomes if o.winner in OUTCOME_SCORE]
        i, j, s, w = _aggregate(rated_outcomes, sub)
        with _one_blas_thread():
            point = to_elo(_fit(len(rated), i, j, s, w, ridge))
            samples = None
            if n_bootstrap > 0 and len(rated) > 1:
                samples = _bootstrap(len(rated), i, j, s, w, n_bootstrap, seed, ridge)
        low, high = point.copy(), point.copy()
        if samples is not None:
            tail = (1.0 - confidence) / 2.0 * 100.0
            low, high = np.percentile(to_elo(samples), [tail, 100.0 - tail], axis=0)
        ratings = {k: (point[r], low[r], high[r]) for r, k in enumerate(rated)}
        notes.append(
            f"Bradley–Terry, ties = ½ win each, 'both bad' excluded from the fit; "
            f"{confidence:.0%} percentile bootstrap over {n_bootstrap} resamples of the votes"
        )
    unrated = [names[k] for k in range(n) if k not in ratings]
    if unrated:
        notes.append("no comparisons yet (not rated): " + ", ".join(unrated))

    rows = []
    for k, m in enumerate(names):
        c = counts[m]
        decided = c["wins"] + c["losses"] + c["ties"]
        r = ratings.get(k)
        rows.append(
            Row(
                model=m,
                rank=None,
                rating=None if r is None else round(float(r[0]), 1),
                ci_low=None if r is None else round(float(r[1]), 1),
                ci_high=None if r is None else round(float(r[2]), 1),
                votes=c["votes"],
                wins=c["wins"],
                losses=c["losses"],
                ties=c["ties"],
                both_bad=c["both_bad"],
                win_rate=None if decided == 0 else round((c["wins"] + c["ties"] / 2) / decided, 4),
            )
        )
    for row in rows:
        if row.ci_high is not None:
            row.rank = 1 + sum(1 for o in rows if o.ci_low is not None and o.ci_low > row.ci_high)
    order = sorted(
        range(n), key=lambda k: (rows[k].rating is None, -(rows[k].rating or 0.0), names[k])
    )
    rate = [
        [
            None if compared[a, b] == 0 else round(float(wins[a, b] / compared[a, b]), 4)
            for b in order
        ]
        for a in order
    ]
    return Leaderboard(
        rows=[rows[k] for k in order],
        models=[names[k] for k in order],
        win_rate=rate,
        battles=[[int(battles[a, b]) for b in order] for a in order],
        total_votes=len(outcomes),
        n_bootstrap=n_bootstrap,
        notes=notes,
    )


# -- internals -----------------------------------------------------------------------------


def _one_blas_thread():
    # The problems are tiny (models × models); a multi-threaded BLAS only adds hand-offs, and
    # on a busy machine its spinning threads made a 50 ms leaderboard take seconds.
    return threadpool_limits(limits=1, user_api="blas")


def _model_names(outcomes: list, models: Sequence[str] | None) -> list[str]:
    seen = dict.fromkeys(models or ())
    for o in outcomes:
        seen.setdefault(o.model_a)
        seen.setdefault(o.model_b)
    return sorted(seen)


def _aggregate(
    outcomes: Iterable, index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (i, j, score) outcomes and how often each occurred: the likelihood only depends
    on these counts, so fits and bootstraps cost O(categories), not O(votes)."""
    tally: dict[tuple[int, int, float], int] = {}
    for o in outcomes:
        if o.winner not in OUTCOME_SCORE:
            continue
        key = (index[o.model_a], index[o.model_b], OUTCOME_SCORE[o.winner])
        tally[key] = tally.get(key, 0) + 1
    keys = list(tally)
    return (
        np.array([k[0] for k in keys], dtype=int),
        np.array([k[1] for k in keys], dtype=int),
        np.array([k[2] for k in keys], dtype=float),
        np.array([tally[k] for k in keys], dtype=float),
    )


def _fit(
    n: int, i: np.ndarray, j: np.ndarray, s: np.ndarray, w: np.ndarray, ridge: float
) -> np.ndarray:
    if n == 0:
        return np.zeros(0)

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        d = beta[i] - beta[j]
        nll = -np.sum(w * (s * log_expit(d) + (1.0 - s) * log_expit(-d)))
        nll += 0.5 * ridge * float(beta @ beta)
        g_d = w * (expit(d) - s)
        grad = np.bincount(i, g_d, minlength=n) - np.bincount(j, g_d, minlength=n)
        return float(nll), grad + ridge * beta

    result = minimize(objective, np.zeros(n), jac=True, method="L-BFGS-B", options={"gtol": 1e-8})
    beta = result.x
    return beta - beta.mean()


def _bootstrap(
    n: int,
    i: np.ndarray,
    j: np.ndarray,
    s: np.ndarray,
    w: np.ndarray,
    rounds: int,
    seed: int,
    ridge: float,
) -> np.ndarray:
    """β refitted on `rounds` resamples of the votes (multinomial over the outcome categories,
    which is the same as drawing the votes with replacement)."""
    rng = np.random.default_rng(seed)
    total = int(w.sum())
    draws = rng.multinomial(total, w / w.sum(), size=rounds).astype(float)
    return np.stack([_fit(n, i, j, s, draw, ridge) for draw in draws])
