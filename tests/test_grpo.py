"""GRPO/GiGPO training: the task schedule, the loss and update on a tiny model vs a plain forward,
the policy update (prism_jax/updater.py), online HPT and whole runs."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from prism_jax.grpo import tasks_for_iteration
from prism_jax.logprobs import chunked_logprobs
from prism_jax.losses import LossSettings, make_grad_fn, make_logprob_fn
from prism_jax.models import ModelConfig, init_params
from prism_jax.models.transformer import forward
from prism_jax.rollout import Step
from prism_jax.updater import pack_rows
from test_losses import _np_loss


def test_task_schedule_is_a_seeded_stream_of_epochs():
    tasks = [f"t{i}" for i in range(5)]
    first = [tasks_for_iteration(tasks, i, 2, seed=3) for i in range(5)]
    stream = sum(first, [])
    assert sorted(stream[:5]) == tasks and sorted(stream[5:10]) == tasks
    assert first == [tasks_for_iteration(tasks, i, 2, seed=3) for i in range(5)]


@pytest.fixture(scope="module")
def tiny():
    cfg = ModelConfig(model_type="qwen3", vocab_size=61, hidden_size=32, intermediate_size=48,
                      num_layers=2, num_heads=2, num_kv_heads=1, head_dim=16, qk_norm=True,
                      tie_word_embeddings=True, eos_token_id=1, pad_token_id=0)
    return cfg, init_params(cfg, jax.random.key(0), std=0.3)


def _steps(rng, n):
    out = []
    for _ in range(n):
        p, r = rng.integers(3, 9), rng.integers(1, 5)
        resp = rng.integers(2, 61, r).astype(np.int32)
        out.append(Step(rng.integers(2, 61, p).astype(np.int32), resp,
                        rng.normal(-4, 0.3, r).astype(np.float32), "", "", ""))
    return out


@pytest.mark.usefixtures("highest_precision")
def test_token_logprobs_and_loss_match_a_full_forward(tiny):
    cfg, params = tiny
    rng = np.random.default_rng(1)
    steps = _steps(rng, 3)
    adv = np.array([1.0, -2.0, 0.5], np.float32)
    batch = pack_rows(steps, adv, rows=4, pad_id=0, multiple=8)
    logits, _ = forward(params, cfg, jnp.asarray(batch["input_ids"]), jnp.asarray(batch["attention_mask"]))
    ref_logp = np.asarray(jax.nn.log_softmax(logits, -1))  # [B, T, V]
    ids = batch["input_ids"]
    want = np.take_along_axis(ref_logp[:, :-1], ids[:, 1:, None], -1)[..., 0]
    want_ent = -(np.exp(ref_logp) * ref_logp).sum(-1)[:, :-1]
    hidden, _ = forward(params, cfg, jnp.asarray(ids), jnp.asarray(batch["attention_mask"]),
                        return_hidden=True)
    got, ent = chunked_logprobs(hidden[:, :-1], params["embed"].T, jnp.asarray(ids[:, 1:]), chunk=5,
                                entropy=True)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(ent, want_ent, atol=1e-5)
    response = batch["response_mask"][:, 1:]     # the log-prob function scores responses only
    np.testing.assert_allclose(make_logprob_fn(cfg, chunk=4)(params, batch)[:, 1:], want * response,
                               atol=1e-5)

    # the loss's gradient equals the numpy objective's finite-difference slope along a direction
    mask = batch["response_mask"][:, 1:].astype(np.float64)
    n_tok = mask.sum()
    batch["weights"] = (batch["weights"] / n_tok).astype(np.float32)     # token-mean
    grad_fn = make_grad_fn(cfg, LossSettings(clip=0.2, chunk=4))
    grads, aux = grad_fn(params, batch)
    loss_np, frac_np = _np_loss(want, batch["old_logprobs"][:, 1:], batch["advantages"], mask, 0.2)
    np.testing.assert_allclose(float(aux["pg_loss"]), loss_np, rtol=1e-5)
    np.testing.assert_allclose(float(aux["clip_frac"]), frac_np)

    direction = jax.tree.map(lambda g: jnp.asarray(rng.normal(size=g.shape), jnp.float32), grads)
    eps = 1e-3

    def np_loss_at(scale):
        moved = jax.tree.map(lambda p, d: p + scale * d, params, direction)
        lg, _ = forward(moved, cfg, jnp.asarray(ids), jnp.asarray(batch["attention_mask"]))
        lp = np.asarray(jax.nn.log_softmax(lg, -1), np.float64)
        lp = np.take_along_axis(lp[:, :-1], ids[:, 1:, None], -1)[..., 0]
        return _np_loss(lp, batch["old_logprobs"][:, 1:], batch["advantages"], mask, 0.2)[0]

    slope = (np_loss_at(eps) - np_loss_at(-eps)) / (2 * eps)
    analytic = sum(float(jnp.vdot(g, d)) for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction)))
    np.testing.assert_allclose(analytic, slope, rtol=2e-2)


@pytest.mark.usefixtures("highest_precision")
def test_tempered_policy_logprobs_and_behaviour_recompute(tiny):
    from pathlib import Path

    from prism_jax.grpo import GRPOConfig
    from prism_jax.updater import Updater

    cfg, params = tiny
    steps = _steps(np.random.default_rng(2), 6)
    batch = pack_rows(steps, np.zeros(6, np.float32), rows=8, pad_id=0, multiple=8)
    logits, _ = forward(params, cfg, jnp.asarray(batch["input_ids"]), jnp.asarray(batch["attention_mask"]))
    ref = np.asarray(jax.nn.log_softmax(np.asarray(logits, np.float64) / 0.5, -1))
    ids = batch["input_ids"]
    want = np.take_along_axis(ref[:, :-1], ids[:, 1:, None], -1)[..., 0]
    got = make_logprob_fn(cfg, chunk=4, temperature=0.5)(params, batch)[:, 1:]
    np.testing.assert_allclose(got, want * batch["response_mask"][:, 1:], atol=1e-5)

    # The steps' recorded log-probs (~N(-4, 0.3)) are not the policy's. Told to trust them
    # (recompute_old_logprobs=False, temperature 1) the update takes them as the behaviour
    # policy: ratios far from 1, clipped. By default they are recomputed under
    # softmax(logits / T) before the update, so every ratio starts at 1 (one mini-batch).
    adv = np.array([1.0, -1.0, 0.5, -0.5, 2.0, -2.0], np.float32)

    def clip_frac(temperature, **kw):
        config = GRPOConfig(model=Path("-"), tasks=Path("-"), out=Path("-"), lr=1e-3, mini_batch=0,
                            micro_batch=8, bucket=8, temperature=temperature, **kw)
        up = Updater(cfg, config, pad_id=0)
        p = jax.tree.map(jnp.copy, params)
        return up(p, up.init(p), steps, adv, np.random.default_rng(0))[2]["clip_frac"]

    assert clip_frac(1.0, recompute_old_logprobs=False) > 0.3
    assert clip_frac(1.0) == 0.0
    assert clip_frac(0.5) == 0.0
    with pytest.raises(ValueError, match="temperature must be > 0"):
        Updater(cfg, GRPOConfig(model=Path("-"), tasks=Path("-"), out=Path("-"), temperature=0.0), 0)


def test_ppo_epochs_and_metrics(tiny):
    from pathlib import Path

    from prism_jax.grpo import GRPOConfig
    from prism_jax.updater import Updater

    cfg, params = tiny
    steps = _steps(np.random.default_rng(4), 8)
    adv = np.linspace(-1, 1, 8).astype(np.float32)
    config = GRPOConfig(model=Path("-"), tasks=Path("-"), out=Path("-"), lr=1e-2, mini_batch=4,
                        micro_batch=2, bucket=8, ppo_epochs=2, loss_agg="micro-token-mean")
    up = Updater(cfg, config, pad_id=0)
    p = jax.tree.map(jnp.copy, params)
    _, _, m = up(p, up.init(p), steps, adv, np.random.default_rng(0))
    assert m["optimizer_steps"] == 4                 # 2 epochs x 2 mini-batches
    # the first mini-batch is on-policy (ratio 1, ppo_kl 0); the later ones are not
    assert m["ppo_kl"] != 0.0 and 0.0 <= m["clip_frac_lower"] <= 1.0
    with pytest.raises(ValueError, match="clip_ratio_c must be > 1"):
        Updater(cfg, dataclasses.replace(config, clip_ratio_c=0.5), 0)


def _moved(before, after) -> np.ndarray:
    """bool over every parameter element: did the update change it?"""
    return np.concatenate([np.asarray(a != b).ravel() for a, b in
                           zip(jax.tree.leaves(before), jax.tree.leaves(after))])


def test_bfloat16_compute_keeps_float32_masters_so_lr_1e6_updates_land(tmp_path):
    """At the paper's lr 1e-6 an update moves every weight a float32 run moves when the compute
    is bfloat16 (float32 masters); updating bfloat16 weights instead rounds nearly all of it away."""
    from pathlib import Path

    from hf_models import build
    from prism_jax.grpo import GRPOConfig, compute_dtype_of, load_start_model, sampling_params
    from prism_jax.updater import Updater

    build("qwen3", tmp_path / "m")
    config = GRPOConfig(model=tmp_path / "m", tasks=Path("-"), out=Path("-"), lr=1e-6, mini_batch=0,
                        micro_batch=8, bucket=8, dtype="bfloat16")
    model = load_start_model(config)
    cfg, params = model.config, model.params()
    assert {p.dtype for p in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
    compute = compute_dtype_of(config)
    assert {p.dtype for p in jax.tree.leaves(sampling_params(params, compute))} == {jnp.dtype(jnp.bfloat16)}

    steps = [dataclasses.replace(s, response_ids=s.response_ids % cfg.vocab_size,
                                 prompt_ids=s.prompt_ids % cfg.vocab_size)
             for s in _steps(np.random.default_rng(3), 8)]
    adv = np.array([1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1.5, -1.5], np.float32)

    def update(config, params, compute_dtype):
        up = Updater(cfg, config, pad_id=0, compute_dtype=compute_dtype)
        state = up.init(params)
        new, state, _ = up(jax.tree.map(jnp.copy, params), state, steps, adv, np.random.default_rng(0))
        return new, state

    reference, _ = update(dataclasses.replace(config, dtype="float32"), params, jnp.float32)
    mixed, state = update(config, params, compute)
    assert {p.dtype for p in jax.tree.leaves((mixed, state))
            if jnp.issubdtype(p.dtype, jnp.floating)} == {jnp.dtype(jnp.float32)}
    want, got = _moved(params, reference), _moved(params, mixed)
    assert want.mean() > 0.5                      # most weights have a gradient here
    assert got[want].mean() > 0.999, (want.mean(), got.mean(), got[want].mean())

    # the control: the weights themselves in bfloat16, as the presets had them
    bf16 = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
    rounded, _ = update(config, bf16, compute)
    assert _moved(bf16, rounded).mean() < 0.1 * want.mean()


# ------------------------------------------------------------------------------ training runs
def _alfworld_run_inputs(root):
    """Two generated ALFWorld games as an RL task file, and a tiny model whose tokenizer was
    trained on the games' expert chats."""
    from prism_jax.envs.alfworld import generate_games
    from prism_jax.envs.alfworld.datagen import trajectory_records
    from prism_jax.models.builder import TinySpec, build_tiny

    games = generate_games("train", 2, root / "games", seed=0,
                           task_types=["pick_and_place_simple"], progress=False)
    records = trajectory_records(games, "train", workers=2)
    tasks = root / "rl.jsonl"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in records))
    spec = TinySpec(vocab_size=1024, hidden_size=64, intermediate_size=128, num_layers=2,
                    num_heads=2, num_kv_heads=1, head_dim=32)
    model = build_tiny(root / "base", [m["content"] for r in records for m in r["messages"]] * 4,
                       spec, seed=0)
    return model, tasks


