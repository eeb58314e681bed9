"""The SFT step: the token-mean loss of a batch's target tokens, its gradient accumulated over
micro-batches inside one jit, clipping and AdamW on the warm-up + cosine schedule.

Kept apart from `prism_jax.sft` (the run: data, checkpoints, logs) so that it imports only JAX,
optax and the model: `bench/gpu_check.py` runs it where grain, orbax and tyro are not installed.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from prism_jax.logprobs import target_weights, token_logprobs
from prism_jax.models.config import ModelConfig
from prism_jax.models.transformer import Params, param_shapes
from prism_jax.sharding import BATCH_AXES, param_shardings

BATCH_KEYS = ("input_ids", "attention_mask", "loss_mask")


def make_schedule(config, total_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 over ceil(warmup_ratio * total_steps) steps, then cosine to 0.
    config: an `sft.SFTHparams` (or anything with its lr and warmup_ratio)."""
    warmup = math.ceil(config.warmup_ratio * total_steps)
    return optax.warmup_cosine_decay_schedule(0.0, config.lr, warmup_steps=warmup,
                                              decay_steps=max(total_steps, warmup + 1), end_value=0.0)


def make_optimizer(config, total_steps: int) -> optax.GradientTransformation:
    """Global-norm clipping, then AdamW on the warm-up + cosine schedule. config: an
    `sft.SFTHparams` (max_grad_norm, lr, warmup_ratio, adam_b1/b2/eps, weight_decay)."""
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adamw(make_schedule(config, total_steps), b1=config.adam_b1, b2=config.adam_b2,
                    eps=config.adam_eps, weight_decay=config.weight_decay))


def token_nll_sum(params: Params, cfg: ModelConfig, input_ids, attention_mask, loss_mask, *,
                  chunk: int = 256, compute_dtype=None, remat: str = "none", pack: bool = False):
    """(sum of -log p over target tokens, number of target tokens), both float32 scalars.

    input_ids, attention_mask, loss_mask: int [B, T]; loss_mask[b, t] = 1 makes token t a target
    (predicted from position t - 1). pack: score all rows' targets together (an unsharded batch;
    see `logprobs.chunked_logprobs`).
    """
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "loss_mask": loss_mask}
    weights = target_weights(batch, "loss_mask")
    logp = token_logprobs(params, cfg, batch, chunk=chunk, compute_dtype=compute_dtype, remat=remat,
                          where=weights, pack=pack)
    return -jnp.sum(logp * weights), jnp.sum(weights)


def loss_and_grads(params: Params, cfg: ModelConfig, batch: dict, *, chunk: int = 256,
                   compute_dtype=None, remat: str = "none", grad_shardings=None):
    """Token-mean loss over all micro-batches and its gradient, accumulated with `lax.scan`.

    batch: "input_ids", "attention_mask", "loss_mask" int [A, B, T] (A micro-batches).
    Returns (loss float32 [], grads float32 like params, target token count float32 []).
    """
    weights = (batch["loss_mask"] * batch["attention_mask"])[..., 1:]
    n_targets = jnp.maximum(jnp.sum(weights).astype(jnp.float32), 1.0)

    def micro(acc, mb):
        def loss_fn(p):
            total, _ = token_nll_sum(p, cfg, mb["input_ids"], mb["attention_mask"], mb["loss_mask"],
                                     chunk=chunk, compute_dtype=compute_dtype, remat=remat,
                                     pack=grad_shardings is None)
            return total / n_targets

        loss, g = jax.value_and_grad(loss_fn)(params)
        acc = jax.tree.map(lambda a, b: a + b.astype(jnp.float32), acc, g)
        if grad_shardings is not None:
            acc = jax.lax.with_sharding_constraint(acc, grad_shardings)
        return acc, loss

    zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
    if grad_shardings is not None:
        zeros = jax.lax.with_sharding_constraint(zeros, grad_shardings)
    grads, losses = jax.lax.scan(micro, zeros, {k: batch[k] for k in BATCH_KEYS})
    return jnp.sum(losses), grads, n_targets


def make_train_step(cfg: ModelConfig, optimizer: optax.GradientTransformation, *,
                    mesh: Mesh | None = None, accum_steps: int, remat: str = "none",
                    compute_dtype=None, chunk: int = 256):
    """The jitted step `(params, opt_state, batch) -> (params, opt_state, metrics)`.

    batch: int [accum_steps, B, T] arrays under BATCH_KEYS. params and opt_state are donated.
    metrics: "loss" (token mean over the batch), "grad_norm" (before clipping), "n_targets".
    With a mesh, micro-batch rows are split over data x fsdp and parameters, gradients and
    optimizer state follow `sharding.RULES`.
    """
    grad_shardings = None
    if mesh is not None:
        grad_shardings = param_shardings(param_shapes(cfg), mesh)
        row_sharding = NamedSharding(mesh, P(None, BATCH_AXES, None))

    def step(params, opt_state, batch):
        if batch["input_ids"].shape[0] != accum_steps:
            raise ValueError(f"batch has {batch['input_ids'].shape[0]} micro-batches, "
                             f"expected accum_steps={accum_steps}")
        if mesh is not None:
            batch = {k: jax.lax.with_sharding_constraint(batch[k], row_sharding) for k in BATCH_KEYS}
        loss, grads, n_targets = loss_and_grads(params, cfg, batch, chunk=chunk,
                                                compute_dtype=compute_dtype, remat=remat,
                                                grad_shardings=grad_shardings)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if grad_shardings is not None:
            params = jax.lax.with_sharding_constraint(params, grad_shardings)
        return params, opt_state, {"loss": loss, "grad_norm": optax.global_norm(grads),
                                   "n_targets": n_targets}

    return jax.jit(step, donate_argnums=(0, 1))


def micro_batches(batch: dict, accum_steps: int, bucket: int) -> dict[str, np.ndarray]:
    """[A*B, T] grain batch -> [A, B, T'] with T' the longest row rounded up to `bucket`."""
    longest = int(batch["attention_mask"].sum(axis=1).max())
    t = batch["input_ids"].shape[1]
    width = min(t, max(bucket, -(-longest // bucket) * bucket)) if bucket else t
    rows = batch["input_ids"].shape[0]
    return {k: batch[k][:, :width].reshape(accum_steps, rows // accum_steps, width) for k in BATCH_KEYS}
