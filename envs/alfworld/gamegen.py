"""Generate ALFWorld games from the floor plans shipped with the `alfworld` package.

A game is ALFWorld's own format: ``<split>/<task>/trial_*/game.tw-pddl`` (JSON with the ALFRED
PDDL domain, the text grammar with the task sentence filled in, and a PDDL problem) next to a
``traj_data.json`` holding the task parameters. The real TextWorld engine plays them, and the
code that loads them also loads a user's downloaded ``$ALFWORLD_DATA/json_2.1.1`` games.

Each game takes one of the 120 AI2-THOR floor plans (its receptacles, their poses and the
object types present), draws a task valid for that room with ALFRED's constraints, scatters
1-3 instances of every portable object type over receptacles that can hold it, and writes the
PDDL facts. Receptacle types the pose files lack get the counts real ALFWorld rooms have (four
stove burners in a kitchen, one or two towel holders, ...). Everything is drawn from
``numpy.random.default_rng((seed, split, index, attempt))``: a draw whose expert plan is longer
than the episode limit is redrawn with the next attempt, so every generated game is playable
and the same seed still gives byte-identical games.

Games are only ever written into a folder this project owns: a new or empty one, or one that
holds generated games alone (`GAMES_MARKER`); ALFWorld's own data is read, never written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import alfworld.gen.constants as C
import alfworld.gen.goal_library as goal_library
import numpy as np

from prism_jax import files

TASK_TYPES = {
    "pick_and_place_simple": "Pick",
    "look_at_obj_in_light": "Look",
    "pick_clean_then_place_in_recep": "Clean",
    "pick_heat_then_place_in_recep": "Heat",
    "pick_cool_then_place_in_recep": "Cool",
    "pick_two_obj_and_place": "Pick2",
}
SPLITS = ("train", "valid_seen", "valid_unseen")
# Games per split in ALFWorld's data (json_2.1.1 after its loader's filters); `n="all"` for
# generated games means this many.
SPLIT_SIZES = {"train": 3553, "valid_seen": 140, "valid_unseen": 134}
GAMES_MARKER = "prism_games.json"
# Bumped whenever the generator draws differently; games of another version are redrawn.
GENERATOR_VERSION = 2
# Redraws allowed for one game before giving up (measured: at most 2 are needed at seed 0).
MAX_ATTEMPTS = 64
# ALFRED's held-out rooms (one per room kind); valid_seen reuses training rooms.
UNSEEN_FLOOR_PLANS = (10, 219, 308, 424)

_ALFWORLD_DIR = Path(C.__file__).resolve().parents[1]
LAYOUT_DIR = _ALFWORLD_DIR / "gen" / "layouts"
DOMAIN_FILE = _ALFWORLD_DIR / "data" / "alfred.pddl"
GRAMMAR_FILE = _ALFWORLD_DIR / "data" / "alfred.twl2"

# Receptacle types that stay in place and can hold objects; movable ones (bowls, mugs, ...)
# are plain objects in the 0.4 grammar, which has no put-in-object action.
RECEPTACLE_TYPES = sorted(set(C.VAL_RECEPTACLE_OBJECTS) - set(C.MOVABLE_RECEPTACLES))
OBJECT_TYPES = sorted(set(C.OBJECTS_WSLICED) - set(RECEPTACLE_TYPES))
LAMPS = ("DeskLamp", "FloorLamp")
LAMP_HOLDERS = ("Desk", "SideTable", "Dresser")
# Basins are named after their sink/tub in THOR ids (Sink|x|y|z|SinkBasin).
_BASIN_PARENT = {"SinkBasin": "Sink", "BathtubBasin": "Bathtub"}
# ALFRED's generator: the appliance of a task is never its goal; two-object tasks skip the
# receptacles that hold one thing.
_INVALID_GOAL = {
    "pick_heat_then_place_in_recep": {"Microwave"},
    "pick_cool_then_place_in_recep": {"Fridge"},
    "pick_clean_then_place_in_recep": {"SinkBasin"},
    "pick_two_obj_and_place": {"CoffeeMachine", "ToiletPaperHanger", "HandTowelHolder"},
}
_PICKUP_CLASS = {
    "pick_heat_then_place_in_recep": ("Heatable", "Microwave"),
    "pick_cool_then_place_in_recep": ("Coolable", "Fridge"),
    "pick_clean_then_place_in_recep": ("Cleanable", "SinkBasin"),
}
_ACTION_FACTS = {"Cleanable": "cleanable", "Heatable": "heatable", "Coolable": "coolable",
                 "Sliceable": "sliceable", "Toggleable": "toggleable"}
# Instances of a receptacle type missing from a room's pose file, drawn uniformly from the tuple:
# the frequencies of ALFWorld's own rooms (measured on 105 floor plans of its json_2.1.1 games:
# 27 of 28 kitchens have 4 stove burners, 7 of 26 bathrooms 2 towel holders, 10 of 25 two hand
# towel holders, ...). Types not listed get one.
_MISSING_COUNTS = {"StoveBurner": (4,), "TowelHolder": (1, 1, 1, 2), "HandTowelHolder": (1, 1, 1, 2, 2),
                   "Drawer": (1, 2, 2, 4, 5, 5, 6), "Toilet": (1, 1, 1, 1, 2, 3)}
# Instances that share one spot (ALFWorld's stove burners stand in pairs).
_PER_SPOT = {"StoveBurner": 2}


def room_of(floor_plan: int) -> str:
    """ALFRED room kind of a floor plan number (Kitchen 1-30, LivingRoom 201-230, ...)."""
    for room, numbers in C.SCENE_TYPE.items():
        if floor_plan in numbers:
            return room
    raise ValueError(f"FloorPlan{floor_plan} is not an ALFRED floor plan")


def floor_plans(split: str) -> list[int]:
    """Floor plan numbers a split draws its games from."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    shipped = sorted(int(p.name[len("FloorPlan"):-len("-objects.json")])
                     for p in LAYOUT_DIR.glob("FloorPlan*-objects.json"))
    if split == "valid_unseen":
        return list(UNSEEN_FLOOR_PLANS)
    return [n for n in shipped if n not in UNSEEN_FLOOR_PLANS]


