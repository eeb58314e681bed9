"""SFT: gradients and one AdamW step equal transformers + torch; kill -9 + resume equals an
uninterrupted run; a NaN stops the run and keeps the last good checkpoint; SFT on expert
ALFWorld trajectories makes the tiny model win games it lost before."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from hf_models import VOCAB, build
from prism_jax.checkpoint import RunCheckpointer
from prism_jax.models import load_pretrained
from prism_jax.models.builder import TinySpec, build_tiny
from prism_jax.models.hf import MAPPING
from prism_jax.sft import (SFTConfig, NonFiniteLossError, loss_and_grads, make_optimizer,
                           make_schedule, make_train_step, train_sft)
from prism_jax.models.tokenizer import load_tokenizer
from prism_jax.models.transformer import stack_layers, unstack_layers
from prism_jax.sft import unrolled_layers
from prism_jax.tracking import read_metrics
from prism_jax.train.cli import main as prism


def _ours(tree, entry, l=None):
    value = tree
    for part in entry.path:
        value = value[part]
    value = np.asarray(value if l is None else value[l])
    return value.T if entry.transpose else value


def _torch_named(model, cfg):
    """(HF name, MAPPING entry, layer) for every trainable tensor of the torch model."""
    names = dict(model.named_parameters())
    out = []
    for e in MAPPING:
        for l in (range(cfg.num_layers) if "{l}" in e.hf_key else [None]):
            key = e.hf_key.format(l=l)
            if key in names:
                out.append((key, e, l))
    return names, out


@pytest.mark.usefixtures("highest_precision")
@pytest.mark.parametrize("layers,remat", [("scan", "none"), ("unroll", "none"), ("unroll", "full")])
def test_one_step_matches_transformers_and_torch_adamw(tmp_path, layers, remat):
    ref = build("qwen3", tmp_path / "hf")
    model = load_pretrained(tmp_path / "hf")
    cfg, params = model.config, model.params()
    unroll = layers == "unroll"      # SFTHparams.layers: the step over per-layer weights
    if unroll:
        params = unstack_layers(params)
    restack = stack_layers if unroll else (lambda tree: tree)
    rng = np.random.default_rng(0)
    b, t = 4, 12
    ids = rng.integers(2, VOCAB, (b, t)).astype(np.int32)
    lengths = np.array([12, 9, 7, 11])
    attn = (np.arange(t)[None] < lengths[:, None]).astype(np.int32)
    ids[attn == 0] = 0
    loss_mask = np.zeros((b, t), np.int32)          # ragged response spans, unequal counts
    for row, (lo, hi) in enumerate([(3, 12), (5, 7), (2, 7), (8, 11)]):
        loss_mask[row, lo:hi] = 1

    # torch: token mean over all target tokens of the batch, one backward
    ref.train()
    logits = ref(torch.as_tensor(ids, dtype=torch.long), attention_mask=torch.as_tensor(attn)).logits
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, VOCAB),
                                            torch.as_tensor(ids[:, 1:], dtype=torch.long).reshape(-1),
                                            reduction="none").reshape(b, t - 1)
    w = torch.as_tensor((loss_mask * attn)[:, 1:], dtype=torch.float32)
    torch_loss = (nll * w).sum() / w.sum()
    torch_loss.backward()

    # ours: the same batch as 2 accumulated micro-batches of 2
    batch = {"input_ids": ids.reshape(2, 2, t), "attention_mask": attn.reshape(2, 2, t),
             "loss_mask": loss_mask.reshape(2, 2, t)}
    loss, grads, n = jax.jit(lambda p, bt: loss_and_grads(p, cfg, bt, chunk=5, remat=remat))(
        params, batch)
    assert float(n) == float(w.sum())
    np.testing.assert_allclose(float(loss), torch_loss.item(), rtol=1e-5)
    names, entries = _torch_named(ref, cfg)
    assert len(entries) == len(names)
    for key, e, l in entries:
        np.testing.assert_allclose(_ours(restack(grads), e, l), names[key].grad.numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=key)

    # one optimizer step: clipping at 1.0, AdamW with weight decay, no warm-up
    config = SFTConfig(model=Path("."), data=Path("."), out=Path("."), lr=1e-3, warmup_ratio=0.0,
                       weight_decay=0.01, max_grad_norm=1.0, accum_steps=2)
    assert float(make_schedule(config, 10)(0)) == pytest.approx(1e-3)
    optimizer = make_optimizer(config, total_steps=10)
    step = make_train_step(cfg, optimizer, accum_steps=2, chunk=5, remat=remat)
    new, _, metrics = step(params, optimizer.init(params), batch)
    grad_norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
    assert grad_norm.item() > 1.0  # clipping is exercised
    np.testing.assert_allclose(float(metrics["grad_norm"]), grad_norm.item(), rtol=1e-5)
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    opt.step()
    for key, e, l in entries:
        ours, theirs = _ours(restack(new), e, l), names[key].detach().numpy()
        # Adam's step g / (sqrt(g^2) + eps) turns float noise into steps where |g| is near or
        # below eps (gradients of ~1e-9 here, whose sign is noise): those entries may differ by
        # up to lr; all others must agree closely.
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3, err_msg=key)
        clear = np.abs(names[key].grad.numpy()) > 1e-6
        np.testing.assert_allclose(ours[clear], theirs[clear], rtol=1e-5, atol=2e-6, err_msg=key)


_MESH_CHECK = """
import json, os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import jax, jax.numpy as jnp, numpy as np
from pathlib import Path
from prism_jax.models import ModelConfig, init_params
from prism_jax.sft import SFTConfig, make_optimizer, make_train_step
from prism_jax.sharding import batch_sharding, init_state, make_mesh, shard_params, spec_for
jax.config.update("jax_default_matmul_precision", "highest")
cfg = ModelConfig(model_type="qwen3", vocab_size=128, hidden_size=64, intermediate_size=128,
                  num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16, qk_norm=True)
