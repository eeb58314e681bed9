"""Trajectory schema, tokenisation and batch pipelines (prism_jax/data.py).

References: transformers' `apply_chat_template` with `return_assistant_tokens_mask` on the
trained tokenizer's `{% generation %}` template, and texts written out by hand.
"""

from __future__ import annotations

import itertools
import json
import logging

import numpy as np
import pytest

from prism_jax.data import DataError, make_dataset, read_trajectories, tokenize_trajectory
from prism_jax.models.tokenizer import train_tokenizer

CORPUS = ["Observation: You are in the middle of a room. You see a fridge 1 and a mug 1.",
          "go to fridge 1", "open fridge 1", "take mug 1 from fridge 1", "system user assistant",
          "Your task is to: cool a mug."] * 30


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return train_tokenizer(CORPUS, tmp_path_factory.mktemp("tok"), vocab_size=512)


def traj(i, n_steps=1, obs="You see a fridge 1.", **extra):
    messages = [{"role": "system", "content": "You are a household robot."},
                {"role": "user", "content": f"Your task is to: cool a mug. {obs}"}]
    for s in range(n_steps):
        messages.append({"role": "assistant", "content": f"<action>go to fridge {s + 1}</action>"})
        if s + 1 < n_steps:
            messages.append({"role": "user", "content": obs})
    return {"id": f"traj-{i}", "messages": messages, **extra}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- reading


def test_read_keeps_records_and_extra_keys(tmp_path):
    recs = [traj(0, env="alfworld", task_type="cool", success=True, reward=10.0,
                 task_id="games/x/game.tw-pddl", split="train", note={"a": [1]}),
            traj(1, reward=0)]
    path = write_lines(tmp_path / "t.jsonl", [json.dumps(recs[0]), "", "  ", json.dumps(recs[1])])
    assert read_trajectories(path) == recs


GOOD = json.dumps(traj(0))


