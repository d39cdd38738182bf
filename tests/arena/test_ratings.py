"""Bradley–Terry on synthetic votes drawn from known strengths."""

import math

import numpy as np
import pytest

from tsukeku.arena.ratings import SCALE, Outcome, fit_bradley_terry, leaderboard

TRUE_BETA = {"alpha": 1.2, "beta": 0.5, "gamma": 0.0, "delta": -0.9}


def simulate(n_votes: int, seed: int, tie_rate: float = 0.1, both_bad_rate: float = 0.05):
    """Votes from the BT model: a random pair, a random order, a verdict with P(A) = σ(βA − βB);
    some votes become ties or "both bad" independently of strength (so they carry no signal)."""
    rng = np.random.default_rng(seed)
    names = list(TRUE_BETA)
    out = []
    for _ in range(n_votes):
        a, b = rng.choice(len(names), size=2, replace=False)
        ma, mb = names[a], names[b]
        u = rng.random()
        if u < both_bad_rate:
            winner = "both_bad"
        elif u < both_bad_rate + tie_rate:
            winner = "tie"
        else:
            p = 1.0 / (1.0 + math.exp(-(TRUE_BETA[ma] - TRUE_BETA[mb])))
            winner = "a" if rng.random() < p else "b"
        out.append(Outcome(ma, mb, winner))
    return out


def true_elo() -> dict[str, float]:
    mean = sum(TRUE_BETA.values()) / len(TRUE_BETA)
    return {m: 1000.0 + SCALE * (b - mean) for m, b in TRUE_BETA.items()}


def test_recovers_the_true_ordering_and_strengths():
    beta = fit_bradley_terry(simulate(3000, seed=1, tie_rate=0.0))
    assert sorted(beta, key=beta.get, reverse=True) == ["alpha", "beta", "gamma", "delta"]
    mean = sum(TRUE_BETA.values()) / len(TRUE_BETA)
    for m, b in TRUE_BETA.items():
        assert beta[m] == pytest.approx(b - mean, abs=0.15)


def test_ordering_recovered_with_ties_and_both_bad():
    board = leaderboard(simulate(2000, seed=2), n_bootstrap=50)
    assert board.models == ["alpha", "beta", "gamma", "delta"]
    assert [r.model for r in board.rows] == board.models
    assert all(r.ci_low <= r.rating <= r.ci_high for r in board.rows)


def test_bootstrap_intervals_cover_the_truth_in_most_repetitions():
    truth = true_elo()
    covered = total = 0
    for rep in range(20):
        # No ties here: simulated ties are strength-blind coin flips, which the BT likelihood
        # (tie = ½ win) reads as evidence of equality, so they shrink the fit away from TRUE_BETA.
        votes = simulate(800, seed=100 + rep, tie_rate=0.0)
        board = leaderboard(votes, n_bootstrap=150, seed=rep)
        for row in board.rows:
            total += 1
            covered += row.ci_low <= truth[row.model] <= row.ci_high
    # Nominal 95 % (about 94 % measured over 30 repetitions); the weak prior and the bootstrap's
    # own error leave some slack.
    assert covered / total >= 0.85, (covered, total)


def test_ties_are_half_wins_and_both_bad_is_not_evidence():
    only_ties = [Outcome("x", "y", "tie")] * 20
    beta = fit_bradley_terry(only_ties)
    assert beta["x"] == pytest.approx(beta["y"], abs=1e-6)

    # 10 wins + 10 ties for x ≡ 15 wins against 5 in the likelihood.
    mixed = [Outcome("x", "y", "a")] * 10 + [Outcome("x", "y", "tie")] * 10
    plain = [Outcome("x", "y", "a")] * 15 + [Outcome("x", "y", "b")] * 5
    assert fit_bradley_terry(mixed)["x"] == pytest.approx(fit_bradley_terry(plain)["x"], abs=1e-5)

    with_bad = plain + [Outcome("x", "y", "both_bad")] * 30
    assert fit_bradley_terry(with_bad)["x"] == pytest.approx(fit_bradley_terry(plain)["x"])
    board = leaderboard(with_bad, n_bootstrap=20)
    x = next(r for r in board.rows if r.model == "x")
    assert (x.votes, x.wins, x.losses, x.both_bad) == (50, 15, 5, 30)


def test_unbeaten_model_gets_a_finite_rating():
    beta = fit_bradley_terry([Outcome("champ", "rest", "a")] * 40)
    assert math.isfinite(beta["champ"]) and beta["champ"] > beta["rest"]


def test_position_does_not_matter():
    # The same verdicts with A/B swapped give the same ratings.
    votes = simulate(500, seed=5, tie_rate=0.1)
    swapped = [
        Outcome(o.model_b, o.model_a, {"a": "b", "b": "a"}.get(o.winner, o.winner)) for o in votes
    ]
    one, two = fit_bradley_terry(votes), fit_bradley_terry(swapped)
    for m in one:
        assert one[m] == pytest.approx(two[m], abs=1e-6)


def test_win_rate_matrix_counts_and_unrated_models():
    votes = [
        Outcome("p", "q", "a"),
        Outcome("q", "p", "a"),
        Outcome("p", "q", "tie"),
        Outcome("p", "r", "both_bad"),
    ]
    board = leaderboard(votes, models=["p", "q", "r", "s"], n_bootstrap=30)
    idx = {m: k for k, m in enumerate(board.models)}
    p, q, r = idx["p"], idx["q"], idx["r"]
    assert board.win_rate[p][q] == pytest.approx(0.5)  # 1 win + ½ tie out of 3
    assert board.win_rate[q][p] == pytest.approx(0.5)
    assert board.win_rate[p][r] is None  # only a "both bad" between them
    assert board.battles[p][q] == 3 and board.battles[p][r] == 1
    rows = {row.model: row for row in board.rows}
    assert rows["r"].rating is None and rows["r"].votes == 1 and rows["r"].rank is None
    assert rows["s"].rating is None and rows["s"].votes == 0
    assert board.models[-2:] == ["r", "s"]  # unrated models go last
    assert board.total_votes == 4
    assert any("not rated" in n for n in board.notes)


def test_rank_is_shared_when_intervals_overlap():
    board = leaderboard(simulate(3000, seed=9, tie_rate=0.0), n_bootstrap=100)
    ranks = {r.model: r.rank for r in board.rows}
    assert ranks["alpha"] == 1 and ranks["delta"] == 4  # well separated at 3000 votes
    few = leaderboard(simulate(12, seed=9), n_bootstrap=100)
    assert min(r.rank for r in few.rows) == 1
    assert max(r.rank for r in few.rows) < 4  # a dozen votes can't separate four models


def test_empty_leaderboard():
    board = leaderboard([], models=["a", "b"])
    assert board.total_votes == 0 and all(r.rating is None for r in board.rows)
