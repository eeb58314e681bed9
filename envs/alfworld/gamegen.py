"""Generate ALFWorld games from the floor plans shipped with the `alfworld` package.

A game is ALFWorld's own format: ``<split>/<task>/trial_*/game.tw-pddl`` (JSON with the ALFRED
PDDL domain, the text grammar with the task sentence filled in, and a PDDL problem) next to a
``traj_data.json`` holding the task parameters. The real TextWorld engine plays them, and the
code that loads them also loads a user's downloaded ``$ALFWORLD_DATA/json_2.1.1`` games.

Each game is drawn from one AI2-THOR floor plan (`prism_jax.envs.alfworld.rooms`); a draw whose
expert plan is longer than the episode limit is redrawn with the next attempt, so every
generated game is playable and the same seed still gives byte-identical games.

Games are only ever written into a folder this project owns: a new or empty one, or one that
holds generated games alone (`GAMES_MARKER`); ALFWorld's own data is read, never written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from prism_jax import files
from prism_jax.envs.alfworld.env import task_type_of
from prism_jax.envs.alfworld.expert import ExpertError, plan_game
from prism_jax.envs.alfworld.rooms import GENERATOR_VERSION, TASK_TYPES, floor_plans, sample_game
from prism_jax.envs.registry import parse_count
from prism_jax.progress import track

# Games per split in ALFWorld's data (json_2.1.1 after its loader's filters); `n="all"` for
# generated games means this many.
SPLIT_SIZES = {"train": 3553, "valid_seen": 140, "valid_unseen": 134}
GAMES_MARKER = "prism_games.json"
# Redraws allowed for one game before giving up (measured: at most 2 are needed at seed 0).
MAX_ATTEMPTS = 64


def _game_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*/*/game.tw-pddl"))


def owns(root) -> bool:
    """Whether games may be generated into ``root``: it is missing or empty, carries
    `GAMES_MARKER`, or holds generated games only (their ``traj_data.json`` has a ``prism``
    entry)."""
    root = Path(root)
    if (root / GAMES_MARKER).is_file():
        return True
    if (root / "json_2.1.1").is_dir():
        return False
    for game in _game_files(root):
        traj = game.parent / "traj_data.json"
        if not traj.is_file() or "prism" not in json.loads(traj.read_text()):
            return False
    return True


def _check_owned(root: Path) -> None:
    if not owns(root):
        raise ValueError(
            f"{root} holds games that were not generated here (ALFWorld's own data?); games are "
            "only generated into a new folder or one of generated games: pass another folder, "
            "or use the games there as they are")


def _fits(game: dict, traj: dict, max_steps: int) -> bool:
    try:
        return len(plan_game(game, traj)) <= max_steps
    except ExpertError:
        return False


def draw_game(split: str, index: int, seed: int, task_type: str, max_steps: int = 50
              ) -> tuple[dict, dict]:
    """The first draw (attempt 0, 1, ...) whose expert plan fits ``max_steps``."""
    for attempt in range(MAX_ATTEMPTS):
        game, traj = sample_game(split, index, seed, task_type, attempt)
        if _fits(game, traj, max_steps):
            return game, traj
    raise RuntimeError(f"no {task_type} game of {split} index {index} (seed {seed}) with an "
                       f"expert plan of at most {max_steps} steps in {MAX_ATTEMPTS} draws")


def _existing(root: Path, split: str, seed: int, index: int, task_type: str,
              max_steps: int) -> Path | None:
    """The game for (seed, index) if one was written before by this generator version for this
    step limit; others are removed (they were generated here) so they can be redrawn."""
    found = None
    for game in root.glob(f"{task_type}-*/trial_S{seed}_{split}_{index:06d}/game.tw-pddl"):
        ours = json.loads((game.parent / "traj_data.json").read_text()).get("prism", {})
        if (ours.get("version"), ours.get("max_steps")) == (GENERATOR_VERSION, max_steps) \
                and found is None:
            found = game
        else:
            for name in ("game.tw-pddl", "traj_data.json"):
                (game.parent / name).unlink(missing_ok=True)
            game.parent.rmdir()
    return found


def generate_games(split: str, n: int, out_dir, seed: int = 0,
                   task_types: list[str] | None = None, progress: bool = True,
                   max_steps: int = 50) -> list[Path]:
    """Write ``n`` games of ``split`` under ``out_dir/split/<task>/trial_*/``.

    Task types cycle in the order given (default: all six), so every type gets n/6 games. Each
    game's expert plan fits ``max_steps`` (a draw that does not is redrawn, deterministically).
    Games that already exist are kept (same seed and index -> same game), so an interrupted
    run resumes. ``out_dir`` must be owned (`owns`). Returns the ``game.tw-pddl`` paths in
    index order.
    """
    task_types = list(task_types or TASK_TYPES)
    unknown = [t for t in task_types if t not in TASK_TYPES]
    if unknown:
        raise ValueError(f"unknown task types {unknown}: expected names from {list(TASK_TYPES)}")
    floor_plans(split)
    out_dir = Path(out_dir)
    _check_owned(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / GAMES_MARKER
    if not marker.exists():
        files.write_text(marker, json.dumps({"generator": "prism-jax", "version": GENERATOR_VERSION}))
    root = out_dir / split
    paths = []
    for index in track(range(n), desc=f"games {split}", unit="game", enabled=progress):
        task_type = task_types[index % len(task_types)]
        existing = _existing(root, split, seed, index, task_type, max_steps) if root.is_dir() else None
        if existing is not None:
            paths.append(existing)
            continue
        game, traj = draw_game(split, index, seed, task_type, max_steps)
        traj["prism"]["max_steps"] = max_steps
        folder = root / traj["prism"]["task"] / traj["task_id"]
        files.write_text(folder / "traj_data.json", json.dumps(traj))
        files.write_text(folder / "game.tw-pddl", json.dumps(game))
        paths.append(folder / "game.tw-pddl")
    return paths


def balanced(games: list, n: int | None = None) -> list[Path]:
    """``n`` games (all when None) taken round-robin over the task types, in Table 1's order,
    each type's games ordered by trial id: so n=12 covers every type present twice."""
    by_type: dict[str, list[Path]] = {}
    for game in games:
        game = Path(game)
        by_type.setdefault(task_type_of(game), []).append(game)
    queues = [sorted(by_type.pop(t), key=lambda g: (g.parent.name, str(g))) for t in TASK_TYPES
              if t in by_type]
    queues += [sorted(v, key=lambda g: (g.parent.name, str(g))) for _, v in sorted(by_type.items())]
    out: list[Path] = []
    depth = 0
    while any(depth < len(q) for q in queues) and (n is None or len(out) < n):
        out += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    return out if n is None else out[:n]


