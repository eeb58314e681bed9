"""One ALFWorld game drawn from a floor plan shipped with the `alfworld` package.

Each game takes one of the 120 AI2-THOR floor plans (its receptacles, their poses and the
object types present), draws a task valid for that room with ALFRED's constraints, scatters
1-3 instances of every portable object type over receptacles that can hold it, and writes the
PDDL facts. Receptacle types the pose files lack get the counts real ALFWorld rooms have (four
stove burners in a kitchen, one or two towel holders, ...). Everything is drawn from
``numpy.random.default_rng((seed, split, index, attempt))``, so the same seed gives
byte-identical games. Writing games into folders: `prism_jax.envs.alfworld.gamegen`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import alfworld.gen.constants as C
import alfworld.gen.goal_library as goal_library
import numpy as np

TASK_TYPES = {
    "pick_and_place_simple": "Pick",
    "look_at_obj_in_light": "Look",
    "pick_clean_then_place_in_recep": "Clean",
    "pick_heat_then_place_in_recep": "Heat",
    "pick_cool_then_place_in_recep": "Cool",
    "pick_two_obj_and_place": "Pick2",
}
SPLITS = ("train", "valid_seen", "valid_unseen")
# Bumped whenever the generator draws differently; games of another version are redrawn.
GENERATOR_VERSION = 2
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
