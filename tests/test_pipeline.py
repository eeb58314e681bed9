"""A shortened PRISM pipeline on the embedded ALFWorld: every artefact exists and agrees."""

from __future__ import annotations

import json
import logging
import shlex

import pytest

from prism_jax.models.builder import TinySpec, build_tiny
from prism_jax.methods import parse_method
from prism_jax.pipeline import DataSource, ModelSource, PipelineConfig, PreTrain, route
from prism_jax.stages import Run, make_data, make_scores
from prism_jax.train.cli import main as prism

SHORT = ["--methods", "prism:gini", "--data.n", "8", "--pretrain.steps", "3",
         "--pretrain.replay", "5", "--warmup.n", "4",
         "--warmup.epochs", "1",
         "--sft.epochs", "1", "--grpo.tasks-per-iter", "2", "--grpo.group-size", "2",
         "--grpo.max-steps", "3", "--grpo.max-new-tokens", "12", "--eval.n", "2",
         "--eval.max-steps", "3", "--eval.max-new-tokens", "12", "--model.tiny.num-layers", "2",
         "--model.tiny.hidden-size", "64", "--model.tiny.intermediate-size", "128",
         "--model.tiny.vocab-size", "600"]


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_short_pipeline_artefacts_are_consistent(tmp_path, capsys):
    run = tmp_path / "run"
    assert prism(["pipeline", "--config", "tiny-alfworld", "--run-dir", str(run), *SHORT]) == 0
    data = lines(run / "data" / "trajs.jsonl")
    assert len(data) == 8 and all(r["env"] == "alfworld" and r["task_id"] for r in data)
    assert (run / "base" / "init" / "config.json").is_file()
    # pre-training reads the corpus's prompts, never an answer; the warm-up starts from it
    pre = json.loads((run / "base" / "pretrain" / "config.json").read_text())
    assert pre["targets"] == "prompt" and pre["data"] == str(run / "base" / "pretrain.jsonl")
    assert len(lines(run / "base" / "pretrain.jsonl")) == 3 * 32
    warm_cfg = json.loads((run / "base" / "warmup_sft" / "config.json").read_text())
    assert warm_cfg["model"] == str(run / "base" / "pretrain" / "final")
    warm = lines(run / "base" / "warmup.jsonl")
    assert {r["task_type"] for r in warm} <= {"pick_and_place_simple", "look_at_obj_in_light"}
    assert not {r["task_id"] for r in warm} & {r["task_id"] for r in data}

    scores = lines(run / "probe" / "scores.jsonl")
    assert sorted(s["id"] for s in scores) == sorted(r["id"] for r in data)

    home = run / "runs" / "prism-gini" / "seed0"
    sft = lines(home / "route" / "sft.jsonl")
    rl = lines(home / "route" / "rl.jsonl")
    ids = lambda rs: {r["id"] for r in rs}
    assert not ids(sft) & ids(rl) and ids(sft) | ids(rl) == ids(data)
    assert len(sft) == len(rl) == 4                              # the median split is 50:50
    gini = {s["id"]: s["gini"] for s in scores}
    assert max(gini[i] for i in ids(sft)) <= min(gini[i] for i in ids(rl))   # low -> SFT

    assert (home / "sft" / "final" / "config.json").is_file()
    # the preset trains SFT per step: one example per expert step of the SFT split
    sft_stage = json.loads((home / "sft" / "stage.json").read_text())
    assert sft_stage["n_trajectories"] == 4
    # ... and the copy windows replayed with them, the loss on every token
    replay = lines(run / "base" / "replay.jsonl")
    assert len(replay) == 5 and all([m["role"] for m in r["messages"]] == ["user"] for r in replay)
    assert not {r["messages"][0]["content"] for r in replay} & {
        r["messages"][0]["content"] for r in lines(run / "base" / "pretrain.jsonl")}
    assert json.loads((home / "sft" / "config.json").read_text())["mix"] == str(run / "base" / "replay.jsonl")
    assert sft_stage["n_mixed"] == 5
    assert sft_stage["n_examples"] == sum(r["n_steps"] for r in sft) + 5
    assert (home / "grpo" / "final" / "config.json").is_file()
    assert json.loads((home / "grpo" / "config.json").read_text())["model"].endswith("sft/final")
    result = json.loads((home / "result.json").read_text())
    assert result["split_sizes"] == {"sft": 4, "rl": 4}
    assert set(result["eval"]) == {"valid_seen", "valid_unseen"}
    assert all(0 <= result["eval"][s]["Valid"] <= 100 for s in result["eval"])
    assert all(result["timings"][k] > 0 for k in ("probe", "sft", "rl"))
    episodes = lines(home / "eval" / "episodes.jsonl")
    assert len(episodes) == 4
    # evaluation shows verl-agent's prompt with <think>, as the tiny preset trains with it
    later = [e["prompts"][1][0]["content"] for e in episodes if e["n_steps"] > 1]
    assert later and all("Prior to this step" in p and "<think> </think>" in p for p in later)
    tables = (run / "tables" / "tables.md").read_text()
    assert "Table 1" in tables and "Table 3" in tables and "PRISM" in tables
    assert (run / "tables" / "table1.csv").is_file() and (run / "tables" / "figure5_venn.png").is_file()
    # analyses/: the routed profile is the PRISM split's, the held-out row its episodes
    saved = json.loads((run / "analyses" / "analyses.json").read_text())
    assert saved["profile"]["sft"]["n"] == saved["profile"]["rl"]["n"] == 4
    assert [r["n"] for r in saved["heldout"]["rows"]] == [len(episodes)]
    assert saved["consensus"]["n"] == 8
    for name in ("analyses.md", "consensus.png", "spearman.png", "routed.png"):
        assert (run / "analyses" / name).is_file()
    assert "== analyses" in capsys.readouterr().out
    commands = (run / "commands.txt").read_text()
    assert "prism probe" in commands and "prism route" in commands and "prism pipeline" in commands
    # the recorded training commands rebuild exactly the configs the stages ran with
    import tyro

    from prism_jax.grpo import GRPOConfig
    from prism_jax.runs import config_record
    from prism_jax.sft import SFTConfig
    trained = 0
    for line in commands.splitlines():
        argv = shlex.split(line)
        if argv[:2] in (["prism", "sft"], ["prism", "grpo"]):
            parsed = tyro.cli(SFTConfig if argv[1] == "sft" else GRPOConfig, args=argv[2:])
            assert config_record(parsed) == json.loads((parsed.out / "config.json").read_text())
            trained += 1
    assert trained == 4                         # pre-training, warm-up SFT, SFT, GRPO
    assert json.loads((run / "config.json").read_text())["name"] == "tiny-alfworld"
    capsys.readouterr()

    # a re-run finds every stage done: no stage header is printed before the tables
    assert prism(["pipeline", "--config", "tiny-alfworld", "--run-dir", str(run), *SHORT]) == 0
    assert "==" not in capsys.readouterr().out.split("== tables")[0]
    assert json.loads((home / "result.json").read_text())["eval"] == result["eval"]


