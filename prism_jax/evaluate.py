"""Evaluate a checkpoint on an environment's held-out splits (Tables 1 and 2).

ALFWorld: success rate (%) per task-type column on `valid_seen` and `valid_unseen`;
WebShop: Score (100 x mean reward) and SR (%) on the `test` goals. Rates are percentages, and a
column without episodes is None, as the tables of `prism_jax.tables` expect. Episodes run
through the one episode loop with the prompt training used (verl-agent's template, `think`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jax.numpy as jnp
from jax.sharding import Mesh

from prism_jax import models
from prism_jax.envs.prompts import PromptConfig
from prism_jax.envs.registry import EnvOptions, get_env, parse_count, run_episodes
from prism_jax.episodes import valid_percent
from prism_jax.files import atomic_dir, check_output, write_json, write_jsonl
from prism_jax.locks import sibling_lock
from prism_jax.models.tokenizer import load_tokenizer
from prism_jax.policy import ModelPolicy
from prism_jax.rollout import Actions

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclass(frozen=True)
class EvalSettings:
    """How episodes are played."""

    n: int | Literal["all"] = 32
    """Episodes per split: the first N tasks (ALFWorld: round-robin over the six task types);
    all (or 0) plays every task of the split (valid_seen 140, valid_unseen 134 in ALFWorld)."""
    batch_size: int = 8
    """Episodes run at once (one env each)."""
    max_steps: int | None = None
    """Step limit (default: 50 ALFWorld, 15 WebShop)."""
    temperature: float = 0.4
    """Sampling temperature (verl-agent evaluates at 0.4; 0 is greedy)."""
    top_p: float = 1.0
    """Nucleus sampling threshold."""
    max_new_tokens: int = 64
    """Length cap of one response."""
    max_prompt_len: int = 2048
    """Prompt budget; past steps are dropped first when a prompt is longer."""
    think: bool = True
    """The prompt asks for <think></think> before the action and a response without it is
    invalid (take the setting training used)."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Parameter and compute dtype of the evaluated model (bfloat16 for 8B models)."""
    history: int = 2
    """verl prompt: past steps shown (verl-agent's history_length)."""
    prompt_style: Literal["verl", "chat"] = "verl"
    """verl: verl-agent's per-step template; chat: the multi-turn chat."""
    actions: Actions = "free"
    """free: the model writes its action (the paper's setting); admissible: decoding is
    restricted to "<action>X</action>" for the step's admissible actions X, so every action is
    valid (needs think=False; a step whose list holds a placeholder, WebShop's search box, is
    decoded freely); extractive: as admissible, and a placeholder's argument (the search
    query) is spelled from the task's words only."""
    seed: int = 0
    """Sampling seed."""
    data_seed: int = 0
    """Seed of the generated games (ALFWorld) or catalog (WebShop)."""
    games_dir: Path | None = None
    """ALFWorld game root: a folder of generated games (generated there when missing) or
    ALFWorld's own $ALFWORLD_DATA/json_2.1.1 (read only). Default: data/alfworld (the
    pipeline: its data's games)."""
    num_products: int = 1000
    """WebShop catalog size."""
    task_types: tuple[str, ...] = ()
    """ALFWorld, generated games: only these task types (default: all six)."""
    plan_steps: int = 50
    """ALFWorld, generated games: every expert plan fits this many steps."""
    workers: int | None = None
    """ALFWorld engine worker processes (default: min(batch size, CPU count))."""


def prompt_of(settings):
    """The `PromptConfig` of an EvalSettings (or any object with think, history, prompt_style)."""
    return PromptConfig(style=settings.prompt_style, history=settings.history, think=settings.think)


def _options(settings: EvalSettings) -> EnvOptions:
    return EnvOptions(games_dir=settings.games_dir or Path("data/alfworld"), data_seed=settings.data_seed,
                      num_products=settings.num_products, workers=settings.workers,
                      task_types=tuple(settings.task_types), plan_steps=settings.plan_steps)


