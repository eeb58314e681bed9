"""`prism gen-data alfworld`: expert trajectories as chat JSONL (the trajectory schema).

Each line: ``id``, ``messages`` (`Conversation.to_record()`), ``task``, ``think`` and ``turns``
(the raw steps, for per-step SFT: `Conversation.record_fields`), ``env`` "alfworld",
``task_type`` (ALFRED's name), ``success``, ``reward`` (10.0 on a win), ``task_id`` (the game
path, so rollouts can replay the task), ``split`` and ``n_steps``. Games come from
``--games-dir``; missing ones are generated there first (same seed -> same games).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GenDataConfig:
    """Write ALFWorld expert trajectories (one multi-turn chat per line)."""

    out: Path
    """Output JSONL file (written to a temporary file, then renamed)."""
    split: str = "train"
    """train, valid_seen or valid_unseen."""
    n: int = 1000
    """Number of trajectories (one per game)."""
    games_dir: Path = Path("data/alfworld")
    """Game root (OUT/SPLIT/<task>/trial_*). Games this run needs are generated there when
    missing; point it at $ALFWORLD_DATA/json_2.1.1 to use the original games instead."""
    seed: int = 0
    """Seed of the generated games."""
    use_existing: bool = False
    """Take the first N games already under --games-dir/SPLIT (e.g. ALFWorld's own) instead
    of generating."""
    think: bool = False
    """Use the system prompt that asks for <think></think> before the action."""
    workers: int = 2
    """Engine worker processes."""
    max_steps: int = 50
    """Episode step limit."""


def trajectory_records(games: list, split: str, *, workers: int = 2, think: bool = False,
                       max_steps: int = 50) -> list[dict]:
    """Expert trajectories of ``games`` in the trajectory schema, in game order."""
    from prism_jax.envs.alfworld.harness import expert_episodes

    results = expert_episodes(games, workers=workers, max_steps=max_steps, think=think,
                              desc=f"expert {split}")
    return [{"id": f"alfworld-{split}-{i:06d}", **r["conversation"].record_fields(),
             "env": "alfworld", "task_type": r["task_type"], "success": r["won"],
             "reward": r["reward"], "task_id": r["task_id"], "split": split,
             "n_steps": r["n_steps"]} for i, r in enumerate(results)]


def main(argv: list[str], prog: str = "prism gen-data alfworld") -> int:
    import tyro

    from prism_jax.envs.alfworld.gamegen import atomic_write_text, generate_games, list_games

    cfg = tyro.cli(GenDataConfig, args=argv, prog=prog, description=GenDataConfig.__doc__)
    if cfg.use_existing:
        games = list_games(cfg.games_dir, cfg.split)[:cfg.n]
        if len(games) < cfg.n:
            print(f"warning: only {len(games)} games under {cfg.games_dir}/{cfg.split}")
    else:
        games = generate_games(cfg.split, cfg.n, cfg.games_dir, seed=cfg.seed)
    records = trajectory_records(games, cfg.split, workers=cfg.workers, think=cfg.think,
                                 max_steps=cfg.max_steps)
    atomic_write_text(cfg.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    wins = sum(r["success"] for r in records)
    print(f"wrote {len(records)} trajectories to {cfg.out}; expert won {wins}/{len(records)}")
    return 0 if wins == len(records) else 1
