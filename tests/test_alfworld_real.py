"""ALFWorld's own data: the expert on real-style PDDL written by hand, and folders in the real
json_2.1.1 layout used for evaluation and data without a byte written into them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alfworld_real import fabricate, tree_digest
from prism_jax.envs.alfworld import AlfworldEnv, expert_steps, gamegen, rooms
from prism_jax.envs.alfworld.expert import put_template

# every type constant, as real problem files declare them
TYPES = ("\n".join(f"        {t}Type - otype" for t in rooms.OBJECT_TYPES) + "\n" +
         "\n".join(f"        {t}Type - rtype" for t in rooms.RECEPTACLE_TYPES))


def esc(thor_id: str) -> str:
    return rooms.escape(thor_id)


def write_game(folder, task_type, params, sentence, objects, receptacles, locations, facts,
               old_grammar=False):
    """A game file in the real data's style from hand-written facts."""
    import alfworld.gen.goal_library as goal_library

    decl = "\n".join([f"        {esc(o)} - object" for o in objects] +
                     [f"        {esc(r)} - receptacle" for r in receptacles] +
                     [f"        {esc(loc)} - location" for loc in locations])
    init = "\n".join(f"        ({name} {' '.join(esc(a) for a in args)})" for name, *args in facts)
    goal = goal_library.gdict[task_type]["pddl"].format(
        obj=params["object_target"], recep=params["parent_target"],
        toggle=params["toggle_target"], mrecep="").replace("#", "-")
    problem = (f"\n(define (problem plan_trial_T20190909_000000_000001)\n(:domain alfred)\n"
               f"(:objects\nagent1 - agent\n{TYPES}\n\n\n{decl}\n        )\n    \n\n(:init\n\n\n"
               f"{init}\n        )\n{goal}")
    grammar = rooms.GRAMMAR_FILE.read_text().replace("UNKNOWN GOAL", sentence)
    if old_grammar:  # ALFWorld's data before 0.4 puts things with "put X in/on R"
        grammar = grammar.replace('template :: "move {o} to {r}";\n    feedback :: "#PutObject.',
                                  'template :: "put {o} in/on {r}";\n    feedback :: "#PutObject.')
    folder.mkdir(parents=True)
    (folder / "game.tw-pddl").write_text(json.dumps({
        "pddl_domain": rooms.DOMAIN_FILE.read_text(), "grammar": grammar, "pddl_problem": problem,
        "solvable": True, "walkthrough": []}))
    (folder / "traj_data.json").write_text(json.dumps({
        "task_type": task_type, "pddl_params": {**params, "mrecep_target": "", "object_sliced": False},
        "turk_annotations": {"anns": []}, "images": []}))
    return folder / "game.tw-pddl"


L0, L1, L2, L3, L4, L5 = ("loc|0|0|0|30", "loc|8|4|0|45", "loc|-6|4|3|60", "loc|-4|-8|2|60",
                          "loc|4|-8|2|60", "loc|8|-8|1|60")
BED, DESK, SHELF = "Bed|+02.00|+00.00|+01.00", "Desk|-01.50|+00.00|+01.00", "Shelf|-01.50|+01.20|+01.00"


def pencil_game(root):
    """put a pencil in shelf, with the old grammar: a pencil in the closed drawer listed second,
    another on the floor by the garbage can (no command takes it), cd 1 listed in both shelf 1
    and desk 1 (they share a spot), the other drawer closed and empty. (The engine numbers
    instances from the highest sorted id down: Drawer|+01.00 is drawer 1.)"""
    drawer1, drawer2 = "Drawer|-01.00|+00.20|-02.00", "Drawer|+01.00|+00.20|-02.00"
    can, pencil1, pencil2 = "GarbageCan|+02.00|+00.00|-02.00", "Pencil|-01.00|+00.25|-02.00", \
        "Pencil|+02.00|+00.00|-02.00"
    cd = "CD|-01.50|+01.25|+01.00"
    receptacles = [BED, DESK, SHELF, drawer1, drawer2, can]
    where = {BED: L1, DESK: L2, SHELF: L2, drawer1: L3, drawer2: L4, can: L5}
    facts = [("receptacleType", r, r.split("|")[0] + "Type") for r in receptacles]
    facts += [("receptacleAtLocation", r, loc) for r, loc in where.items()]
    facts += [("openable", drawer1), ("openable", drawer2), ("atLocation", "agent1", L0)]
    for rt in ("Shelf", "Drawer", "Desk", "GarbageCan", "Shelf"):   # repeated, as in real files
        facts += [("canContain", f"{rt}Type", "PencilType")]
    facts += [("canContain", "ShelfType", "CDType"), ("canContain", "DeskType", "CDType")]
    facts += [("objectType", pencil1, "PencilType"), ("objectType", pencil2, "PencilType"),
              ("objectType", cd, "CDType"), ("pickupable", pencil1), ("pickupable", pencil2),
              ("pickupable", cd), ("inReceptacle", pencil1, drawer1), ("objectAtLocation", pencil1, L3),
              ("objectAtLocation", pencil2, L5), ("inReceptacle", cd, SHELF), ("inReceptacle", cd, DESK),
              ("objectAtLocation", cd, L2)]
    return write_game(root / "pick_and_place_simple-Pencil-None-Shelf-301" / "trial_T1",
                      "pick_and_place_simple",
                      {"object_target": "Pencil", "parent_target": "Shelf", "toggle_target": ""},
                      "put a pencil in shelf", [pencil1, pencil2, cd], receptacles,
                      [L0, *sorted(set(where.values()))], facts, old_grammar=True)


