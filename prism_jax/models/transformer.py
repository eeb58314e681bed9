"""One decoder for Qwen3 and Llama-3.x.

The math is a pure function, `forward(params, cfg, ...)`, over a plain pytree of arrays; the nnx
`Transformer` module owns those arrays and calls it. Layers are stacked on a leading axis and run
under `lax.scan`, so compile time does not grow with depth and every per-layer quantity (KV cache,
probe taps) is an array with a layer axis.

Parameter pytree (x @ W layout, i.e. HF weights transposed):
  embed [V, D]; final_norm [D]; lm_head [D, V] (untied only);
  layers: attn_norm [L, D], q [L, D, Nq*H], k/v [L, D, Nkv*H], o [L, Nq*H, D],
          q_norm/k_norm [L, H] (Qwen3), mlp_norm [L, D], gate/up [L, D, F], down [L, F, D].
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from prism_jax.models.attention import attention, cached_attention, resolve_attention
from prism_jax.models.config import MATRICES, ModelConfig
from prism_jax.models.tap import dense, tapped_matmul

Params = dict[str, Any]
REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


# ------------------------------------------------------------------------------ shared math
def rms_norm(x: jax.Array, w: jax.Array, eps: float) -> jax.Array:
    """RMSNorm over the last axis, statistics in float32 (as Hugging Face does)."""
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    return w.astype(x.dtype) * y.astype(x.dtype)


def rope_inv_freq(cfg: ModelConfig) -> np.ndarray:
    """RoPE inverse frequencies float32 [H/2], with Llama-3 scaling when configured."""
    dim = cfg.head_dim
    exponent = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    inv = (np.float32(1.0) / np.power(np.float32(cfg.rope_theta), exponent)).astype(np.float32)
    s = cfg.rope_scaling
    if s is None:
        return inv
    low_wavelen = s.original_max_position_embeddings / s.low_freq_factor
    high_wavelen = s.original_max_position_embeddings / s.high_freq_factor
    wavelen = (2 * math.pi / inv).astype(np.float32)
    scaled = np.where(wavelen > low_wavelen, inv / s.factor, inv)
    smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (
        s.high_freq_factor - s.low_freq_factor)
    smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def rope_tables(cfg: ModelConfig, positions: jax.Array, dtype) -> tuple[jax.Array, jax.Array]:
    """cos, sin [B, T, H] for integer positions [B, T] (half-split layout: freqs repeated twice)."""
    freqs = positions.astype(jnp.float32)[..., None] * jnp.asarray(rope_inv_freq(cfg))
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb).astype(dtype), jnp.sin(emb).astype(dtype)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """x [B, T, N, H] rotated by cos/sin [B, T, H] (HF's rotate_half convention)."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, :, None, :] + rotated * sin[:, :, None, :]


def default_positions(attention_mask: jax.Array) -> jax.Array:
    """Token positions [B, T] that skip padding (left or right): cumsum(mask) - 1, floored at 0."""
    return jnp.maximum(jnp.cumsum(attention_mask.astype(jnp.int32), axis=-1) - 1, 0)


# ------------------------------------------------------------------------------ the decoder
def _layer(cfg: ModelConfig, impl: str, x, p, linear, cos, sin, mask, cache_kv=None, cache_index=None):
    """One decoder layer. p: this layer's norm weights; linear(h, name): its projections.

    Returns the new x, this layer's updated cache entry (k, v) [B, Nkv, S, H] (None without a
    cache) and its fresh keys/values [B, T, Nkv, H].
    """
    b, t, _ = x.shape
    h = rms_norm(x, p["attn_norm"], cfg.rms_norm_eps)
    q = linear(h, "q").reshape(b, t, cfg.num_heads, cfg.head_dim)
    k = linear(h, "k").reshape(b, t, cfg.num_kv_heads, cfg.head_dim)
    v = linear(h, "v").reshape(b, t, cfg.num_kv_heads, cfg.head_dim)
    if cfg.qk_norm:
        q = rms_norm(q, p["q_norm"], cfg.rms_norm_eps)
        k = rms_norm(k, p["k_norm"], cfg.rms_norm_eps)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    with jax.named_scope("attention"):
        if cache_kv is None:
            a = attention(q, k, v, mask, impl, causal=True)
        else:
            ck, cv = cache_kv
            at = (0, 0, cache_index, 0)
            ck = jax.lax.dynamic_update_slice(ck, k.astype(ck.dtype).transpose(0, 2, 1, 3), at)
            cv = jax.lax.dynamic_update_slice(cv, v.astype(cv.dtype).transpose(0, 2, 1, 3), at)
            cache_kv = (ck, cv)
            a = cached_attention(q, ck.astype(q.dtype), cv.astype(q.dtype), mask)
    x = x + linear(a, "o")
    h = rms_norm(x, p["mlp_norm"], cfg.rms_norm_eps)
    x = x + linear(jax.nn.silu(linear(h, "gate")) * linear(h, "up"), "down")
    return x, cache_kv, (k, v)


def _dense(p):
    return lambda h, name: dense(h, p[name])


def unstack_layers(params: Params) -> Params:
    """The parameters with "layers" as a tuple of L per-layer dicts instead of [L, ...] stacks.

    Decoding runs its layers unrolled over these: a layer of a stack inside a loop is a
    dynamic slice, which XLA copies out before each matmul (every weight read twice per token).
    """
    layers = params["layers"]
    if isinstance(layers, tuple):
        return params
    n = next(iter(layers.values())).shape[0]
    return {**params, "layers": tuple({k: a[l] for k, a in layers.items()} for l in range(n))}


def stack_layers(params: Params) -> Params:
    """The inverse of `unstack_layers`: "layers" as [L, ...] stacks (unchanged if already)."""
    layers = params["layers"]
    if not isinstance(layers, tuple):
        return params
    return {**params, "layers": {k: jnp.stack([p[k] for p in layers]) for k in layers[0]}}


def unrolled_layers(layers: str, mesh) -> bool:
    """Whether a step runs its layers unrolled (`SFTHparams.layers`, `make_probe_step`):
    "unroll", or "auto" on a CPU without a mesh (XLA:CPU pays for scanning: each layer's
    weights sliced out of the stacks, its saved activations and gradients stacked back);
    "scan" never. A mesh's sharding rules are for stacked layers."""
    if layers not in ("auto", "scan", "unroll"):
        raise ValueError(f"layers must be auto, scan or unroll, got {layers!r}")
    if layers == "unroll" and mesh is not None:
        raise ValueError("layers='unroll' runs without a mesh (the sharding rules are for stacked "
                         "layers): use layers='scan' or 'auto' with --mesh-*")
    return layers == "unroll" or (layers == "auto" and mesh is None
                                  and jax.default_backend() == "cpu")


def _is_params(node) -> bool:
    return isinstance(node, dict) and "layers" in node and "embed" in node


def map_param_trees(fn, tree):
    """`fn` applied to every parameter-shaped subtree of `tree` (the parameters themselves, an
    optimizer state's moments), e.g. ``map_param_trees(stack_layers, opt_state)``."""
    return jax.tree.map(lambda n: fn(n) if _is_params(n) else n, tree, is_leaf=_is_params)


def forward(
    params: Params,
    cfg: ModelConfig,
    input_ids: jax.Array,
    attention_mask: jax.Array | None = None,
    *,
    positions: jax.Array | None = None,
    cache: dict | None = None,
    taps: jax.Array | None = None,
    compute_dtype=None,
    remat: str = "none",
    norm_mode: str = "auto",
    return_hidden: bool = False,
    return_kv: bool = False,
):
    """Run the decoder.

    Args:
      params: the parameter pytree (stacked layers), or `unstack_layers(params)` for decoding.
      input_ids: int [B, T].
      attention_mask: [B, T], 1 on real tokens (left or right padding); default all ones.
      positions: int [B, T] RoPE positions; default `default_positions(attention_mask)`.
      cache: KV cache from `init_cache` / `prefill` for incremental decoding: the T new tokens
        are written at slots cache["index"] .. +T; cache["mask"] [B, S] marks valid slots.
      taps: float32 [L, 7, B] zeros: makes every projection a tapped matmul (see tap.py) so that
        d(loss)/d(taps)[l, j, b] = ||d loss_b / d W_{l,j}||_F^2.
      compute_dtype: activation dtype (default: the embedding's dtype).
      remat: rematerialisation policy of each layer ("none", "full", "dots", ...), scanned or,
        over unstacked layers without a cache, unrolled.
      return_hidden: return the final-normed hidden states [B, T, D] instead of logits.
      return_kv: also return every layer's keys and values, k/v [L, B, T, Nkv, H] (no cache).

    Returns:
      logits float32 [B, T, V] (or hidden), and the updated cache (None without a cache); with
      return_kv, a third element (k, v).

    Stacked layers without a cache run under `lax.scan` (compile time independent of depth) and
    attention is `cfg.attention` (see `resolve_attention`). With a cache, or unstacked layers, the
    layers are unrolled and attention is the einsum over each layer's own cache buffer.
    """
    b, t = input_ids.shape
    dtype = compute_dtype or params["embed"].dtype
    if attention_mask is None:
        attention_mask = jnp.ones((b, t), jnp.int32)
    attention_mask = attention_mask.astype(jnp.int32)

    if cache is None:
        if positions is None:
            positions = default_positions(attention_mask)
        slots = jnp.arange(t)
        key_valid = attention_mask.astype(bool)
        cache_index = None
    else:
        cache_index = cache["index"]
        kv_mask = jax.lax.dynamic_update_slice(cache["mask"], attention_mask, (0, cache_index))
        if positions is None:
            positions = cache["pos"][:, None] + default_positions(attention_mask)
        slots = cache_index + jnp.arange(t)
        key_valid = kv_mask.astype(bool)
    key_slots = jnp.arange(key_valid.shape[1])
    mask = (key_slots[None, :] <= slots[:, None])[None] & key_valid[:, None, :]
    impl = resolve_attention(cfg.attention, dtype, cfg.head_dim, t)

    x = params["embed"][input_ids].astype(dtype)
    cos, sin = rope_tables(cfg, positions, dtype)
    layers = params["layers"]

    if cache is None and isinstance(layers, dict):
        # Tapped: each layer indexes the stacked weights it closes over (see tap.py: the saved
        # residual is then the loop-invariant stack). Otherwise the stack is the scan's input, so
        # the weight gradient comes out stacked by the scan instead of being written into an [L, ...]
        # buffer by index, which XLA:CPU follows with transposes and a slow matmul path.
        def body(x, xs):
            l, p, tp = xs
            if tp is None:
                linear = _dense(p)
            else:
                p = jax.tree.map(lambda a: a[l], layers)
                linear = lambda h, name: tapped_matmul(h, layers[name], l, tp[MATRICES.index(name)],
                                                       norm_mode)
            x, _, new = _layer(cfg, impl, x, p, linear, cos, sin, mask)
            return x, new if return_kv else None

        if remat != "none":
            body = jax.checkpoint(body, policy=REMAT_POLICIES[remat], prevent_cse=False)
        x, layer_kv = jax.lax.scan(body, x, (jnp.arange(cfg.num_layers),
                                             layers if taps is None else None, taps))
        new_cache = None
    else:
        if taps is not None and cache is not None:
            raise ValueError("taps need no cache")
        per_layer = unstack_layers(params)["layers"]
        new_k, new_v, fresh = [], [], []

        def layer(x, p, kv, tp=None):
            if tp is None:
                linear = _dense(p)
            else:    # a per-layer weight as a stack of one (no copy)
                linear = lambda h, name: tapped_matmul(h, p[name][None], 0,
                                                       tp[MATRICES.index(name)], norm_mode)
            return _layer(cfg, impl, x, p, linear, cos, sin, mask, kv, cache_index)

        if remat != "none" and cache is None:     # training over unstacked (unrolled) layers
            layer = jax.checkpoint(layer, policy=REMAT_POLICIES[remat], prevent_cse=False)
        for l, p in enumerate(per_layer):
            kv = None if cache is None else (cache["k"][l], cache["v"][l])
            x, kv, new = layer(x, p, kv, None if taps is None else taps[l])
            fresh.append(new)
            if cache is not None:
                new_k.append(kv[0])
                new_v.append(kv[1])
        layer_kv = tuple(jnp.stack(z) for z in zip(*fresh)) if return_kv else None
        new_cache = None if cache is None else dict(
            k=tuple(new_k), v=tuple(new_v), mask=kv_mask, index=cache_index + t,
            pos=cache["pos"] + jnp.sum(attention_mask, axis=1))

    x = rms_norm(x, params["final_norm"], cfg.rms_norm_eps)
    if return_hidden:
        out = x
    else:
        with jax.named_scope("lm_head"):
            out = jnp.einsum("btd,dv->btv", x, lm_head(params).astype(dtype)).astype(jnp.float32)
    return (out, new_cache, layer_kv) if return_kv else (out, new_cache)


def prefill(params: Params, cfg: ModelConfig, input_ids, attention_mask, max_len: int, *,
            compute_dtype=None, cache_dtype=None) -> tuple[jax.Array, dict]:
    """Run a (left-padded) prompt batch and return its hidden states and a KV cache of `max_len`
    slots holding it, ready for `forward(..., cache=...)`.

    input_ids, attention_mask: int [B, P]; params with stacked layers. Returns (hidden [B, P, D],
    cache). The prompt is run without a cache (so attention is `cfg.attention`: flash kernels on
    accelerators) and its keys and values are then written into the first P slots.
    """
    b, p = input_ids.shape
    dtype = compute_dtype or params["embed"].dtype
    hidden, _, (k, v) = forward(params, cfg, input_ids, attention_mask, compute_dtype=dtype,
                                return_hidden=True, return_kv=True)
    cache = init_cache(cfg, b, max_len, cache_dtype or dtype)
    put = lambda buf, new: jax.lax.dynamic_update_slice(
        buf, new.astype(buf.dtype).transpose(0, 2, 1, 3), (0, 0, 0, 0))
    mask = attention_mask.astype(jnp.int32)
    cache.update(k=tuple(put(c, n) for c, n in zip(cache["k"], k)),
                 v=tuple(put(c, n) for c, n in zip(cache["v"], v)),
                 mask=jax.lax.dynamic_update_slice(cache["mask"], mask, (0, 0)),
                 index=jnp.int32(p), pos=jnp.sum(mask, axis=1))
    return hidden, cache


def lm_head(params: Params) -> jax.Array:
    """The output projection [D, V] (the transposed embedding when tied)."""
    return params["lm_head"] if "lm_head" in params else params["embed"].T


def init_cache(cfg: ModelConfig, batch: int, max_len: int, dtype=jnp.float32) -> dict:
    """Empty KV cache: k/v tuples of L buffers [B, Nkv, S, H] (one per layer, so a decode step
    reads and writes each in place), slot mask [B, S], write index, next position [B]."""
    shape = (batch, cfg.num_kv_heads, max_len, cfg.head_dim)
    zeros = lambda: tuple(jnp.zeros(shape, dtype) for _ in range(cfg.num_layers))
    return dict(k=zeros(), v=zeros(), mask=jnp.zeros((batch, max_len), jnp.int32),
                index=jnp.int32(0), pos=jnp.zeros((batch,), jnp.int32))


# ------------------------------------------------------------------------------ parameters
def param_shapes(cfg: ModelConfig) -> Params:
    """Shapes of every parameter, as a pytree of tuples (the order init/load/save follow)."""
    L, d, h = cfg.num_layers, cfg.hidden_size, cfg.head_dim
    layers = {"attn_norm": (L, d)}
    layers.update({m: (L, *s) for m, s in cfg.matrix_shapes().items()})
    if cfg.qk_norm:
        layers.update(q_norm=(L, h), k_norm=(L, h))
    layers["mlp_norm"] = (L, d)
    shapes: Params = {"embed": (cfg.vocab_size, d), "layers": layers, "final_norm": (d,)}
    if not cfg.tie_word_embeddings:
        shapes["lm_head"] = (d, cfg.vocab_size)
    return shapes


def init_params(cfg: ModelConfig, key: jax.Array, dtype=jnp.float32, std: float = 0.02) -> Params:
    """Random parameters: normal(0, std) matrices, unit norms (as HF initialises)."""
    shapes = param_shapes(cfg)
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=lambda s: isinstance(s, tuple))
    paths = [jax.tree_util.keystr(p) for p, _ in
             jax.tree_util.tree_flatten_with_path(shapes, is_leaf=lambda s: isinstance(s, tuple))[0]]
    keys = jax.random.split(key, len(leaves))
    out = []
    for path, shape, k in zip(paths, leaves, keys):
        if "norm" in path:
            out.append(jnp.ones(shape, dtype))
        else:
            out.append((std * jax.random.normal(k, shape, jnp.float32)).astype(dtype))
    return jax.tree.unflatten(treedef, out)