params = init_params(cfg, jax.random.key(0))
rng = np.random.default_rng(0)
batch = {"input_ids": rng.integers(0, 128, (2, 4, 16)).astype(np.int32),
         "attention_mask": np.ones((2, 4, 16), np.int32),
         "loss_mask": (rng.random((2, 4, 16)) < 0.5).astype(np.int32)}
opt = make_optimizer(SFTConfig(model=Path("."), data=Path("."), out=Path("."), lr=1e-2,
                               warmup_ratio=0.0, accum_steps=2), 10)
p1, _, m1 = make_train_step(cfg, opt, accum_steps=2)(jax.tree.map(jnp.copy, params),
                                                       opt.init(params), batch)
mesh = make_mesh(2, 2, 1)
sp = shard_params(params, mesh)
put = {k: jax.device_put(v, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, ("data", "fsdp"), None)))
       for k, v in batch.items()}
p2, o2, m2 = make_train_step(cfg, opt, mesh=mesh, accum_steps=2)(sp, init_state(opt.init, sp, mesh), put)
diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)))
print(json.dumps({"loss": [float(m1["loss"]), float(m2["loss"])], "param_diff": diff,
                  "up_spec_ok": p2["layers"]["up"].sharding.is_equivalent_to(
                      jax.sharding.NamedSharding(mesh, spec_for("layers/up", p2["layers"]["up"].shape, mesh)), 3),
                  "up_shard_shape": list(p2["layers"]["up"].addressable_shards[0].data.shape),
                  "up_shape": list(p2["layers"]["up"].shape)}))
