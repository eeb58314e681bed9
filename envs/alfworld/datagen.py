"""`prism gen-data alfworld`: expert trajectories as JSONL (the trajectory schema).

Each line: ``id``, ``messages`` (the whole multi-turn chat: the probe's format), ``task``,
``think``, ``prompt`` (style and history) and ``turns`` (the raw steps, from which per-step SFT
rebuilds each step's prompt: `prism_jax.envs.prompts.record_fields`), ``env`` "alfworld",
``task_type`` (ALFRED's name), ``success``, ``reward`` (10.0 on a win), ``task_id`` (the game
path, so rollouts can replay the task), ``split`` and ``n_steps``.

The expert's episodes run through the one episode loop on worker processes in parallel; each
finished one is appended to a hidden ``.OUT.partial`` file, so an interrupted run resumes where
it stopped, and OUT itself is written once, atomically, at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from prism_jax import files
from prism_jax.envs.alfworld.expert import ExpertError, expert_steps
from prism_jax.envs.alfworld.gamegen import SPLIT_SIZES, balanced, generate_games, list_games, owns
from prism_jax.envs.prompts import PromptConfig, format_response, record_fields
from prism_jax.envs.registry import EnvOptions, get_env, parse_count
from prism_jax.episodes import Reply, Request, play

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenDataConfig:
    """Write ALFWorld expert trajectories (one episode per line)."""

    out: Path
    """Output JSONL file (written once, atomically; an interrupted run resumes from a hidden
    .OUT.partial file next to it)."""
    split: str = "train"
    """train, valid_seen or valid_unseen."""
    n: int | Literal["all"] = 1000
    """Number of trajectories, one per game, taken round-robin over the task types; all (or 0):
    every game of the split (generated: as many as ALFWorld's split has)."""
    games_dir: Path = Path("data/alfworld")
    """Game root (DIR/SPLIT/<task>/trial_*). A folder of generated games (or a new one) gets the
    missing games generated (same seed -> same games); ALFWorld's own data
    ($ALFWORLD_DATA/json_2.1.1) is used as it is and never written to."""
    seed: int = 0
    """Seed of the generated games."""
    task_types: tuple[str, ...] = ()
    """Generated games: only these ALFRED task types, cycled in the order given (default: all
    six). A folder of your own is read as it is."""
    use_existing: bool = False
    """Only use the games already under --games-dir/SPLIT, even in a folder of generated games."""
    think: bool = True
    """The expert's answers reason inside <think></think> (grounded in what it has observed)
    before the <action>; the prompts ask for it (verl-agent's template)."""
    prompt_style: Literal["verl", "chat"] = "verl"
    """Per-step prompt the records describe: verl (verl-agent's template) or chat."""
    history: int = 2
    """verl prompt: past steps shown at each step."""
    workers: int = 2
    """Engine worker processes (each ~400 MB); episodes run in parallel on them."""
    envs_per_worker: int = 4
    """Envs each worker hosts (games in flight = workers x envs_per_worker)."""
    max_steps: int = 50
    """Episode step limit; a user's game whose expert plan is longer is skipped."""


class ExpertPolicy:
    """`prism_jax.episodes.Policy` replaying precomputed expert plans: step k of the episode of
    game g answers with plans[g][k] (its reason inside <think> when ``think``)."""

    needs_key = False

    def __init__(self, plans: dict[str, list[tuple[str, str]]], think: bool):
        self.plans, self.think = plans, think

    def __call__(self, requests: list[Request], key) -> list[Reply]:
        replies = []
        for r in requests:
            plan = self.plans[r.task_id]
            # past the plan (a game it did not win) the expert looks around until the limit
            action, reason = plan[r.step] if r.step < len(plan) else ("look", "I look around.")
            replies.append(Reply(format_response(action, reason if self.think else None)))
        return replies


def expert_plans(games: list, max_steps: int) -> tuple[dict[str, list], list[tuple[str, str]]]:
    """({game: plan} for the games the expert solves within ``max_steps``, [(game, why) for the
    others])."""
    plans, skipped = {}, []
    for game in games:
        try:
            plan = expert_steps(game)
        except ExpertError as err:
            skipped.append((str(game), str(err).split(": ", 1)[-1]))
            continue
        if len(plan) > max_steps:
            skipped.append((str(game), f"the expert needs {len(plan)} steps, over the limit of {max_steps}"))
            continue
        plans[str(game)] = plan
    return plans, skipped


def expert_episodes(games: list, *, workers: int = 2, envs_per_worker: int = 4, max_steps: int = 50,
                    prompt: PromptConfig = PromptConfig(), desc: str = "expert",
                    progress: bool = True, on_episode=None):
    """Play the expert on each game through the engine; `prism_jax.episodes.Episode` per game.
    Every game must have a plan within ``max_steps`` (see `expert_plans`)."""
    games = [str(g) for g in games]
    plans, skipped = expert_plans(games, max_steps)
    if skipped:
        raise ValueError(f"no expert plan within {max_steps} steps: {skipped[:3]}")
    if not games:
        return []
    n = max(1, min(len(games), workers * envs_per_worker))
    with get_env("alfworld").make_vec(n, max_steps, EnvOptions(workers=workers)) as vec:
        return play(ExpertPolicy(plans, prompt.think), vec, games, env="alfworld", prompt=prompt,
                    max_steps=max_steps, progress=progress, desc=desc, on_episode=on_episode)


def trajectory_record(episode, split: str, index: int, prompt: PromptConfig) -> dict:
    """An expert episode in the trajectory schema."""
    return {"id": f"alfworld-{split}-{index:06d}",
            **record_fields("alfworld", episode.task, episode.turns, prompt),
            "env": "alfworld", "task_type": episode.task_type, "success": episode.success,
            "reward": episode.total_reward, "task_id": episode.task_id, "split": split,
            "n_steps": episode.n_steps}


def trajectory_records(games: list, split: str, *, workers: int = 2, max_steps: int = 50,
                       prompt: PromptConfig = PromptConfig(), progress: bool = False) -> list[dict]:
    """Expert trajectories of ``games`` in the trajectory schema, in game order."""
    episodes = expert_episodes(games, workers=workers, max_steps=max_steps, prompt=prompt,
                               desc=f"expert {split}", progress=progress)
    return [trajectory_record(e, split, i, prompt) for i, e in enumerate(episodes)]


def select_games(cfg: GenDataConfig) -> list[Path]:
    """The games of a gen-data run: generated ones in a folder of ours, else the folder's own,
    balanced over the task types; more than a user's folder holds is an error."""
    n = parse_count(cfg.n)
    if owns(cfg.games_dir) and not cfg.use_existing:
        return generate_games(cfg.split, SPLIT_SIZES[cfg.split] if n is None else n, cfg.games_dir,
                              seed=cfg.seed, task_types=list(cfg.task_types) or None,
                              max_steps=cfg.max_steps)
    games = list_games(cfg.games_dir, cfg.split)
    if n is not None and n > len(games):
        raise ValueError(f"{cfg.games_dir}: the {cfg.split} split holds {len(games)} games, {n} "
                         "were asked for (pass --n all, or fewer)")
    return balanced(games, n)


class _Partial:
    """Finished records of an interrupted run, kept beside OUT while it runs: a header line
    with the run's fingerprint, then one record per line (``_index``: its place in the run)."""

    def __init__(self, out: Path, fingerprint: str):
        self.path = out.with_name(f".{out.name}.partial")
        self.done: dict[int, dict] = {}
        if self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            header = json.loads(lines[0]) if lines else {}
            if header.get("fingerprint") == fingerprint:
                for line in lines[1:]:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:  # the line being written when the run stopped
                        break
                    self.done[rec.pop("_index")] = rec
            else:
                self.path.unlink()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self.path.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
        self._file = open(self.path, "a", encoding="utf-8")

    def add(self, index: int, record: dict) -> None:
        self._file.write(json.dumps({**record, "_index": index}, ensure_ascii=False) + "\n")
        self._file.flush()
        self.done[index] = record

    def close(self, remove: bool) -> None:
        self._file.close()
        if remove:
            self.path.unlink()


def _fingerprint(cfg: GenDataConfig, games: list) -> str:
    spec = {"split": cfg.split, "games": [str(g) for g in games], "think": cfg.think,
            "prompt_style": cfg.prompt_style, "history": cfg.history, "max_steps": cfg.max_steps}
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()


def generate(cfg: GenDataConfig, *, progress: bool = True) -> dict:
    """Run gen-data as configured; returns {"written", "won", "skipped": [(game, why)]}."""
    prompt = PromptConfig(style=cfg.prompt_style, history=cfg.history, think=cfg.think)
    games = [str(g) for g in select_games(cfg)]
    plans, skipped = expert_plans(games, cfg.max_steps)
    for game, why in skipped:
        logger.warning("skipping %s: %s", game, why)
    index_of = {g: i for i, g in enumerate(games)}
    partial = _Partial(Path(cfg.out), _fingerprint(cfg, games))
    todo = [g for g in games if g in plans and index_of[g] not in partial.done]
    if partial.done:
        logger.info("resuming: %d of %d trajectories were written before", len(partial.done),
                    len(plans))

    def save(_, episode):
        i = index_of[episode.task_id]
        partial.add(i, trajectory_record(episode, cfg.split, i, prompt))

    finished = False
    try:
        expert_episodes(todo, workers=cfg.workers, envs_per_worker=cfg.envs_per_worker,
                        max_steps=cfg.max_steps, prompt=prompt, desc=f"expert {cfg.split}",
                        progress=progress, on_episode=save)
        records = [partial.done[i] for i in sorted(partial.done)]
        files.write_jsonl(cfg.out, records, ensure_ascii=False)
        finished = True
    finally:
        partial.close(remove=finished)
    return {"written": len(records), "won": sum(r["success"] for r in records),
            "skipped": skipped}


def report(cfg: GenDataConfig, result: dict) -> tuple[str, int]:
    """(the line gen-data prints for `generate`'s result, its exit code: 1 unless the expert won
    every trajectory)."""
    n, won, skipped = result["written"], result["won"], result["skipped"]
    return (f"wrote {n} trajectories to {cfg.out}; expert won {won}/{n}" +
            (f"; skipped {len(skipped)} games the expert cannot finish within {cfg.max_steps} "
             "steps" if skipped else "")), 0 if won == n else 1


def main(argv: list[str], prog: str = "prism gen-data alfworld") -> int:
    cfg = tyro.cli(GenDataConfig, args=argv, prog=prog, description=GenDataConfig.__doc__)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        result = generate(cfg)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"{prog}: {err}") from None
    line, code = report(cfg, result)
    print(line)
    return code


__all__ = ["ExpertPolicy", "GenDataConfig", "expert_episodes", "expert_plans", "generate", "main",
           "report", "select_games", "trajectory_record", "trajectory_records"]