@pytest.mark.slow
def test_kill_during_grpo_and_resume_equals_uninterrupted(tmp_path):
    from prism_jax.grpo import GRPOConfig, train_grpo
    from prism_jax.tracking import read_metrics

    model, tasks = _alfworld_run_inputs(tmp_path)
    args = dict(model=model, tasks=tasks, group_size=2, tasks_per_iter=1, iterations=3,
                max_steps=3, max_new_tokens=12, lr=1e-3, mini_batch=4, micro_batch=4,
                save_every=1, seed=1)
    train_grpo(GRPOConfig(out=tmp_path / "straight", **args), progress=False)

    run = tmp_path / "killed"
    argv = [sys.executable, "-m", "prism_jax.train.cli", "grpo"]
    for k, v in dict(args, out=run).items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # kill -9 once the first checkpoint is complete and the run has moved on
        while proc.poll() is None:
            metrics = run / "metrics.jsonl"
            if (run / "checkpoints" / "1").is_dir() and metrics.exists() and metrics.read_text():
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert len(read_metrics(run)) < 3
    summary = train_grpo(GRPOConfig(out=run, **args), progress=False)
    assert summary["resumed_from"] >= 1

    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("time_")} for r in rows]
    assert strip(read_metrics(run)) == strip(read_metrics(tmp_path / "straight"))
    assert (run / "final" / "model.safetensors").is_file()