def eval_tasks(env: str, splits=None, settings: EvalSettings = EvalSettings()) -> dict[str, list[str]]:
    """The tasks of each evaluation split ({split: task ids}); raises ValueError when a split
    of a user's data holds fewer than ``settings.n``."""
    spec = get_env(env)
    return {split: spec.tasks(split, parse_count(settings.n), _options(settings))
            for split in tuple(splits or spec.eval_splits)}


def evaluate_policy(policy, env: str, splits=None, settings: EvalSettings = EvalSettings(),
                    tasks: dict[str, list[str]] | None = None) -> dict:
    """Play `policy` (a `prism_jax.episodes.Policy`) on each split (`eval_tasks`, unless given).

    Returns {"env", "eval": {split: table}, "episodes": {split: [records]}} with tables in
    percent; each table also has "Valid", the percent of agent steps with a well-formed action
    the environment accepted. A record holds the prompt of every step as it was shown.
    """
    spec = get_env(env)
    tasks = tasks if tasks is not None else eval_tasks(env, splits, settings)
    out: dict = {"env": env, "eval": {}, "episodes": {}}
    for split, ids in tasks.items():
        records = run_episodes(env, policy, ids, batch_size=settings.batch_size,
                               max_steps=settings.max_steps, prompt=prompt_of(settings),
                               seed=settings.seed, options=_options(settings),
                               desc=f"evaluate {env} {split}")
        out["eval"][split] = {**spec.table(records), "Valid": valid_percent(records)}
        out["episodes"][split] = records
    return out


def evaluate_model(model_dir: str | os.PathLike, env: str, splits=None,
                   settings: EvalSettings = EvalSettings(), mesh: Mesh | None = None) -> dict:
    """Load a checkpoint (HF or orbax) with its tokenizer in `settings.dtype` and evaluate it (see
    evaluate_policy). With a `mesh` the weights are placed by the sharding rules and each
    sampling batch is split over its data x fsdp devices."""
    tasks = eval_tasks(env, splits, settings)    # a bad request fails before the model loads
    model = models.load(model_dir, DTYPES[settings.dtype], mesh)
    return evaluate_params(model.params(), model.config,
                           load_tokenizer(model_dir, vocab_size=model.config.vocab_size), env,
                           splits, settings, tasks=tasks)


def evaluate_params(params, cfg, tokenizer, env: str, splits=None,
                    settings: EvalSettings = EvalSettings(), *, tasks=None, bucket: int = 64) -> dict:
    """Evaluate weights already in memory (see evaluate_policy): the policy samples with
    `settings`' temperature, top-p, budgets and think rule."""
    policy = ModelPolicy(params, cfg, tokenizer, max_new_tokens=settings.max_new_tokens,
                         temperature=settings.temperature, top_p=settings.top_p,
                         max_prompt_len=settings.max_prompt_len, think=settings.think,
                         bucket=bucket, max_batch=settings.batch_size, actions=settings.actions)
    return evaluate_policy(policy, env, splits, settings, tasks=tasks)


def evaluate_to_dir(model_dir: str | os.PathLike, env: str, out: str | os.PathLike, splits=None,
                    settings: EvalSettings = EvalSettings(), *, overwrite: bool = False,
                    mesh: Mesh | None = None) -> dict:
    """`evaluate_model`, written to `out` as eval.json (the tables' numbers) and episodes.jsonl.

    `out` is checked before the episodes are played and written all at once at the end; an
    existing non-empty `out` (a training run, an earlier evaluation) is refused unless
    `overwrite`, and it is locked while the evaluation runs.
    """
    check_output(out, overwrite=overwrite, inputs=(model_dir,))
    with sibling_lock(out):
        res = evaluate_model(model_dir, env, splits, settings, mesh)
        with atomic_dir(out, overwrite=overwrite, inputs=(model_dir,)) as tmp:
            write_json(tmp / "eval.json", {"env": res["env"], "model": str(model_dir),
                                           "eval": res["eval"]})
            write_jsonl(tmp / "episodes.jsonl", [{"split": split, **e} for split, episodes
                                                 in res["episodes"].items() for e in episodes])
    return res
