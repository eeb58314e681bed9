"""ALFWorld: generated games checked against ALFRED's rules and the real TextWorld engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import textworld
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
from textworld.envs.pddl import PddlEnv

from prism_jax.envs.alfworld import (TASK_TYPES, AlfworldEnv, AlfworldVecEnv, balanced, evaluate,
                                     expert_actions, expert_steps, generate_games, list_games)
from prism_jax.envs.alfworld import datagen, gamegen, rooms
from prism_jax.envs.alfworld.engine import install_caches
from prism_jax.envs.prompts import format_response
from prism_jax.episodes import chat_policy

ALL_TYPES = list(TASK_TYPES)
# ALFRED's room numbering, written out independently of the package's constants.
ROOMS = {"Kitchen": range(1, 31), "LivingRoom": range(201, 231), "Bedroom": range(301, 331),
         "Bathroom": range(401, 431)}
ALLOWED_ROOMS = {"pick_and_place_simple": set(ROOMS), "pick_two_obj_and_place": set(ROOMS),
                 "look_at_obj_in_light": {"LivingRoom", "Bedroom"},
                 "pick_clean_then_place_in_recep": {"Kitchen", "Bathroom"},
                 "pick_heat_then_place_in_recep": {"Kitchen"},
                 "pick_cool_then_place_in_recep": {"Kitchen"}}


@pytest.fixture(scope="module")
def games(tmp_path_factory) -> dict[str, list[Path]]:
    """One game per task type for each split (seed 0)."""
    root = tmp_path_factory.mktemp("alfworld")
    return {split: generate_games(split, 6, root, seed=0, progress=False)
            for split in rooms.SPLITS}


def engine(path):
    """The engine as ALFWorld's AlfredTWEnv sets it up (with this project's caches, which
    tests/test_alfworld_engine.py shows change nothing but the speed)."""
    install_caches()
    env = AlfredInfos(AlfredDemangler(PddlEnv(textworld.EnvInfos(
        won=True, admissible_commands=True, extras=["gamefile"]))))
    env.load(str(path))
    return env


def traj(path) -> dict:
    return json.loads((Path(path).parent / "traj_data.json").read_text())


def init_facts(path) -> list[tuple[str, ...]]:
    problem = json.loads(Path(path).read_text())["pddl_problem"]
    init = problem.split("(:init", 1)[1].split("(:goal", 1)[0]
    return [tuple(m.split()) for m in re.findall(r"\(([^()]+)\)", init)]


def test_same_seed_same_games(tmp_path, games):
    a = generate_games("train", 6, tmp_path / "a", seed=3, progress=False)
    b = generate_games("train", 6, tmp_path / "b", seed=3, progress=False)
    c = generate_games("train", 6, tmp_path / "c", seed=4, progress=False)
    for pa, pb in zip(a, b):
        assert pa.relative_to(tmp_path / "a") == pb.relative_to(tmp_path / "b")
        assert pa.read_bytes() == pb.read_bytes()
        assert (pa.parent / "traj_data.json").read_bytes() == (pb.parent / "traj_data.json").read_bytes()
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]
    assert [expert_actions(p) for p in a] == [expert_actions(p) for p in b]


def test_every_generated_game_fits_the_step_limit_and_redraws_are_deterministic(tmp_path):
    """With a tight limit many first draws are too long: they are redrawn, the same way twice."""
    a = generate_games("train", 18, tmp_path / "a", seed=2, max_steps=8, progress=False)
    b = generate_games("train", 18, tmp_path / "b", seed=2, max_steps=8, progress=False)
    assert all(len(expert_actions(p)) <= 8 for p in a)
    attempts = [traj(p)["prism"]["attempt"] for p in a]
    assert max(attempts) > 0
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    # attempt 0 is the plain draw: a game that fits keeps it
    for p, k in zip(a, attempts):
        game, t = rooms.sample_game("train", t_index(p), 2, traj(p)["task_type"], k)
        assert json.dumps(game) == p.read_text()


def t_index(path) -> int:
    return traj(path)["prism"]["index"]


def test_missing_receptacle_types_get_realistic_counts(tmp_path):
    """Kitchens: 4 stove burners, in pairs sharing a spot (as in ALFWorld's rooms); the
    original pose files list none. Bathrooms get their towel holders."""
    paths = generate_games("train", 30, tmp_path, seed=3, task_types=["pick_heat_then_place_in_recep"],
                           progress=False)
    for p in paths[:10]:
        facts = init_facts(p)
        burners = {f[1]: None for f in facts if f[0] == "receptacleType" and f[2] == "StoveBurnerType"}
        spots = [f[2] for f in facts if f[0] == "receptacleAtLocation" and f[1] in burners]
        assert len(burners) == 4 and sorted(map(spots.count, set(spots))) == [2, 2]
    kinds = set()
    for p in generate_games("train", 12, tmp_path / "bath", seed=4,
                            task_types=["pick_clean_then_place_in_recep"], progress=False):
        if 401 <= traj(p)["scene"]["scene_num"] <= 430:
            kinds |= {f[2] for f in init_facts(p) if f[0] == "receptacleType"}
    assert {"TowelHolderType", "ToiletPaperHangerType"} <= kinds


def test_games_are_never_written_into_a_users_folder(tmp_path, games):
    user = tmp_path / "json_2.1.1" / "train" / "pick_and_place_simple-Apple-None-Fridge-1" / "trial_T1"
    user.mkdir(parents=True)
    src = games["train"][0]
    (user / "game.tw-pddl").write_bytes(src.read_bytes())
    t = traj(src)
    del t["prism"]
    (user / "traj_data.json").write_text(json.dumps(t))
    before = sorted((p, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    for root in (tmp_path, tmp_path / "json_2.1.1"):
        assert not gamegen.owns(root)
        with pytest.raises(ValueError, match="not generated here"):
            generate_games("train", 2, root, progress=False)
    assert sorted((p, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()) == before
    own = games["train"][0].parents[3]
    assert gamegen.owns(own) and gamegen.owns(tmp_path / "new")


def test_balanced_selection_round_robins_over_types(tmp_path, games):
    for p in games["train"]:  # one game per type (seed 0) and three per type (seed 9)
        dest = tmp_path / p.relative_to(games["train"][0].parents[3])
        dest.parent.mkdir(parents=True)
        dest.write_bytes(p.read_bytes())
        (dest.parent / "traj_data.json").write_bytes((p.parent / "traj_data.json").read_bytes())
    two = generate_games("train", 18, tmp_path, seed=9, progress=False)
    pool = list_games(tmp_path, "train")
    picked = balanced(pool, 12)
    types = [traj(p)["task_type"] for p in picked]
    assert types[:6] == list(TASK_TYPES) and types[6:] == list(TASK_TYPES)
    for t in TASK_TYPES:  # within a type, by trial id
        mine = [p.parent.name for p in picked if traj(p)["task_type"] == t]
        assert mine == sorted(p.parent.name for p in pool if traj(p)["task_type"] == t)[:2]
    assert balanced(pool) == balanced(pool, len(pool)) and len(balanced(pool)) == len(pool)
    assert balanced(two, 6) == two[:6]  # generated games already take turns


def test_layout_and_list_games(tmp_path, games):
    root = games["train"][0].parents[3]
    for split, paths in games.items():
        assert sorted(paths) == list_games(root, split)
        for p in paths:
            rel = p.relative_to(root).parts
            assert rel[0] == split and rel[2].startswith("trial_") and rel[3] == "game.tw-pddl"
            data = json.loads(p.read_text())
            assert set(data) >= {"pddl_domain", "grammar", "pddl_problem", "solvable"}
        assert sorted(traj(p)["task_type"] for p in paths) == sorted(ALL_TYPES)
    # ALFWorld's own download layout: $ALFWORLD_DATA/json_2.1.1/<split>/...
    alias = tmp_path / "data" / "json_2.1.1"
    alias.parent.mkdir()
    alias.symlink_to(root)
    assert [p.name for p in list_games(tmp_path / "data", "valid_seen")] == ["game.tw-pddl"] * 6
    with pytest.raises(FileNotFoundError, match="gen-games"):
        list_games(tmp_path / "nowhere", "train")


def test_unseen_split_has_its_own_floor_plans(tmp_path):
    train, unseen = set(rooms.floor_plans("train")), set(rooms.floor_plans("valid_unseen"))
    assert {10, 219, 308, 424} <= unseen and not train & unseen
    assert set(rooms.floor_plans("valid_seen")) == train
    paths = generate_games("valid_unseen", 24, tmp_path, seed=1, progress=False)
    plans = {traj(p)["scene"]["scene_num"] for p in paths}
    assert plans <= unseen


def test_task_and_room_validity(tmp_path):
    """ALFRED's rules on 60 games: room kind, affordances, targets never start solved."""
    from alfworld.gen.constants import VAL_ACTION_OBJECTS, VAL_RECEPTACLE_OBJECTS

    need = {"pick_heat_then_place_in_recep": "Heatable", "pick_cool_then_place_in_recep": "Coolable",
            "pick_clean_then_place_in_recep": "Cleanable"}
    for path in generate_games("train", 60, tmp_path, seed=7, progress=False):
        t = traj(path)
        task, params, num = t["task_type"], t["pddl_params"], t["scene"]["scene_num"]
        room = next(r for r, nums in ROOMS.items() if num in nums)
        assert room in ALLOWED_ROOMS[task], (task, num)
        obj = params["object_target"]
        if task in need:
            assert obj in VAL_ACTION_OBJECTS[need[task]]
        if task == "look_at_obj_in_light":
            assert params["toggle_target"] in ("DeskLamp", "FloorLamp")
            continue
        goal = params["parent_target"]
        assert obj in VAL_RECEPTACLE_OBJECTS[goal]
        facts = init_facts(path)
        rtype = {f[1]: f[2] for f in facts if f[0] == "receptacleType"}
        otype = {f[1]: f[2] for f in facts if f[0] == "objectType"}
        starts = [rtype[f[2]] for f in facts if f[0] == "inReceptacle" and otype[f[1]] == f"{obj}Type"]
        assert len(starts) >= (2 if task == "pick_two_obj_and_place" else 1)
        assert f"{goal}Type" not in starts
        if task == "pick_cool_then_place_in_recep":
            assert "FridgeType" not in starts


def test_expert_wins_every_sampled_game_through_the_engine(games):
    """One game per task type per split, each command admissible when issued, the last wins."""
    searches = []
    for split, paths in games.items():
        for path in paths:
            env = engine(path)
            state = env.reset()
            actions = expert_actions(path)
            for action in actions:
                assert action in state["admissible_commands"], (path, action, state.feedback)
                assert not state["won"]
                state, _, _ = env.step(action)
            assert state["won"], (path, actions)
            first_take = next(i for i, a in enumerate(actions) if a.startswith("take"))
            searches.append(sum(a.startswith(("go to", "examine", "open")) for a in actions[:first_take]))
            env.close()
    # routine episodes (object in the first receptacle checked) and searches over several
    assert min(searches) == 1 and max(searches) >= 3


def test_observation_text_and_invalid_commands(games):
    path = games["train"][0]
    env = AlfworldEnv(max_steps=5)
    obs, info = env.reset(options={"game": str(path)})
    raw = engine(path)
    state = raw.reset()
    assert obs == state.feedback
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.")
    assert f"Your task is to: {info['task']}." in obs
    assert info["admissible_commands"] == state["admissible_commands"]
    assert info["task_type"] == traj(path)["task_type"] and info["step"] == 0
    garbage = ["", "   ", "x" * 10_000, "ôüñ 你好 🤖", "go to nowhere 99", "<action>look</action>"]
    for i, action in enumerate(garbage[:4]):
        obs, reward, term, trunc, info = env.step(action)
        assert obs == raw.step(action)[0].feedback == "Nothing happens."
        assert info["invalid"] and reward == 0.0 and not term and info["step"] == i + 1
        assert not trunc
    obs, _, term, trunc, info = env.step(garbage[4])
    assert trunc and not term and info["step"] == 5  # max_steps=5
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step("look")
    # an admissible command goes to the engine and returns its text
    obs, info = env.reset(options={"task": str(path)})
    command = next(c for c in info["admissible_commands"] if c.startswith("go to"))
    obs, *_, info = env.step(command)
    raw.reset()
    assert obs == raw.step(command)[0].feedback and obs.startswith("You arrive at")
    assert not info["invalid"]
    env.close()


def test_check_env_and_random_play(games):
    from gymnasium.utils.env_checker import check_env

    env = AlfworldEnv(games=games["valid_seen"][:2], max_steps=8)
    check_env(env, skip_render_check=True)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=1)
    for _ in range(8):
        pool = info["admissible_commands"] + ["", "ünïcode", "z" * 5000]
        obs, reward, term, trunc, info = env.step(pool[int(rng.integers(len(pool)))])
        assert isinstance(obs, str) and obs
        if term or trunc:
            break
    assert trunc or term
    env.close()


