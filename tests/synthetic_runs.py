"""Hand-made run results (the pipeline's result.json schema) for the table and figure tests."""

from __future__ import annotations

import json
from pathlib import Path

from prism_jax.methods import ROUTED


def run(env: str, method: str, seed: int = 0, *, metric: str | None = None,
        rl_ratio: float | None = None, model: str = "tiny", seen: dict | None = None,
        unseen: dict | None = None, score: float = 50.0, success_rate: float = 40.0,
        timings: dict | None = None) -> dict:
    """One result; routed methods default to rl_ratio 0.5, single-phase ones to null."""
    if rl_ratio is None and method in ROUTED:
        rl_ratio = 0.5
    sizes = {"base": (0, 0), "sft": (100, 0), "grpo": (0, 100), "gigpo": (0, 100),
             "sft_then_rl": (100, 100), "hpt": (0, 100)}.get(method)
    if sizes is None:
        sizes = (round(100 * (1 - rl_ratio)), round(100 * rl_ratio))
    if env == "alfworld":
        ev = {}
        if seen is not None:
            ev["valid_seen"] = seen
        if unseen is not None:
            ev["valid_unseen"] = unseen
    else:
        ev = {"test": {"score": score, "success_rate": success_rate}}
    return {"env": env, "model": model, "method": method, "metric": metric, "rl_ratio": rl_ratio,
            "seed": seed, "split_sizes": {"sft": sizes[0], "rl": sizes[1]},
            "timings": timings or {"probe": None, "sft": None, "rl": None}, "eval": ev,
            "command": f"prism pipeline --method {method} --seed {seed}", "extra": [1, 2]}


def alf(all_: float, **types: float) -> dict:
    """An ALFWorld split's success rates: the given task types plus All."""
    return {**types, "All": all_}


def write_runs(root: Path, results: list[dict]) -> list[Path]:
    """Each result as root/<env>-<method>-<metric>-<ratio>-<model>/seed<k>/result.json."""
    paths = []
    for r in results:
        d = root / f"{r['env']}-{r['method']}-{r['metric']}-{r['rl_ratio']}-{r['model']}" / \
            f"seed{r['seed']}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "result.json").write_text(json.dumps(r, indent=1))
        paths.append(d / "result.json")
    return paths


def figure3_results():
    out = [run("webshop", "random", s, score=sc) for s, sc in ((0, 70.0), (1, 74.0))]
    for metric, p, i in (("gini", 85.0, 60.0), ("cv", 84.0, 65.0)):
        out += [run("webshop", "prism", 0, metric=metric, score=p),
                run("webshop", "inverse", 0, metric=metric, score=i)]
    return out
