"""The copy pre-training corpus: windows of the per-step prompts, each shown twice."""

from __future__ import annotations

import re

import pytest

from prism_jax.data import expand_steps
from prism_jax.pretrain import repeated_windows

TURNS = [{"observation": "WebShop [SEP] Instruction: [SEP] i want black curtains [SEP] Search",
          "admissible": ["search[<your query>]"], "response": "<action>search[black curtains]</action>"},
         {"observation": "Back to Search [SEP] B0UNGL8ZD8 [SEP] Hebroly Handmade Curtains [SEP] $17.3",
          "admissible": ["click[b0ungl8zd8]", "click[back to search]"],
          "response": "<action>click[b0ungl8zd8]</action>"}]
RECORD = {"id": "t0", "env": "webshop", "task": "i want black curtains", "turns": TURNS,
          "messages": [{"role": "user", "content": "x"}], "prompt": {"style": "verl", "history": 0}}


def _copies(text):
    """(w, gap) of ``w \n\n [gap \n\n] w``: the longest w the text starts and ends with."""
    for cut in range(len(text) // 2, 0, -1):
        w = text[:cut]
        if text.endswith(w) and text[cut:].startswith("\n\n") and len(text) >= 2 * cut + 2:
            middle = text[cut + 2:len(text) - cut]
            if middle == "" or middle.endswith("\n\n"):
                return w, middle[:-2]
    raise AssertionError(f"not a repeated window: {text!r}")


def test_each_window_is_a_run_of_prompt_words_shown_twice_around_a_gap():
    prompts = [s["messages"][0]["content"] for s in expand_steps([RECORD])]
    out = repeated_windows([RECORD], 300, words=12, gap=6, seed=3)
    assert [r["id"] for r in out[:2]] == ["copy-000000", "copy-000001"] and len(out) == 300
    lengths, gaps = set(), set()
    for rec in out:
        [msg] = rec["messages"]
        assert msg["role"] == "user"
        w, gap = _copies(msg["content"])
        assert any(w in p for p in prompts) and (not gap or any(gap in p for p in prompts))
        assert "<action>search[" not in w and "<action>click[" not in w  # never an answer
        lengths.add(len(re.findall(r"\S+", w)))
        gaps.add(len(re.findall(r"\S+", gap)))
    assert lengths == set(range(8, 13)) and gaps == set(range(0, 7))
    assert repeated_windows([RECORD], 300, words=12, gap=6, seed=3) == out
    assert repeated_windows([RECORD], 300, words=12, gap=6, seed=4) != out
    fixed = repeated_windows([RECORD], 50, words=12, min_words=12, gap=0, seed=3)
    assert {len(re.findall(r"\S+", _copies(r["messages"][0]["content"])[0])) for r in fixed} == {12}
    assert all(_copies(r["messages"][0]["content"])[1] == "" for r in fixed)


def test_short_prompts_are_taken_whole_and_bad_sizes_are_refused():
    prompts = [s["messages"][0]["content"] for s in expand_steps([RECORD])]
    for rec in repeated_windows([RECORD], 20, words=10_000, gap=0):
        text = rec["messages"][0]["content"]
        assert text in {f"{p.strip()}\n\n{p.strip()}" for p in prompts}
    with pytest.raises(ValueError, match="n and words must be >= 1"):
        repeated_windows([RECORD], 0)
    with pytest.raises(ValueError, match="min_words in"):
        repeated_windows([RECORD], 5, words=4, min_words=5)
