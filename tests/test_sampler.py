"""The sampler: greedy tokens and log-probs equal transformers' generate; draws follow the
distribution (inverse CDF, nucleus from the top-k or the whole vocabulary); recorded log-probs are
those of softmax(logits / temperature)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from scipy import stats

from hf_models import VOCAB, build
from prism_jax.models import load_pretrained
from prism_jax.sampler import TOP_K, generate, inverse_cdf, left_pad, pick_token

pytestmark = pytest.mark.usefixtures("highest_precision")


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen3")
    ref = build("qwen3", path, seed=3)
    return load_pretrained(path), ref


def test_greedy_tokens_and_logprobs_equal_generate(qwen3):
    model, ref = qwen3
    rng = np.random.default_rng(0)
    prompts = [rng.integers(2, VOCAB, n).tolist() for n in (4, 11, 7)]
    ids, mask = left_pad(prompts, pad_id=0, multiple=16)
    out = generate(model.params(), model.config, ids, mask, max_new_tokens=9)
    for i, p in enumerate(prompts):
        with torch.no_grad():
            hf = ref.generate(torch.tensor([p]), max_new_tokens=9, do_sample=False, eos_token_id=None,
                              pad_token_id=0, output_logits=True, return_dict_in_generate=True)
        tokens = hf.sequences[0, len(p):]
        logp = torch.stack([torch.log_softmax(l[0].float(), -1)[t] for l, t in zip(hf.logits, tokens)])
        assert out.tokens[i].tolist() == tokens.tolist()
        np.testing.assert_allclose(out.logprobs[i], logp.numpy(), atol=1e-4)


def test_sampled_logprobs_are_under_the_sampling_temperature(qwen3):
    model, _ = qwen3
    prompts = [[3, 4, 5], [9, 10, 11, 12, 13]]
    ids, mask = left_pad(prompts, pad_id=0, multiple=8)
    out = generate(model.params(), model.config, ids, mask, max_new_tokens=5, temperature=0.7,
                   top_p=0.95, seed=1)
    for i, p in enumerate(prompts):
        full = np.asarray(p + out.tokens[i].tolist())
        logits = np.asarray(model(full[None]), np.float64)[0] / 0.7
        logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
            - logits.max(-1, keepdims=True)
        np.testing.assert_allclose(out.logprobs[i], [logp[len(p) - 1 + j, full[len(p) + j]]
                                                     for j in range(5)], atol=1e-4)


def _draws(fn, n, seed=0):
    keys = jax.random.split(jax.random.key(seed), n)
    return np.asarray(jax.jit(jax.vmap(fn))(keys))


def _chi2_pvalue(samples, probs):
    counts = np.bincount(samples, minlength=len(probs))
    assert counts[probs == 0].sum() == 0, "drew a token of probability 0"
    keep = probs > 0
    expected = np.asarray(probs[keep], np.float64)
    return stats.chisquare(counts[keep], expected / expected.sum() * counts.sum()).pvalue


def test_inverse_cdf_draws_follow_the_weights():
    # 700 entries: not a multiple of the CDF block, so the padded last block is exercised
    rng = np.random.default_rng(0)
    w = rng.gamma(0.3, size=700).astype(np.float32)
    w[rng.choice(700, 100, replace=False)] = 0.0
    w[-1] = 0.0                      # a trailing zero: rounding past the end must not pick it
    weights = jnp.asarray(np.tile(w, (2, 1)))
    samples = _draws(lambda k: inverse_cdf(weights, jax.random.uniform(k, (2,))), 40_000)
    assert _chi2_pvalue(samples[:, 0], w / w.sum()) > 1e-4
    assert _chi2_pvalue(samples[:, 1], w / w.sum()) > 1e-4
    # u = 1 (past the CDF, as rounding may leave it) lands in the last entry with mass
    last = inverse_cdf(weights, jnp.ones((2,), jnp.float32))
    assert (np.asarray(last) == np.flatnonzero(w)[-1]).all()


def _nucleus_probs(p, top_p):
    order = np.argsort(-p, kind="stable")
    keep = np.cumsum(p[order]) - p[order] < top_p
    out = np.zeros_like(p)
    out[order[keep]] = p[order[keep]]
    return out / out.sum()


@pytest.mark.parametrize("wide", [False, True])
def test_top_p_draws_follow_the_nucleus(wide):
    # wide: a flat distribution whose top-k pre-selection holds less than top_p, so the nucleus
    # is searched over the whole vocabulary; narrow: a peaked one, answered from the top-k alone
    rng = np.random.default_rng(1)
    v = 4 * TOP_K
    logits = rng.normal(0, 0.3 if wide else 3.0, v).astype(np.float32)
    top_p = 0.9
    p = np.exp(logits - logits.max())
    p /= p.sum()
    top_mass = np.sort(p)[::-1][:TOP_K].sum()
    assert (top_mass < top_p) == wide
    row = jnp.asarray(logits[None])
    samples = _draws(lambda k: pick_token(row, k, 1.0, top_p, greedy=False, nucleus=True)[0][0],
                     30_000)
    assert _chi2_pvalue(samples, _nucleus_probs(p, top_p)) > 1e-4


def test_full_distribution_draws_at_a_temperature():
    logits = jnp.asarray(np.random.default_rng(2).normal(0, 2, (1, 300)), jnp.float32)
    samples = _draws(lambda k: pick_token(logits, k, 0.5, 1.0, greedy=False, nucleus=False)[0][0],
                     30_000)
    p = np.asarray(jax.nn.softmax(np.asarray(logits[0], np.float64) / 0.5))
    assert _chi2_pvalue(samples, p) > 1e-4
