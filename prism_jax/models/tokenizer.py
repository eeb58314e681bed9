"""Hugging Face tokenizers: loading, chat rendering with assistant loss masks, and training one.

The loss mask of a chat is 1 exactly on the tokens of its assistant turns: the text the chat
template renders from the message's content, plus the end-of-turn token(s) the template emits
right after it (``<|im_end|>``, ``<|eot_id|>``, ...). Headers, system and user turns get 0.

Real templates rarely carry ``{% generation %}`` markers and some rewrite assistant turns
(Qwen3 strips ``<think>`` blocks from earlier turns and inserts an empty one in the last;
Llama 3 trims whitespace and dates the system prompt), so spans are found by rendering the
chat again with each assistant content replaced by a unique sentinel string: the text the
template lays around the sentinels is the scaffolding, and what the real rendering has in
their place is the rendered content. Where the scaffolding itself depends on the content, a
turn is located instead as the text that changes when only its content is replaced. The
end-of-turn text is what the template closes the turn with when the chat ends there.
Character spans become token spans through the fast tokenizer's offset mapping. Anything
that cannot be located unambiguously raises `TokenizerError`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers,
                        processors, trainers)
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Added (non-special) tokens: they survive skip_special_tokens decoding and always tokenize as
# one piece, so the action format costs the model two tokens per turn.
TAG_TOKENS = ("<think>", "</think>", "<action>", "</action>")

# ChatML with `{% generation %}` around each assistant content and its end-of-turn token, so
# transformers' `return_assistant_tokens_mask=True` marks the same tokens as `encode_chat`.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")

# Two sentinel families from Unicode private-use code points: no real text contains them and
# no template trims them. Their first and last characters differ between the families, so a
# content character that happens to equal a sentinel's first (last) character cannot extend
# the common prefix (suffix) with both renderings.
_SENTINELS = ("\ue000{}\ue001", "\ue002{}\ue003")


class TokenizerError(ValueError):
    """A tokenizer directory or chat template that cannot be used as it is."""


def load_tokenizer(path: str | os.PathLike, vocab_size: int | None = None) -> PreTrainedTokenizerBase:
    """Load the tokenizer of a local Hugging Face directory (no downloads, no remote code).

    Raises `TokenizerError` if the directory is missing, holds no tokenizer files, the
    tokenizer is not a fast one (offset mappings are needed for the loss masks), it has no
    chat template, or it has more ids than `vocab_size` (the model's embedding rows: a larger
    id would be clamped silently by JAX's gather, so the model would read the wrong row).
    """
    root = Path(path)
    if not root.is_dir():
        raise TokenizerError(f"{root}: no such tokenizer directory")
    if not any((root / name).is_file() for name in _TOKENIZER_FILES):
        raise TokenizerError(
            f"{root}: no tokenizer files (expected one of {', '.join(_TOKENIZER_FILES)})")
    try:
        tokenizer = AutoTokenizer.from_pretrained(root, local_files_only=True,
                                                  trust_remote_code=False)
    except Exception as e:  # transformers and tokenizers raise many kinds on malformed files
        raise TokenizerError(f"{root}: cannot load the tokenizer: {type(e).__name__}: {e}") from e
    if not tokenizer.is_fast:
        raise TokenizerError(
            f"{root}: {type(tokenizer).__name__} is not a fast tokenizer; a tokenizer.json is "
            "needed to map assistant text to tokens")
    if not tokenizer.chat_template:
        raise TokenizerError(
            f"{root}: the tokenizer has no chat template (chat_template.jinja or "
            "'chat_template' in tokenizer_config.json)")
    if vocab_size is not None and len(tokenizer) > vocab_size:
        raise TokenizerError(
            f"{root}: the tokenizer has {len(tokenizer)} ids (added tokens included) but the "
            f"model's vocabulary has {vocab_size} rows; this tokenizer belongs to another model")
    return tokenizer


def _render(tokenizer, messages: Sequence[dict], add_generation_prompt: bool,
            enable_thinking: bool | None = None) -> str:
    # Templates that know `enable_thinking` (Qwen3's) change the generation prompt with it;
    # others ignore the extra variable.
    extra = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
    return tokenizer.apply_chat_template(list(messages), tokenize=False,
                                         add_generation_prompt=add_generation_prompt, **extra)


def _with_contents(messages: Sequence[dict], contents: dict[int, str]) -> list[dict]:
    """A copy of ``messages`` with message ``i``'s content replaced by ``contents[i]``."""
    return [dict(m, content=contents[i]) if i in contents else m for i, m in enumerate(messages)]


def _common_prefix_len(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search over C-level slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix_len(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:] == b[len(b) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _scaffolding(rendered: str, sentinels: list[str]) -> list[str] | None:
    """The template text around the sentinels, ``[T0, T1, ..., Tm]`` for m sentinels, or None
    when a sentinel is missing, repeated or out of order (the template changed it)."""
    pieces, pos = [], 0
    for s in sentinels:
        if rendered.count(s) != 1:
            return None
        i = rendered.find(s)
        if i < pos:
            return None
        pieces.append(rendered[pos:i])
        pos = i + len(s)
    pieces.append(rendered[pos:])
    return pieces


def _match_slots(text: str, pieces: list[str]) -> list[tuple[int, int]] | None:
    """Character slots ``[(start, end)] * m`` with ``text == T0 X1 T1 ... Xm Tm``, or None
    when there is no such split or more than one (some content contains scaffolding text).

    The leftmost and the rightmost splits bound every other split; if they coincide, the split
    is unique."""
    first, last = pieces[0], pieces[-1]
    if not (text.startswith(first) and text.endswith(last)):
        return None
    lo, hi = len(first), len(text) - len(last)
    left, p = [], lo
    for piece in pieces[1:-1]:
        q = text.find(piece, p, hi)
        if q < 0:
            return None
        left.append((p, q))
        p = q + len(piece)
    if p > hi:
        return None
    left.append((p, hi))
    right, e = [], hi
    for piece in reversed(pieces[1:-1]):
        q = text.rfind(piece, lo, e)
        if q < 0:
            return None
        right.append((q + len(piece), e))
        e = q
    right.append((lo, e))
    return left if left == right[::-1] else None


def _scaffold_slots(tokenizer, text: str, messages: Sequence[dict], turns: list[int],
                    add_generation_prompt: bool) -> list[tuple[int, int]] | None:
    """Slots of ``turns`` in ``text``, from renderings where their contents are sentinels; None
    when the template lays out the scaffolding differently for the real contents."""
    scaffolds = []
    for family in _SENTINELS:
        sentinels = [family.format(i) for i in turns]
        rendered = _render(tokenizer, _with_contents(messages, dict(zip(turns, sentinels))),
                           add_generation_prompt)
        scaffolds.append(_scaffolding(rendered, sentinels))
    if scaffolds[0] is None or scaffolds[0] != scaffolds[1]:
        return None
    return _match_slots(text, scaffolds[0])


def _diff_slot(tokenizer, text: str, messages: Sequence[dict], i: int,
               add_generation_prompt: bool) -> tuple[int, int]:
    """The characters of ``text`` that depend on message ``i``'s content: compare ``text`` with
    renderings where only that content is a sentinel."""
    starts, ends = [], []
    for family in _SENTINELS:
        sentinel = family.format(i)
        other = _render(tokenizer, _with_contents(messages, {i: sentinel}), add_generation_prompt)
        if other.count(sentinel) != 1:
            raise TokenizerError(
                f"the chat template does not render the content of message {i} (assistant) "
                "verbatim exactly once; cannot locate its tokens")
        at = other.find(sentinel)
        prefix = min(_common_prefix_len(text, other), at)
        suffix = min(_common_suffix_len(text, other), len(other) - at - len(sentinel),
                     len(text) - prefix)
        starts.append(prefix)
        ends.append(len(text) - suffix)
    return min(starts), max(ends)


def _end_of_turn(tokenizer, messages: Sequence[dict], i: int, after: str) -> str:
    """The end-of-turn text the template emits right after assistant message ``i``.

    Rendering the chat up to and including message ``i`` (its content a sentinel) shows what
    closes the turn; its overlap with what actually follows the content in the full chat
    (``after``) is the end-of-turn text. Trailing whitespace (ChatML's newline after
    ``<|im_end|>``) is layout the model never generates, so it is left out."""
    sentinel = _SENTINELS[0].format(i)
    closed = _render(tokenizer, _with_contents(messages[:i + 1], {i: sentinel}), False)
    if closed.count(sentinel) != 1:
        raise TokenizerError(
            f"the chat template does not render the content of message {i} (assistant) "
            "verbatim exactly once; cannot locate its end-of-turn token")
    closing = closed[closed.find(sentinel) + len(sentinel):]
    return after[:_common_prefix_len(after, closing)].rstrip()


def assistant_char_spans(tokenizer, messages: Sequence[dict], *,
                         add_generation_prompt: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """Render ``messages`` with the tokenizer's chat template and locate the assistant turns.

    Returns ``(text, spans)``: one ``(start, end)`` character span of ``text`` per assistant
    message, in order, covering its rendered content and the end-of-turn text after it.
    """
    text = _render(tokenizer, messages, add_generation_prompt)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not turns:
        return text, []
    # Templates that lay out a turn differently for its real content do so for the turns after
    # the last user message (Qwen3 rebuilds their <think> blocks). If matching every turn
    # fails, those turns keep their real content (it becomes part of the scaffolding) and are
    # located by diffing, message by message; if that fails too, every turn is diffed.
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    early = [i for i in turns if i < last_user]
    found: dict[int, tuple[int, int]] = {}
    for matched in (turns, early) if 0 < len(early) < len(turns) else (turns,):
        slots = _scaffold_slots(tokenizer, text, messages, matched, add_generation_prompt)
        if slots is not None:
            found = dict(zip(matched, slots))
            break
    slots = [found[i] if i in found else
             _diff_slot(tokenizer, text, messages, i, add_generation_prompt) for i in turns]
    if any(b[0] < a[1] for a, b in zip(slots, slots[1:])):
        raise TokenizerError("assistant turns overlap in the rendered chat; cannot locate "
                             "their tokens")
    spans = []
    for i, (start, end) in zip(turns, slots):
        spans.append((start, end + len(_end_of_turn(tokenizer, messages, i, text[end:]))))
    return text, spans


def _spans_to_token_mask(offsets: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """1 on every token overlapping a character span (a token that straddles a span's edge
    belongs to it, as in transformers' own assistant masks)."""
    mask = np.zeros(len(offsets), np.int32)
    starts, ends = offsets[:, 0], offsets[:, 1]
    for start, end in spans:
        if start == end:
            continue
        hit = np.flatnonzero((starts < end) & (ends > start) & (ends > starts))
        if hit.size == 0:
            raise TokenizerError(f"no token covers characters {start}:{end} of the rendered chat")
        mask[hit[0]:hit[-1] + 1] = 1
    return mask


def encode_chat(tokenizer, messages: Sequence[dict], *, add_generation_prompt: bool = False,
                last_turn_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Tokenise a chat with the tokenizer's own template.

    Args:
      messages: ``[{"role": "system"|"user"|"assistant", "content": str}, ...]``.
      add_generation_prompt: append the header of a new assistant turn.
      last_turn_only: mark only the last assistant turn (earlier ones are context).
    Returns:
      ``(ids, loss_mask)``, both int32 ``[n]``: ``loss_mask`` is 1 on the tokens of assistant
      turns (content and end-of-turn token), 0 elsewhere.
    """
    text, spans = assistant_char_spans(tokenizer, messages,
                                       add_generation_prompt=add_generation_prompt)
    if last_turn_only:
        spans = spans[-1:]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = np.asarray(enc["input_ids"], np.int32)
    offsets = np.asarray(enc["offset_mapping"], np.int64).reshape(-1, 2)
    return ids, _spans_to_token_mask(offsets, spans)


def render_prompt_ids(tokenizer, messages: Sequence[dict], *,
                      enable_thinking: bool | None = None) -> np.ndarray:
    """Token ids int32 ``[n]`` of the prompt for the next assistant turn of ``messages``: the
    chat template with its generation prompt (Qwen3's adds an empty ``<think>`` block when
    ``enable_thinking`` is False)."""
    text = _render(tokenizer, messages, True, enable_thinking)
    return np.asarray(tokenizer(text, add_special_tokens=False)["input_ids"], np.int32)


def end_of_turn(tokenizer, messages: Sequence[dict]) -> str:
    """The text the chat template closes an assistant turn with after ``messages``
    (``<|im_end|>``, ``<|eot_id|>``, ...; trailing layout whitespace left out)."""
    sentinel = _SENTINELS[0].format(len(messages))
    rendered = _render(tokenizer, [*messages, {"role": "assistant", "content": sentinel}], False)
    if rendered.count(sentinel) != 1:
        raise TokenizerError("the chat template does not render an assistant turn's content "
                             "verbatim exactly once; cannot find its end-of-turn text")
    return rendered.split(sentinel, 1)[1].rstrip()


def encode_continuation(tokenizer, prompt: Sequence[dict], response: str, *,
                        enable_thinking: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A training example that continues exactly the prompt a rollout renders.

    ``ids = render_prompt_ids(prompt) + tokens(response) + tokens(end of turn)``: the prefix is
    token for token what the policy is shown at inference (rendering the whole chat instead
    would let the template rewrite the last turn: Qwen3 moves a ``<think>`` block and inserts
    an empty one), and the response is tokenised alone, as the sampler produces it.
    Returns ``(ids, loss_mask)`` int32 ``[n]``, the mask 1 on the response and end-of-turn
    tokens.
    """
    head = render_prompt_ids(tokenizer, prompt, enable_thinking=enable_thinking)
    body = tokenizer(response + end_of_turn(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    ids = np.concatenate([head, np.asarray(body, np.int32)]).astype(np.int32)
    mask = np.concatenate([np.zeros(len(head), np.int32), np.ones(len(body), np.int32)])
    return ids, mask


# Word-level pieces: a word with its leading space, a run of punctuation with its leading
# space, or a run of whitespace; a code (a word of 8 or more letters and digits with a digit
# in it, such as a product id) is split after its first two characters, so every product id
# starts with the same piece (" b0" + "ungl8zd8") and naming one from the page is one copy: the
# piece that follows " b0" there. Decoding concatenates the pieces.
_WORD_PIECES = (r" ?(?<![^\W_])(?=[^\W_]*\d)[^\W_]{2}(?=[^\W_]{6})"
                r"| ?[^\W_]+| ?[^\w\s]+| ?_+|\s+")
# A word right after an opening bracket or an opening quote is read as if a space preceded
# it, so the argument of an action (`click[b0ungl8zd8]`, `click[buy now]`, `search[window
# curtains]`) is the same tokens as the words on the page, whose elements verl-agent's prompt
# quotes (`'B0UNGL8ZD8' [SEP] 'Buy Now'`): copying from the page is copying tokens. Decoding
# drops the space again, so the model's action reads as written. (A quote is opening after
# whitespace, "[" or "(", so "i'm" and "don't" are left alone.)
_OPENING = ((r"\[(?=[^\s])", "[ ", r"\[ ", "["),
            (r"(?<![^\s\[(])'(?=[^\s])", "' ", r"(?<![^\s\[(])' ", "'"))
_UNK = "<unk>"
# Whitespace every chat has (the chat template's newlines), whatever the corpus shows.
_ALWAYS = (" ", "\n", "\n\n")


def _word_level(corpus: Iterable[str], reserved: list[str], vocab_size: int) -> Tokenizer:
    """A lowercasing word-level tokenizer: the `vocab_size` most frequent pieces of ``corpus``
    (ties by first occurrence), every byte-free piece outside it `<unk>`.

    Text round-trips exactly except that a space right after ``[`` or an opening quote is
    dropped in decoding (``"[ x"`` decodes as ``"[x"``), the price of reading ``[x`` as ``[`` +
    `` x``."""
    normalizer = normalizers.Sequence(
        [*(normalizers.Replace(Regex(find), put) for find, put, _, _ in _OPENING),
         normalizers.Lowercase()])
    split = pre_tokenizers.Split(Regex(_WORD_PIECES), behavior="isolated")
    counts: dict[str, int] = {}
    cut = re.compile("|".join(map(re.escape, reserved)))
    for text in corpus:
        for piece in cut.split(text):
            for word, _ in split.pre_tokenize_str(normalizer.normalize_str(piece)):
                counts[word] = counts.get(word, 0) + 1
    always = [w for w in _ALWAYS if w not in counts]
    words = sorted(counts, key=lambda w: -counts[w])[: vocab_size - len(reserved) - 1 - len(always)]
    vocab = {t: i for i, t in enumerate([*reserved, _UNK, *always, *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=_UNK))
    tok.normalizer = normalizer
    tok.pre_tokenizer = split
    tok.decoder = decoders.Sequence(
        [decoders.Fuse(), *(decoders.Replace(Regex(find), put) for _, _, find, put in _OPENING)])
    return tok


def train_tokenizer(corpus: Iterable[str], out_dir: str | os.PathLike, *,
                    vocab_size: int = 4096, kind: str = "bpe") -> PreTrainedTokenizerBase:
    """Train a byte-level BPE on ``corpus`` and save it to ``out_dir`` as a Hugging Face tokenizer.

    ``kind="word"`` makes a lowercasing word-level tokenizer instead (one id per word of the
    corpus, a product id or a number included, so copying a word from the prompt is copying one
    token; words outside the corpus become `<unk>`): for models trained from scratch in minutes.

    Qwen3-style special tokens (``<|endoftext|>`` pad, ``<|im_start|>``, ``<|im_end|>`` eos),
    ``<think>``, ``</think>``, ``<action>``, ``</action>`` as single added tokens, and a ChatML
    chat template with ``{% generation %}`` markers. All token ids are below ``vocab_size``
    (fewer when the corpus is too small to learn that many merges). The same corpus always
    gives the same tokenizer. Files are written to a temporary directory first and moved into
    ``out_dir`` one by one, so a failure leaves no partial tokenizer; other files in
    ``out_dir`` (a model's weights) are kept.
    """
    reserved = [PAD_TOKEN, IM_START, IM_END, *TAG_TOKENS]
    if kind not in ("bpe", "word"):
        raise ValueError(f"tokenizer kind must be 'bpe' or 'word', got {kind!r}")
    if kind == "word":
        return _save(_word_level(corpus, reserved, vocab_size), out_dir)
    if vocab_size < 256 + len(reserved):
        raise ValueError(f"vocab_size {vocab_size} is below the 256 byte symbols plus "
                         f"{len(reserved)} reserved tokens")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    # Untrimmed offsets: a token's span includes its leading space, which keeps the character
    # -> token mapping of the loss masks exact.
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=reserved,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    # Reserved tokens are cut out of the training text, as they are when encoding, so no merges
    # are spent on their pieces.
    cut = re.compile("|".join(map(re.escape, reserved)))
    bpe.train_from_iterator((piece for text in corpus for piece in cut.split(text) if piece),
                            trainer=trainer)
    return _save(bpe, out_dir)


def _save(tok: Tokenizer, out_dir: str | os.PathLike) -> PreTrainedTokenizerBase:
    """Add the special and tag tokens, wrap with the ChatML template, save atomically."""
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in (PAD_TOKEN, IM_START, IM_END)])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=IM_END,
                                        pad_token=PAD_TOKEN, chat_template=CHATML_TEMPLATE)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=out))
    try:
        tokenizer.save_pretrained(tmp)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tokenizer
