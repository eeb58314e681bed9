"""Batched text generation with a KV cache: prefill and the whole decode loop in one jit.

Prompts are left-padded to a bucketed length so every row's last prompt token sits in the last
column and one compiled program serves many prompt lengths. Decoding stops per row at an EOS id or
a stop sequence (e.g. the tokens of "</action>") and for the batch when all rows are done.

Where a decode step's time goes (bench/rollout.py --profile) decided the layout: the prompt is run
once without a cache and only its last position goes through the lm head; a step makes one pass
over the vocabulary (max, exp, sum) that serves both the recorded log-prob and sampling, which
draws one uniform number per row and inverts the CDF block by block (no sort, no Gumbel noise
over the vocabulary); top-p < 1 sorts only a top-k pre-selection, and a wider nucleus is found
by bisection over probability values instead of sorting the vocabulary.

Constrained decoding (``choices``): a row may be limited to a set of token sequences (e.g. the
tokens of "<action>X</action>" for each admissible action X). At each step the row draws only
among the next tokens of the sequences its emitted prefix still matches (a mask scattered from
an int32 [B, C, L] table, no trie on the host), so it ends on one of them; the log-prob it
records stays the unconstrained model's, the quantity GRPO's loss recomputes. A row may also be
limited to a multiset of tokens (``vocab``, each token usable as often as it occurs there: e.g. a
search query spelled from the words of the instruction, no word more often than it has them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from prism_jax.models.config import ModelConfig
from prism_jax.models.transformer import Params, forward, lm_head, prefill, unstack_layers

# top-p pre-selection: the nucleus is searched among the TOP_K most likely tokens and the whole
# vocabulary only in the steps where those do not reach top_p.
TOP_K = 256
# The vocabulary is cut into blocks of this many tokens for the two-level inverse CDF.
CDF_BLOCK = 256


@dataclass(frozen=True)
class SampleOutput:
    tokens: np.ndarray     # int32 [B, N], pad_id after a row stops
    logprobs: np.ndarray   # float32 [B, N], log p(token) under softmax(logits / temperature) (the
                           # distribution sampled from; temperature 1 when greedy), 0 after stop
    lengths: np.ndarray    # int32 [B], generated tokens per row, the stop token included
    stopped: np.ndarray    # bool [B], stopped by EOS / stop sequence (False: hit the length cap)


class DecodeState(NamedTuple):
    """The decode loop's carry (one `lax.while_loop` iteration emits one token per row)."""

    step: jax.Array        # int32 [], tokens emitted so far (the column written next)
    cache: dict            # KV cache (transformer.init_cache layout) holding prompt + emitted
    logits: jax.Array      # float32 [B, V], next-token logits of every row
    tokens: jax.Array      # int32 [B, N], emitted tokens, pad_id after a row stops
    logprobs: jax.Array    # float32 [B, N], their log-probs at the sampling temperature
    done: jax.Array        # bool [B], the row has stopped
    lengths: jax.Array     # int32 [B], tokens emitted when the row stopped (N while running)
    tail: jax.Array        # int32 [B, M], the last M tokens, matched against the stop table
    key: jax.Array         # PRNG key, split once per step
    alive: jax.Array | None = None  # bool [B, C], constrained decoding: the choices still matched
    budget: jax.Array | None = None  # int32 [B, V], constrained decoding: uses left per token
                                     # (-1: unlimited, 0: not allowed)


