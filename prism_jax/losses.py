"""The GRPO policy loss of one micro-batch and its pieces.

Loss: PPO's clipped ratio objective under the sampling distribution softmax(logits / temperature)
(verl's actor; at a temperature other than 1 the behaviour log-probs are recomputed with it
before the update), aggregated as the mean over every response token of the mini-batch
("token-mean"), optionally + kl_coef * KL(policy || reference) (the low-variance k3
estimator) and - entropy_coef * entropy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from prism_jax.logprobs import target_weights, token_logprobs
from prism_jax.models.config import ModelConfig


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
