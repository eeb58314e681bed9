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

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from prism_jax.logprobs import target_weights, token_logprobs
from prism_jax.models.config import ModelConfig

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


# ------------------------------------------------------------------------------ loss
def clipped_surrogate(logp, old_logp, advantages, clip: float = 0.2):
    """PPO's per-token loss max(-A r, -A clip(r, 1-c, 1+c)), r = exp(logp - old_logp).

    Returns (loss [..], clipped [..] bool: the clipped branch was taken and differs).
    """
    ratio = jnp.exp(logp - old_logp)
    unclipped = -advantages * ratio
    clipped = -advantages * jnp.clip(ratio, 1.0 - clip, 1.0 + clip)
    return jnp.maximum(unclipped, clipped), clipped > unclipped


def low_var_kl(logp, ref_logp):
    """k3 estimator of KL(policy || ref) per token: exp(ref - logp) - (ref - logp) - 1, in [-10, 10]."""
    d = ref_logp - logp
    return jnp.clip(jnp.exp(d) - d - 1.0, -10.0, 10.0)


def _loss(params, batch, n_tokens, *, cfg, clip, kl_coef, entropy_coef, chunk, compute_dtype, remat,
          temperature=1.0):
    """Sum over the micro-batch's response tokens divided by the mini-batch's token count, so that
    accumulating micro-batch gradients gives the token-mean over the whole mini-batch."""
    mask = target_weights(batch, "response_mask")
    logp, entropy = token_logprobs(params, cfg, batch, chunk=chunk, temperature=temperature,
                                   compute_dtype=compute_dtype, remat=remat, entropy=True, where=mask)
    per_token, was_clipped = clipped_surrogate(logp, batch["old_logprobs"],
                                               batch["advantages"][:, None], clip)
    total = jnp.sum(per_token * mask)
    kl = jnp.float32(0.0)
    if kl_coef:
        kl = jnp.sum(low_var_kl(logp, batch["ref_logprobs"]) * mask)
        total = total + kl_coef * kl
    ent = jnp.sum(entropy * mask)
    total = total - entropy_coef * ent
    aux = {"pg_loss": jnp.sum(per_token * mask), "clip_frac": jnp.sum(was_clipped * mask),
           "entropy": ent, "kl": kl}
    return total / n_tokens, jax.tree.map(lambda x: x / n_tokens, aux)


@dataclass(frozen=True)
class LossSettings:
    clip: float = 0.2
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    chunk: int = 256
    remat: str = "none"
    temperature: float = 1.0


def make_grad_fn(cfg: ModelConfig, settings: LossSettings, compute_dtype=None,
                 grad_shardings=None):
    """Jitted `(params, batch, n_tokens) -> (grads, aux)`: the gradient of one micro-batch's share of
    the mini-batch's token-mean loss. batch: input_ids, attention_mask, response_mask int32
    [B, T]; old_logprobs (and ref_logprobs with KL) float32 [B, T] aligned with the token they
    score; advantages float32 [B]. With `grad_shardings` (a mesh run) the gradients come out
    sharded like the parameters."""
    fn = partial(_loss, cfg=cfg, clip=settings.clip, kl_coef=settings.kl_coef,
                 entropy_coef=settings.entropy_coef, chunk=settings.chunk,
                 compute_dtype=compute_dtype, remat=settings.remat, temperature=settings.temperature)
    grad = jax.grad(fn, has_aux=True)
    if grad_shardings is None:
        return jax.jit(grad)

    def sharded(params, batch, n_tokens):
        grads, aux = grad(params, batch, n_tokens)
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


def pack_rows(steps, advantages, *, rows: int, pad_id: int, multiple: int = 64) -> dict[str, np.ndarray]:
    """Right-padded (prompt + response) sequences of `steps` as one batch of `rows` rows.

    Returns input_ids, attention_mask, response_mask int32 [rows, T] (T = the longest sequence
    rounded up to `multiple`), old_logprobs float32 [rows, T] (each response token's sampled
    log-prob at its own position), advantages float32 [rows]. Rows beyond len(steps) are empty
    (all masks 0), so micro-batches keep one shape.
    """
    from prism_jax.sampler import bucket

    if len(steps) > rows:
        raise ValueError(f"{len(steps)} steps do not fit in {rows} rows")
    length = bucket(max(len(s.prompt_ids) + len(s.response_ids) for s in steps), multiple)
    out = {"input_ids": np.full((rows, length), pad_id, np.int32),
           "attention_mask": np.zeros((rows, length), np.int32),
           "response_mask": np.zeros((rows, length), np.int32),
           "old_logprobs": np.zeros((rows, length), np.float32),
           "advantages": np.zeros((rows,), np.float32)}
    for i, (s, a) in enumerate(zip(steps, advantages)):
        p, r = len(s.prompt_ids), len(s.response_ids)
        out["input_ids"][i, :p + r] = np.concatenate([s.prompt_ids, s.response_ids])
        out["attention_mask"][i, :p + r] = 1
        out["response_mask"][i, p:p + r] = 1
        out["old_logprobs"][i, p:p + r] = s.logprobs
        out["advantages"][i] = a
    return out


