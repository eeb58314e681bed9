"""Per-step SFT examples: gen-data's `turns` rebuild exactly the prompts the policy is shown while
playing, and only each step's own response is trained on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prism_jax.data import DataError, expand_steps, make_dataset, read_trajectories
from prism_jax.envs.prompts import Conversation, format_response


def _live_step_chats(games) -> dict[tuple[int, int], list[dict]]:
    """The reference: while the expert plays through the engine, the prompt each step is shown
    (`conv.messages`, as rollouts and evaluation build it) plus the expert's response."""
    from prism_jax.envs.alfworld import expert_actions, play_episodes

    plans = [expert_actions(g) for g in games]
    seen = {}

    def expert(indices, convs):
        responses = []
        for k, conv in zip(indices, convs):
            response = format_response(plans[k][conv.n_steps])
            seen[(k, conv.n_steps)] = conv.messages + [{"role": "assistant", "content": response}]
            responses.append(response)
        return responses

    results = play_episodes(expert, [str(g) for g in games], batch_size=2, max_steps=30,
                            progress=False)
    assert all(r["won"] for r in results)
    return seen


@pytest.fixture(scope="module")
def alfworld_records(tmp_path_factory):
    from prism_jax.envs.alfworld import generate_games
    from prism_jax.envs.alfworld.datagen import trajectory_records

    root = tmp_path_factory.mktemp("games")
    games = generate_games("train", 3, root, seed=3, progress=False)
    return games, trajectory_records(games, "train", workers=2, max_steps=30)


@pytest.fixture(scope="module")
def tiny_tokenizer(alfworld_records, tmp_path_factory):
    from prism_jax.models.tokenizer import train_tokenizer

    _, records = alfworld_records
    return train_tokenizer((m["content"] for r in records for m in r["messages"]),
                           tmp_path_factory.mktemp("tok"), vocab_size=600)


def test_expanded_steps_equal_the_prompts_seen_while_playing(alfworld_records):
    games, records = alfworld_records
    live = _live_step_chats(games)
    steps = expand_steps(records)
    assert len(steps) == sum(r["n_steps"] for r in records) == len(live)
    for k, rec in enumerate(records):
        mine = [s for s in steps if s["source_id"] == rec["id"]]
        assert [s["id"] for s in mine] == [f"{rec['id']}#{i}" for i in range(rec["n_steps"])]
        for i, s in enumerate(mine):
            assert s["messages"] == live[(k, i)], (k, i)
            assert s["loss_turns"] == "last" and s["task_id"] == rec["task_id"]
        # the whole chat's last step is the same chat as the last per-step example
        assert mine[-1]["messages"] == rec["messages"]
        # every step's latest user turn lists its admissible actions
        assert all("Available actions:" in s["messages"][-2]["content"] for s in mine)


def test_turns_round_trip_through_json():
    conv = Conversation("webshop", "buy socks", "search page", ["search[<your query>]"])
    conv.add_step("<action>search[socks]</action>", "results", ["click[b01]", "click[next >]"])
    conv.add_step("<action>click[b01]</action>", "item page", ["click[buy now]"])
    fields = json.loads(json.dumps(conv.record_fields()))
    back = Conversation.from_turns("webshop", fields["task"], fields["turns"], fields["think"])
    assert back.messages == conv.messages and back.to_record() == conv.to_record()
    assert [c[-1]["content"] for c in back.step_chats()] == [
        "<action>search[socks]</action>", "<action>click[b01]</action>"]


def test_only_the_last_response_is_a_target(alfworld_records, tiny_tokenizer):
    from prism_jax.models.tokenizer import encode_chat

    _, records = alfworld_records
    step = [s for s in expand_steps(records[:1]) if s["id"].endswith("#2")][0]
    ids, mask_all = encode_chat(tiny_tokenizer, step["messages"])
    ids2, mask_last = encode_chat(tiny_tokenizer, step["messages"], last_turn_only=True)
    assert np.array_equal(ids, ids2)
    # reference: the runs of 1s in the all-turns mask are the assistant turns; keep the last run
    starts = np.flatnonzero(np.diff(np.concatenate([[0], mask_all])) == 1)
    assert len(starts) == 3
    expected = mask_all.copy()
    expected[:starts[-1]] = 0
    assert np.array_equal(mask_last, expected)
    # and that run decodes to the step's response
    text = tiny_tokenizer.decode(ids[mask_last.astype(bool)])
    assert step["messages"][-1]["content"] in text

    batches = make_dataset(expand_steps(records[:1]), tiny_tokenizer, max_len=2048, batch_size=2)
    assert batches.stats.n_response_tokens == sum(
        int(encode_chat(tiny_tokenizer, s["messages"], last_turn_only=True)[1].sum())
        for s in expand_steps(records[:1]))


def test_records_without_turns_are_refused(tmp_path):
    bad = {"id": "t0", "messages": [{"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "<action>x</action>"}]}
    with pytest.raises(ValueError, match="'t0' has no 'turns'"):
        expand_steps([bad])
    broken = dict(bad, env="alfworld", task="t", turns=[{"observation": "o", "admissible": [1]}])
    with pytest.raises(ValueError, match=r"turns\[0\].admissible must be a list of strings"):
        expand_steps([broken])
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(dict(bad, loss_turns="first")) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: 'loss_turns' must be one of all, last"):
        read_trajectories(path)
