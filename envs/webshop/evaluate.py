"""WebShop evaluation (Table 2): a policy played on goals through the one episode loop.

Score = 100 x mean purchase score (0 for episodes that never buy); SR = 100 x share of
episodes whose purchase scores 1.0.
"""

from __future__ import annotations

from collections import defaultdict

from prism_jax.envs.prompts import PromptConfig
from prism_jax.envs.registry import WebShopSlots, get_env
from prism_jax.envs.webshop.catalog import Catalog
from prism_jax.envs.webshop.env import default_catalog
from prism_jax.episodes import play


def summary(records: list[dict]) -> dict:
    """Score and SR (percent) and the episode count of evaluation records."""
    n = len(records)
    return {"score": 100.0 * sum(e["score"] for e in records) / n if n else 0.0,
            "success_rate": 100.0 * sum(e["success"] for e in records) / n if n else 0.0,
            "n": n}


def evaluate(policy, task_ids: list[str], *, batch_size: int = 8, max_steps: int = 15,
             catalog: Catalog | None = None, prompt=None, seed: int = 0,
             progress: bool = True) -> dict:
    """Play every task once with ``policy`` (a `prism_jax.episodes.Policy`) on ``catalog``
    (default: the generated 1,000-product one).

    Returns ``{"score", "success_rate", "n", "per_task_type": {category: {score,
    success_rate, n}}, "episodes": [records with score and success]}``; scores in percent.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    catalog = catalog if catalog is not None else default_catalog()
    spec = get_env("webshop")
    with WebShopSlots(max(1, min(batch_size, len(task_ids))), catalog, max_steps) as vec:
        episodes = play(policy, vec, [str(t) for t in task_ids], env="webshop",
                        prompt=prompt or PromptConfig(), max_steps=max_steps, seed=seed,
                        progress=progress, desc="evaluate webshop")
    records = [spec.record(e) for e in episodes]
    by_type = defaultdict(list)
    for r in records:
        by_type[r["task_type"]].append(r)
    return {**summary(records), "per_task_type": {t: summary(rs) for t, rs in sorted(by_type.items())},
            "episodes": records}
