"""GRPO and GiGPO for multi-turn agents (paper appendix C; verl-agent's set-up, see rl.md).

A training row is one agent step: its prompt, its sampled response and one scalar advantage
shared by the response tokens. Rows of the same task form a group (the `group_size` rollouts of
that task).

Advantages (`compute_advantages`), with p = 0.1 the invalid-action penalty and F = std
(unbiased) + eps:
  * episode_stats="steps" (default; verl-agent's code): every row scores s = R - p * invalid, R
    its episode's return; A_E = (s - mean_g) / F_g with the statistics over all rows (steps) of
    the task group g. A long episode weighs in proportion to its steps, so the advantages of a
    group's rows sum to zero: failing episodes, usually the longer ones, cannot push the whole
    policy down on their own.
  * episode_stats="rollouts" (GiGPO's Eq. 3 as written): the statistics over one R per rollout,
    and A_E = (R - mean_g) / F_g - p * invalid (the penalty is not divided by F, so a group of
    equal returns, std 0, cannot turn -0.1 into -1e5).
  * GiGPO adds w * A_S (F = 1 with "mean_norm"): the step's discounted return R_t = sum_k
    gamma^(k-t) r_k minus p * invalid, normalised within its anchor-state group (the rows of g
    whose pre-action observation is identical).
  * A group with a single member gives 0 (there is nothing to compare with).

Loss: PPO's clipped ratio objective under the sampling distribution softmax(logits / temperature)
(verl's actor; at a temperature other than 1 the behaviour log-probs are recomputed with it
before the update), aggregated as the mean over every response token of the mini-batch
("token-mean"), optionally + kl_coef * KL(policy || reference) (the low-variance k3
estimator) and - entropy_coef * entropy.
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
from prism_jax.logprobs import target_weights, token_logprobs
from prism_jax.models.config import ModelConfig
from prism_jax.models.tokenizer import load_tokenizer
from prism_jax.progress import progress as progress_bar
from prism_jax.episodes import Step
from prism_jax.evaluate import EvalSettings, evaluate_policy
from prism_jax.policy import ModelPolicy
from prism_jax.rollout import ModelSampler, RolloutConfig, episode_stats, rollout
from prism_jax.runs import MeshConfig, NonFiniteLossError, RunDir  # noqa: F401 (raised by train_grpo)

logger = logging.getLogger(__name__)

Norm = Literal["mean_std_norm", "mean_norm"]
EpisodeStats = Literal["steps", "rollouts"]


# ------------------------------------------------------------------------------ advantages
def discounted_returns(rewards, episode, gamma: float) -> np.ndarray:
    """R_t = sum_{k >= t} gamma^(k-t) r_k within each episode -> float64 [N].

    rewards [N] and episode ids [N], the rows of an episode contiguous and in step order.
    """
    rewards = np.asarray(rewards, np.float64)
    episode = np.asarray(episode)
    out = np.zeros_like(rewards)
    running = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        if i == len(rewards) - 1 or episode[i + 1] != episode[i]:
            running = 0.0
        running = rewards[i] + gamma * running
        out[i] = running
    return out


def group_normalize(values, keys, *, norm: Norm = "mean_std_norm", eps: float = 1e-6) -> np.ndarray:
    """(v - mean_k) / F_k over the rows sharing a key -> float64 [N]; singleton groups give 0.

    F = std (unbiased) + eps for "mean_std_norm", 1 for "mean_norm". keys: any hashables [N].
    """
    values = np.asarray(values, np.float64)
    members: dict = {}
    for i, k in enumerate(keys):
        members.setdefault(k, []).append(i)
    out = np.zeros_like(values)
    for idx in members.values():
        if len(idx) < 2:
            continue
        v = values[idx]
        scale = np.std(v, ddof=1) + eps if norm == "mean_std_norm" else 1.0
        out[idx] = (v - v.mean()) / scale
    return out


def compute_advantages(*, group, episode, episode_reward, step_reward, invalid, anchor=None,
                       method: Literal["grpo", "gigpo"] = "grpo", norm: Norm = "mean_std_norm",
                       gamma: float = 0.95, step_weight: float = 1.0,
                       invalid_penalty: float = 0.1, eps: float = 1e-6,
                       episode_stats: EpisodeStats = "steps") -> np.ndarray:
    """One advantage per row (agent step) -> float64 [N].

    Args (all [N], one entry per row, the rows of an episode contiguous and in step order):
      group: task-group id; episode: episode id; episode_reward: the episode's total env
      reward; step_reward: the env reward of this step; invalid: the response had no valid
      action; anchor: the pre-action observation (GiGPO only).
      method: "grpo" (episode groups, std-normalised) or "gigpo" (episode + anchor-state groups).
      norm: GiGPO's F: "mean_std_norm" (std + eps) or "mean_norm" (1); GRPO always uses std.
      episode_stats: "steps" (statistics over the group's rows, penalty inside the score) or
        "rollouts" (over one return per rollout, penalty after); see the module docstring.
    """
    group, episode = np.asarray(group), np.asarray(episode)
    penalty = invalid_penalty * np.asarray(invalid, np.float64)
    if method not in ("grpo", "gigpo"):
        raise ValueError(f"unknown advantage method {method!r}: expected 'grpo' or 'gigpo'")
    if method == "gigpo" and anchor is None:
        raise ValueError("GiGPO needs the pre-action observation of every row (anchor)")
    if episode_stats not in ("steps", "rollouts"):
        raise ValueError(f"unknown episode_stats {episode_stats!r}: expected 'steps' or 'rollouts'")
    episode_norm = "mean_std_norm" if method == "grpo" else norm
    if episode_stats == "steps":
        adv = group_normalize(np.asarray(episode_reward, np.float64) - penalty, group,
                              norm=episode_norm, eps=eps)
    else:
        # one value per episode: the statistics are over rollouts, not over their steps
        _, first, row_to_episode = np.unique(episode, return_index=True, return_inverse=True)
        a_episode = group_normalize(np.asarray(episode_reward, np.float64)[first], group[first],
                                    norm=episode_norm, eps=eps)
        adv = a_episode[row_to_episode] - penalty
    if method == "gigpo":
        returns = discounted_returns(step_reward, episode, gamma) - penalty
        adv = adv + step_weight * group_normalize(returns, list(zip(group.tolist(), anchor)),
                                                  norm=norm, eps=eps)
    return adv


def informative_rows(group, episode, episode_reward) -> np.ndarray:
    """bool [N]: the row's task group has episodes of different returns (DAPO's filter keeps
    these; a group whose rollouts all scored alike carries no group-relative signal)."""
    group, episode = np.asarray(group), np.asarray(episode)
    reward = np.asarray(episode_reward, np.float64)
    keep = np.zeros(len(group), bool)
    for g in np.unique(group):
        rows = group == g
        per_episode = {e: r for e, r in zip(episode[rows], reward[rows])}
        keep[rows] = len(set(per_episode.values())) > 1
    return keep


# ------------------------------------------------------------------------------ loss
def clipped_surrogate(logp, old_logp, advantages, clip_low: float = 0.2,
                      clip_high: float | None = None, clip_ratio_c: float = 0.0):
    """PPO's per-token loss as verl computes it, r = exp(logp - old_logp):

        l = max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high))     (clip-higher: clip_high > clip_low)
        l = min(l, -A clip_ratio_c)   where A < 0                    (dual-clip, when clip_ratio_c > 1)

    Dual-clip bounds the loss of a negative-advantage token whose ratio has run far above 1.
    Returns (loss [..], clipped [..] bool: the clip branch was taken and differs, clipped_lower
    [..] bool: the dual-clip bound was taken), verl's pg_clipfrac and pg_clipfrac_lower.
    """
    clip_high = clip_low if clip_high is None else clip_high
    ratio = jnp.exp(logp - old_logp)
    unclipped = -advantages * ratio
    clipped = -advantages * jnp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    loss = jnp.maximum(unclipped, clipped)
    was_clipped = clipped > unclipped
    lower = jnp.zeros_like(was_clipped)
    if clip_ratio_c:
        bound = -advantages * clip_ratio_c
        lower = (advantages < 0) & (loss > bound)
        loss = jnp.where(advantages < 0, jnp.minimum(loss, bound), loss)
    return loss, was_clipped, lower


def low_var_kl(logp, ref_logp):
    """k3 estimator of KL(policy || ref) per token: exp(ref - logp) - (ref - logp) - 1, in [-10, 10]."""
    d = ref_logp - logp
    return jnp.clip(jnp.exp(d) - d - 1.0, -10.0, 10.0)


def _loss(params, batch, *, cfg, settings, compute_dtype):
    """sum_b weights[b] * sum_t (loss of response token t of row b): with the weights that
    `row_weights` gives, accumulating micro-batch gradients yields the mini-batch's loss under
    the chosen aggregation. A row's loss is PPO's clipped surrogate (+ KL, - entropy bonus), or,
    for a demonstration row (batch["sft"] = 1, online HPT), the SFT loss -log p of its tokens."""
    where = target_weights(batch, "response_mask")
    logp, entropy = token_logprobs(params, cfg, batch, chunk=settings.chunk,
                                   temperature=settings.temperature, compute_dtype=compute_dtype,
                                   remat=settings.remat, entropy=True, where=where)
    weighted = where * batch["weights"][:, None]
    sft = batch["sft"][:, None]
    mask, sft_mask = weighted * (1.0 - sft), weighted * sft     # GRPO rows, demonstration rows
    old = batch["old_logprobs"]
    per_token, was_clipped, lower = clipped_surrogate(
        logp, old, batch["advantages"][:, None], settings.clip, settings.clip_high,
        settings.clip_ratio_c)
    sft_loss = -jnp.sum(logp * sft_mask)
    total = jnp.sum(per_token * mask) + sft_loss
    kl = jnp.float32(0.0)
    if settings.kl_coef:
        kl = jnp.sum(low_var_kl(logp, batch["ref_logprobs"]) * mask)
        total = total + settings.kl_coef * kl
    ent = jnp.sum(entropy * mask)
    total = total - settings.entropy_coef * ent
    aux = {"pg_loss": jnp.sum(per_token * mask), "clip_frac": jnp.sum(was_clipped * mask),
           "clip_frac_lower": jnp.sum(lower * mask), "ppo_kl": jnp.sum((old - logp) * mask),
           "entropy": ent, "kl": kl, "sft_loss": sft_loss}
    return total, aux


LossAgg = Literal["token-mean", "micro-token-mean", "seq-mean-token-mean"]
LOSS_AGGS = ("token-mean", "micro-token-mean", "seq-mean-token-mean")


@dataclass(frozen=True)
class LossSettings:
    clip: float = 0.2                 # PPO clip epsilon (the lower one with clip-higher)
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    chunk: int = 256
    remat: str = "none"
    temperature: float = 1.0
    clip_high: float | None = None    # clip-higher's upper epsilon (None: = clip)
    clip_ratio_c: float = 0.0         # dual-clip bound for negative advantages (0: off)


def row_weights(token_counts, micro_of, agg: LossAgg) -> np.ndarray:
    """Per-row loss weights of one mini-batch -> float32 [N].

    token_counts [N]: response tokens of each row; micro_of [N]: its micro-batch index.
      "token-mean": 1 / (tokens of the mini-batch): the mean over every response token.
      "micro-token-mean" (verl's actor): each micro-batch's own token mean, divided by the
        number of micro-batches (its gradient accumulation).
      "seq-mean-token-mean": the mean over rows of each row's token mean.
    """
    counts = np.asarray(token_counts, np.float64)
    micro_of = np.asarray(micro_of)
    if agg == "token-mean":
        w = np.full(len(counts), 1.0 / max(counts.sum(), 1.0))
    elif agg == "micro-token-mean":
        n_micro = len(np.unique(micro_of))
        per_micro = {m: max(counts[micro_of == m].sum(), 1.0) for m in np.unique(micro_of)}
        w = np.array([1.0 / (per_micro[m] * n_micro) for m in micro_of])
    elif agg == "seq-mean-token-mean":
        w = 1.0 / (np.maximum(counts, 1.0) * len(counts))
    else:
        raise ValueError(f"unknown loss aggregation {agg!r}: expected token-mean, "
                         "micro-token-mean or seq-mean-token-mean")
    return w.astype(np.float32)


def make_grad_fn(cfg: ModelConfig, settings: LossSettings, compute_dtype=None,
                 grad_shardings=None):
    """Jitted `(params, batch) -> (grads, aux)`: the gradient of one micro-batch's share of the
    mini-batch's loss. batch: input_ids, attention_mask, response_mask int32 [B, T];
    old_logprobs (and ref_logprobs with KL) float32 [B, T] aligned with the token they score;
    advantages, weights (`row_weights`) and sft (1: a demonstration row) float32 [B]. aux: the
    weighted sums of pg_loss, clip_frac, clip_frac_lower, ppo_kl, entropy, kl and sft_loss. With `grad_shardings` (a mesh run) the
    gradients come out sharded like the parameters."""
    fn = partial(_loss, cfg=cfg, settings=settings, compute_dtype=compute_dtype)
    grad = jax.grad(fn, has_aux=True)
    if grad_shardings is None:
        return jax.jit(grad)

    def sharded(params, batch):
        grads, aux = grad(params, batch)
        return jax.lax.with_sharding_constraint(grads, grad_shardings), aux

    return jax.jit(sharded)


def make_logprob_fn(cfg: ModelConfig, chunk: int = 256, compute_dtype=None, temperature: float = 1.0):
    """Jitted `(params, batch) -> float32 [B, T]`: log p(token t) at position t for the response
    tokens (batch["response_mask"]; 0 elsewhere), p the softmax of logits / temperature."""

    def fn(params, batch):
        return token_logprobs(params, cfg, batch, chunk=chunk, temperature=temperature,
                              compute_dtype=compute_dtype,
                              where=target_weights(batch, "response_mask"))

    return jax.jit(fn)


# ------------------------------------------------------------------------------ rows -> batches
def rows_of(episodes) -> tuple[list, dict[str, np.ndarray | list]]:
    """Flatten episodes into rows (steps) and the per-row inputs of `compute_advantages`."""
    steps, cols = [], {k: [] for k in ("group", "episode", "episode_reward", "step_reward",
                                       "invalid", "anchor")}
    for e_id, ep in enumerate(episodes):
        for step in ep.steps:
            steps.append(step)
            cols["group"].append(ep.group)
            cols["episode"].append(e_id)
            cols["episode_reward"].append(ep.total_reward)
            cols["step_reward"].append(step.reward)
            cols["invalid"].append(step.invalid)
            cols["anchor"].append(step.observation)
    return steps, {k: (v if k == "anchor" else np.asarray(v)) for k, v in cols.items()}


def pack_rows(steps, advantages, *, rows: int, pad_id: int, multiple: int = 64,
              weights=None, sft=None) -> dict[str, np.ndarray]:
    """Right-padded (prompt + response) sequences of `steps` as one batch of `rows` rows.

    Returns input_ids, attention_mask, response_mask int32 [rows, T] (T = the longest sequence
    rounded up to `multiple`), old_logprobs float32 [rows, T] (each response token's sampled
    log-prob at its own position), advantages and weights (the loss weight of each row, see
    `row_weights`; default 1) and sft (1 for a demonstration row trained with the SFT loss;
    default 0) float32 [rows]. Rows beyond len(steps) are empty (all masks and weights 0), so
    micro-batches keep one shape.
    """
    from prism_jax.sampler import bucket

    if len(steps) > rows:
        raise ValueError(f"{len(steps)} steps do not fit in {rows} rows")
    length = bucket(max(len(s.prompt_ids) + len(s.response_ids) for s in steps), multiple)
    out = {"input_ids": np.full((rows, length), pad_id, np.int32),
           "attention_mask": np.zeros((rows, length), np.int32),
           "response_mask": np.zeros((rows, length), np.int32),
           "old_logprobs": np.zeros((rows, length), np.float32),
           "advantages": np.zeros((rows,), np.float32),
           "weights": np.zeros((rows,), np.float32),
           "sft": np.zeros((rows,), np.float32)}
    out["weights"][:len(steps)] = 1.0 if weights is None else weights
    if sft is not None:
        out["sft"][:len(steps)] = sft
    for i, (s, a) in enumerate(zip(steps, advantages)):
        p, r = len(s.prompt_ids), len(s.response_ids)
        out["input_ids"][i, :p + r] = np.concatenate([s.prompt_ids, s.response_ids])
        out["attention_mask"][i, :p + r] = 1
        out["response_mask"][i, p:p + r] = 1
        out["old_logprobs"][i, p:p + r] = s.logprobs
        out["advantages"][i] = a
    return out


def demonstration_steps(records, tokenizer, *, max_prompt_len: int) -> dict[str, list[Step]]:
    """{task_id: the Steps of its first demonstration} for online HPT's SFT rows.

    Each step's prompt is what a rollout renders at that step (`data.expand_steps`, tokenised by
    `encode_continuation`: token for token the rollout prompt), its response the demonstrated
    turn plus the end-of-turn token. A step whose prompt exceeds `max_prompt_len` is left out
    (counted in a warning). Raises ValueError for a record without per-step ``turns``.
    """
    from prism_jax.data import expand_steps
    from prism_jax.models.tokenizer import encode_continuation

    first = {}
    for rec in records:
        first.setdefault(rec["task_id"], rec)
    out, dropped = {}, 0
    for task, rec in first.items():
        steps = []
        for ex in expand_steps([rec]):
            prompt, reply = ex["messages"][:-1], ex["messages"][-1]["content"]
            ids, mask = encode_continuation(tokenizer, prompt, reply, enable_thinking=ex["think"])
            p = int(np.argmax(mask))
            if p > max_prompt_len:
                dropped += 1
                continue
            steps.append(Step(ids[:p], ids[p:], np.zeros(len(ids) - p, np.float32), reply, "", ""))
        out[task] = steps
    if dropped:
        logger.warning("online HPT: %d demonstration steps have prompts over %d tokens and are "
                       "left out", dropped, max_prompt_len)
    return out


def online_hpt(steps, advantages, row_groups, episodes, tasks, demos, gate: int):
    """HPT's per-task switch on one iteration's rows -> (steps, advantages, sft bool [N], stats).

    A group (task `tasks[g]`) whose episodes have at most `gate` successes gives up its rollout
    rows and contributes its demonstration's steps (`demos[task]`, advantage 0, sft True)
    instead; the other groups keep their GRPO rows. row_groups [N]: the group of each row.
    """
    wins: dict[int, int] = {}
    for e in episodes:
        wins[e.group] = wins.get(e.group, 0) + bool(e.success)
    to_sft = sorted(g for g, n in wins.items() if n <= gate)
    rl = np.array([g not in to_sft for g in row_groups], bool)
    demo = [s for g in to_sft for s in demos[tasks[g]]]
    out_steps = [s for s, k in zip(steps, rl) if k] + demo
    out_adv = np.concatenate([np.asarray(advantages)[rl], np.zeros(len(demo))]).astype(np.float32)
    sft = np.concatenate([np.zeros(int(rl.sum()), bool), np.ones(len(demo), bool)])
    stats = {"hpt_sft_tasks": len(to_sft), "hpt_rl_tasks": len(wins) - len(to_sft),
             "sft_rows": len(demo)}
    return out_steps, out_adv, sft, stats


# ------------------------------------------------------------------------------ training
def _env_defaults() -> dict[str, dict[str, int]]:
    from prism_jax.envs.registry import REGISTRY
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
    from prism_jax.data import read_trajectories

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
    from prism_jax.envs.registry import EnvOptions, get_env
    options = EnvOptions(num_products=config.webshop_products, data_seed=config.webshop_seed)
    return get_env(env).make_vec(n, max_steps, options)


def make_optimizer(config: GRPOConfig):
    import optax
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adamw(config.lr, b1=0.9, b2=0.999, eps=1e-8,
                                   weight_decay=config.weight_decay))


def _check_micro_batch(micro_batch: int, mesh) -> None:
    """A micro-batch's rows are split over the mesh's data x fsdp devices: they must divide."""
    shards = mesh.shape["data"] * mesh.shape["fsdp"]
    if micro_batch % shards:
        raise ValueError(f"micro_batch={micro_batch} rows must split evenly over the mesh's "
                         f"data x fsdp = {shards} devices")


class Updater:
    """One policy update per iteration: shuffled mini-batches, micro-batch gradient accumulation,
    one AdamW step per mini-batch.

    With a `mesh`, parameters, gradients, their running sum and the AdamW moments keep the
    `sharding.RULES` shardings (pass parameters and reference parameters placed by them, e.g.
    loaded with `models.load(..., mesh)`), and each micro-batch's rows are split over data x fsdp
    (micro_batch must divide evenly). Without one, nothing is placed or constrained."""

    def __init__(self, cfg: ModelConfig, config: GRPOConfig, pad_id: int, compute_dtype=None,
                 ref_params=None, mesh=None):
        import optax

        self.cfg, self.config, self.pad_id, self.mesh = cfg, config, pad_id, mesh
        self.optimizer = make_optimizer(config)
        if config.temperature <= 0:
            raise ValueError(f"GRPO samples its rollouts: temperature must be > 0, got "
                             f"{config.temperature}")
        settings = LossSettings(config.clip, config.kl_coef, config.entropy_coef, config.chunk,
                                config.remat, config.temperature, config.clip_high,
                                config.clip_ratio_c)
        shardings = None
        self._put = lambda batch: batch
        if mesh is not None:
            from jax.sharding import NamedSharding, PartitionSpec as P

            from prism_jax.models.transformer import param_shapes
            from prism_jax.sharding import BATCH_AXES, param_shardings
            _check_micro_batch(config.micro_batch, mesh)
            shardings = param_shardings(param_shapes(cfg), mesh)
            rows = {1: NamedSharding(mesh, P(BATCH_AXES)), 2: NamedSharding(mesh, P(BATCH_AXES, None))}
            self._put = lambda batch: {k: jax.device_put(v, rows[np.ndim(v)]) for k, v in batch.items()}
        constrain = (lambda t: t) if shardings is None else (
            lambda t: jax.lax.with_sharding_constraint(t, shardings))
        self.grad_fn = make_grad_fn(cfg, settings, compute_dtype, shardings)
        self.ref_params = ref_params
        self.ref_fn = make_logprob_fn(cfg, config.chunk, compute_dtype,
                                      config.temperature) if config.kl_coef else None
        # verl's old_log_prob: the behaviour policy's log-probs come from the update's own
        # forward, so PPO ratios start at exactly 1. The sampler's (recorded at its sampling
        # temperature) come from another computation, the KV-cache decode path: ~5e-7 apart in
        # float32, ~2e-3 in bfloat16.
        self.old_fn = make_logprob_fn(cfg, config.chunk, compute_dtype, config.temperature
                                      ) if config.recompute_old_logprobs else None
        self._add = jax.jit(lambda a, b: jax.tree.map(jnp.add, a, b))
        self._add_grads = jax.jit(lambda a, b: constrain(jax.tree.map(jnp.add, a, b)),
                                  donate_argnums=(0,))

        def apply(params, opt_state, grads):
            norm = optax.global_norm(grads)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return constrain(optax.apply_updates(params, updates)), opt_state, norm

        self._apply = jax.jit(apply, donate_argnums=(0, 1))

    def _behaviour_logprobs(self, params, steps):
        """`steps` with their response log-probs under softmax(logits / temperature) of `params`."""
        import dataclasses
        out = []
        size = self.config.micro_batch
        for start in range(0, len(steps), size):
            chunk = steps[start:start + size]
            batch = pack_rows(chunk, np.zeros(len(chunk), np.float32), rows=size,
                              pad_id=self.pad_id, multiple=self.config.bucket)
            logp = np.asarray(self.old_fn(params, self._put(batch)))
            for i, st in enumerate(chunk):
                p, r = len(st.prompt_ids), len(st.response_ids)
                out.append(dataclasses.replace(st, logprobs=logp[i, p:p + r].astype(np.float32)))
        return out

    def init(self, params):
        """The optimizer state, sharded like the parameters on a mesh."""
        from prism_jax.sharding import init_state
        return init_state(self.optimizer.init, params, self.mesh)

    def __call__(self, params, opt_state, steps, advantages, rng: np.random.Generator, sft=None):
        """Returns new params, opt_state and the update's metrics (means over mini-batches).

        `ppo_epochs` passes over the rows, each in a fresh shuffled order cut into mini-batches
        of `mini_batch` rows, one AdamW step each (verl's actor update). sft: bool [N], rows
        trained with the SFT loss instead (online HPT's demonstrations; their advantages are
        ignored)."""
        config = self.config
        sft = np.zeros(len(steps), bool) if sft is None else np.asarray(sft, bool)
        if self.old_fn is not None:
            steps = self._behaviour_logprobs(params, steps)
        size = config.mini_batch or len(steps)
        keys = ("pg_loss", "clip_frac", "clip_frac_lower", "ppo_kl", "entropy", "kl", "sft_loss")
        sums = dict.fromkeys((*keys, "grad_norm"), 0.0)
        n_mini = 0
        for _ in range(config.ppo_epochs):
            order = rng.permutation(len(steps))
            for start in range(0, len(order), size):
                params, opt_state, metrics = self._mini_batch(params, opt_state, steps, advantages,
                                                              sft, order[start:start + size])
                for k, v in metrics.items():
                    sums[k] += v
                n_mini += 1
        return params, opt_state, {k: v / max(n_mini, 1) for k, v in sums.items()} | {
            "optimizer_steps": n_mini}

    def _mini_batch(self, params, opt_state, steps, advantages, sft, mini):
        config = self.config
        # Similar lengths share a micro-batch, so little compute goes to padding.
        mini = sorted(mini, key=lambda i: len(steps[i].prompt_ids) + len(steps[i].response_ids))
        weights = row_weights([len(steps[i].response_ids) for i in mini],
                              np.arange(len(mini)) // config.micro_batch, config.loss_agg)
        grads, aux_sum = None, None
        for m in range(0, len(mini), config.micro_batch):
            idx = mini[m:m + config.micro_batch]
            batch = self._put(pack_rows([steps[i] for i in idx], advantages[idx],
                                        rows=config.micro_batch, pad_id=self.pad_id,
                                        multiple=config.bucket,
                                        weights=weights[m:m + config.micro_batch],
                                        sft=sft[idx]))
            if self.ref_fn is not None:
                batch["ref_logprobs"] = self.ref_fn(self.ref_params, batch)
            g, aux = self.grad_fn(params, batch)
            grads = g if grads is None else self._add_grads(grads, g)
            aux_sum = aux if aux_sum is None else self._add(aux_sum, aux)
        params, opt_state, norm = self._apply(params, opt_state, grads)
        metrics = {k: float(v) for k, v in jax.device_get(aux_sum).items()}
        metrics["grad_norm"] = float(norm)
        if not all(np.isfinite(v) for v in metrics.values()):
            raise FloatingPointError(
                f"non-finite loss or gradient in the policy update (loss {metrics['pg_loss']}, "
                f"grad norm {metrics['grad_norm']}); stopping before it is checkpointed")
        return params, opt_state, metrics


def compute_dtype_of(config: GRPOConfig):
    """The activation dtype of the update and of the sampling copy of the weights."""
    return jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32


def load_start_model(config: GRPOConfig, mesh=None):
    """The start checkpoint with float32 master parameters, whatever the compute dtype."""
    return models.load(config.model, jnp.float32, mesh)


def _load(config: GRPOConfig, mesh=None):
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
    from prism_jax.envs.registry import get_env

    split = config.val_split or get_env(env).eval_splits[0]
    settings = EvalSettings(
        n=config.val_n, batch_size=min(config.val_n, config.tasks_per_iter * config.group_size),
        max_steps=max_steps, temperature=config.val_temperature, top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        max_prompt_len=config.max_prompt_len or ENV_DEFAULTS[env]["max_prompt_len"],
        think=config.think, history=config.history, prompt_style=config.prompt_style,
        seed=config.seed, data_seed=config.webshop_seed, num_products=config.webshop_products,
        games_dir=config.val_games_dir)
    policy = ModelPolicy(sampling_params(params, compute_dtype), cfg, tokenizer,
                         max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                         top_p=settings.top_p, max_prompt_len=settings.max_prompt_len,
                         think=settings.think, bucket=config.bucket, max_batch=settings.batch_size)
    table = evaluate_policy(policy, env, [split], settings)["eval"][split]
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
        prompt_style=config.prompt_style)
    mesh = config.build()
    if mesh is not None:
        _check_micro_batch(config.micro_batch, mesh)     # before a long model load
    model, tokenizer = _load(config, mesh)
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
        from prism_jax.data import read_trajectories
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