def test_unknown_config_lists_presets():
    with pytest.raises(SystemExit, match="tiny-alfworld, tiny-webshop"):
        prism(["pipeline", "--config", "nope"])


def _commands(run_dir) -> dict[str, list[str]]:
    """The argv of each `prism ...` line of commands.txt, by subcommand."""
    out = {}
    for line in (run_dir / "commands.txt").read_text().splitlines():
        if line.startswith("prism "):
            argv = shlex.split(line)
            out[argv[1]] = argv[1:]
    return out


def _with(argv: list[str], flag: str, value) -> list[str]:
    at = argv.index(flag)
    return argv[:at + 1] + [str(value)] + argv[at + 2:]


def test_recorded_commands_reproduce_probe_and_route(tmp_path, caplog):
    from test_probe_cli import CHATS, record

    data = tmp_path / "trajs.jsonl"
    data.write_text("".join(json.dumps(record(t, a)) + "\n" for t, a in CHATS))
    model = build_tiny(tmp_path / "tiny", [m["content"] for t, a in CHATS for m in record(t, a)["messages"]] * 5,
                       TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_layers=2,
                                num_heads=2, num_kv_heads=1, head_dim=16))
    config = PipelineConfig(data=DataSource(path=data), max_len=96, probe_batch_size=2,
                            probe_remat="none", model=ModelSource(path=model, dtype="bfloat16"))
    method = parse_method("inverse:kurtosis@0.4")

    def stages(run):
        d = make_data(run)
        scores, _ = make_scores(run, model, d)
        route(run, method, 3, scores, d, run.dir / "route", None)
        return scores

    with Run(tmp_path / "run", config, "prism pipeline") as run:
        scores = stages(run)
    commands = _commands(tmp_path / "run")
    assert prism(_with(commands["probe"], "--out", tmp_path / "again.jsonl")) == 0
    rows = lambda p: [json.loads(line) for line in p.read_text().splitlines()]
    assert rows(tmp_path / "again.jsonl") == rows(scores)
    assert prism(_with(commands["route"], "--out-dir", tmp_path / "again")) == 0
    for name in ("sft.jsonl", "rl.jsonl"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "run" / "route" / name).read_bytes()
    summary = lambda d: {k: v for k, v in json.loads((d / "summary.json").read_text()).items()
                         if k != "out_dir"}
    assert summary(tmp_path / "again") == summary(tmp_path / "run" / "route")

    # a second invocation skips the finished stages and says so at the default log level
    caplog.set_level(logging.INFO, logger="prism.pipeline")
    with Run(tmp_path / "run", config, "prism pipeline") as run:
        stages(run)
    skipped = [r.getMessage() for r in caplog.records if r.name == "prism.pipeline"]
    assert len(skipped) == 3 and all("skipping" in m and "earlier invocation" in m for m in skipped)


def test_data_stage_calls_the_generator_and_its_recorded_command_reproduces_it(tmp_path, capsys):
    with pytest.raises(ValueError, match="data.n: 'all'"):
        PipelineConfig(env="webshop", data=DataSource(n="all"))
    with pytest.raises(ValueError, match="pretrain.steps/replay: only the tiny base"):
        PipelineConfig(model=ModelSource(path=tmp_path), pretrain=PreTrain(steps=1))
    config = PipelineConfig(env="webshop", data=DataSource(n=3, webshop_products=60, seed=2,
                                                           webshop_query="instruction"))
    with Run(tmp_path / "run", config, "prism pipeline") as run:
        data = make_data(run)
    assert "wrote 3 trajectories" in capsys.readouterr().out
    for rec in lines(data):
        assert rec["turns"][0]["response"].endswith(f"<action>search[{rec['instruction']}]</action>")
    argv = _commands(tmp_path / "run")["gen-data"]
    assert argv[:2] == ["gen-data", "webshop"] and "--seed" in argv and "--num-products" in argv
    assert argv[argv.index("--expert-query") + 1] == "instruction"
    assert prism(_with(argv, "--out", tmp_path / "again.jsonl")) == 0
    assert (tmp_path / "again.jsonl").read_bytes() == data.read_bytes()