@pytest.mark.usefixtures("highest_precision")
def test_online_hpt_gate_zero_trains_failed_task_on_its_demonstration_in_the_same_update(tiny):
    """HPT with gate 0: task A's two rollouts both failed, so its rollout rows are dropped and its
    demonstration's two steps train with the SFT loss; task B had a success, so its rollout rows
    train with GRPO. One AdamW step over all four rows equals the step on a hand-written
    objective: (sum over B's tokens of -A * ratio + sum over A's demonstration tokens of -log p)
    / all tokens, from a plain forward pass."""
    from pathlib import Path

    import optax

    from prism_jax.episodes import Episode
    from prism_jax.grpo import GRPOConfig
    from prism_jax.hpt import online_hpt
    from prism_jax.updater import Updater

    cfg, params = tiny
    rng = np.random.default_rng(7)
    rollouts, demo_a, demo_b = _steps(rng, 4), _steps(rng, 2), _steps(rng, 1)
    episodes = [Episode("A", 0, success=False), Episode("A", 0, success=False),
                Episode("B", 1, success=True), Episode("B", 1, success=False)]
    adv = np.array([0.0, 0.0, 0.7, -0.7], np.float32)
    steps, out_adv, sft, stats = online_hpt(rollouts, adv, [0, 0, 1, 1], episodes, ["A", "B"],
                                            {"A": demo_a, "B": demo_b}, gate=0)
    assert [id(s) for s in steps] == [id(s) for s in (rollouts[2], rollouts[3], *demo_a)]
    np.testing.assert_array_equal(sft, [False, False, True, True])
    np.testing.assert_array_equal(out_adv, np.float32([0.7, -0.7, 0.0, 0.0]))
    assert stats == {"hpt_sft_tasks": 1, "hpt_rl_tasks": 1, "sft_rows": 2}

    config = GRPOConfig(model=Path("-"), tasks=Path("-"), out=Path("-"), lr=1e-3, mini_batch=0,
                        micro_batch=8, bucket=8)
    up = Updater(cfg, config, pad_id=0)
    start = jax.tree.map(jnp.copy, params)
    new, _, metrics = up(jax.tree.map(jnp.copy, params), up.init(start), steps, out_adv,
                         np.random.default_rng(0), sft=sft)
    assert metrics["optimizer_steps"] == 1

    # all rows right-padded into one batch; token t of a row is scored from position t - 1
    width = max(len(s.prompt_ids) + len(s.response_ids) for s in steps)
    ids, attn, resp = (np.zeros((len(steps), width), np.int32) for _ in range(3))
    for i, s in enumerate(steps):
        p, r = len(s.prompt_ids), len(s.response_ids)
        ids[i, :p + r] = np.concatenate([s.prompt_ids, s.response_ids])
        attn[i, :p + r], resp[i, p:p + r] = 1, 1
    n_tokens = resp.sum()
    is_demo = jnp.asarray(sft, jnp.float32)[:, None]

    @jax.jit
    def reference(p):
        logits, _ = forward(p, cfg, jnp.asarray(ids), jnp.asarray(attn))
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits[:, :-1], -1), ids[:, 1:, None], -1)[..., 0]
        mask = jnp.asarray(resp[:, 1:], jnp.float32)
        # the behaviour policy is the current one: ratio exp(logp - stop_grad(logp))
        ratio = jnp.exp(logp - jax.lax.stop_gradient(logp))
        rl = -jnp.asarray(out_adv)[:, None] * ratio * (1 - is_demo)
        demo = -logp * is_demo
        return jnp.sum((rl + demo) * mask) / n_tokens, jnp.sum(demo * mask) / n_tokens

    grads, want_sft = jax.grad(reference, has_aux=True)(start)
    # the update's gradient itself (Adam's first step alone would mostly compare signs)
    batch = pack_rows(steps, out_adv, rows=8, pad_id=0, multiple=8,
                      weights=np.full(len(steps), 1.0 / n_tokens, np.float32), sft=sft)
    batch["old_logprobs"] = np.asarray(up.old_fn(start, batch))
    got_grads, _ = up.grad_fn(start, batch)
    for got, ref in zip(jax.tree.leaves(got_grads), jax.tree.leaves(grads)):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3, weight_decay=0.01))
    updates, _ = opt.update(grads, opt.init(start), start)
    want = optax.apply_updates(start, updates)
    for got, ref in zip(jax.tree.leaves(new), jax.tree.leaves(want)):
        np.testing.assert_allclose(got, ref, atol=2e-6)
    np.testing.assert_allclose(metrics["sft_loss"], float(want_sft), rtol=1e-5)


