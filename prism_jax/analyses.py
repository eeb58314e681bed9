"""What a pipeline run shows at any scale: PRISM's own analyses and held-out intervals.

    consensus   Fig. 5 / appendix D: how far the RL sets of Gini, kurtosis and CV agree, beside
                what three independent random splits of the same sizes would share.
    agreement   appendix G: Spearman rho between each metric on the raw norms g and on
                g / sqrt(param count) (the paper reports rho > 0.99).
    profile     what the probe separated: the SFT- and RL-routed trajectories' lengths, number of
                search steps and task-type mix, with the RL - SFT difference and its 95% interval.
    held-out    every method's held-out score and success rate with 95% intervals, the best
                trained method against the base and PRISM against Random, paired by episode.

Intervals are normal-approximation 95% intervals (z = 1.96): a mean's is 1.96 s / sqrt(n) with the
sample standard deviation (ddof=1); a success rate's is Wilson's score interval; a paired
difference's is the mean's interval of the per-episode differences. Two methods are "within the
interval" of each other when the paired difference's interval contains 0.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from prism_jax import metrics, routing
from prism_jax.files import staged_outputs

Z95 = 1.959963984540054  # the standard normal's 0.975 quantile
# What counts as a "search step" per environment: WebShop's search action; ALFWorld has no
# search box, so moving to a receptacle (the agent looking for an object) is its search.
SEARCH_ACTIONS = {"webshop": re.compile(r"^search\["), "alfworld": re.compile(r"^go to ")}
_ACTION = re.compile(r"<action>(.*?)</action>", re.S | re.I)


# ------------------------------------------------------------------------------ intervals
def mean_ci(x) -> tuple[float, float]:
    """(mean, half-width of its normal 95% interval) of float [n]; the half-width is 0 for n < 2."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    half = Z95 * float(np.std(x, ddof=1)) / math.sqrt(x.size) if x.size > 1 else 0.0
    return float(np.mean(x)), half


def wilson_ci(successes: int, n: int) -> tuple[float, float, float]:
    """(p, low, high): a proportion and its Wilson score 95% interval."""
    if n <= 0:
        raise ValueError("wilson_ci needs n >= 1")
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return p, centre - half, centre + half


def paired_difference(a: dict, b: dict) -> dict:
    """a - b over the keys both have (episode -> value): mean, 95% interval, n and whether the
    interval contains 0."""
    keys = sorted(set(a) & set(b))
    if not keys:
        raise ValueError("no episode in common to pair")
    d = np.array([a[k] - b[k] for k in keys], np.float64)
    mean, half = mean_ci(d)
    return {"diff": mean, "low": mean - half, "high": mean + half, "n": len(keys),
            "within_ci": bool(mean - half <= 0.0 <= mean + half)}


# ------------------------------------------------------------------------------ probe analyses
def consensus(norms, rl_ratio: float = 0.5) -> dict:
    """`routing.consensus` of the three metrics' RL sets at `rl_ratio`, plus each pair's overlap
    |A n B| / |A| beside its independent-split expectation |B| / n. norms: float [n, 7L]."""
    values = metrics.all_metrics(np.asarray(norms, np.float32))
    masks = {k: routing.ratio_split(np.asarray(values[k], np.float64), rl_ratio).rl_mask()
             for k in metrics.CONCENTRATION_METRICS}
    out = routing.consensus(masks)
    n = out["n"]
    out["pairs"] = {f"{a}&{b}": {"observed": float((masks[a] & masks[b]).sum() / max(masks[a].sum(), 1)),
                                 "expected_random": float(masks[b].sum() / n)}
                    for i, a in enumerate(masks) for b in list(masks)[i + 1:]}
    out["rl_ratio"] = rl_ratio
    return out


def agreement(norms, param_counts) -> dict:
    """Appendix G: {"rho": {metric: Spearman rho}, "raw"/"normalized": {metric: float [n]}}."""
    g = np.asarray(norms, np.float32)
    raw = metrics.all_metrics(g)
    normed = metrics.all_metrics(metrics.normalize_by_param_count(g, param_counts))
    names = metrics.CONCENTRATION_METRICS
    return {"rho": routing.normalization_rank_agreement(g, param_counts),
            "raw": {k: np.asarray(raw[k], np.float64) for k in names},
            "normalized": {k: np.asarray(normed[k], np.float64) for k in names}}


def _actions(record: dict) -> list[str]:
    if record.get("turns"):
        texts = [t.get("response") or "" for t in record["turns"]]
    else:
        texts = [m["content"] for m in record.get("messages", ()) if m["role"] == "assistant"]
    found = [_ACTION.search(t) for t in texts]
    return [m.group(1).strip().lower() for m in found if m]


