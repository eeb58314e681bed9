"""One registry of environments: how to make env slots, their defaults, splits, task lists and
the evaluation table, so that data generation, GRPO, HPT pass rates and evaluation treat every
environment alike (`prism_jax.episodes.play` plays them all).

    spec = get_env("alfworld")
    vec = spec.make_vec(8, spec.max_steps, EnvOptions())
    tasks = spec.tasks("valid_seen", 12, EnvOptions())     # balanced over the task types
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prism_jax.envs.prompts import PromptConfig
from prism_jax.episodes import episode_record, play


@dataclass(frozen=True)
class EnvOptions:
    """Where an environment's tasks come from and how its slots run."""

    games_dir: Path = Path("data/alfworld")
    """ALFWorld: game root (generated there when it is ours; ALFWorld's json_2.1.1 is read only)."""
    data_seed: int = 0
    """Seed of the generated ALFWorld games / WebShop catalog."""
    num_products: int = 1000
    """WebShop: generated catalog size."""
    task_types: tuple[str, ...] = ()
    """ALFWorld, generated games: only these task types (default: all six)."""
    plan_steps: int = 50
    """ALFWorld, generated games: every expert plan fits this many steps."""
    workers: int | None = None
    """ALFWorld: worker processes hosting the envs (default: min(envs, CPU count))."""
    timeout: float = 300.0
    """ALFWorld: seconds a worker may take to answer a call before it is restarted."""


@dataclass(frozen=True)
class EnvSpec:
    name: str
    max_steps: int                                    # the paper's episode limit
    max_prompt_len: int                               # the paper's prompt budget (tokens)
    splits: tuple[str, ...]
    eval_splits: tuple[str, ...]
    make_vec: Callable[[int, int, EnvOptions], object]          # (n, max_steps, options)
    tasks: Callable[[str, int | None, EnvOptions], list[str]]   # (split, n or None=all, options)
    record: Callable[[object], dict]                  # Episode -> evaluation record
    table: Callable[[list[dict]], dict]               # records -> the paper's table row (percent)


# Each environment's modules are imported where it is first used: ALFWorld's load textworld
# (~1.4 s), WebShop's bm25s (~2 s), and every command imports this registry.

# ------------------------------------------------------------------------------ ALFWorld
def _alfworld_vec(n: int, max_steps: int, options: EnvOptions):
    from prism_jax.envs.alfworld.vec import AlfworldVecEnv
    return AlfworldVecEnv(n, max_steps=max_steps, workers=options.workers, timeout=options.timeout)


def alfworld_tasks(split: str, n: int | None, options: EnvOptions) -> list[str]:
    """``n`` games of a split (None: all), balanced over the task types.

    In a folder of our own the games are generated as needed (all = ALFWorld's split size); in
    any other folder (ALFWorld's json_2.1.1) the games there are used, and asking for more than
    it holds is an error.
    """
    from prism_jax.envs.alfworld.gamegen import (SPLIT_SIZES, balanced, generate_games, list_games,
                                                 owns)

    root = Path(options.games_dir)
    if owns(root):
        games = generate_games(split, SPLIT_SIZES[split] if n is None else n, root,
                               seed=options.data_seed, task_types=list(options.task_types) or None,
                               max_steps=options.plan_steps, progress=False)
    else:
        games = list_games(root, split)
        if n is not None and n > len(games):
            raise ValueError(f"{root}: the {split} split holds {len(games)} games, {n} were asked "
                             "for (ask for 'all' or fewer)")
    return [str(g) for g in balanced(games, n)]


def _alfworld_record(episode) -> dict:
    from prism_jax.envs.alfworld.env import task_type_of
    record = episode_record(episode)
    # an episode lost at reset has no info to read its type from
    record["task_type"] = record["task_type"] or task_type_of(record["task_id"])
    return record


def _alfworld_table(records: list[dict]) -> dict:
    from prism_jax.envs.alfworld.harness import success_table
    return {k: _percent(v) for k, v in success_table(records).items()}