def test_reset_without_any_game_is_an_error():
    with pytest.raises(ValueError, match="no game"):
        AlfworldEnv().reset()
    with pytest.raises(FileNotFoundError, match="missing.tw-pddl"):
        AlfworldEnv().reset(options={"game": "/nonexistent/missing.tw-pddl"})


def test_vec_env_matches_single_env(games):
    paths = [str(games["valid_unseen"][0]), str(games["valid_unseen"][3])]
    plans = [expert_actions(p) for p in paths]
    with AlfworldVecEnv(2, max_steps=50) as vec:
        obs, infos = vec.reset(paths)
        singles = [AlfworldEnv() for _ in paths]
        for single, path, o in zip(singles, paths, obs):
            assert single.reset(options={"game": path})[0] == o
        done = [False, False]
        for t in range(max(map(len, plans)) + 1):
            actions = [plan[t] if t < len(plan) else "look" for plan in plans]
            obs, rewards, term, trunc, infos = vec.step(actions)
            for i, single in enumerate(singles):
                if done[i]:
                    assert rewards[i] == 0.0 and term[i]  # finished envs repeat, reward 0
                    continue
                expected = single.step(actions[i])
                assert (obs[i], rewards[i], term[i], trunc[i]) == expected[:4]
                done[i] = term[i]
        assert done == [True, True]
        with pytest.raises(ValueError):
            vec.step(["look"])
        # an env error costs that env's episode, reported with its reason
        obs, infos = vec.reset(["/nonexistent/game.tw-pddl"], indices=[0])
        assert obs == [""] and "not found" in infos[0]["error"]
        assert "not found" in vec.step(["look"], indices=[0])[4][0]["error"]
    for single in singles:
        single.close()


