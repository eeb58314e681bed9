"""The scoring kernel: per-token log-probs and entropies equal a full forward's log-softmax at any
chunking and temperature, and chunking does not change the gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from prism_jax.logprobs import target_weights, token_logprobs
from prism_jax.models import ModelConfig, init_params
from prism_jax.models.transformer import forward

pytestmark = pytest.mark.usefixtures("highest_precision")


@pytest.fixture(autouse=True)
def always_chunk(monkeypatch):
    """Chunk even logits this small (they would otherwise be scored in one piece)."""
    monkeypatch.setattr("prism_jax.logprobs.KEEP_BYTES", 0)


@pytest.fixture(scope="module")
def tiny():
    cfg = ModelConfig(model_type="llama", vocab_size=53, hidden_size=32, intermediate_size=40,
                      num_layers=2, num_heads=2, num_kv_heads=1, head_dim=16)
    params = init_params(cfg, jax.random.key(1), std=0.3)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 53, (3, 23)).astype(np.int32)
    attn = (np.arange(23)[None] < np.array([[23], [15], [9]])).astype(np.int32)
    return cfg, params, {"input_ids": ids, "attention_mask": attn, "loss_mask": attn}


@pytest.mark.parametrize("chunk", [4, 22, 256])
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_logprobs_and_entropy_equal_a_full_forward(tiny, chunk, temperature):
    cfg, params, batch = tiny
    logits, _ = forward(params, cfg, batch["input_ids"], batch["attention_mask"])
    ref = np.asarray(jax.nn.log_softmax(np.asarray(logits, np.float64) / temperature, -1))
    ids = batch["input_ids"]
    want = np.take_along_axis(ref[:, :-1], ids[:, 1:, None], -1)[..., 0]
    want_ent = -(np.exp(ref) * ref).sum(-1)[:, :-1]
    logp, ent = jax.jit(lambda p: token_logprobs(p, cfg, batch, chunk=chunk, temperature=temperature,
                                                 entropy=True))(params)
    assert logp.shape == ids.shape and (np.asarray(logp[:, 0]) == 0).all()
    np.testing.assert_allclose(np.asarray(logp[:, 1:]), want, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ent[:, 1:]), want_ent, atol=1e-5)


def test_chunking_keeps_the_gradient(tiny):
    cfg, params, batch = tiny
    w = target_weights(batch, "loss_mask")
    assert float(w[:, 0].sum()) == 0.0 and float(w.sum()) == float(batch["attention_mask"].sum() - 3)

    def grad(chunk):
        f = lambda p: jnp.sum(token_logprobs(p, cfg, batch, chunk=chunk) * w)
        return jax.jit(jax.grad(f))(params)

    for a, b in zip(jax.tree.leaves(grad(5)), jax.tree.leaves(grad(64))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("chunk", [6, 64])
def test_hand_written_backward_equals_autodiff_of_log_softmax(chunk):
    """Gradients of a mix of log-probs and entropies (GRPO's loss with an entropy bonus) at a
    temperature, against autodiff of the plain log-softmax formula."""
    from prism_jax.logprobs import chunked_logprobs

    rng = np.random.default_rng(3)
    h = jnp.asarray(rng.normal(size=(2, 13, 8)), jnp.float32)
    head = jnp.asarray(rng.normal(size=(8, 37)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 37, (2, 13)), jnp.int32)
    a, c = (jnp.asarray(rng.normal(size=(2, 13)), jnp.float32) for _ in range(2))

    def ours(h, head):
        logp, ent = chunked_logprobs(h, head, y, chunk=chunk, temperature=0.7, entropy=True)
        return jnp.sum(logp * a + ent * c)

    def reference(h, head):
        logp_all = jax.nn.log_softmax(h @ head / 0.7, axis=-1)
        logp = jnp.take_along_axis(logp_all, y[..., None], axis=-1)[..., 0]
        ent = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)
        return jnp.sum(logp * a + ent * c)

    np.testing.assert_allclose(float(ours(h, head)), float(reference(h, head)), rtol=1e-5)
    for g, want in zip(jax.grad(ours, (0, 1))(h, head), jax.grad(reference, (0, 1))(h, head)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(want), rtol=1e-4, atol=1e-5)


def test_only_the_needed_positions_are_scored(tiny):
    """With `where`, the needed positions equal the full scores, the rest are 0, and the gradient
    of a loss over them is unchanged (chunk 2 over 3 x 22 positions: most chunks are skipped)."""
    cfg, params, batch = tiny
    rng = np.random.default_rng(4)
    where = jnp.asarray((rng.random((3, 23)) < 0.2) * batch["attention_mask"], jnp.float32)
    where = where.at[2].set(0.0).at[:, 0].set(0.0)          # a row without targets
    full = token_logprobs(params, cfg, batch, chunk=2)
    some = token_logprobs(params, cfg, batch, chunk=2, where=where)
    np.testing.assert_allclose(np.asarray(some), np.asarray(full * where), atol=1e-6)

    def grad(**kw):
        return jax.jit(jax.grad(lambda p: jnp.sum(token_logprobs(p, cfg, batch, chunk=2, **kw)
                                                  * where)))(params)

    for a, b in zip(jax.tree.leaves(grad(where=where)), jax.tree.leaves(grad())):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("chunk", [5, 64])
def test_without_a_head_gradient_the_hidden_gradient_is_unchanged(chunk):
    from prism_jax.logprobs import chunked_logprobs

    rng = np.random.default_rng(5)
    h = jnp.asarray(rng.normal(size=(2, 11, 8)), jnp.float32)
    head = jnp.asarray(rng.normal(size=(8, 29)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 29, (2, 11)), jnp.int32)
    a = jnp.asarray(rng.normal(size=(2, 11)), jnp.float32)
    where = jnp.asarray(rng.random((2, 11)) < 0.5)
    for kw in ({}, {"where": where}):
        loss = lambda h, grad: jnp.sum(chunked_logprobs(h, head, y, chunk=chunk, temperature=0.8,
                                                        head_grad=grad, **kw) * a)
        np.testing.assert_allclose(float(loss(h, False)), float(loss(h, True)), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(jax.grad(loss)(h, False)),
                                   np.asarray(jax.grad(loss)(h, True)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("pack", [False, True])
@pytest.mark.parametrize("keep", [0, 2**30])
def test_gathered_chunks_sized_by_rows_keep_the_scores_and_gradients(monkeypatch, keep, pack):
    """`where` with the chunk shrunk to GATHER_ROWS / B positions (4 here, 6 chunks over 17
    positions, most without targets; packed: the 51 positions of all rows as one, chunks of 12),
    logits kept for the backward pass or recomputed: log-probs, entropies and both gradients
    equal autodiff of the plain log-softmax over all positions."""
    from prism_jax.logprobs import chunked_logprobs

    monkeypatch.setattr("prism_jax.logprobs.KEEP_BYTES", keep)
    monkeypatch.setattr("prism_jax.logprobs.GATHER_ROWS", 12)
    monkeypatch.setattr("prism_jax.logprobs.GATHER_MIN_CHUNK", 2)
    rng = np.random.default_rng(6)
    h = jnp.asarray(rng.normal(size=(3, 17, 8)), jnp.float32)
    head = jnp.asarray(rng.normal(size=(8, 31)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 31, (3, 17)), jnp.int32)
    where = jnp.asarray(rng.random((3, 17)) < 0.3).at[1].set(False).at[2, 9:].set(True)
    a, c = (jnp.asarray(rng.normal(size=(3, 17)), jnp.float32) for _ in range(2))

    def ours(h, head):
        logp, ent = chunked_logprobs(h, head, y, chunk=256, temperature=0.9, entropy=True,
                                     where=where, pack=pack)
        return jnp.sum(logp * a + ent * c), (logp, ent)

    def reference(h, head):
        logp_all = jax.nn.log_softmax(h @ head / 0.9, axis=-1)
        logp = jnp.take_along_axis(logp_all, y[..., None], axis=-1)[..., 0] * where
        ent = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1) * where
        return jnp.sum(logp * a + ent * c), (logp, ent)

    (_, got), grads = jax.value_and_grad(ours, (0, 1), has_aux=True)(h, head)
    (_, want), want_grads = jax.value_and_grad(reference, (0, 1), has_aux=True)(h, head)
    for g, w in zip(got + grads, want + want_grads):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-5)
