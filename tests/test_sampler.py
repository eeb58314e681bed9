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


# ------------------------------------------------------------------------------ constrained decoding
STOP = 1   # the rows stop at this token (every choice ends with it)


def _choice_rows():
    """Per row: its choices (shared prefixes, different lengths, all ending in STOP); the last
    row is free."""
    return [[[5, 6, 7, STOP], [5, 6, STOP], [5, 9, 9, 9, STOP], [12, STOP]],
            [[20, 21, STOP], [22, STOP], [20, 23, 24, STOP]],
            [[30, STOP]],
            []]


def _torch_logits(ref, seq):
    with torch.no_grad():
        return ref(torch.tensor([seq])).logits[0, -1].double()


def test_constrained_greedy_equals_a_torch_reference(qwen3):
    """Each constrained row emits the choice a step-by-step argmax over the still-matching
    choices' next tokens picks (transformers' logits); its log-probs are the unconstrained
    model's; the free row decodes as plain greedy generate."""
    model, ref = qwen3
    rng = np.random.default_rng(1)
    rows = _choice_rows()
    prompts = [rng.integers(2, VOCAB, n).tolist() for n in (6, 9, 4, 7)]
    ids, mask = left_pad(prompts, pad_id=0, multiple=16)
    out = generate(model.params(), model.config, ids, mask, max_new_tokens=6, eos_ids=[STOP],
                   choices=rows)
    for i, (p, choices) in enumerate(zip(prompts, rows)):
        seq, logps = list(p), []
        for t in range(6):
            logits = _torch_logits(ref, seq)
            live = [c for c in choices if c[:t] == seq[len(p):]]
            allowed = sorted({c[t] for c in live}) if live else range(VOCAB)
            tok = max(allowed, key=lambda k: float(logits[k]))
            logps.append(float(torch.log_softmax(logits, -1)[tok]))
            seq.append(tok)
            if tok == STOP:
                break
        n = len(seq) - len(p)
        assert out.lengths[i] == n and out.tokens[i, :n].tolist() == seq[len(p):], i
        if choices:
            assert seq[len(p):] in choices
        np.testing.assert_allclose(out.logprobs[i, :n], logps, atol=1e-4)


def test_constrained_draws_follow_the_restricted_distribution(qwen3):
    """At temperature 0.8 a row's choice is drawn with probability prod_t softmax(logits/0.8)
    renormalised over the allowed next tokens (transformers' logits): chi-square over 2,048
    draws with a fixed seed, so the verdict cannot change between runs."""
    model, ref = qwen3
    prompt = [7, 3, 11, 5, 2]
    choices = _choice_rows()[0]
    n = 2048
    ids, mask = left_pad([prompt] * n, pad_id=0, multiple=8)
    out = generate(model.params(), model.config, ids, mask, max_new_tokens=6, eos_ids=[STOP],
                   temperature=0.8, seed=4, choices=[choices] * n)
    drawn = [out.tokens[i, :out.lengths[i]].tolist() for i in range(n)]
    assert all(d in choices for d in drawn)
    probs = []
    for c in choices:
        p = 1.0
        for t in range(len(c)):
            logits = _torch_logits(ref, prompt + c[:t]) / 0.8
            allowed = sorted({o[t] for o in choices if o[:t] == c[:t]})
            p *= float(torch.softmax(logits[allowed], -1)[allowed.index(c[t])])
        probs.append(p)
    counts = np.array([sum(d == c for d in drawn) for c in choices])
    assert _chi2_pvalue_counts(counts, np.array(probs)) > 1e-3, (counts, probs)


def _chi2_pvalue_counts(counts, probs):
    expected = probs / probs.sum() * counts.sum()
    return stats.chisquare(counts, expected).pvalue


def test_token_budgets_equal_a_torch_reference(qwen3):
    """vocab: a row emits only tokens of its multiset, each at most as often as it occurs there
    (a step-by-step argmax over the tokens with uses left, transformers' logits); a row with an
    empty list and a row with choices as well are checked alongside."""
    model, ref = qwen3
    rng = np.random.default_rng(2)
    vocab = [[5, 5, 6, 7, 9, STOP], [11, 12, 13, 13, 13, 14, STOP], [], [20, 21, 22, STOP]]
    choices = [[], [], [], [[20, 21, STOP], [20, 22, 21, STOP], [30, STOP]]]
    prompts = [rng.integers(2, VOCAB, n).tolist() for n in (5, 8, 6, 3)]
    ids, mask = left_pad(prompts, pad_id=0, multiple=16)
    out = generate(model.params(), model.config, ids, mask, max_new_tokens=7, eos_ids=[STOP],
                   choices=choices, vocab=vocab)
    for i, p in enumerate(prompts):
        seq, logps = list(p), []
        left = {t: vocab[i].count(t) for t in vocab[i]}
        for t in range(7):
            logits = _torch_logits(ref, seq)
            allowed = [k for k, n in left.items() if n > 0] if vocab[i] else list(range(VOCAB))
            live = [c for c in choices[i] if c[:t] == seq[len(p):]]
            if live:
                allowed = [k for k in allowed if k in {c[t] for c in live}]
            tok = max(allowed, key=lambda k: float(logits[k]))
            logps.append(float(torch.log_softmax(logits, -1)[tok]))
            seq.append(tok)
            if vocab[i]:
                left[tok] -= 1
            if tok == STOP:
                break
        n = len(seq) - len(p)
        assert out.lengths[i] == n and out.tokens[i, :n].tolist() == seq[len(p):], i
        np.testing.assert_allclose(out.logprobs[i, :n], logps, atol=1e-4)
    # the multiset rows really were limited (the model left free would pick other tokens)
    assert all(out.tokens[0, :out.lengths[0]].tolist().count(k) <= vocab[0].count(k)
               for k in set(out.tokens[0, :out.lengths[0]].tolist()))