@partial(jax.jit, static_argnames=("cfg", "compute_dtype"))
def _logits(params, cfg, input_ids, attention_mask, compute_dtype=None):
    return forward(params, cfg, input_ids, attention_mask, compute_dtype=compute_dtype)[0]


class _Layers(nnx.Module):
    def __init__(self, arrays: dict[str, jax.Array]):
        for name, value in arrays.items():
            setattr(self, name, nnx.Param(value))


class Transformer(nnx.Module):
    """Qwen3 / Llama-3.x decoder holding its parameters as nnx.Params.

    `model(input_ids, attention_mask)` -> logits float32 [B, T, V] (jitted). The pure function
    behind it is `forward(model.params(), model.config, ...)`, which training and the probe use.
    """

    def __init__(self, config: ModelConfig, params: Params, compute_dtype=None, source: str | None = None):
        self.config = config
        self.compute_dtype = compute_dtype
        self.source = source  # the HF directory it was loaded from (tokenizer files are there)
        self.embed = nnx.Param(params["embed"])
        self.layers = _Layers(params["layers"])
        self.final_norm = nnx.Param(params["final_norm"])
        self.lm_head = nnx.Param(params["lm_head"]) if "lm_head" in params else None

    @classmethod
    def init(cls, config: ModelConfig, key: jax.Array | int = 0, dtype=jnp.float32) -> "Transformer":
        key = jax.random.key(key) if isinstance(key, int) else key
        return cls(config, init_params(config, key, dtype))

    def params(self) -> Params:
        """The parameters as a plain pytree (see the module docstring for the layout)."""
        out: Params = {
            "embed": self.embed.get_value(),
            "layers": {name: getattr(self.layers, name).get_value()
                       for name in param_shapes(self.config)["layers"]},
            "final_norm": self.final_norm.get_value(),
        }
        if self.lm_head is not None:
            out["lm_head"] = self.lm_head.get_value()
        return out

    def set_params(self, params: Params) -> None:
        """Replace the parameters in place (same structure as `params()`)."""
        self.embed.set_value(params["embed"])
        for name, value in params["layers"].items():
            getattr(self.layers, name).set_value(value)
        self.final_norm.set_value(params["final_norm"])
        if self.lm_head is not None:
            self.lm_head.set_value(params["lm_head"])

    @property
    def dtype(self):
        return self.embed.get_value().dtype

    def __call__(self, input_ids, attention_mask=None) -> jax.Array:
        input_ids = jnp.asarray(input_ids, jnp.int32)
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        return _logits(self.params(), self.config, input_ids, jnp.asarray(attention_mask, jnp.int32),
                       compute_dtype=self.compute_dtype)


__all__ = ["MATRICES", "Transformer", "forward", "prefill", "init_cache", "init_params",
           "param_shapes", "unstack_layers", "stack_layers", "map_param_trees",
           "unrolled_layers", "rms_norm", "apply_rope",
           "rope_inv_freq", "lm_head", "default_positions"]