@pytest.mark.slow
def test_online_hpt_run_and_periodic_validation(tmp_path):
    """A GRPO run with the HPT gate and validation every iteration: the untrained model never
    wins, so every iteration trains its task on the demonstration (as many SFT rows as the
    demonstration has steps); each iteration logs the validation table, and the last one equals
    `evaluate_model` on the exported model with the same settings."""
    from prism_jax.evaluate import EvalSettings, evaluate_model
    from prism_jax.grpo import GRPOConfig, train_grpo
    from prism_jax.tracking import read_metrics

    model, tasks = _alfworld_run_inputs(tmp_path)
    records = [json.loads(line) for line in tasks.read_text().splitlines()]
    config = GRPOConfig(model=model, tasks=tasks, out=tmp_path / "run", group_size=2,
                        tasks_per_iter=1, iterations=2, max_steps=3, max_new_tokens=12, lr=1e-3,
                        mini_batch=0, micro_batch=4, seed=1, hpt_gate=0, val_every=1, val_n=2,
                        val_temperature=0.0, val_games_dir=tmp_path / "val")
    summary = train_grpo(config, progress=False)
    rows = read_metrics(tmp_path / "run")
    assert [r["hpt_sft_tasks"] for r in rows] == [1, 1]
    assert [r["hpt_rl_tasks"] for r in rows] == [0, 0]
    chosen = tasks_for_iteration([r["task_id"] for r in records], 0, 1, 1) + \
        tasks_for_iteration([r["task_id"] for r in records], 1, 1, 1)
    turns = {r["task_id"]: sum(t["response"] is not None for t in r["turns"]) for r in records}
    assert [r["sft_rows"] for r in rows] == [turns[t] for t in chosen]
    assert all(r["rows_trained"] == 0 and r["sft_loss"] > 0 for r in rows)

    settings = EvalSettings(n=2, batch_size=2, max_steps=3, temperature=0.0, max_new_tokens=12,
                            max_prompt_len=2048, seed=1, games_dir=tmp_path / "val")
    table = evaluate_model(summary["final_model"], "alfworld", ["valid_seen"], settings)["eval"]["valid_seen"]
    assert {k: v for k, v in rows[-1].items() if k.startswith("val/")} == {
        f"val/{k}": float(v) for k, v in table.items() if isinstance(v, (int, float))}
