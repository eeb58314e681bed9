"""Stage I: non-invasive gradient probing (paper section 2.2, Eq. 1 and 4).

For each trajectory b and each projection matrix W_{l,j}, j in (q, k, v, o, gate, up, down):

    g[b, 7*l + j] = || d L_b / d W_{l,j} ||_F,

with L_b the mean next-token cross-entropy over b's valid response (assistant) tokens, at the frozen
model. All B x 7L numbers come from one backward pass: the projections are tapped matmuls
(`prism_jax.models.tap`) and we differentiate only with respect to their zero taps, so no
parameter-sized gradient is ever formed, embedding and lm-head gradients are never computed, and the
cross-entropy is evaluated in rematerialised chunks so [T, V] logits never exist at once.
"""

from __future__ import annotations

import jax
import numpy as np
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from prism_jax.logprobs import target_weights, token_logprobs
from prism_jax.models.config import MATRICES, ModelConfig
from prism_jax.models.transformer import Params, Transformer, unrolled_layers, unstack_layers
from prism_jax.sharding import batch_sharding, param_shardings


def response_losses(params: Params, cfg: ModelConfig, input_ids, attention_mask, loss_mask, *,
                    taps=None, norm_mode: str = "auto", chunk: int = 256, compute_dtype=None,
                    remat: str = "none", pack: bool = False) -> jax.Array:
    """Per-trajectory mean cross-entropy over response tokens -> float32 [B].

    loss_mask[b, t] = 1 marks token t as a target (an assistant token); it is predicted from
    position t - 1. Rows without any target get loss 0. pack: score all rows' targets together
    (an unsharded batch; see `logprobs.chunked_logprobs`).
    """
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "loss_mask": loss_mask}
    weights = target_weights(batch, "loss_mask")
    logp = token_logprobs(params, cfg, batch, chunk=chunk, taps=taps, norm_mode=norm_mode,
                          compute_dtype=compute_dtype, remat=remat, where=weights, head_grad=False,
                          pack=pack)
    return -jnp.sum(logp * weights, axis=-1) / jnp.maximum(jnp.sum(weights, axis=-1), 1.0)


def _probe_step(params, input_ids, attention_mask, loss_mask, *, cfg, norm_mode, chunk,
                compute_dtype, remat, pack):
    b = input_ids.shape[0]
    taps = jnp.zeros((cfg.num_layers, len(MATRICES), b), jnp.float32)

    def total_loss(taps):
        return jnp.sum(response_losses(params, cfg, input_ids, attention_mask, loss_mask, taps=taps,
                                       norm_mode=norm_mode, chunk=chunk, compute_dtype=compute_dtype,
                                       remat=remat, pack=pack))

    sq = jax.grad(total_loss)(taps)                       # [L, 7, B] squared Frobenius norms
    return jnp.sqrt(jnp.maximum(sq, 0.0)).transpose(2, 0, 1).reshape(b, -1)


# Below this many bytes of saved activations the probe step keeps them (no second forward).
REMAT_BYTES = 2 * 2**30


def choose_remat(cfg: ModelConfig, batch: int, seq_len: int, dtype=jnp.float32) -> str:
    """"none" when a probe step's saved activations (about 6 d + 3 f numbers per token and layer,
    plus the attention probabilities) stay under REMAT_BYTES, else "full"."""
    per_token = 6 * cfg.hidden_size + 3 * cfg.intermediate_size + cfg.num_heads * seq_len
    size = batch * seq_len * cfg.num_layers * per_token * jnp.dtype(dtype).itemsize
    return "none" if size <= REMAT_BYTES else "full"


def make_probe_step(cfg: ModelConfig, *, mesh: Mesh | None = None, params=None,
                    norm_mode: str = "auto", chunk: int = 256, compute_dtype=None,
                    remat: str = "auto", layers: str = "auto"):
    """The jitted probe step `(params, input_ids, attention_mask, loss_mask) -> float32 [B, 7L]`.

    With a mesh, the batch is split over its data x fsdp axes and the parameters keep the shardings
    of `prism_jax.sharding.RULES` (pass `params` so their shapes give the shardings).

    remat: "auto" picks per batch shape (`choose_remat`, at trace time): a small model keeps
    its activations; a large one rematerialises each layer ("full"), one extra forward that
    leaves only the per-layer inputs plus one layer's temporaries.
    layers: "scan", "unroll" or "auto" (unroll on a CPU without a mesh when remat is "none"),
    as `SFTHparams.layers`. Unrolled, the step slices the stacked weights per layer: without
    the scan's stacking of every layer's saved activations the bench's probe step takes 8% less
    time on CPU, but the slices are copies that the backward pass keeps, a second copy of the
    probed weights, which is why "auto" scans whenever it rematerialises. The norms are the same.
    """
    unroll = unrolled_layers(layers, mesh)

    def fn(params, input_ids, attention_mask, loss_mask):
        b, t = input_ids.shape
        r = remat if remat != "auto" else choose_remat(cfg, b, t, compute_dtype or params["embed"].dtype)
        if unroll and (layers == "unroll" or r == "none"):
            params = unstack_layers(params)
        return _probe_step(params, input_ids, attention_mask, loss_mask, cfg=cfg, norm_mode=norm_mode,
                           chunk=chunk, compute_dtype=compute_dtype, remat=r, pack=mesh is None)

    if mesh is None:
        return jax.jit(fn)
    data = batch_sharding(mesh, 2)
    return jax.jit(fn, in_shardings=(param_shardings(params, mesh), data, data, data),
                   out_shardings=NamedSharding(mesh, P(("data", "fsdp"), None)))


def probe_norms(model: Transformer, input_ids, attention_mask, loss_mask, *,
                norm_mode: str = "auto", chunk: int = 256) -> jax.Array:
    """g float32 [B, 7L]: per-trajectory Frobenius norms of the q/k/v/o/gate/up/down gradients.

    Args:
      model: a loaded `Transformer` (frozen; nothing is updated).
      input_ids, attention_mask, loss_mask: int [B, T] (loss_mask = 1 on assistant tokens).
      norm_mode: "auto" (cheaper of direct / ghost per matrix shape), "direct" or "ghost".
    """
    step = _cached_step(model.config, norm_mode, chunk, model.compute_dtype)
    return step(model.params(), jnp.asarray(input_ids, jnp.int32),
                jnp.asarray(attention_mask, jnp.int32), jnp.asarray(loss_mask, jnp.int32))


_STEPS: dict = {}


def _cached_step(cfg, norm_mode, chunk, compute_dtype):
    key = (cfg, norm_mode, chunk, compute_dtype)
    if key not in _STEPS:
        _STEPS[key] = make_probe_step(cfg, norm_mode=norm_mode, chunk=chunk, compute_dtype=compute_dtype)
    return _STEPS[key]


def plan_batches(lengths, batch_size: int, max_len: int, multiple: int = 128) -> list[tuple[np.ndarray, int]]:
    """Group trajectories of similar length to avoid computing on padding.

    Sorts by length, cuts into batches of `batch_size`, and pads each batch only to its longest
    member rounded up to `multiple` (capped at max_len), so few shapes are compiled. Norms do not
    depend on the grouping: each trajectory's loss only sees its own tokens.

    Returns a list of (indices into `lengths`, padded length).
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    plan = []
    for i in range(0, len(order), batch_size):
        idx = order[i: i + batch_size]
        longest = int(lengths[idx].max())
        plan.append((idx, min(max_len, -(-longest // multiple) * multiple)))
    return plan
