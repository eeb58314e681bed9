"""ALFWorld evaluation (Table 1): a policy played on games through the one episode loop."""

from __future__ import annotations

from prism_jax.envs.alfworld.rooms import TASK_TYPES
from prism_jax.envs.registry import EnvOptions, run_episodes


def success_table(results: list[dict]) -> dict[str, float]:
    """Success rate per Table 1 column (Pick, Look, Clean, Heat, Cool, Pick2, All), in [0, 1];
    a column without episodes is NaN. ``results``: records with ``task_type`` and ``won``."""
    table = {}
    for task_type, column in TASK_TYPES.items():
        wins = [r["won"] for r in results if r["task_type"] == task_type]
        table[column] = sum(wins) / len(wins) if wins else float("nan")
    table["All"] = sum(r["won"] for r in results) / len(results) if results else float("nan")
    return table


def summary(records: list[dict]) -> dict:
    """``{"success": success_table, "counts": episodes per column}`` of episode records."""
    counts = {col: sum(r["task_type"] == t for r in records) for t, col in TASK_TYPES.items()}
    counts["All"] = len(records)
    return {"success": success_table(records), "counts": counts}


def evaluate(policy, task_ids: list[str], *, batch_size: int = 8, max_steps: int = 50,
             prompt=None, seed: int = 0, workers: int | None = None,
             progress: bool = True) -> dict:
    """Play ``policy`` (a `prism_jax.episodes.Policy`) once on every game in ``task_ids``.

    Returns ``{"success": {Pick, Look, Clean, Heat, Cool, Pick2, All}, "counts": episodes per
    column, "episodes": [`prism_jax.episodes.episode_record`, ...]}``.
    """
    records = run_episodes("alfworld", policy, task_ids, batch_size=batch_size,
                           max_steps=max_steps, prompt=prompt, seed=seed,
                           options=EnvOptions(workers=workers), progress=progress)
    return {**summary(records), "episodes": records}
