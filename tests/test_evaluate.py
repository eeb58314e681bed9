"""`prism eval`: a checkpoint played on ALFWorld and WebShop; tables in percent from the episodes,
verl-agent's prompt in every recorded step, ALFWorld's own folders read and never written."""

from __future__ import annotations

import json

import pytest

from alfworld_real import fabricate, tree_digest
from prism_jax.models.builder import TinySpec, build_tiny
from prism_jax.train.cli import main as prism

TINY = TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                num_kv_heads=1, head_dim=16)
FAST = ["--settings.max-steps", "2", "--settings.max-new-tokens", "8"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    corpus = ["<action>go to fridge 1</action>", "search[red shoes]", "click[buy now]"] * 30
    return build_tiny(tmp_path_factory.mktemp("m") / "tiny", corpus, TINY)


def _episodes(out):
    return [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]


def _shows_verl_prompt(episode) -> bool:
    first, later = episode["prompts"][0][0]["content"], episode["prompts"][1][0]["content"]
    return ("Prior to this step, you have already taken 1 step(s). Below are the most recent 1 "
            "observations and the corresponding actions you took" in later
            and "<think> </think>" in first and "<think> </think>" in later)


def _check_tables(res, episodes):
    for split, table in res.items():
        eps = [e for e in episodes if e["split"] == split]
        assert table["All"] == pytest.approx(100 * sum(e["won"] for e in eps) / len(eps))
        present = {e["task_type"] for e in eps}
        assert sum(v is not None for k, v in table.items() if k not in ("All", "Valid")) == len(present)
        assert table["Valid"] == pytest.approx(100 * (1 - sum(e["n_invalid"] + e["n_rejected"] for e in eps)
                                                      / sum(e["n_steps"] for e in eps)))


@pytest.mark.slow
def test_eval_alfworld_seen_and_unseen(model, tmp_path, capsys):
    out = tmp_path / "eval"
    assert prism(["eval", "--model", str(model), "--env", "alfworld", "--out", str(out),
                  "--settings.n", "2", *FAST, "--settings.games-dir", str(tmp_path / "games")]) == 0
    res = json.loads((out / "eval.json").read_text())["eval"]
    episodes = _episodes(out)
    assert set(res) == {"valid_seen", "valid_unseen"}
    assert all(e["n_steps"] <= 2 for e in episodes) and len(episodes) == 4
    _check_tables(res, episodes)
    assert all(_shows_verl_prompt(e) for e in episodes)
    assert "alfworld valid_unseen: Pick" in capsys.readouterr().out


@pytest.mark.slow
def test_eval_on_alfworlds_own_layout_reads_and_never_writes(model, tmp_path):
    data = fabricate(tmp_path / "data", {"valid_seen": 18, "valid_unseen": 5})
    before = tree_digest(tmp_path / "data")
    out = tmp_path / "eval"
    with pytest.raises(SystemExit, match="holds 5 games, 12 were asked"):
        prism(["eval", "--model", str(model), "--env", "alfworld", "--out", str(out),
               "--settings.n", "12", "--settings.games-dir", str(data)])
    assert not out.exists()
    assert prism(["eval", "--model", str(model), "--env", "alfworld", "--out", str(out),
                  "--splits", "valid_seen", "--settings.n", "12", "--settings.batch-size", "12",
                  *FAST, "--settings.games-dir", str(data)]) == 0
    episodes = _episodes(out)
    assert len(episodes) == 12 and len({e["task_type"] for e in episodes}) >= 5
    assert all(e["task_id"].startswith(str(data / "valid_seen")) for e in episodes)
    _check_tables(json.loads((out / "eval.json").read_text())["eval"], episodes)
    assert all(_shows_verl_prompt(e) for e in episodes)
    assert tree_digest(tmp_path / "data") == before


def test_eval_webshop_test_goals(model, tmp_path):
    out = tmp_path / "eval"
    assert prism(["eval", "--model", str(model), "--env", "webshop", "--out", str(out),
                  "--settings.n", "3", *FAST]) == 0
    res = json.loads((out / "eval.json").read_text())["eval"]["test"]
    eps = _episodes(out)
    assert [e["task_id"] for e in eps] == ["0", "1", "2"]
    assert res["score"] == pytest.approx(100 * sum(e["score"] for e in eps) / 3)
    assert res["success_rate"] == pytest.approx(100 * sum(e["success"] for e in eps) / 3)
    assert res["Valid"] == pytest.approx(
        100 * (1 - sum(e["n_invalid"] + e["n_rejected"] for e in eps) / sum(e["n_steps"] for e in eps)))
    assert "WebShop e\u2011commerce environment" in eps[0]["prompts"][0][0]["content"]
    assert all(_shows_verl_prompt(e) for e in eps)


def test_eval_keeps_an_existing_run_directory(model, tmp_path):
    run = tmp_path / "grpo"
    (run / "checkpoints" / "5").mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 5}\n')
    with pytest.raises(SystemExit, match="grpo: exists and is not empty; pass --overwrite"):
        prism(["eval", "--model", str(model), "--env", "webshop", "--out", str(run),
               "--settings.n", "1", "--settings.max-steps", "1"])
    assert (run / "checkpoints" / "5").is_dir() and (run / "metrics.jsonl").is_file()
    with pytest.raises(SystemExit, match="holds the input"):
        prism(["eval", "--model", str(model), "--env", "webshop", "--out", str(model.parent),
               "--overwrite"])


def test_eval_honours_dtype_and_mesh(model, monkeypatch):
    import dataclasses

    import jax
    import jax.numpy as jnp

    from prism_jax import evaluate
    from prism_jax.sharding import make_mesh

    loaded = []
    real = evaluate.models.load
    monkeypatch.setattr(evaluate.models, "load", lambda *a: loaded.append(a) or real(*a))
    settings = evaluate.EvalSettings(n=2, batch_size=2, max_steps=2, temperature=0.0,
                                     max_new_tokens=8)
    plain = evaluate.evaluate_model(model, "webshop", settings=settings)
    mesh = make_mesh(1, 1, 1)
    sharded = evaluate.evaluate_model(model, "webshop", settings=settings, mesh=mesh)
    assert loaded[1][1:] == (jnp.float32, mesh)
    # greedy episodes do not depend on where the weights live
    assert [e["turns"] for e in sharded["episodes"]["test"]] == [
        e["turns"] for e in plain["episodes"]["test"]]
    evaluate.evaluate_model(model, "webshop", settings=dataclasses.replace(settings, dtype="bfloat16"))
    assert loaded[2][1] == jnp.bfloat16
    assert {x.dtype for x in jax.tree.leaves(real(model, jnp.bfloat16).params())} == {
        jnp.dtype(jnp.bfloat16)}
