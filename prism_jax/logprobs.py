"""The one scoring kernel: per-token log-probs of a batch under the model, in chunks of positions.

The probe's loss (Stage I), the SFT loss and GRPO's ratio all score tokens the same way: a forward
pass to the final hidden states, the state at position t-1 times the lm head, a log-softmax at a
temperature, the entry of token t. `token_logprobs` is that, once.

The [B, T, V] logits never exist at once (a 150k vocabulary at 4096 tokens is 2.5 GB per
trajectory): positions are walked in chunks and, under differentiation, each chunk's logits are
recomputed in the backward pass instead of being stored. A sequence that fits in one chunk keeps
its logits for the backward pass, with nothing recomputed.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from prism_jax.models.config import ModelConfig
from prism_jax.models.transformer import Params, forward, lm_head

# Logits up to this size are kept for the backward pass instead of recomputed chunk by chunk.
KEEP_BYTES = 128 * 2**20


def chunked_logprobs(hidden: jax.Array, head: jax.Array, targets: jax.Array, *, chunk: int = 256,
                     temperature: float = 1.0, entropy: bool = False):
    """log p(targets[b, t] | hidden[b, t]) under softmax(hidden @ head / temperature).

    hidden [B, T, D], head [D, V], targets int [B, T] -> float32 [B, T], and with `entropy` also
    the entropy of each position's distribution, float32 [B, T]. Positions go `chunk` at a time
    unless all [B, T, V] logits fit in KEEP_BYTES: then in one piece, nothing recomputed.
    """
    b, t, _ = hidden.shape
    if b * t * head.shape[1] * 4 <= KEEP_BYTES:
        chunk = t
    chunk = min(chunk, t)
    with jax.named_scope("logprobs"):
        if chunk == t:
            logp, ent = _score(hidden, head, targets, temperature, entropy, True)
        else:
            pad = -t % chunk
            n = (t + pad) // chunk
            split = lambda x: jnp.moveaxis(
                jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2)).reshape(
                    b, n, chunk, *x.shape[2:]), 1, 0)
            merge = lambda x: jnp.moveaxis(x, 0, 1).reshape(b, n * chunk)[:, :t]
            logp, ent = jax.lax.map(
                lambda xs: _score(xs[0], head, xs[1], temperature, entropy, False),
                (split(hidden), split(targets)))
            logp, ent = merge(logp), merge(ent)
    return (logp, ent) if entropy else logp


# One chunk's scores with a hand-written backward: d logits = g * (onehot - softmax) as one fused
# pass (autodiff of take_along_axis scatters into a zero [B, C, V] buffer instead), the products in
# the orientation XLA:CPU's matmul library takes directly, and the chunk's logits recomputed
# (keep=False, what jax.checkpoint would do) or kept when the whole sequence is one chunk.
def _logits(h, head, temperature):
    z = jnp.einsum("bcd,dv->bcv", h, head.astype(h.dtype), preferred_element_type=jnp.float32)
    return z if temperature == 1.0 else z / temperature


def _stats(z, y, entropy):
    lse = jax.nn.logsumexp(z, axis=-1)
    logp = jnp.take_along_axis(z, y[..., None], axis=-1)[..., 0] - lse
    ent = lse - jnp.sum(jnp.exp(z - lse[..., None]) * z, axis=-1) if entropy else jnp.zeros_like(lse)
    return logp, ent, lse


@partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _score(h, head, y, temperature, entropy, keep):
    logp, ent, _ = _stats(_logits(h, head, temperature), y, entropy)
    return logp, ent


def _score_fwd(h, head, y, temperature, entropy, keep):
    z = _logits(h, head, temperature)
    logp, ent, lse = _stats(z, y, entropy)
    return (logp, ent), (h, head, y, lse, ent, z if keep else None)


def _score_bwd(temperature, entropy, keep, res, cts):
    h, head, y, lse, ent, z = res
    g_logp, g_ent = cts
    if z is None:
        z = _logits(h, head, temperature)
    p = jnp.exp(z - lse[..., None])
    onehot = jax.lax.broadcasted_iota(jnp.int32, z.shape, 2) == y[..., None]
    dz = g_logp[..., None] * (onehot - p)
    if entropy:   # dH/dz_j = -p_j (log p_j + H)
        dz = dz - g_ent[..., None] * p * (z - lse[..., None] + ent[..., None])
    if temperature != 1.0:
        dz = dz / temperature
    dz = dz.astype(h.dtype)
    dh = jnp.einsum("bcv,dv->bcd", dz, head.astype(h.dtype))
    dhead = jnp.einsum("bcd,bcv->dv", h, dz, preferred_element_type=jnp.float32).astype(head.dtype)
    return dh, dhead, None


_score.defvjp(_score_fwd, _score_bwd)


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
