"""The run scaffold (prism_jax/runs.py): fingerprints, resume checks, locks on every command's
output, the NaN guard, and commands rendered from the config that ran."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
import tyro

from hf_models import build
from prism_jax.checkpoint import RunCheckpointer
from prism_jax.grpo import GRPOConfig, train_grpo
from prism_jax.locks import OutputLock
from prism_jax.pipeline import DataSource, PipelineConfig
from prism_jax.stages import Run
from prism_jax.runs import (LOCK_FILE, MeshConfig, NonFiniteLossError, ResumeError, RunDir,
                            command_line, fingerprint)
from prism_jax.sft import SFTConfig, SFTHparams
from prism_jax.train.cli import main as prism


def _trajs(path: Path, n: int = 2) -> Path:
    path.write_text("".join(json.dumps({
        "id": f"t{i}", "env": "alfworld", "task_id": f"game{i}",
        "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": "ok"}]})
        + "\n" for i in range(n)))
    return path


def test_fingerprints_follow_content_not_spelling(tmp_path, monkeypatch):
    build("qwen3", tmp_path / "m")
    monkeypatch.chdir(tmp_path / "m")
    assert fingerprint("../m") == fingerprint(tmp_path / "m") == fingerprint(".")
    before = fingerprint(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**cfg, "rms_norm_eps": 1e-5}))
    assert fingerprint(tmp_path / "m")["sha256"] != before["sha256"]
    data = _trajs(tmp_path / "d.jsonl")
    first = fingerprint(data)
    data.write_text(data.read_text().replace('"ok"', '"no"'))
    assert fingerprint(data)["sha256"] != first["sha256"]


def _sft_run(tmp_path, out, **kw) -> RunDir:
    config = SFTConfig(model=tmp_path / "m", data=tmp_path / "d.jsonl", out=out, **kw)
    return RunDir(out, "sft", config, inputs={"model": config.model, "data": config.data},
                  resumable=("out", "max_steps", "save_every", "keep", "distributed"))


def test_rundir_resumes_only_the_same_run(tmp_path, monkeypatch):
    build("qwen3", tmp_path / "m")
    data = _trajs(tmp_path / "d.jsonl")
    out = tmp_path / "run"
    with _sft_run(tmp_path, out, lr=1e-3) as run:
        assert not run.resuming
        run.start()
    # same settings, another spelling of the model directory, a resumable change: resumes
    monkeypatch.chdir(tmp_path / "run")
    config = SFTConfig(model=Path("../m"), data=data, out=out, lr=1e-3, max_steps=3)
    with RunDir(out, "sft", config, inputs={"model": config.model, "data": config.data},
                resumable=("max_steps",)) as run:
        assert run.resuming
    with pytest.raises(ResumeError, match=r"lr: 0.001 -> 0.5"):
        _sft_run(tmp_path, out, lr=0.5).__enter__()
    data.write_text(data.read_text().replace('"ok"', '"no"'))
    with pytest.raises(ResumeError, match=r"data: .*d.jsonl -> .*d.jsonl \(its content changed\)"):
        _sft_run(tmp_path, out, lr=1e-3).__enter__()
    with pytest.raises(ResumeError, match="holds a sft run, not a grpo run"):
        RunDir(out, "grpo", GRPOConfig(model=tmp_path / "m", tasks=data, out=out),
               inputs={}).__enter__()
    assert not (out / LOCK_FILE).exists()           # refusals release the lock


def test_rundir_refuses_foreign_directories_and_files(tmp_path):
    build("qwen3", tmp_path / "m")
    _trajs(tmp_path / "d.jsonl")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no prism sft run"):
        _sft_run(tmp_path, tmp_path / "other").__enter__()
    with pytest.raises(ValueError, match="is a file"):
        _sft_run(tmp_path, tmp_path / "d.jsonl").__enter__()
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_nan_guard_names_the_last_good_checkpoint(tmp_path):
    build("qwen3", tmp_path / "m")
    _trajs(tmp_path / "d.jsonl")
    with _sft_run(tmp_path, tmp_path / "run") as run:
        with run.checkpointer(every=1, keep=1) as ck:
            ck.save(4, {"w": np.zeros(2)}, {"n": np.zeros(1)}, rng=np.array([0]))
            ck.wait()
            with pytest.raises(NonFiniteLossError, match=r"update went NaN \(step 5\); stopped "
                                                         r"without saving it\. Last good checkpoint: step 4"):
                with run.nan_guard(5, ck):
                    raise FloatingPointError("update went NaN")
            with pytest.raises(NonFiniteLossError, match="non-finite loss nan / grad_norm 1.0 at step 5"):
                run.check_finite(5, {"loss": float("nan"), "grad_norm": 1.0}, ck)


def test_mesh_flags_that_do_not_fit_the_devices(tmp_path):
    with pytest.raises(ValueError, match="--mesh-fsdp 2 x --mesh-tensor 1 needs a multiple of 2 "
                                         "devices; 1 visible"):
        MeshConfig(mesh_fsdp=2).build()
    with pytest.raises(ValueError, match="mesh_tensor must be >= 1"):
        MeshConfig(mesh_tensor=0)
    assert MeshConfig().build() is None


def test_grpo_refuses_to_resume_another_run(tmp_path):
    build("qwen3", tmp_path / "m")
    tasks = _trajs(tmp_path / "rl.jsonl")
    first = GRPOConfig(model=tmp_path / "m", tasks=tasks, out=tmp_path / "grpo", group_size=4, lr=1e-6)
    # what train_grpo records when it starts, as an interrupted run leaves it
    with RunDir(first.out, "grpo", first, inputs={"model": first.model, "tasks": first.tasks}) as run:
        run.start()
    for change, expected in (({"group_size": 8}, "group_size: 4 -> 8"),
                             ({"lr": 1e-5}, "lr: 1e-06 -> 1e-05"),
                             ({"tasks": _trajs(tmp_path / "other.jsonl", 3)}, r"tasks: .*rl.jsonl -> .*other.jsonl")):
        with pytest.raises(ResumeError, match=expected):
            train_grpo(dataclasses.replace(first, **change), progress=False)
    assert json.loads((first.out / "config.json").read_text())["group_size"] == 4


def test_pipeline_refuses_changed_settings_and_data(tmp_path):
    data = _trajs(tmp_path / "d.jsonl")
    base = PipelineConfig(data=DataSource(path=data, n=32))
    with Run(tmp_path / "run", base, "prism pipeline"):
        pass
    changed = dataclasses.replace(base, data=dataclasses.replace(base.data, n=12),
                                  sft=dataclasses.replace(base.sft, lr=0.5))
    with pytest.raises(ResumeError, match=r"data\.n: 32 -> 12; sft\.lr: 1e-05 -> 0\.5"):
        Run(tmp_path / "run", changed, "prism pipeline").__enter__()
    data.write_text(data.read_text().replace('"ok"', '"no"'))
    with pytest.raises(ResumeError, match=r"data\.path: .*\(its content changed\)"):
        Run(tmp_path / "run", base, "prism pipeline").__enter__()
    data.write_text(data.read_text().replace('"no"', '"ok"'))
    # methods and seeds may grow: the record lists every one run so far
    with Run(tmp_path / "run", dataclasses.replace(base, methods=("random",), seeds=(1,)), "again"):
        pass
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["methods"] == ["prism:gini", "random"] and record["seeds"] == [0, 1]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["sft"]["lr"] == 1e-5


@pytest.mark.parametrize("command", ["sft", "grpo", "eval", "pipeline"])
def test_every_command_refuses_an_output_in_use(tmp_path, command):
    build("qwen3", tmp_path / "m")
    data = _trajs(tmp_path / "d.jsonl")
    out = tmp_path / "out"
    argv, lock = {
        "sft": (["sft", "--model", str(tmp_path / "m"), "--data", str(data), "--out", str(out)],
                out / LOCK_FILE),
        "grpo": (["grpo", "--model", str(tmp_path / "m"), "--tasks", str(data), "--out", str(out)],
                 out / LOCK_FILE),
        "eval": (["eval", "--model", str(tmp_path / "m"), "--env", "alfworld", "--out", str(out)],
                 tmp_path / ".out.lock"),
        "pipeline": (["pipeline", "--run-dir", str(out), "--data.path", str(data)], out / LOCK_FILE),
    }[command]
    with OutputLock(lock, what=out):
        with pytest.raises(SystemExit, match=rf"prism {command}: .*out is in use by pid {os.getpid()}"):
            prism(argv)


def test_rendered_commands_rebuild_the_config_that_ran(tmp_path):
    hp = dataclasses.replace(SFTHparams(), lr=3e-4, epochs=2, per_step=True, remat="full",
                             max_steps=None, mesh_fsdp=2, dtype="bfloat16", warmup_ratio=0.0)
    config = SFTConfig.of(hp, model=tmp_path / "m", data=tmp_path / "d.jsonl", out=tmp_path / "o",
                          seed=3, max_len=512)
    argv = command_line("sft", config)
    assert argv[:2] == ["prism", "sft"]
    assert tyro.cli(SFTConfig, args=shlex.split(shlex.join(argv))[2:]) == config
    grpo = GRPOConfig(model=tmp_path / "m", tasks=tmp_path / "t", out=tmp_path / "g", think=True,
                      max_steps=3, advantage="gigpo", iterations=7)
    assert tyro.cli(GRPOConfig, args=command_line("grpo", grpo)[2:]) == grpo
    from prism_jax.evaluate import EvalSettings
    from prism_jax.train.eval import EvalArgs
    settings = dataclasses.replace(EvalSettings(), n=3, games_dir=tmp_path / "games", temperature=0.0,
                                   think=False)    # a nested False: --settings.no-think
    argv = command_line("eval", model=tmp_path / "m", env="webshop", out=tmp_path / "e",
                        splits=("test",), settings=settings)
    assert tyro.cli(EvalArgs, args=argv[2:]) == EvalArgs(tmp_path / "m", "webshop", tmp_path / "e",
                                                         ("test",), settings)