def trajectory_features(record: dict, n_tokens: int | None = None) -> dict:
    """steps, searches (see SEARCH_ACTIONS), tokens (the probe's count, when given)."""
    actions = _actions(record)
    search = SEARCH_ACTIONS.get(record.get("env", ""), SEARCH_ACTIONS["webshop"])
    out = {"steps": int(record.get("n_steps") or len(actions)),
           "searches": sum(bool(search.match(a)) for a in actions)}
    if n_tokens is not None:
        out["tokens"] = int(n_tokens)
    return out


def _welch(rl: np.ndarray, sft: np.ndarray) -> dict:
    diff = float(rl.mean() - sft.mean()) if len(rl) and len(sft) else float("nan")
    var = (rl.var(ddof=1) / len(rl) if len(rl) > 1 else 0.0) + \
        (sft.var(ddof=1) / len(sft) if len(sft) > 1 else 0.0)
    half = Z95 * math.sqrt(var)
    return {"diff": diff, "low": diff - half, "high": diff + half}


def routed_profile(records: Sequence[dict], rl_mask, n_tokens: Sequence[int] | None = None) -> dict:
    """How the SFT- and RL-routed trajectories differ. records[i] is routed to RL where
    rl_mask[i]. Returns {"sft"/"rl": {n, mean of each feature, task_type shares}, "difference":
    {feature: RL - SFT mean with Welch's normal 95% interval}}."""
    rl_mask = np.asarray(rl_mask, bool)
    if len(rl_mask) != len(records):
        raise ValueError(f"{len(records)} records but {len(rl_mask)} routing flags")
    feats = [trajectory_features(r, None if n_tokens is None else n_tokens[i])
             for i, r in enumerate(records)]
    names = list(feats[0]) if feats else []
    out: dict = {"features": names}
    for side, sel in (("sft", ~rl_mask), ("rl", rl_mask)):
        idx = np.flatnonzero(sel)
        types = Counter(str(records[i].get("task_type")) for i in idx)
        out[side] = {"n": len(idx),
                     **{k: float(np.mean([feats[i][k] for i in idx])) if len(idx) else None
                        for k in names},
                     "task_type": {t: c / len(idx) for t, c in sorted(types.items())}}
    out["difference"] = {k: _welch(np.array([f[k] for f, m in zip(feats, rl_mask) if m], float),
                                   np.array([f[k] for f, m in zip(feats, rl_mask) if not m], float))
                         for k in names}
    return out


# ------------------------------------------------------------------------------ held-out results
def _episode_value(env: str, ep: dict) -> float:
    """The headline per episode: WebShop score (0-100), else success (0 or 100)."""
    return 100.0 * float(ep["score"]) if env == "webshop" else 100.0 * bool(ep["won"])


def heldout(runs: Sequence[tuple[str, dict, list[dict]]], env: str, *, base: str = "base",
            prism: str | None = None, random: str = "random") -> dict:
    """Held-out rows with 95% intervals and the paired comparisons.

    runs: (method label, result record, episode records) per method and seed; episodes carry
    "split", "task_id", "won" and (WebShop) "score". Episodes are paired across methods by
    (seed, split, task id): every method plays the same held-out tasks.
    """
    by_method: dict[str, dict] = {}
    for label, result, episodes in runs:
        row = by_method.setdefault(label, {"values": {}, "wins": {}, "sizes": result["split_sizes"],
                                           "seeds": []})
        row["seeds"].append(result["seed"])
        for ep in episodes:
            key = (result["seed"], ep.get("split", ""), str(ep["task_id"]))
            row["values"][key] = _episode_value(env, ep)
            row["wins"][key] = 100.0 * bool(ep["won"])
    rows = []
    for label, row in by_method.items():
        v = list(row["values"].values())
        mean, half = mean_ci(v)
        p, lo, hi = wilson_ci(int(sum(w > 0 for w in row["wins"].values())), len(row["wins"]))
        rows.append({"method": label, "n": len(v), "seeds": sorted(set(row["seeds"])),
                     "sft": row["sizes"]["sft"], "rl": row["sizes"]["rl"],
                     "headline": mean, "headline_ci": half,
                     "success_rate": 100 * p, "sr_low": 100 * lo, "sr_high": 100 * hi})
    out: dict = {"env": env, "rows": rows, "comparisons": {}}
    trained = [r for r in rows if r["method"] != base]
    if base in by_method and trained:
        best = max(trained, key=lambda r: r["headline"])["method"]
        out["comparisons"][f"{best} - {base}"] = paired_difference(
            by_method[best]["values"], by_method[base]["values"])
    prism = prism or next((m for m in by_method if m.startswith("prism")), None)
    if prism in by_method and random in by_method:
        out["comparisons"][f"{prism} - {random}"] = paired_difference(
            by_method[prism]["values"], by_method[random]["values"])
    return out


