"""`prism gen-data webshop`: the expert's success rate, the trajectory schema, replayability."""

from __future__ import annotations

import json

import pytest

from prism_jax.envs.prompts import parse_action
from prism_jax.envs.webshop import WebShopEnv, default_catalog
from prism_jax.envs.webshop.datagen import main, trajectory_stats
from prism_jax.files import write_jsonl

KEYS = {"id", "messages", "env", "task_type", "success", "reward", "task_id", "split", "n_steps",
        "instruction", "task", "think", "turns", "prompt"}


def replay(messages: list[dict]) -> dict:
    """Play the recorded assistant actions in a fresh env; the final info."""
    task = messages[1]["content"].split("\n")[0].removeprefix("Task: ")
    catalog = default_catalog()
    task_id = next(str(i) for i, g in enumerate(catalog.goals) if g.instruction_text == task)
    env = WebShopEnv(catalog)
    _, info = env.reset(options={"task": task_id})
    for m in messages:
        if m["role"] == "assistant":
            action, valid = parse_action(m["content"])
            assert valid
            info = env.step(action)[-1]
    return info


def test_expert_solves_test_goals(tmp_path, capsys):
    out = tmp_path / "trajs.jsonl"
    assert main(["--split", "test", "--n", "500", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 500 and all(set(r) == KEYS for r in records)
    rate = sum(r["success"] for r in records) / len(records)
    assert rate >= 0.95
    assert f"{sum(r['success'] for r in records)}/500" in capsys.readouterr().out
    assert [r["task_id"] for r in records] == [str(i) for i in range(500)]
    for r in records[:40]:
        assert r["env"] == "webshop" and r["split"] == "test"
        roles = [m["role"] for m in r["messages"]]
        assert roles[:2] == ["system", "user"] and roles[-1] == "assistant"
        assert roles[2:] == ["assistant", "user"] * (len(roles[2:]) // 2) + ["assistant"]
        info = replay(r["messages"])
        assert info["score"] == r["reward"] and info["won"] == r["success"]
        assert info["step"] == r["n_steps"] and info["task_type"] == r["task_type"]


def test_gen_data_200_train_trajectories_vary(tmp_path, capsys):
    # `prism gen-data webshop --n 200`: the expert pages, goes back, reads sub-pages and
    # searches again, and still reaches reward 1.0 on 95% of the goals.
    out = tmp_path / "train.jsonl"
    assert main(["--n", "200", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    stats = trajectory_stats(records)
    assert sum(r["success"] for r in records) >= 190
    assert stats["varied"] >= 0.2 and stats["research"] > 0 and stats["max_steps"] <= 15
    assert len({r["n_steps"] for r in records}) >= 8
    printed = capsys.readouterr().out
    assert f"{100 * stats['varied']:.0f}% page, go back, open a sub-page or search again" in printed
    assert {r["split"] for r in records} == {"train"}


def test_think_mode_and_errors(tmp_path):
    out = tmp_path / "think.jsonl"
    assert main(["--split", "eval", "--n", "3", "--out", str(out), "--think"]) == 0
    for r in map(json.loads, out.read_text().splitlines()):
        for m in r["messages"]:
            if m["role"] == "assistant":
                assert parse_action(m["content"], require_think=True)[1]
    with pytest.raises(SystemExit, match="only 100 goals"):
        main(["--split", "train", "--n", "101", "--num-goals", "1600", "--out", str(out)])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "x.jsonl"
    with pytest.raises(TypeError):
        write_jsonl(path, [{"ok": 1}, {"bad": object()}])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_expert_at_100k_products():
    from prism_jax.envs.webshop import Catalog
    from prism_jax.envs.webshop.datagen import expert_episode

    catalog = Catalog.generate(100_000, seed=0, num_goals=500)
    records = [expert_episode(catalog, str(i)) for i in range(0, 500, 2)]
    assert sum(r["success"] for r in records) >= 0.95 * len(records)
    assert len(catalog.search(catalog.goals[0].query)) == 50
