"""Trajectory data: the JSONL schema, tokenisation to fixed length, and grain batch pipelines.

One trajectory per line::

    {"id": str, "messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],
     "env": str?, "task_type": str?, "task_id": str?, "split": str?, "success": bool?,
     "reward": number?, "task": str?, "think": bool?, "prompt": {"style", "history"}?,
     "turns": [...]?, "loss_turns": "all"|"last"?, ...any other keys, kept untouched}

``turns`` (written by ``prism gen-data``) holds the raw steps ``{"observation", "admissible",
"response"}``; `expand_steps` turns such a trajectory into one example per step: the exact
prompt the policy sees at that step (``prompt``'s style and history, verl-agent's template by
default) plus its response, marked ``"loss_turns": "last"``.

A chat is rendered with the model's own chat template and cut or right-padded to a fixed
length T; the loss mask marks the assistant tokens (see `prism_jax.models.tokenizer`). A
``"last"`` record is the generation prompt of all its messages but the last, token for token as
rollouts render it (``enable_thinking`` = its ``think``), followed by that last response.
"""

from __future__ import annotations

import json
import logging
import math
import os
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grain
import numpy as np

from prism_jax.envs.prompts import prompt_of_record, step_chats
from prism_jax.models.tokenizer import encode_chat, encode_continuation
from prism_jax.progress import track

logger = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
# Optional top-level keys and the JSON types they must have when present.
OPTIONAL_KEYS = {"env": (str,), "task_type": (str,), "task_id": (str,), "split": (str,),
                 "success": (bool,), "reward": (int, float), "task": (str,), "think": (bool,),
                 "turns": (list,), "loss_turns": (str,), "prompt": (dict,)}
_JSON_TYPES = {str: "a string", bool: "a boolean", int: "a number", float: "a number",
               list: "a list", dict: "an object"}
LOSS_TURNS = ("all", "last")
# How many ids a warning lists before summarising the rest.
_IDS_IN_WARNING = 10


class DataError(ValueError):
    """A malformed trajectory file: ``"{path}:{line}: {what was wrong}"``."""

    def __init__(self, path: str | os.PathLike, line: int, what: str):
        self.path, self.line, self.what = str(path), line, what
        super().__init__(f"{path}:{line}: {what}")


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _check_record(rec) -> str | None:
    """What is wrong with one parsed line, or None."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {_json_type(rec)}"
    if "id" not in rec:
        return "missing key 'id'"
    if not isinstance(rec["id"], str) or not rec["id"]:
        return f"'id' must be a non-empty string, got {rec['id']!r}"
    msgs = rec.get("messages")
    if "messages" not in rec:
        return "missing key 'messages'"
    if not isinstance(msgs, list) or not msgs:
        return f"'messages' must be a non-empty list, got {_json_type(msgs)}" + (
            " (empty)" if isinstance(msgs, list) else "")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"messages[{i}] must be an object, got {_json_type(m)}"
        if m.get("role") not in ROLES:
            return f"messages[{i}].role must be one of {', '.join(ROLES)}, got {m.get('role')!r}"
        if not isinstance(m.get("content"), str):
            return f"messages[{i}].content must be a string, got {_json_type(m.get('content'))}"
    for key, types in OPTIONAL_KEYS.items():
        if key not in rec:
            continue
        value = rec[key]
        # bool is an int in Python but not a number in the schema.
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            return f"'{key}' must be {_JSON_TYPES[types[0]]}, got {_json_type(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"'{key}' must be finite, got {value}"
    if rec.get("loss_turns", "all") not in LOSS_TURNS:
        return f"'loss_turns' must be one of {', '.join(LOSS_TURNS)}, got {rec['loss_turns']!r}"
    return None


def _check_turns(rec: dict) -> str | None:
    """What is wrong with a record's per-step fields, or None."""
    if not isinstance(rec.get("turns"), list) or not rec["turns"]:
        return "has no 'turns' (the raw steps written by `prism gen-data`)"
    if not isinstance(rec.get("task"), str):
        return "has 'turns' but no 'task' string"
    if rec.get("env") is None:
        return "has 'turns' but no 'env'"
    for i, turn in enumerate(rec["turns"]):
        if not isinstance(turn, dict):
            return f"turns[{i}] must be an object, got {_json_type(turn)}"
        if not isinstance(turn.get("observation"), str):
            return f"turns[{i}].observation must be a string"
        adm = turn.get("admissible")
        if not isinstance(adm, list) or not all(isinstance(a, str) for a in adm):
            return f"turns[{i}].admissible must be a list of strings"
        response = turn.get("response")
        if not (isinstance(response, str) or (response is None and i == len(rec["turns"]) - 1)):
            return (f"turns[{i}].response must be a string" +
                    (" (only the last turn may have none)" if response is None else ""))
    return None