def load_runs(runs_dir: str | os.PathLike) -> list[tuple[str, dict, list[dict]]]:
    """(method label, result.json, eval/episodes.jsonl records) of every finished run under
    runs_dir/<label>/seed<k>/."""
    out = []
    for result in sorted(Path(runs_dir).glob("*/seed*/result.json")):
        episodes = result.parent / "eval" / "episodes.jsonl"
        if not episodes.is_file():
            continue
        eps = [json.loads(line) for line in episodes.read_text().splitlines() if line.strip()]
        out.append((result.parent.parent.name, json.loads(result.read_text()), eps))
    return out


# ------------------------------------------------------------------------------ report
def _fmt_ci(mean: float, half: float) -> str:
    return f"{mean:.1f} ± {half:.1f}"


def _comparison_line(name: str, c: dict, unit: str) -> str:
    verdict = ("within the 95% interval (not distinguishable at this size)" if c["within_ci"]
               else "outside the 95% interval")
    return (f"- {name}: {c['diff']:+.1f} {unit} (95% CI {c['low']:+.1f} to {c['high']:+.1f}, "
            f"{c['n']} paired episodes): {verdict}.")


def markdown(held: dict | None, cons: dict | None, agr: dict | None, prof: dict | None,
             caption: str = "") -> str:
    """The analyses as Markdown (what the pipeline prints and writes to analyses.md)."""
    lines = ["# Held-out results and PRISM's analyses", ""]
    if held:
        unit = "score points" if held["env"] == "webshop" else "success-rate points"
        head = "Score" if held["env"] == "webshop" else "Success rate (%)"
        lines += [f"## Held-out evaluation ({held['env']})", "",
                  f"| Method | SFT : RL trajectories | {head} (95% CI) | SR % (95% CI) | episodes |",
                  "|---|---|---|---|---|"]
        for r in held["rows"]:
            lines.append(f"| {r['method']} | {r['sft']} : {r['rl']} | "
                         f"{_fmt_ci(r['headline'], r['headline_ci'])} | {r['success_rate']:.1f} "
                         f"[{r['sr_low']:.1f}, {r['sr_high']:.1f}] | {r['n']} |")
        lines += [""] + ([caption, ""] if caption else [])
        lines += [_comparison_line(k, c, unit) for k, c in held["comparisons"].items()] + [""]
    if cons:
        exp = cons["expected_random"]
        lines += [f"## (a) High-conflict consensus of the three metrics (Fig. 5), RL share "
                  f"{cons['rl_ratio']:g}", "",
                  f"{cons['all_three']} of {cons['n']} trajectories are in all three RL sets: "
                  f"{100 * cons['share_of_data']:.1f}% of the data (independent random splits: "
                  f"{100 * exp['share_of_data']:.1f}%), {100 * cons['share_of_union']:.1f}% of the "
                  f"union (random: {100 * exp['share_of_union']:.1f}%).", "",
                  "| RL set | share also in both others | random expectation |", "|---|---|---|"]
        lines += [f"| {k} | {100 * v:.1f}% | {100 * exp['share_of_rl'][k]:.1f}% |"
                  for k, v in cons["share_of_rl"].items()]
        lines += ["", "| pair | share of the first's RL set in the second's | random |", "|---|---|---|"]
        lines += [f"| {k} | {100 * v['observed']:.1f}% | {100 * v['expected_random']:.1f}% |"
                  for k, v in cons["pairs"].items()] + [""]
    if agr:
        lines += ["## (b) Raw vs sqrt(parameter-count)-normalised scores (appendix G)", "",
                  "Spearman rho between each metric on g and on g / sqrt(param count): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in agr["rho"].items())
                  + " (the paper reports rho > 0.99).", ""]
    if prof:
        lines += ["## (c) What the probe separated: SFT- vs RL-routed trajectories", "",
                  "| | SFT (low conflict) | RL (high conflict) | RL - SFT (95% CI) |", "|---|---|---|---|",
                  f"| trajectories | {prof['sft']['n']} | {prof['rl']['n']} | |"]
        for k in prof["features"]:
            d = prof["difference"][k]
            lines.append(f"| mean {k} | {prof['sft'][k]:.2f} | {prof['rl'][k]:.2f} | "
                         f"{d['diff']:+.2f} ({d['low']:+.2f} to {d['high']:+.2f}) |")
        types = sorted(set(prof["sft"]["task_type"]) | set(prof["rl"]["task_type"]))
        for t in types:
            lines.append(f"| share {t} | {100 * prof['sft']['task_type'].get(t, 0):.0f}% | "
                         f"{100 * prof['rl']['task_type'].get(t, 0):.0f}% | |")
        lines.append("")
    return "\n".join(lines)