def test_one_worker_hosts_several_envs(games):
    paths = [str(p) for p in games["valid_seen"][:3]]
    with AlfworldVecEnv(3, workers=2) as vec:
        assert vec.workers == 2 and vec.worker_pid(0) == vec.worker_pid(2) != vec.worker_pid(1)
        obs, _ = vec.reset(paths)
        assert obs == [AlfworldEnv().reset(options={"game": p})[0] for p in paths]
        plan = expert_actions(paths[2])
        obs, *_ = vec.step(plan[:1], indices=[2])
        single = AlfworldEnv()
        single.reset(options={"game": paths[2]})
        assert obs == [single.step(plan[0])[0]]


def test_evaluate_reports_table_columns(games):
    paths = [str(games["train"][0]), str(games["train"][2])]  # Pick and Clean
    # the expert answers the Pick game; the Clean game only gets text without action tags
    intros = [AlfworldEnv().reset(options={"game": p})[0] for p in paths]
    plan = expert_actions(paths[0])

    def respond(prompts):
        out = []
        for [msg] in prompts:
            text = msg["content"]
            n_done = int(text.split("already taken ", 1)[1].split(" ")[0]) if "already" in text else 0
            pick = intros[0].split("Your task is to: ")[1] in text
            out.append(format_response(plan[n_done], "ok") if pick else "I give up")
        return out

    report = evaluate(chat_policy(respond), paths, batch_size=2, max_steps=12, progress=False)
    assert report["counts"] == {"Pick": 1, "Look": 0, "Clean": 1, "Heat": 0, "Cool": 0,
                                "Pick2": 0, "All": 2}
    success = report["success"]
    assert success["Pick"] == 1.0 and success["Clean"] == 0.0 and success["All"] == 0.5
    assert np.isnan(success["Look"])
    won, lost = report["episodes"]
    assert won["task_id"] == paths[0] and won["won"] and won["reward"] == 10.0
    assert won["n_steps"] == len(plan) and won["n_invalid"] == 0
    assert not lost["won"] and lost["n_invalid"] == lost["n_steps"] == 12
    # each step's prompt is recorded as shown: verl-agent's template
    assert "Prior to this step, you have already taken 1 step(s)" in won["prompts"][1][0]["content"]
    assert all(len(p) == 1 and p[0]["role"] == "user" for p in won["prompts"])