def bucket(n: int, multiple: int = 64) -> int:
    """Round a length up to a multiple (compile once per bucket, not per length)."""
    return max(multiple, -(-n // multiple) * multiple)


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, length: int | None = None,
             multiple: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Left-pad token lists to a common (bucketed) length -> ids, mask int32 [B, P]."""
    length = length or bucket(max(len(s) for s in seqs), multiple)
    ids = np.full((len(seqs), length), pad_id, np.int32)
    mask = np.zeros((len(seqs), length), np.int32)
    for i, s in enumerate(seqs):
        if len(s) > length:
            raise ValueError(f"prompt {i} has {len(s)} tokens, more than the length {length}")
        if len(s):
            ids[i, length - len(s):] = s
            mask[i, length - len(s):] = 1
    return ids, mask


def choice_table(choices: Sequence[Sequence[Sequence[int]]], multiple: int = 8) -> np.ndarray:
    """Per-row token sequences in an int32 [B, C, L] table, -1 after each sequence and in the
    unused entries; C is rounded up to a power of two and L to a multiple of `multiple` (few
    compiled programs). A row with no sequence is not constrained."""
    c = max([len(row) for row in choices] + [1])
    width = max([len(seq) for row in choices for seq in row] + [1])
    table = np.full((len(choices), 1 << (c - 1).bit_length(), bucket(width, multiple)), -1, np.int32)
    for i, row in enumerate(choices):
        for j, seq in enumerate(row):
            if not len(seq):
                raise ValueError(f"row {i}: choice {j} is empty")
            table[i, j, :len(seq)] = seq
    return table


def _stop_table(stop_sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """Stop sequences right-aligned in an int32 [K, M] table, -1 where shorter (K >= 1)."""
    seqs = [list(s) for s in stop_sequences if len(s)] or [[-2]]
    width = max(len(s) for s in seqs)
    table = np.full((len(seqs), width), -1, np.int32)
    for i, s in enumerate(seqs):
        table[i, width - len(s):] = s
    return table


# ------------------------------------------------------------------------------ one token per row
def _first_above(cdf: jax.Array, u: jax.Array, mass: jax.Array) -> jax.Array:
    """Per row, the first index i with cdf[i] > u, i.e. u falls in entry i's share -> int32 [B].

    cdf, mass [B, K] (cdf = cumsum(mass)), u [B]. When rounding leaves u >= cdf[-1], the last
    entry with mass (never an entry without: its cdf does not rise above the one before)."""
    above = cdf > u[:, None]
    last = mass.shape[1] - 1 - jnp.argmax((mass > 0)[:, ::-1], axis=1)
    return jnp.where(jnp.any(above, axis=1), jnp.argmax(above, axis=1), last).astype(jnp.int32)


def inverse_cdf(weights: jax.Array, u: jax.Array) -> jax.Array:
    """Index drawn with probability weights[b, i] / sum_i weights[b, i], for u [B] uniform in
    [0, 1) -> int32 [B]. weights float32 [B, V] >= 0.

    Two levels, so no cumulative sum runs over the whole vocabulary: pick the block of CDF_BLOCK
    entries that holds u's share of the total, then the entry within that block.
    """
    b, v = weights.shape
    pad = -v % CDF_BLOCK
    blocks = jnp.pad(weights, ((0, 0), (0, pad))).reshape(b, -1, CDF_BLOCK)
    block_mass = jnp.sum(blocks, axis=-1)                                  # [B, V / CDF_BLOCK]
    block_cdf = jnp.cumsum(block_mass, axis=-1)
    target = u * block_cdf[:, -1]
    i = _first_above(block_cdf, target, block_mass)
    pick = lambda x: jnp.take_along_axis(x, i[:, None], axis=1)[:, 0]
    inner = jnp.take_along_axis(blocks, i[:, None, None], axis=1)[:, 0]  # [B, CDF_BLOCK]
    rest = jnp.maximum(target - (pick(block_cdf) - pick(block_mass)), 0.0)
    j = _first_above(jnp.cumsum(inner, axis=-1), rest, inner)
    return i * CDF_BLOCK + j


def _nucleus(probs_sorted: jax.Array, top_p, u: jax.Array) -> jax.Array:
    """Position in a descending probs_sorted [B, K] drawn from its smallest prefix whose mass
    reaches top_p (at least one entry), renormalised -> int32 [B]."""
    keep = jnp.cumsum(probs_sorted, axis=-1) - probs_sorted < top_p
    mass = jnp.where(keep, probs_sorted, 0.0)
    cdf = jnp.cumsum(mass, axis=-1)
    return _first_above(cdf, u * cdf[:, -1], mass)


def _nucleus_threshold(p: jax.Array, top_p) -> jax.Array:
    """Per row, the smallest probability the nucleus keeps -> float32 [B], for p [B, V] summing
    to 1: token i is kept iff the mass of the tokens more likely than it is < top_p.

    The mass above x falls as x rises, so the boundary is found by bisection over the bit
    patterns of non-negative float32 values (ordered like the values): 32 passes over the
    vocabulary, exact, instead of sorting it.
    """
    as_float = lambda bits: jax.lax.bitcast_convert_type(bits, jnp.float32)

    def halve(_, bounds):
        lo, hi = bounds                                      # above(lo) >= top_p > above(hi)
        mid = lo + (hi - lo) // 2
        above = jnp.sum(jnp.where(p > as_float(mid)[:, None], p, 0.0), axis=-1)
        inside = above < top_p
        return jnp.where(inside, lo, mid), jnp.where(inside, mid, hi)

    top = jax.lax.bitcast_convert_type(jnp.max(p, axis=-1), jnp.int32)
    _, hi = jax.lax.fori_loop(0, 32, halve, (jnp.zeros_like(top), top))
    return as_float(hi)


def _top_p_token(e: jax.Array, total: jax.Array, top_p, u: jax.Array) -> jax.Array:
    """Nucleus sampling from unnormalised probabilities e [B, V] (sum `total` [B]) -> int32 [B].

    The nucleus is found among the top TOP_K entries; only when some row's top TOP_K hold less
    than top_p of its mass is the whole vocabulary searched (`_nucleus_threshold`, lax.cond), so
    the result is exact."""
    k = min(TOP_K, e.shape[1])
    top, idx = jax.lax.top_k(e / total[:, None], k)

    def from_top(_):
        return jnp.take_along_axis(idx, _nucleus(top, top_p, u)[:, None], axis=1)[:, 0]

    def whole(_):
        p = e / total[:, None]
        return inverse_cdf(jnp.where(p >= _nucleus_threshold(p, top_p)[:, None], p, 0.0), u)

    wide = jnp.any(jnp.sum(top, axis=-1) < top_p)
    return jax.lax.cond(wide, whole, from_top, None).astype(jnp.int32)


def pick_token(logits: jax.Array, key: jax.Array, temperature, top_p, *, greedy: bool,
               nucleus: bool) -> tuple[jax.Array, jax.Array]:
    """One token per row and its log-prob -> (int32 [B], float32 [B]).

    logits float32 [B, V]. Greedy: argmax, log-prob under softmax(logits). Otherwise a draw from
    softmax(logits / temperature), restricted to the top_p nucleus when `nucleus`; the log-prob is
    under softmax(logits / temperature) (not renormalised to the nucleus), the distribution
    GRPO's ratio uses.
    """
    # (logits - max) / temperature inside the exp: one pass over the vocabulary, no scaled copy
    inv = 1.0 if greedy else 1.0 / temperature
    top = jnp.max(logits, axis=-1, keepdims=True)
    e = jnp.exp((logits - top) * inv)
    total = jnp.sum(e, axis=-1)
    if greedy:
        tok = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    else:
        u = jax.random.uniform(key, (logits.shape[0],), jnp.float32)
        tok = _top_p_token(e, total, top_p, u) if nucleus else inverse_cdf(e, u)
    picked = jnp.take_along_axis(logits, tok[:, None], axis=-1)[:, 0]
    return tok, (picked - top[:, 0]) * inv - jnp.log(total)


def _constrain(logits: jax.Array, alive: jax.Array, column: jax.Array) -> jax.Array:
    """logits [B, V] with every token but the next ones of the still-matched choices set to
    -inf; rows without a matched choice (not constrained) unchanged. alive bool [B, C], column
    int32 [B, C] (the choices' tokens at this step, -1 past their end)."""
    live = alive & (column >= 0)
    rows = jnp.arange(logits.shape[0])[:, None]
    allowed = jnp.zeros(logits.shape, jnp.int32).at[rows, jnp.maximum(column, 0)].max(
        live.astype(jnp.int32)) > 0
    free = ~jnp.any(live, axis=1, keepdims=True)
    return jnp.where(allowed | free, logits, -jnp.inf)


def _logprob(logits: jax.Array, tok: jax.Array, inv) -> jax.Array:
    """log p(tok) under softmax(logits * inv) -> float32 [B]."""
    top = jnp.max(logits, axis=-1)
    total = jnp.sum(jnp.exp((logits - top[:, None]) * inv), axis=-1)
    picked = jnp.take_along_axis(logits, tok[:, None], axis=-1)[:, 0]
    return (picked - top) * inv - jnp.log(total)


# ------------------------------------------------------------------------------ the loop
@partial(jax.jit, static_argnames=("cfg", "max_new_tokens", "greedy", "nucleus", "compute_dtype"))
def _generate(params, cfg, prompt_ids, prompt_mask, key, temperature, top_p, stop_table, pad_id,
              choices, vocab, max_new_tokens, greedy, nucleus, compute_dtype):
    b, p = prompt_ids.shape
    dtype = compute_dtype or params["embed"].dtype
    with jax.named_scope("prefill"):
        hidden, cache = prefill(params, cfg, prompt_ids, prompt_mask, p + max_new_tokens,
                                compute_dtype=dtype)
        first_logits = (hidden[:, -1] @ lm_head(params).astype(dtype)).astype(jnp.float32)
    width = stop_table.shape[1]
    layers = unstack_layers(params)       # once per call, not once per token (see forward)

    def cond(s: DecodeState):
        return (s.step < max_new_tokens) & ~jnp.all(s.done)

    def body(s: DecodeState) -> DecodeState:
        key, sub = jax.random.split(s.key)
        alive, budget = s.alive, s.budget
        with jax.named_scope("sample"):
            if choices is None and vocab is None:
                tok, tok_logp = pick_token(s.logits, sub, temperature, top_p, greedy=greedy,
                                           nucleus=nucleus)
            else:
                masked = s.logits if vocab is None else jnp.where(budget != 0, s.logits, -jnp.inf)
                if choices is not None:
                    column = jax.lax.dynamic_index_in_dim(
                        choices, jnp.minimum(s.step, choices.shape[2] - 1), axis=2, keepdims=False)
                    column = jnp.where(s.step < choices.shape[2], column, -1)
                    masked = _constrain(masked, alive, column)
                tok, _ = pick_token(masked, sub, temperature, top_p, greedy=greedy,
                                    nucleus=nucleus)
                tok_logp = _logprob(s.logits, tok, 1.0 if greedy else 1.0 / temperature)
                if choices is not None:
                    alive = alive & (column == tok[:, None])
                if vocab is not None:
                    rows = jnp.arange(b)
                    left = budget[rows, tok]
                    budget = budget.at[rows, tok].set(jnp.where((left > 0) & ~s.done, left - 1, left))
        tok = jnp.where(s.done, pad_id, tok)
        tail = jnp.concatenate([s.tail[:, 1:], tok[:, None]], axis=1)
        hit = jnp.all((stop_table[None] == -1) | (tail[:, None, :] == stop_table[None]), axis=-1)
        done = s.done | jnp.any(hit, axis=-1)
        step_mask = (~s.done).astype(jnp.int32)[:, None]
        logits, cache = forward(layers, cfg, tok[:, None], step_mask, cache=s.cache,
                                compute_dtype=dtype)
        return DecodeState(
            step=s.step + 1, cache=cache, logits=logits[:, -1],
            tokens=s.tokens.at[:, s.step].set(tok),
            logprobs=s.logprobs.at[:, s.step].set(jnp.where(s.done, 0.0, tok_logp)),
            done=done, lengths=jnp.where(done & ~s.done, s.step + 1, s.lengths), tail=tail, key=key,
            alive=alive, budget=budget)

    state = DecodeState(
        step=jnp.int32(0), cache=cache, logits=first_logits,
        tokens=jnp.full((b, max_new_tokens), pad_id, jnp.int32),
        logprobs=jnp.zeros((b, max_new_tokens), jnp.float32), done=jnp.zeros((b,), bool),
        lengths=jnp.full((b,), max_new_tokens, jnp.int32),
        tail=jnp.full((b, width), -3, jnp.int32), key=key,
        alive=None if choices is None else choices[:, :, 0] >= 0, budget=vocab)
    out = jax.lax.while_loop(cond, body, state)
    return out.tokens, out.logprobs, out.done, out.lengths


def generate(params: Params, cfg: ModelConfig, prompt_ids, prompt_mask, *, max_new_tokens: int,
             temperature: float = 0.0, top_p: float = 1.0, eos_ids: Sequence[int] = (),
             stop_sequences: Sequence[Sequence[int]] = (), pad_id: int = 0, seed: int | jax.Array = 0,
             compute_dtype=None, choices=None, vocab=None) -> SampleOutput:
    """Sample continuations of left-padded prompts.

    Args:
      prompt_ids, prompt_mask: int32 [B, P], left-padded (see `left_pad`).
      max_new_tokens: length cap N.
      temperature: 0 for greedy decoding; otherwise tokens are drawn from softmax(logits /
        temperature) and their log-probs recorded under that distribution.
      top_p: nucleus mass (1 samples from the whole distribution).
      eos_ids / stop_sequences: a row stops after emitting any EOS id or any stop sequence.
      choices: constrained decoding. Per row, the token sequences it may emit (a list of int
        lists; an empty list leaves the row free), or a `choice_table`. A constrained row draws
        from the model's distribution restricted at each step to the next tokens of the choices
        its prefix still matches, so it emits one of them whole (each should end with a stop
        sequence or EOS, and fit max_new_tokens); its log-probs are under the unconstrained
        distribution.
      vocab: per row, the multiset of tokens it may emit: a list of token ids, each usable as
        often as it occurs there (an empty list leaves the row free), or an int [B, V] table of
        uses (-1 unlimited, 0 not allowed); combined with `choices` a row must satisfy both
        (give a row with choices an empty list here). Log-probs stay unconstrained as with
        `choices`.
    """
    stops = [[int(e)] for e in eos_ids] + [list(s) for s in stop_sequences]
    key = jax.random.key(seed) if isinstance(seed, int) else seed
    greedy = temperature == 0.0
    tokens, logprobs, done, lengths = _generate(
        params, cfg, jnp.asarray(prompt_ids, jnp.int32), jnp.asarray(prompt_mask, jnp.int32), key,
        jnp.float32(max(temperature, 1e-6)), jnp.float32(top_p), jnp.asarray(_stop_table(stops)),
        jnp.int32(pad_id), _choices(choices, len(prompt_ids), max_new_tokens),
        _vocab(vocab, len(prompt_ids), cfg.vocab_size),
        max_new_tokens=max_new_tokens, greedy=greedy,
        nucleus=not greedy and top_p < 1.0, compute_dtype=compute_dtype)
    tokens, logprobs, done, lengths = map(np.asarray, jax.device_get((tokens, logprobs, done, lengths)))
    return SampleOutput(tokens, logprobs, lengths, done)


def _choices(choices, rows: int, max_new_tokens: int):
    """generate's `choices` as a device table (None: unconstrained)."""
    if choices is None:
        return None
    table = choices if isinstance(choices, np.ndarray) and choices.ndim == 3 else choice_table(choices)
    if table.shape[0] != rows:
        raise ValueError(f"choices for {table.shape[0]} rows, prompts for {rows}")
    longest = int(((table >= 0).sum(axis=2)).max(initial=0))
    if longest > max_new_tokens:
        raise ValueError(f"a choice has {longest} tokens, more than max_new_tokens={max_new_tokens}")
    return jnp.asarray(table, jnp.int32)


def _vocab(vocab, rows: int, size: int):
    """generate's `vocab` as a device int32 [B, V] table of uses (None: unconstrained)."""
    if vocab is None:
        return None
    if isinstance(vocab, np.ndarray) and vocab.ndim == 2:
        table = vocab.astype(np.int32)
    else:
        table = np.zeros((len(vocab), size), np.int32)
        for i, ids in enumerate(vocab):
            ids = np.asarray(list(ids), np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= size):
                raise ValueError(f"row {i}: a token id outside the vocabulary [0, {size})")
            if ids.size:
                np.add.at(table[i], ids, 1)
            else:
                table[i] = -1
    if table.shape != (rows, size):
        raise ValueError(f"vocab table of shape {table.shape}, want ({rows}, {size})")
    return jnp.asarray(table)