def expand_steps(records: Sequence[dict]) -> list[dict]:
    """One record per agent step of each trajectory, rebuilt from its ``turns``.

    Step k of trajectory ``id`` becomes ``{"id": "id#k", "messages": [*prompt_k, assistant_k],
    "loss_turns": "last", "think": ..., "source_id": id}`` plus the trajectory's
    ``env``/``task_type``/``task_id``/``split``: ``prompt_k`` is exactly what rollouts and
    evaluation show the policy at that step (`prism_jax.envs.prompts.step_prompt` with the
    record's ``prompt`` settings, verl-agent's template with 2 past steps by default), and the
    loss covers the step's response only.

    Raises ValueError naming the record when it has no usable ``turns``.
    """
    out = []
    for rec in records:
        problem = _check_turns(rec)
        if problem:
            raise ValueError(f"trajectory {rec.get('id')!r} {problem}; per-step training needs "
                             "them (regenerate with `prism gen-data`, or train on whole chats)")
        config = prompt_of_record(rec)
        keep = {k: rec[k] for k in ("env", "task_type", "task_id", "split") if k in rec}
        for k, chat in enumerate(step_chats(rec["env"], rec["task"], rec["turns"], config)):
            out.append({"id": f"{rec['id']}#{k}", "messages": chat, "loss_turns": "last",
                        "think": config.think, "source_id": rec["id"], **keep})
    return out