def escape(thor_id: str) -> str:
    """THOR id -> PDDL constant, with ALFRED's escapes (`Apple|+01.5` -> `Apple_bar__plus_01_dot_5`)."""
    for char, word in (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"),
                       (",", "_comma_")):
        thor_id = thor_id.replace(char, word)
    return thor_id


@dataclass(frozen=True)
class FloorPlan:
    number: int
    room: str
    object_types: frozenset[str]
    receptacles: dict[str, tuple[float, float, int, int]]  # THOR id -> pose (x, z, rot, horizon)
    reachable: np.ndarray  # [P, 2] (x, z) grid points the agent can stand on


@cache
def load_floor_plan(number: int) -> FloorPlan:
    stem = LAYOUT_DIR / f"FloorPlan{number}"
    objects = json.loads(Path(f"{stem}-objects.json").read_text())
    poses = json.loads(Path(f"{stem}-openable.json").read_text())
    receptacles = {rid: tuple(pose) for rid, pose in poses.items()
                   if _receptacle_type(rid) in RECEPTACLE_TYPES}
    return FloorPlan(number, room_of(number), frozenset(objects), receptacles,
                     np.load(f"{stem}-layout.npy"))


def _receptacle_type(thor_id: str) -> str:
    parts = thor_id.split("|")
    return parts[-1] if parts[-1] in _BASIN_PARENT else parts[0]


def _location(x: float, z: float, rotation: float, horizon: float) -> str:
    return f"loc|{round(x / 0.25)}|{round(z / 0.25)}|{round(rotation / 90) % 4}|{round(horizon)}"


def _thor_id(kind: str, xyz: tuple[float, float, float]) -> str:
    return kind + "".join(f"|{v:+06.2f}" for v in xyz)


@dataclass
class Scene:
    """One game's ground truth, in THOR ids."""
    receptacles: dict[str, str]  # id -> location
    objects: dict[str, str]  # id -> receptacle id holding it
    agent_location: str


