"""Scripted WebShop agents for calibrating the catalog, and a plain episode loop for them.

* `RuleAgent`: the original paper's rule baseline: search the instruction, click the first
  result, buy.
* `VerbatimOptionAgent`: the same, plus, on the item page, click every option value that
  appears word for word in the instruction (page order; a later click of the same option
  replaces the earlier one), then buy.

The original paper reports (test goals): rule baseline score 45.6 / SR 9.6%, imitation
learning 59.9 / 29.1%, human experts 82.1 / 59.6% (`PAPER_BASELINES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prism_jax.envs.webshop.catalog import Catalog, Goal
from prism_jax.envs.webshop.env import WebShopEnv

PAPER_BASELINES = {"rule": (45.6, 9.6), "imitation learning": (59.9, 29.1),
                   "human expert": (82.1, 59.6)}
_FIXED = {"back to search", "< prev", "next >", "description", "features", "reviews",
          "buy now", "search"}


def _products(clickables: list[str]) -> list[str]:
    return [c for c in clickables if c not in _FIXED]


class RuleAgent:
    """Search the instruction, click the first result, buy."""

    def __init__(self, goal: Goal):
        self.goal = goal

    def act(self, info: dict) -> str:
        page, clickables = info["page"], info["available_actions"]["clickables"]
        if page == "search":
            return f"search[{info['task']}]"
        if page == "results":
            products = _products(clickables)
            return f"click[{products[0]}]" if products else "click[back to search]"
        return self.on_item(info)

    def on_item(self, info: dict) -> str:
        return "click[buy now]"


class VerbatimOptionAgent(RuleAgent):
    """`RuleAgent` that also clicks the option values written word for word in the
    instruction."""

    def __init__(self, goal: Goal):
        super().__init__(goal)
        self._clicked: set[str] = set()

    def on_item(self, info: dict) -> str:
        for value in _products(info["available_actions"]["clickables"]):
            if value not in self._clicked and re.search(
                    rf"(?<!\w){re.escape(value)}(?!\w)", info["task"].lower()):
                self._clicked.add(value)
                return f"click[{value}]"
        return "click[buy now]"


def run_agent(catalog: Catalog, task_ids: list[str], make_agent: Callable[[Goal], object], *,
              max_steps: int = 15) -> list[dict]:
    """Play each task once with ``make_agent(goal).act(info) -> action``; per episode
    ``{task_id, score, success, n_steps, actions}``."""
    env = WebShopEnv(catalog, max_steps=max_steps)
    out = []
    for task_id in task_ids:
        _, info = env.reset(options={"task": task_id})
        agent = make_agent(env.goal)
        actions, done = [], False
        while not done:
            action = agent.act(info)
            actions.append(action)
            _, _, term, trunc, info = env.step(action)
            done = term or trunc
        out.append({"task_id": task_id, "score": info["score"], "success": info["won"],
                    "n_steps": info["step"], "actions": actions})
    return out


def summary(episodes: list[dict]) -> tuple[float, float]:
    """(Score, SR) in percent: 100 x mean purchase score, 100 x share of scores of 1.0."""
    n = max(len(episodes), 1)
    return (100.0 * sum(e["score"] for e in episodes) / n,
            100.0 * sum(bool(e["success"]) for e in episodes) / n)
