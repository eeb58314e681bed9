"""prism_jax.analyses against independent references: scipy's intervals and Spearman, numpy
transcriptions of Eq. 5-7, Python set arithmetic and hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from prism_jax import analyses
from prism_jax.scores import ScoreFile


def np_metrics(g: np.ndarray) -> dict[str, np.ndarray]:
    """Eq. 5-7 in float64, written from the paper (not from prism_jax.metrics)."""
    n = g.shape[-1]
    s = np.sort(g, axis=-1)
    j = np.arange(1, n + 1)
    gini = ((2 * j - n - 1) * s).sum(-1) / (n * s.sum(-1) + 1e-8)
    mu, sigma = g.mean(-1, keepdims=True), g.std(-1, keepdims=True)
    kurt = (((g - mu) / (sigma + 1e-8)) ** 4).mean(-1) - 3
    cv = sigma[..., 0] / (mu[..., 0] + 1e-8)
    return {"gini": gini, "kurtosis": kurt, "cv": cv}


def top_half(x: np.ndarray) -> set[int]:
    """Indices of the floor(n/2) largest scores (no ties in random data)."""
    return set(np.argsort(x)[len(x) - len(x) // 2:].tolist())


def test_mean_ci_matches_scipy_normal_interval():
    x = np.random.default_rng(0).normal(3.0, 2.0, 37)
    mean, half = analyses.mean_ci(x)
    lo, hi = scipy.stats.norm.interval(0.95, loc=x.mean(), scale=scipy.stats.sem(x))
    assert mean == pytest.approx(x.mean())
    assert (mean - half, mean + half) == pytest.approx((lo, hi), rel=1e-9)
    assert analyses.mean_ci([5.0]) == (5.0, 0.0)


@pytest.mark.parametrize("k,n", [(0, 20), (7, 20), (20, 20), (3, 151)])
def test_wilson_matches_scipy(k, n):
    ref = scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    p, lo, hi = analyses.wilson_ci(k, n)
    assert p == k / n
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_paired_difference_hand_values():
    a = {"t1": 10.0, "t2": 20.0, "t3": 30.0, "only_a": 99.0}
    b = {"t1": 8.0, "t2": 20.0, "t3": 26.0}
    out = analyses.paired_difference(a, b)
    d = np.array([2.0, 0.0, 4.0])
    half = 1.959963984540054 * d.std(ddof=1) / np.sqrt(3)
    assert out["n"] == 3 and out["diff"] == pytest.approx(2.0)
    assert (out["low"], out["high"]) == pytest.approx((2.0 - half, 2.0 + half))
    assert out["within_ci"] == (2.0 - half <= 0.0)


def test_consensus_matches_set_arithmetic_and_independence_formula():
    g = np.random.default_rng(1).gamma(2.0, 1.0, (40, 14))
    out = analyses.consensus(g, 0.5)
    sets = {k: top_half(v) for k, v in np_metrics(g.astype(np.float32).astype(np.float64)).items()}
    all3 = sets["gini"] & sets["kurtosis"] & sets["cv"]
    assert out["all_three"] == len(all3)
    assert out["share_of_data"] == pytest.approx(len(all3) / 40)
    assert out["share_of_rl"]["cv"] == pytest.approx(len(all3) / 20)
    assert out["pairs"]["gini&cv"]["observed"] == pytest.approx(
        len(sets["gini"] & sets["cv"]) / 20)
    # three independent uniform halves of 40: P(in all three) = (1/2)^3; a pair: 1/2
    assert out["expected_random"]["share_of_data"] == pytest.approx(0.125)
    assert out["expected_random"]["share_of_rl"]["gini"] == pytest.approx(0.25)
    assert out["pairs"]["kurtosis&cv"]["expected_random"] == pytest.approx(0.5)


def test_agreement_matches_scipy_spearman():
    rng = np.random.default_rng(2)
    g = rng.gamma(2.0, 1.0, (30, 14)).astype(np.float32)
    counts = rng.integers(100, 5000, 14)
    out = analyses.agreement(g, counts)
    raw = np_metrics(g.astype(np.float64))
    normed = np_metrics(g.astype(np.float64) / np.sqrt(counts))
    for k in ("gini", "kurtosis", "cv"):
        ref = scipy.stats.spearmanr(raw[k], normed[k]).statistic
        assert out["rho"][k] == pytest.approx(ref, abs=1e-6)
        assert out["raw"][k] == pytest.approx(raw[k], rel=1e-4)


def _traj(i, env, actions, task_type):
    turns = [{"observation": "o", "response": f"<think>x</think><action>{a}</action>"}
             for a in actions]
    return {"id": f"t{i}", "env": env, "task_type": task_type, "turns": turns,
            "n_steps": len(actions)}


def test_routed_profile_hand_counts():
    recs = [_traj(0, "webshop", ["search[a b]", "click[x]", "click[buy now]"], "beauty"),
            _traj(1, "webshop", ["search[a]", "click[y]", "search[b]", "click[z]", "click[buy now]"],
                  "food"),
            _traj(2, "webshop", ["search[q]", "click[buy now]"], "beauty"),
            _traj(3, "webshop", ["search[q]", "search[r]", "search[s]", "click[w]"], "food")]
    prof = analyses.routed_profile(recs, [False, True, False, True])
    assert prof["sft"]["n"] == 2 and prof["rl"]["n"] == 2
    assert prof["sft"]["steps"] == pytest.approx(2.5) and prof["rl"]["steps"] == pytest.approx(4.5)
    assert prof["sft"]["searches"] == pytest.approx(1.0) and prof["rl"]["searches"] == pytest.approx(2.5)
    assert prof["sft"]["task_type"] == {"beauty": 1.0} and prof["rl"]["task_type"] == {"food": 1.0}
    d = prof["difference"]["searches"]
    half = 1.959963984540054 * np.sqrt(np.var([2, 3], ddof=1) / 2 + np.var([1, 1], ddof=1) / 2)
    assert d["diff"] == pytest.approx(1.5)
    assert (d["low"], d["high"]) == pytest.approx((1.5 - half, 1.5 + half))
    alf = analyses.trajectory_features(_traj(9, "alfworld", ["go to desk 1", "take pen 1 from desk 1",
                                                            "go to shelf 2"], "pick"))
    assert alf == {"steps": 3, "searches": 2}


def _run(label, seed, scores, sizes=(0, 0)):
    eps = [{"split": "test", "task_id": str(t), "score": s, "won": s == 1.0}
           for t, s in enumerate(scores)]
    return label, {"seed": seed, "split_sizes": {"sft": sizes[0], "rl": sizes[1]}}, eps


def test_heldout_rows_and_paired_comparisons():
    base = [0.0, 0.1, 0.0, 0.2]
    prism = [0.5, 1.0, 0.6, 0.4]
    rand = [0.5, 0.9, 0.7, 0.4]
    out = analyses.heldout([_run("base", 0, base), _run("prism-gini", 0, prism, (2, 2)),
                            _run("random", 0, rand, (2, 2))], "webshop")
    rows = {r["method"]: r for r in out["rows"]}
    assert rows["prism-gini"]["headline"] == pytest.approx(62.5)
    assert rows["prism-gini"]["success_rate"] == pytest.approx(25.0)
    ref = scipy.stats.binomtest(1, 4).proportion_ci(method="wilson")
    assert rows["prism-gini"]["sr_low"] == pytest.approx(100 * ref.low)
    best = out["comparisons"]["prism-gini - base"]
    assert best["diff"] == pytest.approx(100 * np.mean(np.subtract(prism, base)))
    vs = out["comparisons"]["prism-gini - random"]
    assert vs["diff"] == pytest.approx(0.0) and vs["within_ci"]


def test_write_analyses_writes_everything(tmp_path: Path):
    runs = tmp_path / "runs"
    for label, scores in (("base", [0.0, 0.2]), ("prism-gini", [1.0, 0.5]), ("random", [0.5, 0.5])):
        d = runs / label / "seed0"
        (d / "eval").mkdir(parents=True)
        (d / "result.json").write_text(json.dumps({"seed": 0, "split_sizes": {"sft": 2, "rl": 2}}))
        (d / "eval" / "episodes.jsonl").write_text("".join(
            json.dumps({"split": "test", "task_id": str(i), "score": s, "won": s == 1.0}) + "\n"
            for i, s in enumerate(scores)))
    rng = np.random.default_rng(3)
    recs = [_traj(i, "webshop", ["search[a]"] * (1 + i % 3) + ["click[buy now]"], f"type{i % 2}")
            for i in range(12)]
    scores = ScoreFile(path=tmp_path / "s.jsonl", ids=[r["id"] for r in recs][::-1],
                       norms=rng.gamma(2.0, 1.0, (12, 14)).astype(np.float32), num_layers=2,
                       param_counts=rng.integers(10, 100, 14))
    text = analyses.write_analyses(tmp_path / "out", env="webshop", runs_dir=runs, scores=scores,
                                   records=recs, caption="CAPTION")
    for name in ("analyses.md", "analyses.json", "consensus.png", "spearman.png", "routed.png"):
        assert (tmp_path / "out" / name).is_file()
    assert "CAPTION" in text and "prism-gini - random" in text and "Spearman rho" in text
    saved = json.loads((tmp_path / "out" / "analyses.json").read_text())
    assert saved["profile"]["sft"]["n"] + saved["profile"]["rl"]["n"] == 12
