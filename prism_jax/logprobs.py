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
# Scoring gathered target positions: chunks of about this many rows (positions x batch), at least
# GATHER_MIN_CHUNK positions. Every row pays for the row with the most targets, rounded up to a
# chunk: small chunks waste little (the demo's per-step SFT examples train on a few tokens of
# each 256) and still give the lm-head products enough rows to run at the matmul peak.
GATHER_ROWS = 256
GATHER_MIN_CHUNK = 16


def chunked_logprobs(hidden: jax.Array, head: jax.Array, targets: jax.Array, *, chunk: int = 256,
                     temperature: float = 1.0, entropy: bool = False, where: jax.Array | None = None,
                     head_grad: bool = True, pack: bool = False):
    """log p(targets[b, t] | hidden[b, t]) under softmax(hidden @ head / temperature).

    hidden [B, T, D], head [D, V], targets int [B, T] -> float32 [B, T], and with `entropy` also
    the entropy of each position's distribution, float32 [B, T].

    where: bool-like [B, T], the positions that are needed (the loss's targets); the others
    come out 0 and most are never computed: each row's needed positions are gathered to its
    front and only the chunks holding some are scored (an agent trajectory's targets are its
    assistant tokens, a fraction of it).

    head_grad=False: the caller never differentiates with respect to `head` (its gradient
    comes out 0), which saves a pass over the vocabulary in the backward pass.

    pack (with `where`): gather the needed positions of all rows together instead of row by
    row, so that no row pays for the row with the most targets (a probe batch of trajectories
    of 256-512 tokens scored 1792 positions for 1230 targets row by row). It mixes rows, so a
    batch split over devices would be gathered onto each: only for an unsharded batch.

    Positions go B x `chunk` at a time (with `where`, B x about GATHER_ROWS / B), each chunk's
    logits recomputed in the backward pass unless all [B, T, V] logits fit in KEEP_BYTES: then
    they are kept (without `where`, scored in one piece).
    """
    b, t, d = hidden.shape
    if not head_grad and entropy:
        raise ValueError("head_grad=False serves log-probs only, not entropies")
    saved = "none" if head_grad else "dh"
    with jax.named_scope("logprobs"):
        if where is not None and pack and b > 1:
            flat = lambda x: x.reshape(1, b * t, *x.shape[2:])
            out = chunked_logprobs(flat(hidden), head, flat(targets), chunk=chunk,
                                   temperature=temperature, entropy=entropy, where=flat(where),
                                   head_grad=head_grad)
            return jax.tree.map(lambda x: x.reshape(b, t), out)
        if where is not None:
            size = min(chunk, t, max(GATHER_MIN_CHUNK, GATHER_ROWS // b))
            if head_grad and -(-t // size) * size * b * head.shape[1] * 4 <= KEEP_BYTES:
                saved = "logits"
            logp, ent = _gathered(hidden, head, targets, where > 0, size, temperature, entropy,
                                  saved)
        elif b * t * head.shape[1] * 4 <= KEEP_BYTES or chunk >= t:
            logp, ent = _score(hidden, head, targets, temperature, entropy,
                               "logits" if head_grad else "dh")
        else:
            pad = -t % chunk
            n = (t + pad) // chunk
            split = lambda x: jnp.moveaxis(
                jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2)).reshape(
                    b, n, chunk, *x.shape[2:]), 1, 0)
            merge = lambda x: jnp.moveaxis(x, 0, 1).reshape(b, n * chunk)[:, :t]
            logp, ent = jax.lax.map(
                lambda xs: _score(xs[0], head, xs[1], temperature, entropy, saved),
                (split(hidden), split(targets)))
            logp, ent = merge(logp), merge(ent)
    return (logp, ent) if entropy else logp


def _gathered(h, head, y, need, chunk, temperature, entropy, saved):
    """Scores of the needed positions of h [B, T, D], y [B, T] -> (logp, ent) [B, T], 0 elsewhere.

    Each row's needed positions are moved to its front (a per-row permutation, so a batch split
    over devices stays split), then chunks of `chunk` positions of all rows are scored while some
    row still has needed positions there.
    """
    b, t, _ = h.shape
    order = jnp.argsort(~need, axis=1, stable=True)       # each row's needed positions first
    count = jnp.max(jnp.sum(need, axis=1))
    pad = -t % chunk
    split = lambda x: jnp.moveaxis(jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2)).reshape(
        b, -1, chunk, *x.shape[2:]), 1, 0)               # [n, B, chunk, ...]
    h = jnp.take_along_axis(h, order[..., None], axis=1)
    y = jnp.take_along_axis(jnp.asarray(y), order, axis=1)

    def one(xs):
        i, hc, yc = xs
        return _score(hc, head, yc, temperature, entropy, saved, i * chunk < count)

    hs, ys = split(h), split(y)
    logp, ent = jax.lax.map(one, (jnp.arange(hs.shape[0]), hs, ys))
    back = jnp.argsort(order, axis=1)                      # the inverse permutations
    unsort = lambda x: jnp.where(need, jnp.take_along_axis(
        jnp.moveaxis(x, 0, 1).reshape(b, -1)[:, :t], back, axis=1), 0.0)
    return unsort(logp), unsort(ent)