@pytest.mark.parametrize("line, what", [
    ('{"id": "a", "messages": [', "invalid JSON"),
    ('[1, 2]', "expected a JSON object, got a list"),
    ('{"messages": [{"role": "user", "content": "x"}]}', "missing key 'id'"),
    ('{"id": 7, "messages": [{"role": "user", "content": "x"}]}', "'id' must be a non-empty string"),
    ('{"id": "", "messages": [{"role": "user", "content": "x"}]}', "'id' must be a non-empty string"),
    ('{"id": "a"}', "missing key 'messages'"),
    ('{"id": "a", "messages": []}', "'messages' must be a non-empty list"),
    ('{"id": "a", "messages": "hi"}', "'messages' must be a non-empty list, got a string"),
    ('{"id": "a", "messages": [{"role": "tool", "content": "x"}]}',
     "messages[0].role must be one of system, user, assistant, got 'tool'"),
    ('{"id": "a", "messages": [{"role": "user"}]}', "messages[0].content must be a string, got null"),
    ('{"id": "a", "messages": [{"role": "user", "content": "x"}, 3]}', "messages[1] must be an object"),
    ('{"id": "a", "messages": [{"role": "user", "content": "x"}], "success": 1}',
     "'success' must be a boolean, got a number"),
    ('{"id": "a", "messages": [{"role": "user", "content": "x"}], "reward": true}',
     "'reward' must be a number, got a boolean"),
    ('{"id": "a", "messages": [{"role": "user", "content": "x"}], "reward": NaN}',
     "'reward' must be finite"),
    ('{"id": "a", "messages": [{"role": "user", "content": "x"}], "env": null}',
     "'env' must be a string, got null"),
    ('{"id": "a", "messages": [{"role": "user", "content": "x"}], "task_type": ["cool"]}',
     "'task_type' must be a string, got a list"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, what):
    path = write_lines(tmp_path / "bad.jsonl", [GOOD, "", line])
    with pytest.raises(DataError) as err:
        read_trajectories(path)
    assert str(err.value).startswith(f"{path}:3: ")
    assert what in str(err.value)
    assert (err.value.path, err.value.line) == (str(path), 3)


def test_duplicate_id_names_both_lines(tmp_path):
    path = write_lines(tmp_path / "dup.jsonl", [GOOD, json.dumps(traj(1)), GOOD])
    with pytest.raises(DataError, match=r"dup.jsonl:3: duplicate id 'traj-0' \(first on line 1\)"):
        read_trajectories(path)


def test_bad_utf8_and_missing_file(tmp_path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"bin.jsonl:2: not valid UTF-8"):
        read_trajectories(path)
    with pytest.raises(FileNotFoundError, match="no such trajectory file"):
        read_trajectories(tmp_path / "nope.jsonl")


# ---------------------------------------------------------------------------- tokenising


def test_example_matches_transformers_masks(tok):
    rec = traj(0, n_steps=3)
    ref = tok.apply_chat_template(rec["messages"], return_dict=True, return_assistant_tokens_mask=True)
    n = len(ref["input_ids"])
    ex = tokenize_trajectory(tok, rec, max_len=n + 5)
    assert not ex.truncated and ex.n_tokens == ex.full_length == n
    for a in (ex.input_ids, ex.attention_mask, ex.loss_mask):
        assert a.dtype == np.int32 and a.shape == (n + 5,)
    np.testing.assert_array_equal(ex.input_ids[:n], ref["input_ids"])
    np.testing.assert_array_equal(ex.input_ids[n:], tok.pad_token_id)
    np.testing.assert_array_equal(ex.attention_mask, [1] * n + [0] * 5)
    np.testing.assert_array_equal(ex.loss_mask[:n], ref["assistant_masks"])
    np.testing.assert_array_equal(ex.loss_mask[n:], 0)
    assert ex.n_response_tokens == sum(ref["assistant_masks"])
    # The targets are exactly the three actions and their end-of-turn tokens, in order.
    assert tok.decode(ex.input_ids[ex.loss_mask == 1].tolist()) == "".join(
        f"<action>go to fridge {s}</action><|im_end|>" for s in (1, 2, 3))


def test_prompt_targets_are_every_token_but_the_answers(tok):
    rec = traj(0, n_steps=2)
    ref = tok.apply_chat_template(rec["messages"], return_dict=True, return_assistant_tokens_mask=True)
    n = len(ref["input_ids"])
    [batch] = list(make_dataset([rec], tok, max_len=n + 3, batch_size=1, targets="prompt"))
    want = 1 - np.asarray(ref["assistant_masks"])
    want[0] = 0   # nothing predicts the first token
    np.testing.assert_array_equal(batch["loss_mask"][0, :n], want)
    np.testing.assert_array_equal(batch["loss_mask"][0, n:], 0)
    assert "go to fridge" not in tok.decode(batch["input_ids"][0][batch["loss_mask"][0] == 1])
    with pytest.raises(ValueError, match="targets must be one of"):
        make_dataset([rec], tok, max_len=n, batch_size=1, targets="all")


def test_mixed_records_train_on_every_token_beside_the_responses(tok):
    rec = traj(0, n_steps=2)
    window = {"id": "copy-0", "messages": [{"role": "user", "content": "go to fridge 1\n\ngo to fridge 1"}]}
    ref = tok.apply_chat_template(rec["messages"], return_dict=True, return_assistant_tokens_mask=True)
    wref = tok.apply_chat_template(window["messages"], return_dict=True)["input_ids"]
    n = max(len(ref["input_ids"]), len(wref))
    ds = make_dataset([rec], tok, max_len=n, batch_size=2, mix=[window])
    assert ds.stats.n_records == ds.stats.n_examples == 2
    [batch] = list(ds)
    rows = {str(i): b for b, i in enumerate(batch["ids"])}
    np.testing.assert_array_equal(batch["loss_mask"][rows[rec["id"]], :len(ref["input_ids"])],
                                  ref["assistant_masks"])
    w = batch["loss_mask"][rows["copy-0"]]
    np.testing.assert_array_equal(w[:len(wref)], [0] + [1] * (len(wref) - 1))
    np.testing.assert_array_equal(w[len(wref):], 0)


def test_truncation_keeps_the_start(tok):
    rec = traj(0, n_steps=3)
    full = tok.apply_chat_template(rec["messages"], return_dict=True,
                                   return_assistant_tokens_mask=True)
    n = len(full["input_ids"])
    # Cut inside the last assistant turn: its first tokens stay targets.
    cut = n - 4
    ex = tokenize_trajectory(tok, rec, max_len=cut)
    assert ex.truncated and ex.n_tokens == cut and ex.full_length == n
    np.testing.assert_array_equal(ex.input_ids, full["input_ids"][:cut])
    np.testing.assert_array_equal(ex.attention_mask, 1)
    np.testing.assert_array_equal(ex.loss_mask, full["assistant_masks"][:cut])


def test_oversized_line_is_cut_before_tokenising(tok, monkeypatch):
    """A huge message is cut to a budget derived from max_len before the tokenizer sees it (one
    50 MB line once cost 13.5 GB), and the example equals the one from the whole chat."""
    import prism_jax.data as data

    huge = "You see a mug 1 and a fridge 1. " * 40_000            # ~1.3 M characters
    longest = max(len(t) for t in tok.get_vocab())
    compared = 0
    for where, loss_turns in ((1, "all"), (3, "all"), (3, "last")):
        rec = {**traj(0, n_steps=3), "loss_turns": loss_turns}
        rec["messages"][where] = {**rec["messages"][where], "content": huge}
        # the uncut reference, rendered as _encode renders it ("last": the rollout prompt's
        # continuation, data.encode_continuation)
        if loss_turns == "last":
            ids, mask = data.encode_continuation(tok, rec["messages"][:-1],
                                                 rec["messages"][-1]["content"])
        else:
            ids, mask = data.encode_chat(tok, rec["messages"])
        want_mask = mask[:64].copy()
        want_mask[0] = 0
        seen = []
        real_chat, real_cont = data.encode_chat, data.encode_continuation
        monkeypatch.setattr(data, "encode_chat", lambda t, msgs, **kw: seen.append(
            sum(len(m["content"]) for m in msgs)) or real_chat(t, msgs, **kw))
        monkeypatch.setattr(data, "encode_continuation", lambda t, msgs, answer, **kw: seen.append(
            sum(len(m["content"]) for m in msgs) + len(answer)) or real_cont(t, msgs, answer, **kw))
        ex = tokenize_trajectory(tok, rec, 64)
        monkeypatch.setattr(data, "encode_chat", real_chat)
        monkeypatch.setattr(data, "encode_continuation", real_cont)
        assert seen and max(seen) <= 2 * (64 + 64) * longest < len(huge) // 10
        if not want_mask.any():                 # no target within 64 tokens, cut or not
            assert ex is None
            continue
        assert ex.truncated and ex.full_length > 64
        np.testing.assert_array_equal(ex.input_ids, ids[:64])
        np.testing.assert_array_equal(ex.loss_mask, want_mask)
        compared += 1
    assert compared == 1


def test_no_assistant_token_gives_none(tok):
    no_assistant = {"id": "x", "messages": [{"role": "user", "content": "hello"}]}
    assert tokenize_trajectory(tok, no_assistant, max_len=64) is None
    # The only assistant turn lies past max_len.
    cut_off = traj(0, obs="You see a fridge 1. " * 20)
    assert tokenize_trajectory(tok, cut_off, max_len=16) is None


def test_first_position_is_never_a_target(tok):
    rec = {"id": "x", "messages": [{"role": "assistant", "content": "<action>look</action>"}]}
    ex = tokenize_trajectory(tok, rec, max_len=32)
    ref = tok.apply_chat_template(rec["messages"], return_dict=True, return_assistant_tokens_mask=True)
    expected = np.array(ref["assistant_masks"])
    expected[0] = 0
    np.testing.assert_array_equal(ex.loss_mask[:len(expected)], expected)


# ---------------------------------------------------------------------------- pipelines


def collect(it, n=None):
    """The next ``n`` batches (all the rest when n is None)."""
    return list(itertools.islice(it, n))


def test_batches_pad_the_last_one_with_dummy_rows(tok):
    recs = [traj(i, n_steps=1 + i % 3) for i in range(5)]
    ds = make_dataset(recs, tok, max_len=96, batch_size=2)
    batches = collect(iter(ds))
    assert len(ds) == len(batches) == 3
    for b in batches:
        assert b["input_ids"].shape == b["attention_mask"].shape == b["loss_mask"].shape == (2, 96)
        assert b["input_ids"].dtype == np.int32 and b["valid"].dtype == bool
    assert [list(b["ids"]) for b in batches] == [["traj-0", "traj-1"], ["traj-2", "traj-3"],
                                                 ["traj-4", ""]]
    last = batches[-1]
    np.testing.assert_array_equal(last["valid"], [True, False])
    np.testing.assert_array_equal(last["input_ids"][1], tok.pad_token_id)
    assert last["attention_mask"][1].sum() == 0 and last["loss_mask"][1].sum() == 0
    for b in batches:
        for row, rid in enumerate(b["ids"]):
            if rid:
                ex = tokenize_trajectory(tok, recs[int(rid.split("-")[1])], 96)
                np.testing.assert_array_equal(b["input_ids"][row], ex.input_ids)
                np.testing.assert_array_equal(b["loss_mask"][row], ex.loss_mask)
                np.testing.assert_array_equal(b["attention_mask"][row], ex.attention_mask)


def test_skips_truncates_and_reports(tok, caplog):
    recs = [traj(0), {"id": "no-reply", "messages": [{"role": "user", "content": "hi"}]},
            traj(2, n_steps=4, obs="You see a fridge 1. " * 5), traj(3), traj(4)]
    with caplog.at_level(logging.WARNING, logger="prism_jax.data"):
        ds = make_dataset(recs, tok, max_len=80, batch_size=4, skip_ids={"traj-3"})
    s = ds.stats
    assert (s.n_records, s.n_examples, s.n_already_done) == (5, 3, 1)
    assert s.no_response_ids == ["no-reply"] and s.n_skipped == 1
    assert s.truncated_ids == ["traj-2"] and s.n_truncated == 1
    assert "no-reply" in caplog.text and "traj-2" in caplog.text
    (batch,) = collect(iter(ds))
    assert list(batch["ids"]) == ["traj-0", "traj-2", "traj-4", ""]
    assert s.n_tokens == batch["attention_mask"].sum()
    assert s.n_response_tokens == batch["loss_mask"].sum()


def test_shuffled_epochs_and_exact_resume(tok):
    recs = [traj(i) for i in range(7)]
    ds = make_dataset(recs, tok, max_len=64, batch_size=3, shuffle=True, seed=3, num_epochs=3)
    batches = collect(iter(ds))
    assert len(ds) == len(batches) == 7  # 21 rows -> 7 full batches
    order = [rid for b in batches for rid in b["ids"]]
    epochs = [order[i * 7:(i + 1) * 7] for i in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == sorted(r["id"] for r in recs)
    assert len({tuple(e) for e in epochs}) == 3
    again = make_dataset(recs, tok, max_len=64, batch_size=3, shuffle=True, seed=3, num_epochs=3)
    assert [rid for b in collect(iter(again)) for rid in b["ids"]] == order
    other = make_dataset(recs, tok, max_len=64, batch_size=3, shuffle=True, seed=4, num_epochs=3)
    assert [rid for b in collect(iter(other)) for rid in b["ids"]] != order

    for k in (0, 2, 5):
        it = iter(ds)
        collect(it, k)
        state = it.get_state()
        resumed = iter(ds)
        resumed.set_state(json.loads(json.dumps(state)))  # survives a JSON round trip
        rest = collect(resumed)
        assert len(rest) == len(batches) - k
        for got, want in zip(rest, batches[k:]):
            assert list(got["ids"]) == list(want["ids"])
            np.testing.assert_array_equal(got["input_ids"], want["input_ids"])


def test_bad_arguments(tok):
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset([traj(0)], tok, max_len=64, batch_size=0)
    with pytest.raises(ValueError, match="max_len"):
        tokenize_trajectory(tok, traj(0), max_len=1)


def test_length_grouped_batches_cover_every_epoch_and_pad_less(tok):
    # trajectories of 1..6 steps in a shuffled id order: their lengths differ a lot
    rng = np.random.default_rng(0)
    recs = [traj(i, n_steps=int(rng.integers(1, 7))) for i in range(24)]
    lengths = {}
    for b in collect(iter(make_dataset(recs, tok, max_len=512, batch_size=1))):
        lengths[str(b["ids"][0])] = int(b["attention_mask"].sum())
    kw = dict(max_len=512, batch_size=4, shuffle=True, seed=5, num_epochs=2)
    plain = collect(iter(make_dataset(recs, tok, **kw)))
    grouped_ds = make_dataset(recs, tok, group_by_length=3, **kw)
    grouped = collect(iter(grouped_ds))
    assert len(grouped_ds) == len(grouped) == len(plain) == 12
    order = [str(r) for b in grouped for r in b["ids"]]
    assert sorted(order) == sorted([r["id"] for r in recs] * 2)
    # within each window of 3 batches, a batch's rows are contiguous in length order
    for w in range(0, 12, 3):
        window = grouped[w:w + 3]
        spans = sorted((min(lengths[str(r)] for r in b["ids"]), max(lengths[str(r)] for r in b["ids"]))
                       for b in window)
        assert all(hi <= lo2 for (_, hi), (lo2, _) in zip(spans, spans[1:]))
    padded = lambda batches: sum(len(b["ids"]) * max(lengths[str(r)] for r in b["ids"]) for b in batches)
    assert padded(grouped) < padded(plain)
    # deterministic for a seed, different for another; exact resume mid-stream
    again = collect(iter(make_dataset(recs, tok, group_by_length=3, **kw)))
    assert [str(r) for b in again for r in b["ids"]] == order
    other = collect(iter(make_dataset(recs, tok, group_by_length=3, **(kw | {"seed": 6}))))
    assert [str(r) for b in other for r in b["ids"]] != order
    it = iter(grouped_ds)
    collect(it, 5)
    resumed = iter(grouped_ds)
    resumed.set_state(json.loads(json.dumps(it.get_state())))
    assert [str(r) for b in collect(resumed) for r in b["ids"]] == order[5 * 4:]
    with pytest.raises(ValueError, match="group_by_length"):
        make_dataset(recs, tok, max_len=512, batch_size=4, group_by_length=-1)