def test_gen_data_writes_schema_records_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "trajs.jsonl"
    argv = ["--out", str(out), "--split", "valid_seen", "--n", "3", "--games-dir",
            str(tmp_path / "g"), "--workers", "2", "--envs-per-worker", "1"]
    # an interrupted run: the first two episodes are saved, then the run dies
    real = datagen.trajectory_record
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(datagen, "trajectory_record", dying)
    with pytest.raises(KeyboardInterrupt):
        datagen.main(argv, "test")
    assert not out.exists() and (tmp_path / ".trajs.jsonl.partial").is_file()
    monkeypatch.setattr(datagen, "trajectory_record", real)
    played = []
    original = datagen.expert_episodes
    monkeypatch.setattr(datagen, "expert_episodes",
                        lambda games, **kw: played.extend(games) or original(games, **kw))
    assert datagen.main(argv, "test") == 0
    assert len(played) == 1  # the two saved episodes are not played again
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 and not list(tmp_path.glob(".trajs.jsonl*"))
    assert [r["id"] for r in records] == [f"alfworld-valid_seen-{i:06d}" for i in range(3)]
    for r in records:
        assert r["env"] == "alfworld" and r["split"] == "valid_seen" and r["think"] is True
        assert r["success"] is True and r["reward"] == 10.0
        assert r["task_type"] == traj(r["task_id"])["task_type"]
        assert r["prompt"] == {"style": "verl", "history": 2}
        roles = [m["role"] for m in r["messages"]]
        assert roles[:2] == ["system", "user"] and roles[1:] == ["user", "assistant"] * r["n_steps"]
        assert [m["content"] for m in r["messages"] if m["role"] == "assistant"] == [
            format_response(a, why) for a, why in expert_steps(r["task_id"])]
        assert len(r["turns"]) == r["n_steps"] + 1


