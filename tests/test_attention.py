"""Attention implementations: every one that runs here (XLA's dot_product_attention, the splash
kernel interpreted) equals the einsum path for logits, probe norms and SFT gradients, with left and
right padding and fully-masked query rows; `auto` resolves per backend."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from prism_jax.models import ModelConfig, init_params
from prism_jax.models.attention import attention, resolve_attention
from prism_jax.models.transformer import forward
from prism_jax.probe import make_probe_step
from prism_jax.sft import loss_and_grads

pytestmark = pytest.mark.usefixtures("highest_precision")

IMPLS = ["xla", "splash"]
T = 128                      # one splash block


@pytest.fixture(scope="module")
def tiny():
    cfg = ModelConfig(model_type="qwen3", vocab_size=96, hidden_size=32, intermediate_size=48,
                      num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8, qk_norm=True)
    return cfg, init_params(cfg, jax.random.key(0), std=0.2)


def _batch(side: str):
    """Two rows of 70 and 128 real tokens, padded on `side`; loss on the second half of each."""
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 96, (2, T)).astype(np.int32)
    attn = np.ones((2, T), np.int32)
    if side == "left":
        attn[0, : T - 70] = 0
    else:
        attn[0, 70:] = 0
    ids[attn == 0] = 0
    loss = attn * (np.cumsum(attn, axis=1) > attn.sum(1, keepdims=True) // 2)
    return ids, attn, loss.astype(np.int32)


def _with(cfg, impl):
    return dataclasses.replace(cfg, attention=impl)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_logits_equal_einsum(tiny, impl, side):
    cfg, params = tiny
    ids, attn, _ = _batch(side)
    run = lambda c: np.asarray(jax.jit(lambda p: forward(p, c, ids, attn)[0])(params))
    want, got = run(_with(cfg, "einsum")), run(_with(cfg, impl))
    assert np.isfinite(got).all()
    real = attn.astype(bool)
    np.testing.assert_allclose(got[real], want[real], atol=2e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_probe_norms_equal_einsum(tiny, impl):
    cfg, params = tiny
    ids, attn, loss = _batch("right")
    run = lambda c: np.asarray(make_probe_step(c, remat="none")(params, ids, attn, loss))
    np.testing.assert_allclose(run(_with(cfg, impl)), run(_with(cfg, "einsum")), rtol=1e-4)


@pytest.mark.parametrize("impl", IMPLS)
def test_sft_gradients_equal_einsum(tiny, impl):
    cfg, params = tiny
    ids, attn, loss = _batch("left")
    batch = {"input_ids": ids[None], "attention_mask": attn[None], "loss_mask": loss[None]}
    run = lambda c: jax.jit(lambda p: loss_and_grads(p, c, batch, chunk=64))(params)
    (l0, g0, _), (l1, g1, _) = run(_with(cfg, "einsum")), run(_with(cfg, impl))
    np.testing.assert_allclose(float(l1), float(l0), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)


def test_fully_masked_rows_stay_finite():
    rng = np.random.default_rng(1)
    q = jnp.asarray(rng.normal(size=(1, 4, 4, 8)), jnp.float32)
    k, v = (jnp.asarray(rng.normal(size=(1, 6, 2, 8)), jnp.float32) for _ in range(2))
    mask = np.tril(np.ones((4, 6), bool), 2)[None].copy()
    mask[0, 1] = False                               # query row 1 sees no key
    want = np.asarray(attention(q, k, v, jnp.asarray(mask), "einsum"))
    got = np.asarray(attention(q, k, v, jnp.asarray(mask), "xla"))
    assert np.isfinite(want).all() and np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-6)
    # einsum's reference semantics: a row without keys averages all values uniformly
    np.testing.assert_allclose(want[0, 1].reshape(4, 8), np.repeat(np.asarray(v[0]).mean(0), 2, 0),
                               atol=1e-6)


def test_auto_resolves_per_backend(monkeypatch):
    for backend, dtype, head_dim, seq, want in [
            ("cpu", jnp.float32, 128, 256, "xla"), ("cpu", jnp.bfloat16, 128, 256, "xla"),
            ("gpu", jnp.bfloat16, 128, 100, "cudnn"), ("gpu", jnp.float32, 128, 256, "xla"),
            ("gpu", jnp.bfloat16, 12, 256, "xla"), ("tpu", jnp.bfloat16, 128, 256, "splash"),
            ("tpu", jnp.bfloat16, 128, 200, "xla")]:
        monkeypatch.setattr(jax, "default_backend", lambda: backend)
        assert resolve_attention("auto", dtype, head_dim, seq) == want, (backend, dtype, head_dim, seq)
        assert resolve_attention("einsum", dtype, head_dim, seq) == "einsum"
    with pytest.raises(ValueError, match="unknown attention implementation 'flash'"):
        resolve_attention("flash", jnp.float32, 8, 8)


@pytest.mark.parametrize("side", ["left", "right"])
def test_causal_blocks_equal_einsum(side):
    """From 256 tokens on, causal xla attention runs query blocks against their key prefixes; 300
    tokens make a last block shorter than the others."""
    rng = np.random.default_rng(2)
    b, t = 2, 300
    q = jnp.asarray(rng.normal(size=(b, t, 4, 8)), jnp.float32)
    k, v = (jnp.asarray(rng.normal(size=(b, t, 2, 8)), jnp.float32) for _ in range(2))
    valid = np.ones((b, t), bool)
    if side == "left":
        valid[0, :77] = False
    else:
        valid[0, 223:] = False
    mask = jnp.asarray(np.tril(np.ones((t, t), bool))[None] & valid[:, None, :])
    want = np.asarray(attention(q, k, v, mask, "einsum"))
    got = np.asarray(attention(q, k, v, mask, "xla", causal=True))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[valid], want[valid], atol=1e-5)