def list_games(root, split: str) -> list[Path]:
    """Playable games of a split, sorted: our output or ALFWorld's data (``$ALFWORLD_DATA``).

    ``root`` may be the folder holding the split folders, ALFWorld's data root (which holds
    ``json_2.1.1``) or ``json_2.1.1`` itself. Like ALFWorld's loader, it skips games without
    ``traj_data.json``, movable-receptacle and sliced tasks, and games marked unsolvable.
    """
    root = split_root(root)
    if not (root / split).is_dir():
        raise FileNotFoundError(f"no split folder {root / split}: generate games with "
                                f"`prism gen-games alfworld --split {split} --out {root}`")
    games = []
    for path in sorted((root / split).glob("*/*/game.tw-pddl")):
        task = path.parent.parent.name
        if "movable" in task or "Sliced" in task or not (path.parent / "traj_data.json").exists():
            continue
        text = path.read_text()
        if '"solvable"' not in text or re.search(r'"solvable":\s*false', text):
            continue
        games.append(path)
    return games


def split_root(root) -> Path:
    """The folder holding the split folders: ``root``, or its ``json_2.1.1`` (ALFWorld's data
    root), with environment variables expanded."""
    root = Path(os.path.expandvars(str(root)))
    return root / "json_2.1.1" if (root / "json_2.1.1").is_dir() else root


@dataclass(frozen=True)
class GenGamesConfig:
    """Generate ALFWorld games (game.tw-pddl + traj_data.json) from the shipped floor plans."""

    out: Path
    """Output root; games go to OUT/SPLIT/<task>/trial_*/ (ALFWorld's json_2.1.1 layout). It must
    be new, empty or hold generated games only."""
    split: str = "train"
    """train, valid_seen (training rooms, new instances) or valid_unseen (rooms 10, 219, 308, 424)."""
    n: int | Literal["all"] = 500
    """Number of games (all or 0: as many as ALFWorld's split has: 3553, 140, 134); task types
    take turns, so each gets about n/6."""
    seed: int = 0
    """Same seed -> identical games."""
    task_types: tuple[str, ...] = ()
    """Restrict to these ALFRED task types (default: all six)."""
    max_steps: int = 50
    """Episode step limit: every game's expert plan fits it (longer draws are redrawn)."""
    verify: bool = False
    """Play the expert on every generated game through the engine and print the win count."""
    workers: int = 2
    """Worker processes for --verify."""


def main(argv: list[str], prog: str = "prism gen-games alfworld") -> int:
    cfg = tyro.cli(GenGamesConfig, args=argv, prog=prog, description=GenGamesConfig.__doc__)
    try:
        n = parse_count(cfg.n)
        paths = generate_games(cfg.split, SPLIT_SIZES[cfg.split] if n is None else n, cfg.out,
                               seed=cfg.seed, task_types=list(cfg.task_types) or None,
                               max_steps=cfg.max_steps)
    except ValueError as err:
        raise SystemExit(f"{prog}: {err}") from None
    redrawn = sum(json.loads((p.parent / "traj_data.json").read_text())["prism"]["attempt"] > 0
                  for p in paths)
    print(f"{len(paths)} {cfg.split} games under {Path(cfg.out) / cfg.split}; every expert plan "
          f"fits {cfg.max_steps} steps ({redrawn} redrawn)")
    if cfg.verify:
        # local: datagen imports this module (an import cycle)
        from prism_jax.envs.alfworld.datagen import expert_episodes

        episodes = expert_episodes(paths, workers=cfg.workers, max_steps=cfg.max_steps,
                                   desc="verify")
        lost = [e for e in episodes if not e.success]
        print(f"expert wins {len(episodes) - len(lost)}/{len(episodes)} games through the engine")
        for e in lost:
            print(f"  not won: {e.task_id}" + (f" ({e.error})" if e.error else ""))
        return 0 if not lost else 1
    return 0