def test_gen_data_on_a_users_folder_skips_what_the_expert_cannot_finish(tmp_path, games, capsys):
    user = tmp_path / "json_2.1.1" / "valid_seen"
    for p in games["valid_seen"][:4]:
        dest = user / p.parent.parent.name / f"trial_T2019_{p.parent.name[-6:]}"
        dest.mkdir(parents=True)
        t = traj(p)
        del t["prism"]
        (dest / "traj_data.json").write_text(json.dumps(t))
        (dest / "game.tw-pddl").write_bytes(p.read_bytes())
    longest = max(len(expert_actions(p)) for p in games["valid_seen"][:4])
    out = tmp_path / "o.jsonl"
    argv = ["--out", str(out), "--split", "valid_seen", "--games-dir", str(tmp_path),
            "--max-steps", str(longest - 1)]
    with pytest.raises(SystemExit, match="holds 4 games, 5 were asked"):
        datagen.main(argv + ["--n", "5"], "test")
    assert datagen.main(argv + ["--n", "all"], "test") == 0
    text = capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    skipped = sum(len(expert_actions(p)) > longest - 1 for p in games["valid_seen"][:4])
    assert len(records) == 4 - skipped and f"skipped {skipped} games" in text


def test_task_types_and_plan_limit_reach_data_and_evaluation_games(tmp_path):
    """A pipeline restricted to some task types gets only those, with plans within its limit,
    in its data (gen-data) and its evaluation games (the registry's task list)."""
    from prism_jax.envs.registry import EnvOptions, get_env
    from prism_jax.evaluate import EvalSettings, eval_tasks

    kinds = ("look_at_obj_in_light", "pick_and_place_simple")
    cfg = datagen.GenDataConfig(out=tmp_path / "t.jsonl", split="train", n=6,
                                games_dir=tmp_path / "g", task_types=kinds, max_steps=12)
    data = datagen.select_games(cfg)
    assert [traj(p)["task_type"] for p in data] == list(kinds) * 3
    assert all(len(expert_actions(p)) <= 12 for p in data)
    settings = EvalSettings(n=4, games_dir=tmp_path / "g", task_types=kinds, plan_steps=12)
    ids = eval_tasks("alfworld", ["valid_unseen"], settings)["valid_unseen"]
    assert sorted(traj(p)["task_type"] for p in ids) == sorted(kinds * 2)
    assert all(len(expert_actions(p)) <= 12 for p in ids)
    assert all("/valid_unseen/" in p for p in ids)
    # the default stays all six types
    six = get_env("alfworld").tasks("valid_seen", 6, EnvOptions(games_dir=tmp_path / "g"))
    assert sorted(traj(p)["task_type"] for p in six) == sorted(ALL_TYPES)
