"""Does the embedded WebShop separate agents? Score and SR of two naive scripts and of the
expert on the test goals, beside the original paper's baselines.

    python bench/webshop_calibration.py              # 1k products, seeds 0-2, and 100k
    python bench/webshop_calibration.py --quick      # the default catalog only
    python bench/webshop_calibration.py --copy-bounds   # what copying less of the page scores

* rule: search the instruction, click the first result, buy (the paper's rule baseline);
* verbatim options: the same, plus click every option value written word for word in the
  instruction;
* expert: `Expert`, which reads the pages (results, item page, Description/Features) and
  pages, goes back and searches again; also the share of its trajectories that do.

--copy-bounds: the rule baseline's scripts copying less (the default catalog, test goals): the
query is the instruction, its words in random order (drawn with replacement), its words outside
the 200 most frequent instruction words, a third of its words, or another goal's instruction
(nothing copied); the click is the first listed product or a random listed one. What a policy
must copy from its prompt before the demo's held-out score can rise.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np

from prism_jax.envs.webshop import Catalog
from prism_jax.envs.webshop.baselines import PAPER_BASELINES, RuleAgent, VerbatimOptionAgent, \
    _products, run_agent, summary
from prism_jax.envs.webshop.expert import Expert

MOVES = {"click[next >]", "click[< prev]", "click[back to search]", "click[description]",
         "click[features]"}


def calibrate(num_products: int, seed: int) -> None:
    t = time.perf_counter()
    cat = Catalog.generate(num_products, seed)
    tasks = cat.list_tasks("test")
    rule = summary(run_agent(cat, tasks, RuleAgent))
    verbatim = summary(run_agent(cat, tasks, VerbatimOptionAgent))
    episodes = run_agent(cat, tasks, lambda g: Expert(cat, g))
    expert = summary(episodes)
    varied = sum(bool(MOVES & set(e["actions"])) or
                 sum(a.startswith("search[") for a in e["actions"]) > 1 for e in episodes)
    steps = [e["n_steps"] for e in episodes]
    print(f"{num_products:>7,} products, seed {seed} ({len(tasks)} test goals, "
          f"{time.perf_counter() - t:.0f} s):")
    for name, (score, sr) in (("rule: instruction, first result, buy", rule),
                              ("+ options written word for word", verbatim),
                              ("expert", expert)):
        print(f"    {name:<40} score {score:5.1f}  SR {sr:5.1f}%")
    print(f"    expert trajectories: {100 * varied / len(episodes):.0f}% page, go back, open a "
          f"sub-page or search again; {min(steps)}-{max(steps)} steps, mean "
          f"{sum(steps) / len(steps):.1f}")


class CopyingAgent(RuleAgent):
    """`RuleAgent` whose query is ``query(instruction, rng)`` and whose click is the first or a
    random listed product."""

    def __init__(self, goal, query, pick: str, rng: np.random.Generator):
        super().__init__(goal)
        self.query, self.pick, self.rng = query, pick, rng

    def act(self, info: dict) -> str:
        if info["page"] == "search":
            return f"search[{self.query(info['task'], self.rng)}]"
        products = _products(info["available_actions"]["clickables"])
        if info["page"] == "results" and products and self.pick == "random":
            return f"click[{products[int(self.rng.integers(len(products)))]}]"
        return super().act(info)


def copy_bounds() -> None:
    cat = Catalog.generate(1_000, 0)
    tasks = cat.list_tasks("test")
    train = [cat.goal(t).instruction_text for t in cat.list_tasks("train")]
    common = {w for w, _ in Counter(w for text in train for w in text.split()).most_common(200)}
    queries = {
        "the instruction": lambda text, rng: text,
        "its words, random order": lambda text, rng: " ".join(rng.choice(text.split(),
                                                                         len(text.split()))),
        "its less frequent words": lambda text, rng: " ".join(
            w for w in text.split() if w not in common) or text,
        "a third of its words": lambda text, rng: " ".join(rng.choice(
            text.split(), max(1, len(text.split()) // 3))),
        "another goal's instruction": lambda text, rng: train[int(rng.integers(len(train)))],
    }
    print(f"1,000 products, seed 0, {len(tasks)} test goals: search, click, buy")
    for name, query in queries.items():
        row = []
        for pick in ("first", "random"):
            rng = np.random.default_rng(0)
            score, _ = summary(run_agent(cat, tasks, lambda g: CopyingAgent(g, query, pick, rng)))
            row.append(f"{pick} listed {score:5.1f}")
        print(f"    query {name:<28} score: " + ", ".join(row))


def main() -> None:
    if "--copy-bounds" in sys.argv:
        copy_bounds()
        return
    print("original paper (test goals):")
    for name, (score, sr) in PAPER_BASELINES.items():
        print(f"    {name:<40} score {score:5.1f}  SR {sr:5.1f}%")
    runs = [(1_000, 0)] if "--quick" in sys.argv else [(1_000, 0), (1_000, 1), (1_000, 2),
                                                       (100_000, 0)]
    for n, seed in runs:
        calibrate(n, seed)


if __name__ == "__main__":
    main()