# One chunk's scores with a hand-written backward: d logits = g * (onehot - softmax) as one fused
# pass (autodiff of take_along_axis scatters into a zero [B, C, V] buffer instead), the products in
# the orientation XLA:CPU's matmul library takes directly. `saved` says what the forward pass
# keeps for the backward: "none" (the chunk's logits are recomputed, what jax.checkpoint would
# do), "logits", or "dh": when no head gradient is wanted (the probe), d logp / d h =
# (head[:, y] - softmax @ head^T) / temperature is formed in the forward pass, one [C, D] array
# and no second pass over the vocabulary.
def _logits(h, head, temperature):
    z = jnp.einsum("bcd,dv->bcv", h, head.astype(h.dtype), preferred_element_type=jnp.float32)
    return z if temperature == 1.0 else z / temperature


def _stats(z, y, entropy):
    lse = jax.nn.logsumexp(z, axis=-1)
    logp = jnp.take_along_axis(z, y[..., None], axis=-1)[..., 0] - lse
    ent = lse - jnp.sum(jnp.exp(z - lse[..., None]) * z, axis=-1) if entropy else jnp.zeros_like(lse)
    return logp, ent, lse


@partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _score(h, head, y, temperature, entropy, saved, active=True):
    return _score_fwd(h, head, y, temperature, entropy, saved, active)[0]


# `active` (a traced bool) skips a chunk: its scores and gradients are 0 and nothing is computed.
# The skip lives inside the forward and backward rules, not around _score: a lax.cond around it
# would turn the residuals into cond outputs, and lax.map would then stack a copy of the lm head
# per chunk instead of seeing it is the same array throughout.
def _score_fwd(h, head, y, temperature, entropy, saved, active):
    def run():
        z = _logits(h, head, temperature)
        logp, ent, lse = _stats(z, y, entropy)
        if saved == "dh":
            w = head.astype(h.dtype)
            p = jnp.exp(z - lse[..., None]).astype(h.dtype)
            kept = ((jnp.take(w.T, y, axis=0) - jnp.einsum("bcv,dv->bcd", p, w)) / temperature
                    ).astype(h.dtype)
        else:
            kept = z if saved == "logits" else None
        return (logp, ent), (lse, ent, kept)

    out_shapes = jax.eval_shape(run)
    skip = lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shapes)
    out, (lse, ent, kept) = run() if active is True else jax.lax.cond(active, run, skip)
    return out, (h, head, y, lse, ent, kept, active)


def _score_bwd(temperature, entropy, saved, res, cts):
    h, head, y, lse, ent, kept, active = res
    g_logp, g_ent = cts

    def run():
        if saved == "dh":
            return (g_logp[..., None] * kept).astype(h.dtype), jnp.zeros_like(head)
        z = kept if saved == "logits" else _logits(h, head, temperature)
        p = jnp.exp(z - lse[..., None])
        onehot = jax.lax.broadcasted_iota(jnp.int32, z.shape, 2) == y[..., None]
        dz = g_logp[..., None] * (onehot - p)
        if entropy:   # dH/dz_j = -p_j (log p_j + H)
            dz = dz - g_ent[..., None] * p * (z - lse[..., None] + ent[..., None])
        if temperature != 1.0:
            dz = dz / temperature
        dz = dz.astype(h.dtype)
        dh = jnp.einsum("bcv,dv->bcd", dz, head.astype(h.dtype))
        dhead = jnp.einsum("bcd,bcv->dv", h, dz, preferred_element_type=jnp.float32)
        return dh, dhead.astype(head.dtype)

    skip = lambda: (jnp.zeros_like(h), jnp.zeros_like(head))
    dh, dhead = run() if active is True else jax.lax.cond(active, run, skip)
    return dh, None if saved == "dh" else dhead, None, None


_score.defvjp(_score_fwd, _score_bwd)


def token_logprobs(params: Params, cfg: ModelConfig, batch: dict, *, chunk: int = 256,
                   temperature: float = 1.0, taps: jax.Array | None = None, norm_mode: str = "auto",
                   compute_dtype=None, remat: str = "none", entropy: bool = False,
                   where: jax.Array | None = None, head_grad: bool = True, pack: bool = False):
    """Per-token log-probs of a batch: logp[b, t] = log p(ids[b, t] | ids[b, :t]) -> float32 [B, T].

    batch: "input_ids", "attention_mask" int [B, T] (right or left padding). Entry t = 0 (no
    context) is 0. p is softmax(logits / temperature), the distribution GRPO samples from.
    taps / norm_mode / remat / compute_dtype go to `forward` (the probe passes its taps). With
    `entropy`, returns (logp, entropy), both [B, T], the entropy of the distribution at t - 1 that
    predicts token t (0 at t = 0). where [B, T]: only these tokens are scored (the others get 0
    and cost nothing; see `chunked_logprobs`). head_grad=False: no gradient reaches the lm head
    (the probe), which saves backward work. pack: score the targets of all rows together (an
    unsharded batch only; see `chunked_logprobs`).
    """
    ids = batch["input_ids"]
    hidden, _ = forward(params, cfg, ids, batch["attention_mask"], taps=taps, norm_mode=norm_mode,
                        compute_dtype=compute_dtype, remat=remat, return_hidden=True)
    need = None if where is None else where[:, 1:]
    out = chunked_logprobs(hidden[:, :-1], lm_head(params), ids[:, 1:], chunk=chunk,
                           temperature=temperature, entropy=entropy, where=need,
                           head_grad=head_grad, pack=pack)
    return jax.tree.map(lambda x: jnp.pad(x, ((0, 0), (1, 0))), out)


def target_weights(batch: dict, mask_key: str) -> jax.Array:
    """float32 [B, T]: 1 where token t is a scored target (batch[mask_key] and attention_mask), 0
    at t = 0 (nothing predicts the first token)."""
    w = jnp.asarray(batch[mask_key] * batch["attention_mask"], jnp.float32)
    return w.at[:, 0].set(0.0)
