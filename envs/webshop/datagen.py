"""`prism gen-data webshop`: expert trajectories as chat JSONL (the trajectory schema).

Each line: ``id``, ``messages`` (the whole chat), ``task``, ``think``, ``prompt`` and ``turns``
(the raw steps, for per-step SFT: `prism_jax.envs.prompts.record_fields`), ``env`` "webshop",
``task_type`` (the product category), ``success`` (purchase score 1.0), ``reward`` (the raw
purchase score), ``task_id`` (the goal index), ``split``, ``n_steps`` and ``instruction``.
The catalog is generated from ``--num-products`` / ``--seed`` unless the original WebShop
files are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from prism_jax import files
from prism_jax.envs.prompts import PromptConfig, format_response, parse_action, record_fields
from prism_jax.envs.registry import WebShopSlots
from prism_jax.envs.webshop.catalog import DEFAULT_NUM_GOALS, Catalog
from prism_jax.envs.webshop.expert import Expert
from prism_jax.episodes import Reply, play


@dataclass(frozen=True)
class GenDataConfig:
    """Write WebShop expert trajectories (one multi-turn chat per line)."""

    out: Path
    """Output JSONL file (written to a temporary file, then renamed)."""
    split: str = "train"
    """Goal split: train (goals 1500+), eval (500-1499) or test (0-499)."""
    n: int = 1000
    """Number of trajectories (the first N goals of the split)."""
    num_products: int = 1000
    """Size of the generated catalog (1,000 to 100,000 products)."""
    num_goals: int = DEFAULT_NUM_GOALS
    """Instructions in the generated catalog (train gets all beyond the first 1,500)."""
    seed: int = 0
    """Catalog seed: the same seed gives the same products and goals."""
    max_steps: int = 15
    """Episode step limit."""
    think: bool = True
    """The expert's answers reason inside <think></think> before the <action>; the prompts ask
    for it (verl-agent's template)."""
    prompt_style: Literal["verl", "chat"] = "verl"
    """Per-step prompt the records describe: verl (verl-agent's template) or chat."""
    history: int = 2
    """verl prompt: past steps shown at each step."""
    expert_query: Literal["attributes", "instruction"] = "attributes"
    """The expert's first query: attributes (the type with the wanted attributes and option
    values) or instruction (the instruction verbatim, as the paper's rule baseline searches)."""
    original_products: Path | None = None
    """The original's items_shuffle*.json (use the original data instead of generating)."""
    original_goals: Path | None = None
    """The original's items_human_ins.json (needed with --original-products)."""
    original_attributes: Path | None = None
    """The original's items_ins_v2*.json (product attributes; optional)."""


def load_catalog(cfg: GenDataConfig) -> Catalog:
    """The catalog a config names: the original files when given, else a generated one."""
    if cfg.original_products is not None or cfg.original_goals is not None:
        if cfg.original_products is None or cfg.original_goals is None:
            raise ValueError("--original-products and --original-goals go together")
        return Catalog.from_original(cfg.original_products, cfg.original_goals,
                                     attributes_json=cfg.original_attributes, seed=cfg.seed,
                                     progress=True)
    return Catalog.generate(cfg.num_products, cfg.seed, num_goals=cfg.num_goals)


class ExpertPolicy:
    """`prism_jax.episodes.Policy` of WebShop's `Expert`: one per episode, asked once per step
    with the env's current info (its reason inside <think> when ``think``)."""

    needs_key = False

    def __init__(self, catalog: Catalog, max_steps: int, think: bool, query: str = "attributes"):
        self.catalog, self.max_steps, self.think, self.query = catalog, max_steps, think, query
        self._experts: dict[int, object] = {}

    def __call__(self, requests, key):
        replies = []
        for r in requests:
            if r.step == 0:
                self._experts[r.episode] = Expert(self.catalog, self.catalog.goal(r.task_id),
                                                  max_steps=self.max_steps, query=self.query)
            action, reason = self._experts[r.episode].act_with_reason(r.info)
            replies.append(Reply(format_response(action, reason if self.think else None)))
        return replies


def expert_records(catalog: Catalog, task_ids: list[str], *, max_steps: int = 15,
                   prompt=None, batch_size: int = 8, progress: bool = True,
                   query: str = "attributes") -> list[dict]:
    """Play the expert on each goal; trajectory-schema records (without id/split), in order."""
    prompt = prompt or PromptConfig()
    if not task_ids:
        return []
    with WebShopSlots(min(batch_size, len(task_ids)), catalog, max_steps) as vec:
        episodes = play(ExpertPolicy(catalog, max_steps, prompt.think, query), vec, task_ids,
                        env="webshop", prompt=prompt, max_steps=max_steps, progress=progress,
                        desc="expert webshop")
    return [{**record_fields("webshop", e.task, e.turns, prompt), "env": "webshop",
             "task_type": e.info["task_type"], "success": bool(e.info["won"]),
             "reward": float(e.info["score"]), "task_id": e.task_id, "n_steps": e.n_steps,
             "instruction": e.task} for e in episodes]


def expert_episode(catalog: Catalog, task_id: str, *, max_steps: int = 15,
                   think: bool = True) -> dict:
    """Play one goal with the expert; the record of the trajectory schema (without id/split)."""
    return expert_records(catalog, [task_id], max_steps=max_steps,
                          prompt=PromptConfig(think=think), progress=False)[0]


_MOVES = ("click[next >]", "click[< prev]", "click[back to search]", "click[description]",
          "click[features]", "click[reviews]")


def trajectory_stats(records: list[dict]) -> dict:
    """How varied the trajectories are: the share that page, go back, open a sub-page or
    search twice (``varied``), the share that search twice (``research``), and the step
    counts' range."""
    varied = research = 0
    for r in records:
        actions = [parse_action(m["content"])[0] for m in r["messages"] if m["role"] == "assistant"]
        searches = sum(a.startswith("search[") for a in actions)
        varied += searches > 1 or any(a in _MOVES for a in actions)
        research += searches > 1
    n = max(len(records), 1)
    steps = [r["n_steps"] for r in records] or [0]
    return {"varied": varied / n, "research": research / n, "min_steps": min(steps),
            "max_steps": max(steps)}


class TooFewGoals(ValueError):
    """The split has fewer goals than the trajectories asked for."""


def generate(cfg: GenDataConfig) -> dict:
    """Run gen-data as configured; returns {"written", "won", "mean_reward", "stats"}
    (`trajectory_stats`). Raises TooFewGoals when the split is too small for ``n``."""
    catalog = load_catalog(cfg)
    task_ids = catalog.list_tasks(cfg.split, cfg.n)
    if len(task_ids) < cfg.n:
        raise TooFewGoals(f"the {cfg.split} split has only {len(task_ids)} goals (asked for "
                          f"{cfg.n}); raise --num-goals")
    prompt = PromptConfig(style=cfg.prompt_style, history=cfg.history, think=cfg.think)
    records = [{"id": f"webshop-{cfg.split}-{i:06d}", **record, "split": cfg.split}
               for i, record in enumerate(expert_records(catalog, task_ids, max_steps=cfg.max_steps,
                                                         prompt=prompt, query=cfg.expert_query))]
    files.write_jsonl(cfg.out, records, ensure_ascii=False)
    mean = sum(r["reward"] for r in records) / len(records) if records else 0.0
    return {"written": len(records), "won": sum(r["success"] for r in records),
            "mean_reward": mean, "stats": trajectory_stats(records)}


def report(cfg: GenDataConfig, result: dict) -> tuple[str, int]:
    """(the line gen-data prints for `generate`'s result, its exit code)."""
    n, wins, stats = result["written"], result["won"], result["stats"]
    return (f"wrote {n} trajectories to {cfg.out}; expert reached reward 1.0 on "
            f"{wins}/{n} ({100.0 * wins / max(n, 1):.1f}%), "
            f"score {100.0 * result['mean_reward']:.1f}; {100.0 * stats['varied']:.0f}% page, go "
            f"back, open a sub-page or search again ({100.0 * stats['research']:.0f}% search "
            f"again), {stats['min_steps']}-{stats['max_steps']} steps"), 0


def main(argv: list[str], prog: str = "prism gen-data webshop") -> int:
    cfg = tyro.cli(GenDataConfig, args=argv, prog=prog, description=GenDataConfig.__doc__)
    try:
        result = generate(cfg)
    except TooFewGoals as err:
        raise SystemExit(f"{prog}: {err}") from None
    line, code = report(cfg, result)
    print(line)
    return code
