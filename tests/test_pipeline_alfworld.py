"""The pipeline's ALFWorld wiring: ALFWorld's own games as data, RL tasks and evaluation splits,
and one prompt (verl-agent's, with <think>) for data, RL and evaluation in every preset."""

from __future__ import annotations

import json

import pytest

from alfworld_real import fabricate, tree_digest
from prism_jax.configs import PRESETS, get_config
from prism_jax.envs.prompts import step_prompt
from prism_jax.evaluate import prompt_of
from prism_jax.pipeline import eval_settings
from prism_jax.stages import Run
from prism_jax.train.cli import main as prism

TURNS = [{"observation": "-= Welcome =-\n\nYour task is to: put a mug in desk.",
          "admissible": ["go to desk 1"], "response": "<think>t</think><action>go to desk 1</action>"},
         {"observation": "You arrive at desk 1.", "admissible": ["look"], "response": None}]


@pytest.mark.parametrize("name", sorted(set(PRESETS) - {"demo"}))  # demo: tests/test_demo.py
def test_presets_train_and_evaluate_with_verl_agents_prompt(name, tmp_path):
    cfg = get_config(name)
    assert (cfg.grpo.think, cfg.grpo.history, cfg.grpo.prompt_style) == (True, 2, "verl")
    settings = eval_settings(Run(tmp_path, cfg, ""), seed=1)
    assert (settings.think, settings.history, settings.prompt_style) == (True, 2, "verl")
    assert settings.seed == 1 and settings.data_seed == cfg.data.seed
    [msg] = step_prompt(cfg.env, "put a mug in desk", TURNS, prompt_of(settings))
    assert "Prior to this step, you have already taken 1 step(s)" in msg["content"]
    assert "<think> </think>" in msg["content"]
    if name.endswith("alfworld") and not name.startswith("tiny"):
        assert cfg.eval.n == "all"   # every game of both splits


def test_games_dir_flag_and_eval_games(tmp_path):
    with pytest.raises(SystemExit):
        prism(["pipeline", "--help"])
    cfg = get_config("tiny-alfworld")
    assert eval_settings(Run(tmp_path / "run", cfg, ""), 0).games_dir == tmp_path / "run" / "games"
    import dataclasses
    mine = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, games_dir=tmp_path / "data"))
    assert eval_settings(Run(tmp_path / "run", mine, ""), 0).games_dir == tmp_path / "data"
    other = dataclasses.replace(mine, eval=dataclasses.replace(cfg.eval, games_dir=tmp_path / "ev"))
    assert eval_settings(Run(tmp_path / "run", other, ""), 0).games_dir == tmp_path / "ev"


@pytest.mark.slow
def test_pipeline_on_alfworlds_own_games(tmp_path, capsys):
    """`prism pipeline --data.games-dir DIR`: the corpus comes from DIR/train (balanced over the
    task types), evaluation plays DIR/valid_seen and DIR/valid_unseen, DIR is not written."""
    data = fabricate(tmp_path / "alfworld", {"train": 12, "valid_seen": 6, "valid_unseen": 6})
    before = tree_digest(data)
    run = tmp_path / "run"
    assert prism(["pipeline", "--config", "tiny-alfworld", "--run-dir", str(run),
                  "--methods", "base", "--data.games-dir", str(data), "--data.n", "6",
                  "--warmup.n", "0", "--eval.n", "all", "--eval.max-steps", "2",
                  "--eval.max-new-tokens", "8", "--model.tiny.num-layers", "1",
                  "--model.tiny.hidden-size", "32", "--model.tiny.intermediate-size", "64",
                  "--model.tiny.vocab-size", "600"]) == 0
    records = [json.loads(line) for line in (run / "data" / "trajs.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["task_id"].startswith(str(data / "train")) for r in records)
    assert len({r["task_type"] for r in records}) == 6
    episodes = [json.loads(line) for line in
                (run / "runs" / "base" / "seed0" / "eval" / "episodes.jsonl").read_text().splitlines()]
    for split in ("valid_seen", "valid_unseen"):
        mine = [e for e in episodes if e["split"] == split]
        assert len(mine) == 6 and all(e["task_id"].startswith(str(data / split)) for e in mine)
    assert not (run / "games").exists() and tree_digest(data) == before
    assert "Prior to this step" in episodes[0]["prompts"][1][0]["content"]
    capsys.readouterr()
