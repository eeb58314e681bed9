"""The GRPO loss pieces (prism_jax/losses.py) vs a numpy transcription and hand-computed values."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from prism_jax.losses import clipped_surrogate, low_var_kl, row_weights


def _np_loss(logp, old, adv, mask, clip):
    """Direct numpy transcription of the clipped objective with token-mean aggregation."""
    ratio = np.exp(logp - old)
    per = np.maximum(-adv[:, None] * ratio, -adv[:, None] * np.clip(ratio, 1 - clip, 1 + clip))
    clipped = (-adv[:, None] * np.clip(ratio, 1 - clip, 1 + clip)) > (-adv[:, None] * ratio)
    return (per * mask).sum() / mask.sum(), (clipped * mask).sum() / mask.sum()


def test_clipped_surrogate_matches_numpy():
    rng = np.random.default_rng(0)
    logp = rng.normal(-2, 0.5, (3, 7))
    old = logp + rng.normal(0, 0.3, (3, 7))
    adv = np.array([1.5, -0.7, 0.0])
    mask = (rng.random((3, 7)) < 0.7).astype(np.float64)
    per, clipped, _ = clipped_surrogate(jnp.asarray(logp), jnp.asarray(old), jnp.asarray(adv)[:, None],
                                        0.2)
    got = float(jnp.sum(per * mask) / mask.sum())
    got_frac = float(jnp.sum(clipped * mask) / mask.sum())
    want, want_frac = _np_loss(logp, old, adv, mask, 0.2)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(got_frac, want_frac)
    assert 0 < want_frac < 1  # both branches are exercised


def test_clip_higher_and_dual_clip_hand_computed():
    # ratios r = exp(logp - old) of 0.5, 1.1, 1.3, 4.0 and 5.0 under A = +1 and A = -1
    r = np.array([0.5, 1.1, 1.3, 4.0, 5.0])
    old = np.zeros(5)
    logp = np.log(r)
    surrogate = lambda a, **kw: [np.asarray(x) for x in clipped_surrogate(
        jnp.asarray(logp), jnp.asarray(old), jnp.float64(a), **kw)]
    # A = +1, clip 0.2 / clip-higher 0.28: loss = max(-r, -clip(r, 0.8, 1.28))
    loss, clipped, lower = surrogate(1.0, clip_low=0.2, clip_high=0.28)
    np.testing.assert_allclose(loss, [-0.5, -1.1, -1.28, -1.28, -1.28], rtol=1e-6)
    np.testing.assert_array_equal(clipped, [False, False, True, True, True])
    assert not lower.any()                     # dual-clip only acts on negative advantages
    # A = -1, symmetric clip 0.2: loss = max(r, clip(r, 0.8, 1.2)) = 0.8, 1.1, 1.3, 4, 5 (only
    # r = 0.5 takes the clip branch); dual clip c = 3 caps it at -A * c = 3 where it is larger.
    loss, clipped, lower = surrogate(-1.0, clip_low=0.2, clip_ratio_c=3.0)
    np.testing.assert_allclose(loss, [0.8, 1.1, 1.3, 3.0, 3.0], rtol=1e-6)
    np.testing.assert_array_equal(clipped, [True, False, False, False, False])
    np.testing.assert_array_equal(lower, [False, False, False, True, True])
    # without dual clip the large ratios pass through
    loss, _, _ = surrogate(-1.0, clip_low=0.2)
    np.testing.assert_allclose(loss, [0.8, 1.1, 1.3, 4.0, 5.0], rtol=1e-6)


def test_row_weights_hand_computed():
    counts, micro = [2, 3, 5], [0, 0, 1]
    # token-mean: every token of the mini-batch weighs 1/10
    np.testing.assert_allclose(row_weights(counts, micro, "token-mean"), [0.1, 0.1, 0.1])
    # verl's micro-batch token mean: micro 0 has 5 tokens, micro 1 has 5, over 2 micro-batches
    np.testing.assert_allclose(row_weights(counts, micro, "micro-token-mean"), [0.1, 0.1, 0.1])
    np.testing.assert_allclose(row_weights([1, 3, 4], micro, "micro-token-mean"),
                               [1 / 8, 1 / 8, 1 / 8])
    np.testing.assert_allclose(row_weights([1, 3, 6], [0, 1, 1], "micro-token-mean"),
                               [1 / 2, 1 / 18, 1 / 18])
    np.testing.assert_allclose(row_weights(counts, micro, "seq-mean-token-mean"),
                               [1 / 6, 1 / 9, 1 / 15])
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        row_weights(counts, micro, "sum")


def test_low_var_kl_matches_formula():
    logp, ref = np.array([-1.0, -2.0, -0.5]), np.array([-1.5, -1.0, -0.5])
    d = ref - logp
    np.testing.assert_allclose(low_var_kl(jnp.asarray(logp), jnp.asarray(ref)),
                               np.exp(d) - d - 1, rtol=1e-6)