def read_trajectories(path: str | os.PathLike) -> list[dict]:
    """Read and validate a trajectory JSONL file; blank lines are ignored.

    The whole file is checked before anything is returned, so a command fails before it
    writes any output. Raises `DataError` naming the file, the line and what was wrong (bad
    UTF-8 or JSON, not an object, a missing or mistyped key, a duplicate id), or
    `FileNotFoundError`. Records are returned as parsed, extra keys included.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such trajectory file")
    records, first_line = [], {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(path, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, lineno, f"invalid JSON: {e.msg} at column {e.colno}") from None
            problem = _check_record(rec)
            if problem:
                raise DataError(path, lineno, problem)
            if rec["id"] in first_line:
                raise DataError(path, lineno, f"duplicate id {rec['id']!r} (first on line "
                                              f"{first_line[rec['id']]})")
            first_line[rec["id"]] = lineno
            records.append(rec)
    return records


@dataclass(frozen=True)
class Example:
    """One tokenised trajectory of fixed length T.

    ``loss_mask[t] = 1`` marks token t as a target: an assistant token, trained to be
    predicted from position t-1 (so position 0 is never one). ``n_tokens`` and
    ``n_response_tokens`` count what is kept; ``full_length`` is the chat's length before
    truncation (a lower bound for chats too long to tokenise whole, see `_content_budget`).
    """

    id: str
    input_ids: np.ndarray       # int32 [T], right-padded with the pad id
    attention_mask: np.ndarray  # int32 [T]
    loss_mask: np.ndarray       # int32 [T]
    n_tokens: int
    n_response_tokens: int
    full_length: int
    truncated: bool


def _pad_id(tokenizer) -> int:
    # Padded positions are masked out everywhere, so any id works when there is no pad token.
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    return 0


# tokenizer -> characters in its longest vocabulary entry (see `_content_budget`)
_LONGEST_TOKEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _content_budget(tokenizer, max_len: int) -> int:
    """Characters of message content kept before tokenising: twice what max_len + 64 tokens of
    the tokenizer's longest vocabulary entry can cover.

    No token spans more characters than the longest vocabulary entry (for byte-level BPE every
    entry has one character per byte, at least as many as the text it decodes to), so the first
    max_len tokens of a chat lie well inside that many characters and the tokens of a cut chat
    agree with the uncut one's up to max_len. What the cut saves is the rest: one 50 MB line
    otherwise costs gigabytes of tokenizer memory for 2048 kept tokens.
    """
    longest = _LONGEST_TOKEN.get(tokenizer)
    if longest is None:
        longest = max((len(t) for t in tokenizer.get_vocab()), default=1)
        _LONGEST_TOKEN[tokenizer] = longest
    return 2 * (max_len + 64) * longest


def _cut_contents(messages: Sequence[dict], budget: int) -> tuple[list[dict], bool]:
    """`messages` with their contents cut after `budget` characters in all (every message is
    kept, later ones empty, so templates that look at the roles see the same chat)."""
    out, used, cut = [], 0, False
    for m in messages:
        room = max(0, budget - used)
        if len(m["content"]) > room:
            m, cut = {**m, "content": m["content"][:room]}, True
        used += len(m["content"])
        out.append(m)
    return out, cut


TARGETS = ("response", "prompt")


def _encode(tokenizer, record: dict, max_len: int, targets: str = "response"
            ) -> tuple[np.ndarray, np.ndarray, int]:
    """Unpadded ``(ids, loss_mask)`` cut to ``max_len``, and the length before the cut (for a
    chat whose contents exceed `_content_budget`, the length of what was kept of them).
    targets="prompt" puts the mask on every token but the responses (language-model training
    on what the policy is shown, never on an answer)."""
    messages, _ = _cut_contents(record["messages"], _content_budget(tokenizer, max_len))
    if record.get("loss_turns") == "last" and messages[-1]["role"] == "assistant":
        ids, mask = encode_continuation(tokenizer, messages[:-1], messages[-1]["content"],
                                        enable_thinking=record.get("think"))
    else:
        ids, mask = encode_chat(tokenizer, messages, last_turn_only=record.get("loss_turns") == "last")
    full = len(ids)
    if targets == "prompt":
        mask = 1 - mask
    ids, mask = ids[:max_len], mask[:max_len].copy()
    mask[:1] = 0  # nothing predicts the first token
    return ids, mask, full


def _check_len(max_len: int) -> None:
    if max_len < 2:
        raise ValueError(f"max_len must be at least 2, got {max_len}")


def tokenize_trajectory(tokenizer, record: dict, max_len: int) -> Example | None:
    """Tokenise one trajectory record to length ``max_len`` (keeping the start if longer).

    Returns None when no assistant token is left to train on (no assistant message, or all
    of them cut off); the caller decides how to report it.
    """
    _check_len(max_len)
    ids, mask, full = _encode(tokenizer, record, max_len)
    if not mask.any():
        return None
    n = len(ids)
    input_ids = np.full(max_len, _pad_id(tokenizer), np.int32)
    input_ids[:n] = ids
    attention = np.zeros(max_len, np.int32)
    attention[:n] = 1
    loss = np.zeros(max_len, np.int32)
    loss[:n] = mask
    return Example(id=record["id"], input_ids=input_ids, attention_mask=attention, loss_mask=loss,
                   n_tokens=n, n_response_tokens=int(mask.sum()), full_length=full,
                   truncated=full > max_len)


@dataclass
class DataStats:
    """What `make_dataset` did with its records (one epoch)."""

    n_records: int = 0          # records given
    n_examples: int = 0         # records in the pipeline
    n_already_done: int = 0     # dropped because their id was in skip_ids
    truncated_ids: list[str] = field(default_factory=list)    # cut to max_len, kept
    no_response_ids: list[str] = field(default_factory=list)  # no assistant token: dropped
    n_tokens: int = 0           # real tokens over the kept examples
    n_response_tokens: int = 0  # target tokens over the kept examples

    @property
    def n_truncated(self) -> int:
        return len(self.truncated_ids)

    @property
    def n_skipped(self) -> int:
        return len(self.no_response_ids)


def _id_list(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_IDS_IN_WARNING])
    return shown + (f" and {len(ids) - _IDS_IN_WARNING} more" if len(ids) > _IDS_IN_WARNING else "")


class TrajectoryBatches(grain.IterDataset):
    """Fixed-shape batches of tokenised trajectories (a grain `IterDataset`).

    Each batch is ``{"ids": str [B], "input_ids": int32 [B, T], "attention_mask": int32
    [B, T], "loss_mask": int32 [B, T], "valid": bool [B]}``; the last batch is filled up with
    dummy rows (``valid`` False, id "", all masks 0). ``iter(ds)`` gives a grain iterator
    with ``get_state()`` / ``set_state()`` for exact resume. ``stats`` reports what was
    truncated and skipped; ``len(ds)`` is the number of batches over all epochs.
    """

    def __init__(self, batches: grain.MapDataset, stats: DataStats):
        super().__init__(batches.to_iter_dataset(
            grain.ReadOptions(num_threads=1, prefetch_buffer_size=2)))
        self.stats = stats
        self._num_batches = len(batches)

    def __len__(self) -> int:
        return self._num_batches

    def __iter__(self):
        return self._parent.__iter__()

    def __str__(self) -> str:
        return f"TrajectoryBatches({self._num_batches} batches, {self.stats.n_examples} trajectories)"


def make_dataset(records: Sequence[dict], tokenizer, *, max_len: int, batch_size: int,
                 shuffle: bool = False, seed: int = 0, num_epochs: int = 1,
                 skip_ids: Collection[str] = (), targets: str = "response",
                 mix: Sequence[dict] = (), group_by_length: int = 0) -> TrajectoryBatches:
    """Tokenise ``records`` and batch them as a grain pipeline of static shape ``[B, T]``.

    Records whose id is in ``skip_ids`` (e.g. already in a resumed output) are dropped first.
    The rest are tokenised once, up front, with a progress bar, so truncated and skipped
    trajectories are known (and logged with their ids) before the first batch; only the
    unpadded tokens are kept in memory. With ``shuffle`` every epoch has its own order,
    fixed by ``seed``. Batches run across epoch boundaries; only the very last one is padded.
    targets: "response" (the loss mask on the assistant tokens) or "prompt" (on all the others).
    mix: more records, always with targets "prompt" (the pipeline's copy windows, rehearsed
    during SFT), shuffled in with ``records`` and counted in ``stats`` like them.
    group_by_length: G > 0 batches examples of similar length together (less padding once a
    batch is cut to its longest row, see `sft_step.micro_batches`): the shuffled order of all
    epochs is cut into windows of G batches, each window sorted by length and its batches
    drawn in a random order (the Hugging Face Trainer's ``group_by_length``, mega-batches of
    50). 0 keeps the plain shuffled order.
    """
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    _check_len(max_len)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    if group_by_length < 0:
        raise ValueError(f"group_by_length must be >= 0 (batches per sorting window), got "
                         f"{group_by_length}")
    skip = set(skip_ids)
    stats = DataStats(n_records=len(records) + len(mix))
    examples = []
    tagged = [*((rec, targets) for rec in records), *((rec, "prompt") for rec in mix)]
    for rec, rec_targets in track(tagged, desc="tokenizing", unit="traj"):
        if rec["id"] in skip:
            stats.n_already_done += 1
            continue
        ids, mask, full = _encode(tokenizer, rec, max_len, rec_targets)
        if not mask.any():
            stats.no_response_ids.append(rec["id"])
            continue
        if full > max_len:
            stats.truncated_ids.append(rec["id"])
        stats.n_tokens += len(ids)
        stats.n_response_tokens += int(mask.sum())
        examples.append((rec["id"], ids, mask))
    stats.n_examples = len(examples)
    if stats.no_response_ids:
        logger.warning("skipped %d trajectories with no assistant token within max_len=%d: %s",
                       stats.n_skipped, max_len, _id_list(stats.no_response_ids))
    if stats.truncated_ids:
        logger.warning("truncated %d of %d trajectories to max_len=%d (kept the start): %s",
                       stats.n_truncated, stats.n_examples, max_len, _id_list(stats.truncated_ids))

    pad = _pad_id(tokenizer)

    def collate(rows: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        input_ids = np.full((batch_size, max_len), pad, np.int32)
        attention = np.zeros((batch_size, max_len), np.int32)
        loss = np.zeros((batch_size, max_len), np.int32)
        for b, (_, ids, mask) in enumerate(rows):
            input_ids[b, :len(ids)] = ids
            attention[b, :len(ids)] = 1
            loss[b, :len(ids)] = mask
        names = [r[0] for r in rows] + [""] * (batch_size - len(rows))
        return {"ids": np.array(names, dtype=np.str_), "input_ids": input_ids,
                "attention_mask": attention, "loss_mask": loss,
                "valid": np.arange(batch_size) < len(rows)}

    if group_by_length:
        order = _length_grouped_order([len(e[1]) for e in examples], batch_size, group_by_length,
                                      num_epochs=num_epochs, shuffle=shuffle, seed=seed)
        ds = grain.MapDataset.source(order).map(lambda i: examples[i])
    else:
        ds = grain.MapDataset.source(examples)
        if shuffle:
            ds = ds.shuffle(seed=seed)
        ds = ds.repeat(num_epochs)
    return TrajectoryBatches(ds.batch(batch_size, batch_fn=collate), stats)


def _length_grouped_order(lengths: Sequence[int], batch_size: int, group: int, *,
                          num_epochs: int, shuffle: bool, seed: int) -> list[int]:
    """Example indices for `make_dataset(group_by_length=group)`: every epoch's order (a
    permutation with `shuffle`, else 0..n-1) concatenated, cut into windows of
    ``group * batch_size``, each window sorted longest first and, with `shuffle`, its batches
    put in a random order. Consecutive runs of `batch_size` indices are the batches."""
    n = len(lengths)
    rng = np.random.default_rng(seed)
    stream = np.concatenate([rng.permutation(n) if shuffle else np.arange(n)
                             for _ in range(num_epochs)])
    lengths = np.asarray(lengths)
    out: list[int] = []
    window = group * batch_size
    for start in range(0, len(stream), window):
        part = stream[start:start + window]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches = [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
        if shuffle:
            # a short batch (the stream's very last) stays last: only the last batch is padded
            full = [b for b in batches if len(b) == batch_size]
            batches = [full[i] for i in rng.permutation(len(full))] + batches[len(full):]
        out.extend(int(i) for b in batches for i in b)
    return out
