"""GRPO and GiGPO for multi-turn agents (paper appendix C; verl-agent's set-up, see rl.md).

A training row is one agent step: its prompt, its sampled response and one scalar advantage
shared by the response tokens. Rows of the same task form a group (the `group_size` rollouts of
that task).

The pieces live in their own modules: group-relative advantages (`prism_jax.advantages`), the
clipped-ratio loss and its aggregation (`prism_jax.losses`), the mini-batched policy update
(`prism_jax.updater`) and online HPT's per-task switch to demonstrations (`prism_jax.hpt`).
This module holds the hyperparameters and run config, task loading and the per-iteration task
schedule, and the training loop (rollouts -> advantages -> update -> checkpoint).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from prism_jax import models
from prism_jax.advantages import EpisodeStats, Norm, compute_advantages, informative_rows, rows_of
from prism_jax.data import read_trajectories
from prism_jax.envs.registry import REGISTRY, EnvOptions, get_env
from prism_jax.evaluate import EvalSettings, evaluate_params
from prism_jax.hpt import demonstration_steps, online_hpt
from prism_jax.losses import LOSS_AGGS, LossAgg
from prism_jax.models.config import ModelConfig
from prism_jax.models.tokenizer import load_tokenizer
from prism_jax.progress import progress as progress_bar
from prism_jax.rollout import Actions, ModelSampler, RolloutConfig, episode_stats, rollout
from prism_jax.runs import MeshConfig, NonFiniteLossError, RunDir  # noqa: F401 (raised by train_grpo)
from prism_jax.updater import Updater, check_micro_batch

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ training
def _env_defaults() -> dict[str, dict[str, int]]:
    return {name: {"max_steps": spec.max_steps, "max_prompt_len": spec.max_prompt_len}
            for name, spec in REGISTRY.items()}


ENV_DEFAULTS = _env_defaults()


@dataclass(frozen=True)
class GRPOHparams(MeshConfig):
    """GRPO / GiGPO hyperparameters (paper appendix C; verl-agent defaults), the mesh included;
    `GRPOConfig` adds the paths."""

    advantage: Literal["grpo", "gigpo"] = "grpo"
    """Advantage estimator: GRPO (episode groups) or GiGPO (episode + anchor-state step groups)."""
    episode_stats: EpisodeStats = "steps"
    """Episode-advantage statistics: "steps" (verl-agent: over every step row of the task group,
    the invalid penalty inside each row's score; a group's advantages sum to zero) or
    "rollouts" (GiGPO's Eq. 3: over one return per rollout, the penalty subtracted after)."""
    gigpo_norm: Norm = "mean_std_norm"
    """GiGPO's normaliser F: std + 1e-6 ("mean_std_norm") or 1 ("mean_norm")."""
    step_weight: float = 1.0
    """GiGPO's w in A = A_E + w * A_S."""
    gamma: float = 0.95
    """Discount of GiGPO's step returns."""
    invalid_penalty: float = 0.1
    """Subtracted from a step's score when its response has no valid <action>."""
    group_size: int = 8
    """Rollouts per task (the group of the group-relative advantage)."""
    tasks_per_iter: int = 16
    """Tasks per iteration: tasks_per_iter x group_size episodes are played at once."""
    iterations: int = 150
    """Training iterations (rollout + one policy update each)."""
    lr: float = 1e-6
    """AdamW learning rate (constant)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Global-norm gradient clipping."""
    clip: float = 0.2
    """PPO ratio clip epsilon (the lower one when clip_high is set)."""
    clip_high: float | None = None
    """Clip-higher (DAPO): the upper epsilon, ratio clipped to [1 - clip, 1 + clip_high]
    (None: clip)."""
    clip_ratio_c: float = 3.0
    """Dual-clip: a negative-advantage token's loss is bounded by -A * clip_ratio_c (verl's
    default 3; 0 turns it off; otherwise it must be > 1)."""
    ppo_epochs: int = 1
    """Passes over an iteration's rows, each reshuffled into mini-batches (verl-agent: 1)."""
    loss_agg: LossAgg = "token-mean"
    """Loss aggregation over a mini-batch: "token-mean" (the mean over all its response
    tokens), "micro-token-mean" (verl's actor: each micro-batch's token mean, averaged over the
    micro-batches) or "seq-mean-token-mean" (the mean over rows of each row's token mean)."""
    filter_groups: bool = False
    """Drop the rows of task groups whose episodes all have the same return before the update
    (DAPO's dynamic-sampling filter: they carry no group-relative signal)."""
    recompute_old_logprobs: bool = True
    """Recompute the behaviour log-probs with the update's own forward before the update
    (verl's old_log_prob), so every PPO ratio starts at 1. False takes the log-probs the sampler
    recorded (at its sampling temperature, from the KV-cache decode path)."""
    hpt_gate: int | None = None
    """Online HPT (Lv et al. 2025): a task whose group_size rollouts have at most this many
    successes trains on its demonstration (the --tasks record's steps, per-step prompts as
    rollouts render them) with the SFT loss instead of GRPO on its rollouts, in the same update.
    None: plain GRPO. The paper's gate is 0 or 2 of 8."""
    val_every: int = 0
    """Validate every N iterations (and after the last) on val_n tasks of val_split, as
    verl-agent's trainer does (test_freq 5); the tables go to metrics.jsonl as val/*. 0: never."""
    val_n: int = 32
    """Validation tasks (ALFWorld: round-robin over the task types)."""
    val_split: str | None = None
    """Validation split (default: the env's first evaluation split, valid_seen / test)."""
    val_temperature: float = 0.4
    """Validation sampling temperature (verl-agent's 0.4; 0 is greedy)."""
    val_games_dir: Path | None = None
    """ALFWorld: game root of the validation split (default: data/alfworld, as `prism eval`)."""
    kl_coef: float = 0.0
    """Weight of the k3 KL to the start model (0: no KL term and no reference model)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    mini_batch: int = 2048
    """Rows (agent steps) per optimizer step; an iteration's rows are shuffled and split into
    mini-batches (verl-agent: 256 x group 8). 0: one step over all rows."""
    micro_batch: int = 8
    """Rows per forward/backward pass (gradients are accumulated over a mini-batch); on a mesh
    the rows are split over data x fsdp, so it must be a multiple of their size."""
    temperature: float = 1.0
    """Rollout sampling temperature (> 0). The update scores tokens under the same
    softmax(logits / temperature), as verl's actor does."""
    top_p: float = 1.0
    """Rollout nucleus sampling threshold."""
    max_new_tokens: int = 64
    """Response length cap per step."""
    max_prompt_len: int | None = None
    """Prompt budget in tokens (default: 2048 ALFWorld, 4096 WebShop)."""
    max_steps: int | None = None
    """Environment steps per episode (default: 50 ALFWorld, 15 WebShop)."""
    think: bool = True
    """Ask for <think></think> before the action and treat responses without it as invalid
    (verl-agent's prompt and rule)."""
    history: int = 2
    """Past steps each prompt shows (verl-agent's template, history_length)."""
    prompt_style: Literal["verl", "chat"] = "verl"
    """verl: verl-agent's one-message-per-step template; chat: the growing multi-turn chat."""
    actions: Actions = "free"
    """free: the model writes its action (the paper's setting); admissible: decoding is
    restricted to "<action>X</action>" for the step's admissible actions X, so every action is
    valid (needs think=False; a step whose list holds a placeholder, WebShop's search box, is
    decoded freely); extractive: as admissible, and a placeholder's argument (the search
    query) is spelled from the task's words only."""
    seed: int = 0
    """Seed of task order, sampling and mini-batch shuffling."""
    save_every: int = 5
    """Save a checkpoint every N iterations (and after the last)."""
    keep: int = 3
    """Checkpoints kept."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Compute dtype of the update's forward and backward and of the rollout sampler's copy of
    the weights. Parameters and AdamW state are float32 master copies either way (as SFT's):
    at the paper's lr of 1e-6 a bfloat16 weight would round almost every update away."""
    export_dtype: Literal["float32", "bfloat16"] = "float32"
    """Dtype of the weights written to final/ (bfloat16 halves it, as the Hugging Face
    checkpoints are; training itself keeps float32 masters)."""
    chunk: int = 256
    """Tokens per log-prob chunk (bounds the [chunk, vocab] logits held at once)."""
    remat: Literal["none", "full"] = "none"
    """Recompute each layer in the backward pass (less memory, one more forward)."""
    bucket: int = 64
    """Prompt and sequence lengths are padded up to a multiple of this (fewer compiles)."""
    webshop_products: int = 1000
    """WebShop catalog size (must match the one the tasks were generated with)."""
    webshop_seed: int = 0
    """WebShop catalog seed (must match the one the tasks were generated with)."""

    def check(self) -> None:
        super().check()
        for name in ("group_size", "tasks_per_iter", "iterations", "micro_batch", "save_every",
                     "keep", "max_new_tokens", "chunk", "bucket"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"GRPO samples its rollouts: temperature must be > 0, got "
                             f"{self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.actions != "free" and self.think:
            raise ValueError(f"actions={self.actions!r} decodes '<action>X</action>' only: it "
                             "needs think=False (--no-think)")
        if self.mini_batch < 0:
            raise ValueError(f"mini_batch must be >= 0 (0: one step over all rows), got {self.mini_batch}")
        for name in ("max_prompt_len", "max_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (or unset for the env's default), got "
                                 f"{getattr(self, name)}")
        if self.clip_ratio_c and self.clip_ratio_c <= 1.0:
            raise ValueError(f"clip_ratio_c must be > 1 (or 0 for no dual-clip), got "
                             f"{self.clip_ratio_c}")
        if self.ppo_epochs < 1:
            raise ValueError(f"ppo_epochs must be >= 1, got {self.ppo_epochs}")
        if not 0 < self.clip < 1 or (self.clip_high is not None and self.clip_high <= 0):
            raise ValueError(f"clip must be in (0, 1) and clip_high > 0, got {self.clip}, "
                             f"{self.clip_high}")
        if self.hpt_gate is not None and not 0 <= self.hpt_gate < self.group_size:
            raise ValueError(f"hpt_gate must be in [0, group_size = {self.group_size}), got "
                             f"{self.hpt_gate}")
        if self.val_every < 0 or self.val_n < 1 or self.val_temperature < 0:
            raise ValueError(f"val_every must be >= 0, val_n >= 1 and val_temperature >= 0, got "
                             f"{self.val_every}, {self.val_n}, {self.val_temperature}")
        if self.loss_agg not in LOSS_AGGS:
            raise ValueError(f"loss_agg must be one of {', '.join(LOSS_AGGS)}, got {self.loss_agg!r}")


@dataclass(frozen=True)
class _GRPOPaths:
    model: Path
    """Start model: a Hugging Face directory or an orbax checkpoint (`prism convert`), with its
    tokenizer files."""
    tasks: Path
    """Trajectory JSONL whose records name the tasks to train on (their `env` and `task_id`;
    duplicates count once), e.g. the RL split written by `prism route`."""
    out: Path
    """Run directory: checkpoints/, metrics.jsonl, tb/, config.json, run.json and, at the end,
    final/ (HF format). A run directory of the same settings and inputs is resumed; any other
    non-empty directory is refused."""


@dataclass(frozen=True)
class GRPOConfig(GRPOHparams, _GRPOPaths):
    """GRPO / GiGPO on the tasks of a trajectory file: the paths and the hyperparameters."""

    @classmethod
    def of(cls, hparams: GRPOHparams, *, model: Path, tasks: Path, out: Path,
           **changes) -> "GRPOConfig":
        """The run of `hparams` (with `changes`) from `model` on `tasks` into `out`."""
        values = {f.name: getattr(hparams, f.name) for f in fields(GRPOHparams)}
        return cls(model=Path(model), tasks=Path(tasks), out=Path(out), **(values | changes))


# Settings that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = ("out", "iterations", "save_every", "keep", "distributed")


def load_tasks(path: str | os.PathLike) -> tuple[str, list[str]]:
    """(env, task ids in file order, duplicates dropped) of a trajectory JSONL file."""
    envs, tasks, seen = set(), [], set()
    for rec in read_trajectories(path):
        if "task_id" not in rec or "env" not in rec:
            raise ValueError(f"{path}: record {rec['id']!r} has no 'task_id' and 'env': RL needs "
                             "them to replay its task")
        envs.add(rec["env"])
        if rec["task_id"] not in seen:
            seen.add(rec["task_id"])
            tasks.append(rec["task_id"])
    if not tasks:
        raise ValueError(f"{path}: no tasks")
    if len(envs) != 1:
        raise ValueError(f"{path}: tasks of several environments {sorted(envs)}; train on one")
    env = envs.pop()
    if env not in ENV_DEFAULTS:
        raise ValueError(f"{path}: unknown env {env!r}: expected one of {sorted(ENV_DEFAULTS)}")
    return env, tasks


def tasks_for_iteration(tasks: list[str], iteration: int, k: int, seed: int) -> list[str]:
    """Iteration i's k tasks: a stream of seeded per-epoch shuffles of `tasks`, cut into blocks
    of k. A function of (seed, iteration) alone, so a resumed run draws what it would have."""
    n = len(tasks)
    out = []
    for pos in range(iteration * k, (iteration + 1) * k):
        epoch, j = divmod(pos, n)
        out.append(tasks[np.random.default_rng([seed, epoch]).permutation(n)[j]])
    return out


def make_vec_env(env: str, n: int, config: GRPOConfig, max_steps: int):
    """`n` env slots for `env` (`prism_jax.envs.registry`; WebShop on the tasks' catalog)."""
    options = EnvOptions(num_products=config.webshop_products, data_seed=config.webshop_seed)
    return get_env(env).make_vec(n, max_steps, options)


def compute_dtype_of(config: GRPOConfig):
    """The activation dtype of the update and of the sampling copy of the weights."""
    return jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32


def load_start_model(config: GRPOConfig, mesh=None):
    """The start checkpoint with float32 master parameters, whatever the compute dtype."""
    return models.load(config.model, jnp.float32, mesh)


def load_start(config: GRPOConfig, mesh=None):
    """(start model with float32 masters, its tokenizer)."""
    model = load_start_model(config, mesh)
    return model, load_tokenizer(config.model, vocab_size=model.config.vocab_size)


@partial(jax.jit, static_argnums=1)
def cast_params(params, dtype):
    """A copy of `params` in `dtype` (keeps shardings): what the rollout sampler reads."""
    return jax.tree.map(lambda p: p.astype(dtype), params)


def sampling_params(params, dtype):
    """The weights rollouts sample with: `params` itself in float32, else a `dtype` copy."""
    return params if dtype == jnp.float32 else cast_params(params, dtype)


def validate(params, cfg: ModelConfig, tokenizer, env: str, config: GRPOConfig, compute_dtype,
             max_steps: int) -> dict[str, float]:
    """The current policy's evaluation table on val_n tasks of val_split -> {"val/KEY": value}
    (verl-agent's periodic validation: the same episodes at every validation)."""
    split = config.val_split or get_env(env).eval_splits[0]
    settings = EvalSettings(
        n=config.val_n, batch_size=min(config.val_n, config.tasks_per_iter * config.group_size),
        max_steps=max_steps, temperature=config.val_temperature, top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        max_prompt_len=config.max_prompt_len or ENV_DEFAULTS[env]["max_prompt_len"],
        think=config.think, history=config.history, prompt_style=config.prompt_style,
        actions=config.actions, seed=config.seed, data_seed=config.webshop_seed,
        num_products=config.webshop_products, games_dir=config.val_games_dir)
    table = evaluate_params(sampling_params(params, compute_dtype), cfg, tokenizer, env, [split],
                            settings, bucket=config.bucket)["eval"][split]
    return {f"val/{k}": float(v) for k, v in table.items() if isinstance(v, (int, float))}


def train_grpo(config: GRPOConfig, *, progress: bool = True) -> dict:
    """Run (or resume) GRPO/GiGPO as configured; returns a summary dict.

    Each iteration plays tasks_per_iter x group_size episodes with the current policy, computes
    the advantages, takes the policy update, logs metrics (metrics.jsonl + TensorBoard) and
    saves a checkpoint every `save_every` iterations. Everything random is a function of
    (seed, iteration), so a resumed run continues exactly as an uninterrupted one. The run
    directory (`runs.RunDir`) is locked for the run and resumed only with the same settings,
    start model and tasks (`iterations` may grow). Raises `NonFiniteLossError` when the update's
    loss or gradient stops being finite.
    """
    with RunDir(config.out, "grpo", config, inputs={"model": config.model, "tasks": config.tasks},
                resumable=_RESUMABLE_CHANGES) as run:
        return _train(config, run, progress)


def _train(config: GRPOConfig, run: RunDir, progress: bool) -> dict:
    env, tasks = load_tasks(config.tasks)
    max_steps = config.max_steps or ENV_DEFAULTS[env]["max_steps"]
    rollout_config = RolloutConfig(
        env=env, max_steps=max_steps,
        max_prompt_len=config.max_prompt_len or ENV_DEFAULTS[env]["max_prompt_len"],
        max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
        bucket=config.bucket, think=config.think, history=config.history,
        prompt_style=config.prompt_style, actions=config.actions)
    mesh = config.build()
    if mesh is not None:
        check_micro_batch(config.micro_batch, mesh)     # before a long model load
    model, tokenizer = load_start(config, mesh)
    cfg = model.config
    params = model.params()                       # float32 masters (see GRPOConfig.dtype)
    compute_dtype = compute_dtype_of(config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # the frozen reference is only ever read in the compute dtype: keep it there
    ref_params = cast_params(params, compute_dtype) if config.kl_coef else None
    updater = Updater(cfg, config, pad_id, compute_dtype, ref_params, mesh=mesh)
    opt_state = updater.init(params)
    demos = None
    if config.hpt_gate is not None:
        demos = demonstration_steps(read_trajectories(config.tasks), tokenizer,
                                    max_prompt_len=rollout_config.max_prompt_len)

    run.start()
    ckpt = run.checkpointer(every=config.save_every, keep=config.keep)
    start = 0
    if ckpt.latest_step() is not None:
        state = ckpt.restore(params_target=params, opt_state_target=opt_state)
        params, opt_state, start = state.params, state.opt_state, int(state.step)
        logger.info("resumed %s at iteration %d", run.path, start)
    n_envs = config.tasks_per_iter * config.group_size
    vec = make_vec_env(env, n_envs, config, max_steps)
    last: dict = {}
    try:
        with run.metrics(resume_step=start) as writer, progress_bar(
                config.iterations, initial=start, desc="grpo", unit="iter", enabled=progress) as bar:
            for it in range(start, config.iterations):
                t0 = time.perf_counter()
                chosen = tasks_for_iteration(tasks, it, config.tasks_per_iter, config.seed)
                env_tasks = [t for t in chosen for _ in range(config.group_size)]
                groups = [j for j in range(len(chosen)) for _ in range(config.group_size)]
                sampler = ModelSampler(sampling_params(params, compute_dtype), cfg, tokenizer,
                                       rollout_config, max_batch=n_envs)
                played = rollout(sampler, tokenizer, vec, env_tasks, config=rollout_config,
                                 groups=groups, seed=int(np.random.default_rng([config.seed, it]).integers(2**31)),
                                 progress=progress)
                # An episode cut short by an env failure says nothing about the policy.
                episodes = [e for e in played if e.error is None]
                for e in played:
                    if e.error is not None:
                        logger.warning("iteration %d: episode of %s lost: %s", it + 1, e.task_id,
                                       e.error.splitlines()[0])
                t1 = time.perf_counter()
                steps, cols = rows_of(episodes)
                adv = compute_advantages(
                    **cols, method=config.advantage, norm=config.gigpo_norm, gamma=config.gamma,
                    step_weight=config.step_weight, invalid_penalty=config.invalid_penalty,
                    episode_stats=config.episode_stats)
                keep = np.ones(len(steps), bool)
                if config.filter_groups:
                    keep &= informative_rows(cols["group"], cols["episode"], cols["episode_reward"])
                steps, adv = [s for s, k in zip(steps, keep) if k], adv[keep]
                groups_kept = np.asarray(cols["group"])[keep]
                sft_rows, hpt = np.zeros(len(steps), bool), {}
                if demos is not None:
                    steps, adv, sft_rows, hpt = online_hpt(steps, adv, groups_kept, episodes,
                                                           chosen, demos, config.hpt_gate)
                kept = int((~sft_rows).sum())
                upd = {"optimizer_steps": 0}
                if steps:
                    with run.nan_guard(it + 1, ckpt):
                        params, opt_state, upd = updater(params, opt_state, steps,
                                                         adv.astype(np.float32),
                                                         np.random.default_rng([config.seed, it, 1]),
                                                         sft=sft_rows)
                t2 = time.perf_counter()
                last = {**episode_stats(played), **upd, **hpt,
                        "advantage_abs_mean": float(np.abs(adv[~sft_rows]).mean()) if kept else 0.0,
                        "rows": len(cols["group"]), "rows_trained": kept,
                        "episodes_lost": len(played) - len(episodes),
                        "time_rollout": t1 - t0, "time_update": t2 - t1}
                if config.val_every and ((it + 1) % config.val_every == 0
                                         or it + 1 == config.iterations):
                    last |= validate(params, cfg, tokenizer, env, config, compute_dtype, max_steps)
                    last["time_val"] = time.perf_counter() - t2
                writer.write(it + 1, last)
                ckpt.save(it + 1, params, opt_state, rng=np.asarray([config.seed, it + 1]),
                          force=it + 1 == config.iterations)
                bar.update(1)
            ckpt.wait()
    finally:
        vec.close()
        ckpt.close()
    final = run.export(params, cfg, tokenizer_dir=Path(config.model),
                       dtype=config.export_dtype)
    return {"iterations": config.iterations, "resumed_from": start, "final_model": str(final),
            "env": env, "n_tasks": len(tasks), **{f"last_{k}": v for k, v in last.items()}}