"""


@pytest.mark.slow
@pytest.mark.multidevice
def test_fsdp_step_equals_single_device():
    """4 simulated devices, data=2 x fsdp=2: same loss and update; params keep their rule shardings."""
    out = subprocess.run([sys.executable, "-c", _MESH_CHECK], capture_output=True, text=True,
                         env=os.environ | {"JAX_PLATFORMS": "cpu"}, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["loss"][0] == pytest.approx(res["loss"][1], rel=1e-5)
    # lr 1e-2: a reduction-order difference moves Adam's g / (|g| + eps) by a sliver of lr only
    # where |g| is near eps
    assert res["param_diff"] < 1e-2 * 1e-2
    # equivalent to the rule (a size-1 axis may be dropped from the spec's text) and really split
    assert res["up_spec_ok"]
    assert res["up_shard_shape"][1] * 2 == res["up_shape"][1]


# ------------------------------------------------------------------------------ runs
WORDS = ("apple", "mug", "knife", "plate", "egg", "bowl", "lettuce", "pan")
PLACES = ("fridge", "countertop", "cabinet", "sinkbasin", "microwave", "shelf")


def _trajectories(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        thing, place = WORDS[i % len(WORDS)], PLACES[i % len(PLACES)]
        msgs = [{"role": "system", "content": "You are a household robot. Answer inside <action></action>."},
                {"role": "user", "content": f"Your task is to: put a {thing} in {place}. You see "
                 + ", ".join(f"a {rng.choice(WORDS)} {rng.integers(1, 5)}" for _ in range(12))}]
        for k in range(int(rng.integers(3, 6))):
            msgs.append({"role": "assistant", "content": f"<action>go to {rng.choice(PLACES)} {k + 1}</action>"})
            msgs.append({"role": "user", "content": f"You arrive at {rng.choice(PLACES)} {k + 1}. On it, "
                         "you see " + ", ".join(f"a {rng.choice(WORDS)} {rng.integers(1, 9)}" for _ in range(6))})
        msgs.append({"role": "assistant", "content": f"<action>put {thing} 1 in/on {place} 1</action>"})
        out.append({"id": f"t{i}", "messages": msgs})
    return out


@pytest.fixture(scope="module")
def run_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    records = _trajectories(16)
    data = root / "trajs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    corpus = [m["content"] for r in records for m in r["messages"]]
    spec = TinySpec(vocab_size=400, hidden_size=64, intermediate_size=192, num_layers=2,
                    num_heads=2, num_kv_heads=1, head_dim=32)
    model = build_tiny(root / "tiny", corpus, spec)
    return model, data


def _config(run_inputs, out, **kw) -> SFTConfig:
    model, data = run_inputs
    base = dict(model=model, data=data, out=out, lr=3e-3, epochs=2, batch_size=2, accum_steps=2,
                max_len=256, bucket=64, save_every=2, keep=2)
    return SFTConfig(**(base | kw))


def _curve(run_dir) -> list[tuple]:
    return [(r["step"], r["loss"], r["lr"], r["grad_norm"], r["target_tokens"]) for r in read_metrics(run_dir)]


def test_kill_and_resume_continues_exactly(run_inputs, tmp_path):
    full = train_sft(_config(run_inputs, tmp_path / "full"), progress=False)
    assert full["steps"] == full["total_steps"] == 8  # 16 trajectories x 2 epochs / (2 x 2)
    expected = _curve(tmp_path / "full")
    assert [s for s, *_ in expected] == list(range(1, 9))
    assert expected[-1][1] < expected[0][1]

    run = tmp_path / "killed"
    model, data = run_inputs
    argv = [str(Path(sys.executable).with_name("prism")), "sft", "--model", str(model), "--data",
            str(data), "--out", str(run), "--lr", "3e-3", "--epochs", "2", "--batch-size", "2",
            "--accum-steps", "2", "--max-len", "256", "--bucket", "64", "--save-every", "2",
            "--keep", "2"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"JAX_PLATFORMS": "cpu"})
    killed_at = None
    while proc.poll() is None:
        # orbax renames a step's temporary directory to its bare number once it is complete
        ckpts = [int(p.name) for p in run.glob("checkpoints/*") if p.name.isdigit()]
        logged = len(read_metrics(run)) if (run / "metrics.jsonl").exists() else 0
        # a checkpoint is complete and the run has moved past it
        if ckpts and logged > max(ckpts) and logged < 8:
            proc.send_signal(signal.SIGKILL)
            killed_at = logged
            break
        time.sleep(0.005)
    proc.wait()
    assert killed_at is not None, "the run finished before it could be killed"
    with RunCheckpointer(run / "checkpoints", every=2, keep=2) as ck:
        restored_from = ck.latest_step()
    assert restored_from is not None and restored_from < killed_at

    summary = train_sft(_config(run_inputs, run), progress=False)
    assert summary["resumed_from"] == restored_from
    assert _curve(run) == expected
    a, b = load_pretrained(tmp_path / "full" / "final"), load_pretrained(run / "final")
    for x, y in zip(jax.tree.leaves(a.params()), jax.tree.leaves(b.params())):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_unrolled_and_scanned_layers_train_alike_and_share_checkpoints(run_inputs, tmp_path):
    # SFTHparams.layers: a run over unrolled per-layer weights, stopped after 4 steps and
    # resumed with scanned stacks, follows the scanned run (checkpoints are stacked either way)
    scan = train_sft(_config(run_inputs, tmp_path / "scan", layers="scan"), progress=False)
    train_sft(_config(run_inputs, tmp_path / "mixed", layers="unroll", max_steps=4), progress=False)
    resumed = train_sft(_config(run_inputs, tmp_path / "mixed", layers="scan"), progress=False)
    assert resumed["resumed_from"] == 4 and resumed["steps"] == scan["steps"] == 8
    want, got = _curve(tmp_path / "scan"), _curve(tmp_path / "mixed")
    assert [r[0] for r in got] == list(range(1, 9))
    np.testing.assert_allclose(np.array(got)[:, 1:4], np.array(want)[:, 1:4], rtol=2e-4)
    a, b = load_pretrained(tmp_path / "scan" / "final"), load_pretrained(tmp_path / "mixed" / "final")
    for x, y in zip(jax.tree.leaves(a.params()), jax.tree.leaves(b.params())):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-3, atol=1e-5)
    with pytest.raises(ValueError, match="layers='unroll' runs without a mesh"):
        unrolled_layers("unroll", object())


def test_mixed_windows_are_trained_with_the_data(run_inputs, tmp_path):
    model, data = run_inputs
    windows = tmp_path / "windows.jsonl"
    text = "put a mug in fridge. put a mug in fridge."
    windows.write_text("".join(json.dumps({"id": f"w{i}", "messages": [
        {"role": "user", "content": text}]}) + "\n" for i in range(8)))
    plain = train_sft(_config(run_inputs, tmp_path / "plain"), progress=False)
    mixed = train_sft(_config(run_inputs, tmp_path / "mixed", mix=windows), progress=False)
    assert plain["total_steps"] == 8 and mixed["total_steps"] == 12   # (16 + 8) x 2 / 4
    assert mixed["n_mixed"] == 8 and mixed["n_examples"] == 24
    # every token of a window is a target: more targets per epoch than the data alone
    tok = load_tokenizer(model)
    per_window = len(tok.apply_chat_template([{"role": "user", "content": text}],
                                             return_dict=True)["input_ids"]) - 1
    targets = lambda run: sum(r["target_tokens"] for r in read_metrics(run))
    assert targets(tmp_path / "mixed") - targets(tmp_path / "plain") == 2 * 8 * per_window
    assert json.loads((tmp_path / "mixed" / "run.json").read_text())["inputs"].keys() >= {"mix"}
    with pytest.raises(ValueError, match="mix: .* is the training data itself"):
        _config(run_inputs, tmp_path / "x", mix=data).check()


def test_nan_stops_and_keeps_last_good_checkpoint(run_inputs, tmp_path):
    # The warm-up makes step 1's lr 0; the absurd peak lr then blows the parameters up.
    config = _config(run_inputs, tmp_path / "nan", lr=1e30, warmup_ratio=0.5, save_every=1, keep=3)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss .* at step \d+.*Last good "
                                                 r"checkpoint: step \d+"):
        train_sft(config, progress=False)
    logged = read_metrics(tmp_path / "nan")
    assert logged and all(np.isfinite(r["loss"]) for r in logged)
    model = load_pretrained(run_inputs[0])
    params = model.params()
    optimizer = make_optimizer(config, 8)
    with RunCheckpointer(tmp_path / "nan" / "checkpoints", every=1, keep=3) as ck:
        assert ck.latest_step() == logged[-1]["step"]
        state = ck.restore(params_target=params, opt_state_target=optimizer.init(params))
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))
    assert not (tmp_path / "nan" / "final").exists()


def test_refuses_to_resume_with_other_settings(run_inputs, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text(json.dumps({"lr": 1.0}))
    with pytest.raises(ValueError, match="lr: 1.0 -> 0.003"):
        train_sft(_config(run_inputs, tmp_path / "r"), progress=False)


def test_resume_follows_inputs_not_their_spelling(run_inputs, tmp_path, monkeypatch, capsys):
    model, data = run_inputs
    copy = tmp_path / "trajs.jsonl"
    copy.write_text(data.read_text())
    run = tmp_path / "run"
    first = train_sft(_config(run_inputs, run, data=copy, max_steps=2, epochs=1), progress=True)
    assert first["steps"] == 2
    # progress in a batch log (stderr is not a terminal): plain lines, no carriage returns
    err = capsys.readouterr().err
    assert "sft: 2/2 (100.0%)" in err and "\r" not in err
    # the same directory spelled relatively resumes (nothing left to do)
    monkeypatch.chdir(model.parent)
    again = train_sft(_config(run_inputs, run, model=Path("..") / model.parent.name / model.name,
                              data=copy, max_steps=2, epochs=1), progress=False)
    assert again["resumed_from"] == 2
    # the data file's content changed: refused, the run is kept
    lines = copy.read_text().splitlines()
    copy.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"data: .*trajs.jsonl -> .*trajs.jsonl \(its content changed\)"):
        train_sft(_config(run_inputs, run, data=copy, max_steps=2, epochs=1), progress=False)
    assert (run / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize("case", ["lr", "batch", "out-file", "out-is-data", "empty", "no-model",
                                  "mesh"])
def test_cli_mistakes_are_one_line(run_inputs, tmp_path, case):
    model, data = run_inputs
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    (tmp_path / "file").write_text("x")
    base = {"--model": str(model), "--data": str(data), "--out": str(tmp_path / "o")}
    flags, message = {
        "lr": ({"--lr": "-1"}, "lr must be > 0, got -1.0"),
        "batch": ({"--batch-size": "0"}, "batch_size must be >= 1, got 0"),
        "out-file": ({"--out": str(tmp_path / "file")}, "is a file, not a directory"),
        "out-is-data": ({"--out": str(data)}, "is a file, not a directory"),
        "empty": ({"--data": str(empty)}, "empty.jsonl: no trajectories"),
        "no-model": ({"--model": str(tmp_path / "nope")}, "nope: no such file or directory"),
        "mesh": ({"--mesh-fsdp": "2"}, "needs a multiple of 2 devices; 1 visible"),
    }[case]
    argv = ["sft"] + [x for kv in (base | flags).items() for x in kv]
    with pytest.raises(SystemExit) as e:
        prism(argv)
    assert str(e.value.code).startswith("prism sft: ") and message in str(e.value.code)
    assert not (tmp_path / "o").exists()


def test_cli_help_and_bad_data(tmp_path, capsys):
    with pytest.raises(SystemExit):
        prism(["sft", "--help"])
    text = capsys.readouterr().out
    for flag in ("--lr", "--epochs", "--warmup-ratio", "--batch-size", "--accum-steps", "--max-len",
                 "--dtype", "--save-every", "--keep", "--mesh-fsdp"):
        assert flag in text
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "messages": []}\n')
    with pytest.raises(SystemExit, match=r"bad.jsonl:1: 'messages' must be a non-empty list"):
        prism(["sft", "--model", str(tmp_path), "--data", str(bad), "--out", str(tmp_path / "o")])


# ------------------------------------------------------------------------------ ALFWorld
@pytest.mark.slow
def test_sft_on_expert_steps_wins_training_games(alfworld_expert_sft):
    from alfworld_runs import alfworld_success

    run = alfworld_expert_sft
    curve = [r["loss"] for r in read_metrics(run["run"])]
    assert np.mean(curve[-3:]) < 0.1 * np.mean(curve[:3])
    before = alfworld_success(run["start"], run["games"])
    after = alfworld_success(run["final"], run["games"])
    assert before == 0.0 and after >= 2 / 3, (before, after)
