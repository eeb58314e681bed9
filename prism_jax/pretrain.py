"""A copying curriculum for a base model trained from scratch: windows of the agent's prompts,
each shown twice in a row.

An agent copies all the time: a query from the instruction, a product id or an option from the
page, an object name from the task. A tiny model trained from scratch on the agent's data alone
does not learn to (the demo's 2-layer model, after 1,200 steps of next-token training on the
prompts and per-step SFT, gave the instruction's content words of a held-out goal p < 0.2 in
its query and the listed id p ~ 0). On text shown twice the second copy is predictable by
copying the first. The windows are cut from the prompts the policy is shown (pages,
instruction, action list), never from an answer, so the pre-trained base still knows nothing of
the task.

What it does and does not teach (the demo's model, 150-300 steps of 32 windows): 79-95% of the
second copy's tokens of held-out windows reach p > 0.5, a count over every token, the frequent
ones included. A product id is not copied: in the prompt's own list of admissible actions,
whose product ids repeat the page's in order, the pre-trained base gives each id p ~ 0.001
after its " b0" (fixed-distance and varying windows alike), where an induction head would give
about 1/10.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from prism_jax.data import expand_steps

_WORD = re.compile(r"\S+")


def repeated_windows(records: Sequence[dict], n: int, *, words: int = 64, gap: int = 48,
                     seed: int = 0, min_words: int | None = None) -> list[dict]:
    """`n` user-only chat records ``{"id": "copy-000000", "messages": [{"role": "user",
    "content": w + "\n\n" + g + "\n\n" + w}]}`` (``w + "\n\n" + w`` when g is empty): w a
    run of `min_words` (default: 8, or `words` if fewer) to `words` consecutive words of a
    per-step prompt of ``records``, g a run of 0 to `gap` words of another (exact text, line
    breaks kept); prompts, starts and lengths drawn uniformly with `seed`. With varying lengths
    and gap the distance between the copies is not predictable, so copying by offset does not
    lower the loss (copying by content would); ``min_words=words`` and ``gap=0`` instead put the
    copies a fixed number of words apart. A prompt shorter than the drawn length is taken
    whole."""
    min_words = min(8, words) if min_words is None else min_words
    if n < 1 or words < 1 or gap < 0 or not 1 <= min_words <= words:
        raise ValueError(f"n and words must be >= 1, min_words in [1, words] and gap >= 0, got "
                         f"n={n}, words={words}, min_words={min_words}, gap={gap}")
    prompts = [step["messages"][0]["content"] for step in expand_steps(records)]
    spans = [[m.span() for m in _WORD.finditer(p)] for p in prompts]
    keep = [i for i, s in enumerate(spans) if s]
    if not keep:
        raise ValueError("the records' prompts have no text to pre-train on")
    rng = np.random.default_rng(seed)

    def window(length: int) -> str:
        i = keep[int(rng.integers(len(keep)))]
        s = spans[i]
        first = int(rng.integers(max(1, len(s) - length + 1)))
        last = min(first + length, len(s)) - 1
        return prompts[i][s[first][0]:s[last][1]]

    out = []
    for k in range(n):
        w = window(int(rng.integers(min_words, words + 1)))
        g = int(rng.integers(0, gap + 1))
        middle = f"{window(g)}\n\n" if g else ""
        out.append({"id": f"copy-{k:06d}",
                    "messages": [{"role": "user", "content": f"{w}\n\n{middle}{w}"}]})
    return out
