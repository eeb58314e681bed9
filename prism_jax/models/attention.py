"""Attention implementations for the decoder: grouped-query attention over [B, T, N, H] heads.

One entry point per use: `attention` for a whole sequence (training, probe, prefill), with the
implementation chosen by `resolve_attention` ("einsum", XLA's or cuDNN's
`jax.nn.dot_product_attention`, or the Pallas splash kernel on TPU), and `cached_attention` for
decode steps over a KV cache laid out heads-before-slots.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


ATTENTION_IMPLS = ("auto", "einsum", "xla", "cudnn", "splash")
# The splash kernel's query and key block: a sequence length must be a multiple of it.
SPLASH_BLOCK = 128


def resolve_attention(impl: str, dtype, head_dim: int, seq_len: int) -> str:
    """The attention implementation `impl` stands for on this backend ("auto" picks one).

    auto: cuDNN flash attention on NVIDIA GPUs for bf16/fp16 with a head dim cuDNN takes (a
    multiple of 8, <= 128), the Pallas splash kernel on TPU when the length is a multiple of its
    128-token blocks, otherwise XLA's `jax.nn.dot_product_attention` (CPU included).
    """
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"unknown attention implementation {impl!r}; choose one of "
                         f"{', '.join(ATTENTION_IMPLS)}")
    if impl != "auto":
        return impl
    backend = jax.default_backend()
    half = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
    if backend in ("gpu", "cuda") and half and head_dim % 8 == 0 and head_dim <= 128:
        return "cudnn"
    if backend == "tpu" and seq_len % SPLASH_BLOCK == 0:
        return "splash"
    return "xla"


def attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, impl: str = "einsum", *,
              causal: bool = False) -> jax.Array:
    """Grouped-query attention. q [B, T, Nq, H], k/v [B, S, Nkv, H], mask [B, T, S] bool -> [B, T, Nq*H].

    causal: the caller promises T == S and that query t never sees a key after t (the mask is
    causal & key padding): "xla" then skips the blocks above the diagonal, "cudnn" too; "splash"
    needs it.

    impl: "einsum" (float32 [B, Nkv, G, T, S] scores), "xla" / "cudnn"
    (`jax.nn.dot_product_attention`), or "splash" (Pallas TPU kernel; T == S, causal, the
    key-padding mask as segment ids; run interpreted off TPU). Query rows that see no key (padding)
    get a uniform distribution from einsum / xla / cudnn and attend among padding with splash: never
    NaN, and their outputs are never used.
    """
    b, t, nq, h = q.shape
    if impl == "einsum":
        return _einsum_attention(q, k, v, mask, "bskh")
    if impl == "xla" and causal and t >= 256:
        # Query block i sees keys [0, end of block i] only, so the blocks above the diagonal
        # are never computed: ~(n + 1) / 2n of the work for n blocks (at most 8).
        size = max(128, -(-t // 8))
        out = jnp.concatenate([jax.nn.dot_product_attention(
            q[:, i:i + size], k[:, :i + size], v[:, :i + size],
            mask=mask[:, None, i:i + size, :i + size], implementation="xla")
            for i in range(0, t, size)], axis=1)
    elif impl in ("xla", "cudnn"):
        # cuDNN takes the mask as an additive bias and skips the blocks above the diagonal
        out = jax.nn.dot_product_attention(q, k, v, mask=mask[:, None],
                                           is_causal=causal and impl == "cudnn", implementation=impl)
    elif impl == "splash":
        if not causal:
            raise ValueError("splash attention runs causal self-attention only (causal=True)")
        out = _splash(q, k, v, mask)
    else:
        raise ValueError(f"unknown attention implementation {impl!r}")
    return out.reshape(b, t, nq * h)



def _splash(q, k, v, mask):
    """Causal splash attention with the key-padding mask as segment ids (1 real, 0 padding)."""
    # lazy: the Pallas TPU kernels load only when splash attention is chosen
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as sk
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as sm

    b, t, nq, h = q.shape
    nkv = k.shape[2]
    g = nq // nkv
    if t % SPLASH_BLOCK:
        raise ValueError(f"splash attention needs a length that is a multiple of {SPLASH_BLOCK}, "
                         f"got {t} (pad to a bucket, or use attention 'xla')")
    block = min(SPLASH_BLOCK, t)
    sizes = sk.BlockSizes(block_q=block, block_kv=block, block_kv_compute=block, block_q_dkv=block,
                          block_kv_dkv=block, block_kv_dkv_compute=block, block_q_dq=block,
                          block_kv_dq=block)
    kernel = sk.make_splash_mqa(sm.MultiHeadMask([sm.CausalMask((t, t))] * g), head_shards=1,
                                q_seq_shards=1, block_sizes=sizes,
                                interpret=jax.default_backend() != "tpu")
    # A key is real where some query may see it: row t of the mask includes every real key <= t.
    seg = jnp.any(mask, axis=1).astype(jnp.int32)                       # [B, S]
    q = (q / math.sqrt(h)).reshape(b, t, nkv, g, h).transpose(0, 2, 3, 1, 4)   # [B, K, G, T, H]
    k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)                 # [B, K, S, H]
    per_head = jax.vmap(lambda q, k, v, s: kernel(q, k, v, segment_ids=sk.SegmentIds(s, s)),
                        in_axes=(0, 0, 0, None))
    out = jax.vmap(per_head)(q, k, v, seg)                                   # [B, K, G, T, H]
    return out.transpose(0, 3, 1, 2, 4)


def cached_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Attention over a KV cache: q [B, T, Nq, H], k/v [B, Nkv, S, H] (heads before slots, so the
    score and value products need no transpose of the cache), mask [B, T, S] -> [B, T, Nq*H]."""
    return _einsum_attention(q, k, v, mask, "bksh")


def _einsum_attention(q, k, v, mask, kv: str):
    """float32 scores [B, Nkv, G, T, S]; k/v laid out as `kv` ("bskh" or "bksh")."""
    b, t, nq, h = q.shape
    nkv = k.shape[kv.index("k")]
    q = q.reshape(b, t, nkv, nq // nkv, h)
    scores = jnp.einsum(f"btkgh,{kv}->bkgts", q, k).astype(jnp.float32) / math.sqrt(h)
    scores = jnp.where(mask[:, None, None, :, :], scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    # [B, K, G, T, H] out of the value product: XLA:CPU runs it 4x faster than with the output
    # transposed (its matmul library would take the cache as the left operand).
    out = jnp.einsum(f"bkgts,{kv}->bkgth", probs, v)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, t, nq * h)
