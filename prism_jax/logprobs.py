"""The one scoring kernel: per-token log-probs of a batch under the model, in chunks of positions.

The probe's loss (Stage I), the SFT loss and GRPO's ratio all score tokens the same way: a forward
pass to the final hidden states, the state at position t-1 times the lm head, a log-softmax at a
temperature, the entry of token t. `token_logprobs` is that, once.

The [B, T, V] logits never exist at once (a 150k vocabulary at 4096 tokens is 2.5 GB per
trajectory): positions are walked in chunks and, under differentiation, each chunk's logits are
recomputed in the backward pass instead of being stored (`jax.checkpoint`). A sequence that fits
in one chunk is scored directly, with nothing recomputed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from prism_jax.models.config import ModelConfig
from prism_jax.models.transformer import Params, forward, lm_head


def chunked_logprobs(hidden: jax.Array, head: jax.Array, targets: jax.Array, *, chunk: int = 256,
                     temperature: float = 1.0, entropy: bool = False):
    """log p(targets[b, t] | hidden[b, t]) under softmax(hidden @ head / temperature).

    hidden [B, T, D], head [D, V], targets int [B, T] -> float32 [B, T], and with `entropy` also
    the entropy of each position's distribution, float32 [B, T].
    """
    b, t, _ = hidden.shape
    chunk = min(chunk, t)

    def score(h, y):
        logits = jnp.einsum("bcd,dv->bcv", h, head.astype(h.dtype)).astype(jnp.float32)
        if temperature != 1.0:
            logits = logits / temperature
        lse = jax.nn.logsumexp(logits, axis=-1)
        logp = jnp.take_along_axis(logits, y[..., None], axis=-1)[..., 0] - lse
        if not entropy:
            return logp
        probs = jnp.exp(logits - lse[..., None])
        return logp, lse - jnp.sum(probs * logits, axis=-1)

    if chunk == t:
        return score(hidden, targets)
    pad = -t % chunk
    hidden = jnp.pad(hidden, ((0, 0), (0, pad), (0, 0)))
    targets = jnp.pad(targets, ((0, 0), (0, pad)))
    n = (t + pad) // chunk
    split = lambda x: jnp.moveaxis(x.reshape(b, n, chunk, *x.shape[2:]), 1, 0)
    merge = lambda x: jnp.moveaxis(x, 0, 1).reshape(b, n * chunk)[:, :t]
    out = jax.lax.map(lambda xs: jax.checkpoint(score)(*xs), (split(hidden), split(targets)))
    return jax.tree.map(merge, out)


def token_logprobs(params: Params, cfg: ModelConfig, batch: dict, *, chunk: int = 256,
                   temperature: float = 1.0, taps: jax.Array | None = None, norm_mode: str = "auto",
                   compute_dtype=None, remat: str = "none", entropy: bool = False):
    """Per-token log-probs of a batch: logp[b, t] = log p(ids[b, t] | ids[b, :t]) -> float32 [B, T].

    batch: "input_ids", "attention_mask" int [B, T] (right or left padding). Entry t = 0 (no
    context) is 0. p is softmax(logits / temperature), the distribution GRPO samples from.
    taps / norm_mode / remat / compute_dtype go to `forward` (the probe passes its taps). With
    `entropy`, returns (logp, entropy), both [B, T], the entropy of the distribution at t - 1 that
    predicts token t (0 at t = 0).
    """
    ids = batch["input_ids"]
    hidden, _ = forward(params, cfg, ids, batch["attention_mask"], taps=taps, norm_mode=norm_mode,
                        compute_dtype=compute_dtype, remat=remat, return_hidden=True)
    out = chunked_logprobs(hidden[:, :-1], lm_head(params), ids[:, 1:], chunk=chunk,
                           temperature=temperature, entropy=entropy)
    return jax.tree.map(lambda x: jnp.pad(x, ((0, 0), (1, 0))), out)


def target_weights(batch: dict, mask_key: str) -> jax.Array:
    """float32 [B, T]: 1 where token t is a scored target (batch[mask_key] and attention_mask), 0
    at t = 0 (nothing predicts the first token)."""
    w = jnp.asarray(batch[mask_key] * batch["attention_mask"], jnp.float32)
    return w.at[:, 0].set(0.0)