def _receptacles(plan: FloorPlan, rng: np.random.Generator) -> tuple[dict[str, str], str]:
    """Receptacle id -> location, adding the types the pose file lacks at free reachable points
    (`_MISSING_COUNTS` instances each), and the agent's start (a free point of its own)."""
    placed = {rid: _location(*pose) for rid, pose in plan.receptacles.items()}
    present = {_receptacle_type(r) for r in placed}
    used = {(round(p[0] / 0.25), round(p[1] / 0.25)) for p in plan.receptacles.values()}
    free = [tuple(p) for p in plan.reachable if (round(p[0] / 0.25), round(p[1] / 0.25)) not in used]
    missing = sorted(t for t in plan.object_types & set(RECEPTACLE_TYPES) if t not in present)
    counts = {t: int(rng.choice(_MISSING_COUNTS.get(t, (1,)))) for t in missing}
    spots = [(t, j) for t in missing for j in range(-(-counts[t] // _PER_SPOT.get(t, 1)))]
    picks = rng.choice(len(free), size=len(spots) + 1, replace=len(spots) + 1 > len(free))
    for (kind, j), idx in zip(spots, picks[1:]):
        x, z = free[idx]
        location = _location(x, z, int(rng.integers(4)) * 90, 30)
        for _ in range(min(_PER_SPOT.get(kind, 1), counts[kind] - j * _PER_SPOT.get(kind, 1))):
            while True:
                xyz = (x + rng.uniform(-0.5, 0.5), rng.uniform(0.0, 1.0), z + rng.uniform(-0.5, 0.5))
                rid = (_thor_id(_BASIN_PARENT[kind], xyz) + f"|{kind}") if kind in _BASIN_PARENT \
                    else _thor_id(kind, xyz)
                if rid not in placed:
                    break
            placed[rid] = location
    start = free[picks[0]]
    return placed, _location(*start, int(rng.integers(4)) * 90, 30)


def _portable_types(plan: FloorPlan, present: set[str]) -> list[str]:
    """Object types of the room that some receptacle present can hold."""
    return sorted(t for t in plan.object_types if t in OBJECT_TYPES and "Sliced" not in t
                  and any(t in C.VAL_RECEPTACLE_OBJECTS[r] for r in present))


def task_candidates(plan: FloorPlan, task_type: str) -> list[tuple[str, str]]:
    """Valid (object type, goal type) pairs of a task in a room; goal is the lamp for Look.

    ALFRED's rules: the room kind must allow the task (``GOALS_VALID``), the object must have
    the needed affordance and its appliance be present, and the goal receptacle must be able to
    hold the object and not be the task's appliance.
    """
    if plan.room not in C.GOALS_VALID[task_type]:
        return []
    present = {_receptacle_type(r) for r in plan.receptacles} | (
        plan.object_types & set(RECEPTACLE_TYPES))
    portable = _portable_types(plan, present)
    if task_type == "look_at_obj_in_light":
        if not present & set(LAMP_HOLDERS):
            return []
        lamps = [lamp for lamp in LAMPS if lamp in plan.object_types]
        return [(o, lamp) for o in portable for lamp in lamps]
    if task_type in _PICKUP_CLASS:
        affordance, appliance = _PICKUP_CLASS[task_type]
        if appliance not in present:
            return []
        portable = [o for o in portable if o in C.VAL_ACTION_OBJECTS[affordance]]
    goals = sorted(present - _INVALID_GOAL.get(task_type, set()))
    # The target must be able to start outside the goal type (and, for cooling, outside the
    # fridge), so that no task starts solved.
    return [(o, g) for o in portable for g in goals if o in C.VAL_RECEPTACLE_OBJECTS[g]
            and any(o in C.VAL_RECEPTACLE_OBJECTS[r] for r in present - _start_banned(task_type, g))]


def _start_banned(task_type: str, goal: str) -> set[str]:
    """Receptacle types the task's target objects never start in."""
    if task_type == "look_at_obj_in_light":
        return set()
    return {goal, "Fridge"} if task_type == "pick_cool_then_place_in_recep" else {goal}


def _scatter(plan: FloorPlan, receptacles: dict[str, str], task_type: str, target: str,
             goal: str, rng: np.random.Generator) -> dict[str, str]:
    """Place 1-3 instances of each portable type (the target: 1-3, or 2-4 for Pick2)."""
    by_type: dict[str, list[str]] = {}
    for rid in sorted(receptacles):
        by_type.setdefault(_receptacle_type(rid), []).append(rid)
    portable = _portable_types(plan, set(by_type))
    objects: dict[str, str] = {}
    taken: set[str] = set()

    def put(kind: str, holders: list[str]) -> None:
        rid = holders[int(rng.integers(len(holders)))]
        x, y, z = (float(v) for v in rid.split("|")[1:4])
        while True:
            oid = _thor_id(kind, (x + rng.uniform(-0.4, 0.4), y + rng.uniform(0.0, 0.3),
                                  z + rng.uniform(-0.4, 0.4)))
            if oid not in taken:
                break
        taken.add(oid)
        objects[oid] = rid

    for kind in portable:
        banned = _start_banned(task_type, goal) if kind == target else set()
        holders = [r for t, rs in by_type.items() if t not in banned
                   and kind in C.VAL_RECEPTACLE_OBJECTS[t] for r in rs]
        if kind == target:
            low = 2 if task_type == "pick_two_obj_and_place" else 1
            count = int(rng.integers(low, low + 3))
        else:
            count = int(rng.integers(1, 4))
        for _ in range(count):
            put(kind, holders)
    lamp_holders = [r for t in LAMP_HOLDERS for r in by_type.get(t, [])]
    for lamp in LAMPS:
        if lamp in plan.object_types and lamp_holders:
            put(lamp, lamp_holders)
    return objects


def sample_game(split: str, index: int, seed: int, task_type: str,
                attempt: int = 0) -> tuple[dict, dict]:
    """Draw one game: returns (``game.tw-pddl`` JSON, ``traj_data.json``)."""
    rng = np.random.default_rng((seed, SPLITS.index(split), index, attempt))
    plans = [p for p in floor_plans(split) if task_candidates(load_floor_plan(p), task_type)]
    if not plans:
        raise ValueError(f"no floor plan of split {split!r} allows {task_type}")
    plan = load_floor_plan(plans[int(rng.integers(len(plans)))])
    pairs = task_candidates(plan, task_type)
    target, goal = pairs[int(rng.integers(len(pairs)))]
    receptacles, start = _receptacles(plan, rng)
    scene = Scene(receptacles, _scatter(plan, receptacles, task_type, target, goal, rng), start)
    look = task_type == "look_at_obj_in_light"
    params = {"object_target": target, "parent_target": "" if look else goal,
              "toggle_target": goal if look else "", "mrecep_target": "", "object_sliced": False}
    templates = goal_library.gdict[task_type]["templates"]
    sentence = templates[int(rng.integers(len(templates)))].format(
        obj=target.lower(), recep=params["parent_target"].lower(),
        toggle=params["toggle_target"].lower(), mrecep="")
    name = f"{task_type}-{target}-None-{goal}-{plan.number}"
    trial = f"trial_S{seed}_{split}_{index:06d}"
    traj = {"task_id": trial, "task_type": task_type, "pddl_params": params,
            "scene": {"floor_plan": f"FloorPlan{plan.number}", "scene_num": plan.number},
            "turk_annotations": {"anns": []},
            "prism": {"split": split, "seed": seed, "index": index, "attempt": attempt,
                      "task": name, "version": GENERATOR_VERSION}}
    game = {"pddl_domain": DOMAIN_FILE.read_text(),
            "grammar": GRAMMAR_FILE.read_text().replace("UNKNOWN GOAL", sentence),
            "pddl_problem": problem_pddl(trial, scene, task_type, params),
            "solvable": True, "walkthrough": []}
    return game, traj


def problem_pddl(name: str, scene: Scene, task_type: str, params: dict) -> str:
    """The PDDL problem of a scene, with the goal from ALFWorld's goal library."""
    locations = sorted({scene.agent_location, *scene.receptacles.values()})
    lines = [f"(define (problem {escape(name)})", "(:domain alfred)", "(:objects", "agent1 - agent"]
    lines += [f"{t}Type - otype" for t in OBJECT_TYPES]
    lines += [f"{t}Type - rtype" for t in RECEPTACLE_TYPES]
    lines += [f"{escape(o)} - object" for o in sorted(scene.objects)]
    lines += [f"{escape(r)} - receptacle" for r in sorted(scene.receptacles)]
    lines += [f"{escape(loc)} - location" for loc in locations]
    lines += [")", "(:init", f"(atLocation agent1 {escape(scene.agent_location)})"]
    for rt in RECEPTACLE_TYPES:
        lines += [f"(canContain {rt}Type {ot}Type)"
                  for ot in sorted(C.VAL_RECEPTACLE_OBJECTS[rt]) if ot in OBJECT_TYPES]
    for rid, loc in sorted(scene.receptacles.items()):
        r, kind = escape(rid), _receptacle_type(rid)
        lines += [f"(receptacleType {r} {kind}Type)", f"(receptacleAtLocation {r} {escape(loc)})"]
        if kind in C.OPENABLE_CLASS_SET:
            lines.append(f"(openable {r})")
    for oid, rid in sorted(scene.objects.items()):
        o, kind = escape(oid), oid.split("|")[0]
        lines += [f"(objectType {o} {kind}Type)", f"(inReceptacle {o} {escape(rid)})",
                  f"(objectAtLocation {o} {escape(scene.receptacles[rid])})"]
        if kind not in LAMPS:
            lines.append(f"(pickupable {o})")
        if kind in C.MOVABLE_RECEPTACLES:
            lines.append(f"(isReceptacleObject {o})")
        lines += [f"({fact} {o})" for cls, fact in _ACTION_FACTS.items()
                  if kind in C.VAL_ACTION_OBJECTS[cls]]
    lines.append(")")
    goal = goal_library.gdict[task_type]["pddl"].format(
        obj=params["object_target"], recep=params["parent_target"],
        toggle=params["toggle_target"], mrecep="").replace("#", "-")
    return "\n".join(lines) + "\n" + goal


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
    from prism_jax.envs.alfworld.expert import ExpertError, plan_game

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
    from prism_jax.progress import track

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
    from prism_jax.envs.alfworld.env import task_type_of

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
    import tyro

    from prism_jax.envs.registry import parse_count

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
        from prism_jax.envs.alfworld.datagen import expert_episodes

        episodes = expert_episodes(paths, workers=cfg.workers, max_steps=cfg.max_steps,
                                   desc="verify")
        lost = [e for e in episodes if not e.success]
        print(f"expert wins {len(episodes) - len(lost)}/{len(episodes)} games through the engine")
        for e in lost:
            print(f"  not won: {e.task_id}" + (f" ({e.error})" if e.error else ""))
        return 0 if not lost else 1
    return 0