def _plot_consensus(cons: dict, path) -> None:
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{k}: in all 3" for k in cons["share_of_rl"]] + list(cons["pairs"])
    observed = list(cons["share_of_rl"].values()) + [v["observed"] for v in cons["pairs"].values()]
    expected = list(cons["expected_random"]["share_of_rl"].values()) + \
        [v["expected_random"] for v in cons["pairs"].values()]
    x = np.arange(len(labels))
    ax.bar(x - 0.2, [100 * v for v in observed], 0.4, label="observed")
    ax.bar(x + 0.2, [100 * v for v in expected], 0.4, label="independent random splits")
    ax.set_xticks(x, labels, rotation=20, fontsize=8)
    ax.set_ylabel("% of the RL set")
    ax.set_title(f"High-conflict consensus: {cons['all_three']} of {cons['n']} in all three RL sets")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120, format="png")


def _plot_agreement(agr: dict, path) -> None:
    fig = Figure(figsize=(9.0, 3.2), layout="constrained")
    for i, k in enumerate(agr["rho"]):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.scatter(agr["raw"][k], agr["normalized"][k], s=8)
        ax.set_xlabel(f"{k} (raw g)")
        ax.set_ylabel(f"{k} (g / sqrt(params))")
        ax.set_title(f"Spearman rho = {agr['rho'][k]:.3f}", fontsize=9)
    fig.savefig(path, dpi=120, format="png")


def _plot_profile(prof: dict, path) -> None:
    feats = prof["features"]
    fig = Figure(figsize=(3.0 * (len(feats) + 1), 3.2), layout="constrained")
    for i, k in enumerate(feats):
        ax = fig.add_subplot(1, len(feats) + 1, i + 1)
        ax.bar(["SFT", "RL"], [prof["sft"][k], prof["rl"][k]], color=["tab:blue", "tab:orange"])
        ax.set_title(f"mean {k}", fontsize=9)
    ax = fig.add_subplot(1, len(feats) + 1, len(feats) + 1)
    types = sorted(set(prof["sft"]["task_type"]) | set(prof["rl"]["task_type"]))
    bottom = np.zeros(2)
    for t in types:
        h = np.array([prof[s]["task_type"].get(t, 0.0) for s in ("sft", "rl")]) * 100
        ax.bar(["SFT", "RL"], h, bottom=bottom, label=t)
        bottom += h
    ax.set_title("task types (%)", fontsize=9)
    ax.legend(fontsize=6)
    fig.savefig(path, dpi=120, format="png")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_analyses(out_dir: str | os.PathLike, *, env: str, runs_dir: str | os.PathLike,
                   scores=None, records: Sequence[dict] | None = None, rl_ratio: float = 0.5,
                   metric: str = "gini", caption: str = "") -> str:
    """Compute every analysis the run supports and write analyses.md, analyses.json and the
    plots (consensus.png, spearman.png, routed.png) to out_dir, all at once. `scores` is the
    probe's `ScoreFile` (None: no probe analyses); `records` the trajectories it scored (any
    order: matched by id). Returns the Markdown."""
    runs = load_runs(runs_dir)
    held = heldout(runs, env) if runs else None
    cons = agr = prof = None
    if scores is not None:
        cons = consensus(scores.norms, rl_ratio)
        if scores.param_counts is not None:
            agr = agreement(scores.norms, scores.param_counts)
        if records is not None:
            by_id = {r["id"]: r for r in records}
            missing = [i for i in scores.ids if i not in by_id]
            if missing:
                raise ValueError(f"{len(missing)} scored ids are not in the trajectories "
                                 f"(first: {missing[0]!r})")
            values = np.asarray(metrics.get_metric(metric)(scores.norms), np.float64)
            mask = routing.ratio_split(values, rl_ratio).rl_mask()
            prof = routed_profile([by_id[i] for i in scores.ids], mask)
    text = markdown(held, cons, agr, prof, caption)
    with staged_outputs(out_dir) as stage:
        stage("analyses.md").write_text(text + "\n", encoding="utf-8")
        summary = {"heldout": held, "consensus": cons, "profile": prof,
                   "spearman": agr and agr["rho"]}
        stage("analyses.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")
        if cons:
            _plot_consensus(cons, stage("consensus.png"))
        if agr:
            _plot_agreement(agr, stage("spearman.png"))
        if prof:
            _plot_profile(prof, stage("routed.png"))
    return text