# ------------------------------------------------------------------------------ training
ENV_DEFAULTS = {"alfworld": {"max_steps": 50, "max_prompt_len": 2048},
                "webshop": {"max_steps": 15, "max_prompt_len": 4096}}


@dataclass(frozen=True)
class GRPOConfig:
    """GRPO / GiGPO on the tasks of a trajectory file (paper appendix C; verl-agent defaults)."""

    model: Path
    """Start model: a Hugging Face directory or an orbax checkpoint (`prism convert`), with its
    tokenizer files."""
    tasks: Path
    """Trajectory JSONL whose records name the tasks to train on (their `env` and `task_id`;
    duplicates count once), e.g. the RL split written by `prism route`."""
    out: Path
    """Run directory: checkpoints/, metrics.jsonl, tb/ and, at the end, final/ (HF format). A
    run directory with checkpoints is resumed."""
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
    """PPO ratio clip epsilon."""
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
    think: bool = False
    """Ask for <think></think> before the action and treat responses without it as invalid."""
    seed: int = 0
    """Seed of task order, sampling and mini-batch shuffling."""
    save_every: int = 5
    """Save a checkpoint every N iterations (and after the last)."""
    keep: int = 3
    """Checkpoints kept."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Parameter and compute dtype."""
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
    mesh_data: int = -1
    """Mesh size of the data axis (-1: all devices not used by fsdp x tensor); micro-batch rows
    are split over data x fsdp."""
    mesh_fsdp: int = 1
    """Mesh size of the fsdp axis (parameters and optimizer state sharded ZeRO-3 style)."""
    mesh_tensor: int = 1
    """Mesh size of the tensor axis (heads and MLP hidden units split)."""
    distributed: bool = False
    """Call jax.distributed.initialize() first (multi-host runs, one process per host)."""


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
    """The vectorised env of `n` copies for `env`."""
    if env == "alfworld":
        from prism_jax.envs.alfworld import AlfworldVecEnv
        return AlfworldVecEnv(n, max_steps=max_steps)
    from prism_jax.envs.webshop import WebShopVecEnv
    return WebShopVecEnv(n, num_products=config.webshop_products, seed=config.webshop_seed,
                         max_steps=max_steps)


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
    loaded with `_load_model(..., mesh)`), and each micro-batch's rows are split over data x fsdp
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
                                config.remat, config.temperature)
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
        # The sampler records temperature-1 log-probs; at another temperature the behaviour
        # policy's log-probs are recomputed (verl's old_log_prob) before the first update.
        self.old_fn = None if config.temperature == 1.0 else make_logprob_fn(
            cfg, config.chunk, compute_dtype, config.temperature)
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

    def __call__(self, params, opt_state, steps, advantages, rng: np.random.Generator):
        """Returns new params, opt_state and the update's metrics (means over mini-batches)."""
        config = self.config
        if self.old_fn is not None:
            steps = self._behaviour_logprobs(params, steps)
        order = rng.permutation(len(steps))
        size = config.mini_batch or len(steps)
        sums = {"pg_loss": 0.0, "clip_frac": 0.0, "entropy": 0.0, "kl": 0.0, "grad_norm": 0.0}
        n_mini = 0
        for start in range(0, len(order), size):
            mini = order[start:start + size]
            # Similar lengths share a micro-batch, so little compute goes to padding.
            mini = sorted(mini, key=lambda i: len(steps[i].prompt_ids) + len(steps[i].response_ids))
            n_tokens = jnp.float32(max(1, sum(len(steps[i].response_ids) for i in mini)))
            grads, aux_sum = None, None
            for m in range(0, len(mini), config.micro_batch):
                idx = mini[m:m + config.micro_batch]
                batch = self._put(pack_rows([steps[i] for i in idx], advantages[idx],
                                            rows=config.micro_batch, pad_id=self.pad_id,
                                            multiple=config.bucket))
                if self.ref_fn is not None:
                    batch["ref_logprobs"] = self.ref_fn(self.ref_params, batch)
                g, aux = self.grad_fn(params, batch, n_tokens)
                grads = g if grads is None else self._add_grads(grads, g)
                aux_sum = aux if aux_sum is None else self._add(aux_sum, aux)
            params, opt_state, norm = self._apply(params, opt_state, grads)
            aux_sum = {k: float(v) for k, v in jax.device_get(aux_sum).items()}
            norm = float(norm)
            if not all(np.isfinite(v) for v in (*aux_sum.values(), norm)):
                raise FloatingPointError(
                    f"non-finite loss or gradient in the policy update (loss {aux_sum['pg_loss']}, "
                    f"grad norm {norm}); stopping before it is checkpointed")
            for k, v in aux_sum.items():
                sums[k] += v
            sums["grad_norm"] += norm
            n_mini += 1
        return params, opt_state, {k: v / max(n_mini, 1) for k, v in sums.items()} | {
            "optimizer_steps": n_mini}