def lamp_game(root):
    """look at alarmclock under the desklamp: the lamp stands on shelf 1 (not a desk), which
    shares its spot with desk 1, where one alarm clock is; another lies on the floor."""
    side, clock1, clock2 = "SideTable|+01.00|+00.00|-02.00", "AlarmClock|-01.40|+00.80|+01.00", \
        "AlarmClock|+02.00|+00.00|+01.50"
    lamp, book = "DeskLamp|-01.60|+01.30|+01.00", "Book|+01.00|+00.60|-02.00"
    receptacles = [BED, DESK, SHELF, side]
    where = {BED: L1, DESK: L2, SHELF: L2, side: L3}
    facts = [("receptacleType", r, r.split("|")[0] + "Type") for r in receptacles]
    facts += [("receptacleAtLocation", r, loc) for r, loc in where.items()]
    facts += [("atLocation", "agent1", L0)]
    facts += [("canContain", f"{rt}Type", "AlarmClockType") for rt in ("Desk", "Shelf", "SideTable")]
    facts += [("canContain", "SideTableType", "BookType")]
    facts += [("objectType", clock1, "AlarmClockType"), ("objectType", clock2, "AlarmClockType"),
              ("objectType", lamp, "DeskLampType"), ("objectType", book, "BookType"),
              ("pickupable", clock1), ("pickupable", clock2), ("pickupable", book), ("toggleable", lamp),
              ("inReceptacle", clock1, DESK), ("objectAtLocation", clock1, L2),
              ("objectAtLocation", clock2, L1), ("inReceptacle", lamp, SHELF),
              ("objectAtLocation", lamp, L2), ("inReceptacle", book, side), ("objectAtLocation", book, L3)]
    return write_game(root / "look_at_obj_in_light-AlarmClock-None-DeskLamp-301" / "trial_T2",
                      "look_at_obj_in_light",
                      {"object_target": "AlarmClock", "parent_target": "", "toggle_target": "DeskLamp"},
                      "look at alarmclock under the desklamp", [clock1, clock2, lamp, book],
                      receptacles, [L0, *sorted(set(where.values()))], facts)


def play_through_engine(game):
    """The expert's steps through the engine: (observations seen before each step, won)."""
    env = AlfworldEnv(max_steps=60)
    obs, info = env.reset(options={"game": str(game)})
    seen, won = [obs], False
    for action, _ in expert_steps(game):
        assert action in info["admissible_commands"], (action, obs)
        obs, _, won, _, info = env.step(action)
        seen.append(obs)
    env.close()
    return seen, won


@pytest.mark.parametrize("make, expected", [
    (pencil_game, ["go to shelf 1", "go to garbagecan 1", "go to drawer 1", "open drawer 1",
                   "go to drawer 2", "open drawer 2", "take pencil 2 from drawer 2",
                   "go to shelf 1", "put pencil 2 in/on shelf 1"]),
    (lamp_game, ["go to sidetable 1", "go to shelf 1", "examine desk 1",
                 "take alarmclock 2 from desk 1", "use desklamp 1"]),
])
def test_expert_on_hand_written_real_style_pddl(tmp_path, make, expected):
    game = make(tmp_path)
    assert [a for a, _ in expert_steps(game)] == expected
    seen, won = play_through_engine(game)
    assert won
    # every reason names only receptacles and objects the agent has been shown
    for k, (_, reason) in enumerate(expert_steps(game)):
        shown = " ".join(seen[:k + 1])
        for name in re.findall(r"[a-z]+ \d+", reason):
            assert name in shown, (k, name, reason)


def test_put_template_follows_the_games_grammar():
    assert put_template(rooms.GRAMMAR_FILE.read_text()) == "move {o} to {r}"
    assert put_template(None) == "move {o} to {r}"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fabricate(root, {"train": 12, "valid_seen": 18, "valid_unseen": 7})
    return root


def test_real_layout_folder_is_read_as_it_is(real):
    from prism_jax.envs.registry import EnvOptions, alfworld_tasks

    before = tree_digest(real)
    assert not gamegen.owns(real) and not gamegen.owns(real / "json_2.1.1")
    tasks = alfworld_tasks("valid_seen", 12, EnvOptions(games_dir=real))
    types = [json.loads((Path(t).parent / "traj_data.json").read_text())["task_type"] for t in tasks]
    assert len(tasks) == 12 and sorted(set(types)) == sorted(rooms.TASK_TYPES)
    assert len(alfworld_tasks("valid_unseen", None, EnvOptions(games_dir=real))) == 7
    with pytest.raises(ValueError, match="holds 7 games, 8 were asked"):
        alfworld_tasks("valid_unseen", 8, EnvOptions(games_dir=real))
    assert tree_digest(real) == before


def test_expert_plays_every_fabricated_game(real):
    from prism_jax.envs.alfworld import list_games

    games = list_games(real, "valid_unseen")
    for game in games:
        assert not any("plus_09_dot_99" in a for a, _ in expert_steps(game))  # not the floor one
    assert all(play_through_engine(g)[1] for g in games[:3])