# ------------------------------------------------------------------------------ WebShop
class WebShopSlots:
    """``n`` in-process WebShop sessions over one catalog, reset and stepped by slot index."""

    def __init__(self, n: int, catalog, max_steps: int):
        from prism_jax.envs.webshop.env import WebShopEnv

        self.n = n
        self._envs = [WebShopEnv(catalog, max_steps=max_steps) for _ in range(n)]
        self._final: dict[int, tuple] = {}

    def reset(self, task_ids, seeds=None, indices=None):
        indices = list(range(self.n)) if indices is None else list(indices)
        seeds = [None] * len(indices) if seeds is None else list(seeds)
        out = [self._envs[i].reset(seed=s, options={"task": t})
               for i, t, s in zip(indices, task_ids, seeds)]
        for i in indices:
            self._final.pop(i, None)
        return [o for o, _ in out], [info for _, info in out]

    def step(self, actions, indices=None):
        indices = list(range(self.n)) if indices is None else list(indices)
        rows = []
        for i, action in zip(indices, actions):
            if i in self._final:
                obs, _, term, trunc, info = self._final[i]
                rows.append((obs, 0.0, term, trunc, info))
                continue
            row = self._envs[i].step(action)
            if row[2] or row[3]:
                self._final[i] = row
            rows.append(row)
        return tuple(list(column) for column in zip(*rows)) if rows else ([], [], [], [], [])

    def close(self) -> None:
        self._final = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _catalog(options: EnvOptions):
    from prism_jax.envs.webshop.env import default_catalog
    return default_catalog(options.num_products, options.data_seed)


def _webshop_vec(n: int, max_steps: int, options: EnvOptions):
    return WebShopSlots(n, _catalog(options), max_steps)


def _webshop_tasks(split: str, n: int | None, options: EnvOptions) -> list[str]:
    return _catalog(options).list_tasks(split, n)


def _webshop_record(episode) -> dict:
    return {**episode_record(episode), "score": float(episode.info.get("score", 0.0)),
            "success": episode.success}


def _webshop_table(records: list[dict]) -> dict:
    from prism_jax.envs.webshop.evaluate import summary
    s = summary(records)
    return {"score": s["score"], "success_rate": s["success_rate"]}


# ------------------------------------------------------------------------------ table
def _percent(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(100.0 * x, 4)


REGISTRY = {
    "alfworld": EnvSpec("alfworld", 50, 2048, ("train", "valid_seen", "valid_unseen"),
                        ("valid_seen", "valid_unseen"), _alfworld_vec, alfworld_tasks,
                        _alfworld_record, _alfworld_table),
    "webshop": EnvSpec("webshop", 15, 4096, ("train", "eval", "test"), ("test",), _webshop_vec,
                       _webshop_tasks, _webshop_record, _webshop_table),
}


def parse_count(n: int | str) -> int | None:
    """A task-count setting: a positive number, or None for the whole split ("all" or 0)."""
    if n in ("all", 0, "0"):
        return None
    n = int(n)
    if n < 0:
        raise ValueError(f"a task count must be >= 0 or 'all', got {n}")
    return n


def get_env(name: str) -> EnvSpec:
    """The spec of an environment (unknown names list the known ones)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown environment {name!r}: expected one of "
                         f"{', '.join(REGISTRY)}") from None


def run_episodes(env: str, policy, task_ids: list[str], *, batch_size: int = 8,
                 max_steps: int | None = None, prompt=None, seed: int = 0,
                 options: EnvOptions = EnvOptions(), progress: bool = True,
                 desc: str | None = None) -> list[dict]:
    """Play ``policy`` once on every task on ``batch_size`` slots; the evaluation records."""
    spec = get_env(env)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not task_ids:
        return []
    max_steps = max_steps or spec.max_steps
    vec = spec.make_vec(min(batch_size, len(task_ids)), max_steps, options)
    try:
        episodes = play(policy, vec, [str(t) for t in task_ids], env=env,
                        prompt=prompt or PromptConfig(), max_steps=max_steps, seed=seed,
                        progress=progress, desc=desc or f"evaluate {env}")
    finally:
        vec.close()
    return [spec.record(e) for e in episodes]