def _load(config: GRPOConfig, mesh=None):
    from prism_jax.models.tokenizer import load_tokenizer
    from prism_jax.train.probe import _load_model

    dtype = jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32
    return _load_model(Path(config.model), dtype, mesh), load_tokenizer(config.model)


def _mesh(config: GRPOConfig):
    """The device mesh of a run (None on one device with no model parallelism)."""
    from prism_jax.sharding import initialize_distributed, make_mesh

    if config.distributed:
        initialize_distributed()
    if jax.device_count() > 1 or config.mesh_fsdp * config.mesh_tensor > 1:
        return make_mesh(config.mesh_data, config.mesh_fsdp, config.mesh_tensor)
    return None


def train_grpo(config: GRPOConfig, *, progress: bool = True) -> dict:
    """Run (or resume) GRPO/GiGPO as configured; returns a summary dict.

    Each iteration plays tasks_per_iter x group_size episodes with the current policy, computes
    the advantages, takes the policy update, logs metrics (metrics.jsonl + TensorBoard) and
    saves a checkpoint every `save_every` iterations. Everything random is a function of
    (seed, iteration), so a resumed run continues exactly as an uninterrupted one.
    """
    from tqdm.auto import tqdm

    from prism_jax.checkpoint import RunCheckpointer, export_hf
    from prism_jax.rollout import ModelSampler, RolloutConfig, episode_stats, rollout
    from prism_jax.tracking import MetricsWriter

    env, tasks = load_tasks(config.tasks)
    for name in ("group_size", "tasks_per_iter", "iterations", "micro_batch", "save_every", "keep"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    max_steps = config.max_steps or ENV_DEFAULTS[env]["max_steps"]
    rollout_config = RolloutConfig(
        env=env, max_steps=max_steps,
        max_prompt_len=config.max_prompt_len or ENV_DEFAULTS[env]["max_prompt_len"],
        max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
        bucket=config.bucket, think=config.think)
    mesh = _mesh(config)
    if mesh is not None:
        _check_micro_batch(config.micro_batch, mesh)     # before a long model load
    model, tokenizer = _load(config, mesh)
    cfg = model.config
    params = model.params()
    compute_dtype = params["embed"].dtype
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ref_params = jax.tree.map(jnp.copy, params) if config.kl_coef else None
    updater = Updater(cfg, config, pad_id, compute_dtype, ref_params, mesh=mesh)
    opt_state = updater.init(params)

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2, default=str) + "\n")
    ckpt = RunCheckpointer(out / "checkpoints", every=config.save_every, keep=config.keep)
    start = 0
    if ckpt.latest_step() is not None:
        state = ckpt.restore(params_target=params, opt_state_target=opt_state)
        params, opt_state, start = state.params, state.opt_state, int(state.step)
        logger.info("resumed %s at iteration %d", out, start)
    n_envs = config.tasks_per_iter * config.group_size
    vec = make_vec_env(env, n_envs, config, max_steps)
    last: dict = {}
    try:
        with MetricsWriter(out, resume_step=start) as writer:
            for it in tqdm(range(start, config.iterations), desc="grpo", initial=start,
                           total=config.iterations, disable=not progress):
                t0 = time.perf_counter()
                chosen = tasks_for_iteration(tasks, it, config.tasks_per_iter, config.seed)
                env_tasks = [t for t in chosen for _ in range(config.group_size)]
                groups = [j for j in range(len(chosen)) for _ in range(config.group_size)]
                sampler = ModelSampler(params, cfg, tokenizer, rollout_config, max_batch=n_envs)
                episodes = rollout(sampler, tokenizer, vec, env_tasks, config=rollout_config,
                                   groups=groups, seed=int(np.random.default_rng([config.seed, it]).integers(2**31)),
                                   progress=progress)
                t1 = time.perf_counter()
                steps, cols = rows_of(episodes)
                adv = compute_advantages(
                    **cols, method=config.advantage, norm=config.gigpo_norm, gamma=config.gamma,
                    step_weight=config.step_weight, invalid_penalty=config.invalid_penalty,
                    episode_stats=config.episode_stats)
                params, opt_state, upd = updater(params, opt_state, steps, adv.astype(np.float32),
                                                 np.random.default_rng([config.seed, it, 1]))
                t2 = time.perf_counter()
                last = {**episode_stats(episodes), **upd, "advantage_abs_mean": float(np.abs(adv).mean()),
                        "rows": len(steps), "time_rollout": t1 - t0, "time_update": t2 - t1}
                writer.write(it + 1, last)
                ckpt.save(it + 1, params, opt_state, rng=np.asarray([config.seed, it + 1]),
                          force=it + 1 == config.iterations)
            ckpt.wait()
    finally:
        vec.close()
        ckpt.close()
    final = out / "final"
    export_hf(params, cfg, final, tokenizer_dir=Path(config.model))
    return {"iterations": config.iterations, "resumed_from": start, "final_model": str(final),
            "env": env, "n_tasks": len(tasks), **{f"last_{k}": v for k, v in last.items()}}
