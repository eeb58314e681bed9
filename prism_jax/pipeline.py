"""PRISM end to end: data -> base model -> probe -> route -> SFT -> GRPO -> evaluate -> tables.

Every stage writes into one run directory and records `stage.json` (its wall-clock time and
outputs) when it finishes; a re-run skips finished stages, and an interrupted one resumes (the
probe by trajectory id, SFT and GRPO from their last checkpoint).

    run_dir/
      config.json, commands.txt          the resolved config and commands that reproduce the run
      data/trajs.jsonl (+ games/)        expert trajectories (or a copy of the user's file); games/
                                         holds generated ALFWorld games unless data.games_dir
                                         names ALFWorld's own (read, never written)
      base/                              the base model (tiny: built + SFT warm-up)
      probe/scores.jsonl                 stage I+II
      hpt/pass_rates.jsonl               base-model pass rates (only for hpt_static)
      runs/<method>/seed<k>/             route/, sft/, grpo/, eval/, result.json
      tables/                            Tables 1-4, Figures 3-5 (Markdown, CSV, PNG)
      analyses/                          held-out 95% intervals, PRISM vs Random, the metrics'
                                         consensus, raw vs normalised ranks, routed profiles
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from prism_jax.analyses import write_analyses
from prism_jax.evaluate import EvalSettings, evaluate_model
from prism_jax.files import write_json, write_jsonl
from prism_jax.grpo import GRPOConfig, GRPOHparams, load_tasks, train_grpo
from prism_jax.methods import Method, parse_method
from prism_jax.models.builder import TinySpec
from prism_jax.results import load_results
from prism_jax.route_file import RouteConfig, route_file
from prism_jax.runs import Checked, MeshConfig, command_line
from prism_jax.scores import load_scores
from prism_jax.sft import SFTConfig, SFTHparams, train_sft
from prism_jax.stages import (Run, games_dir, make_base, make_data, make_pass_rates, make_scores,
                              read_jsonl, replay_file, rl_config)
from prism_jax.tables import write_report

@dataclass(frozen=True)
class ModelSource:
    """The base model."""

    path: Path | None = None
    """Hugging Face directory or orbax checkpoint; None builds the tiny model on the data."""
    tiny: TinySpec = TinySpec()
    """Shape of the tiny model (when path is None)."""
    arch: str | None = None
    """Architecture preset (qwen3-8b, llama3.1-8b) for the ahead-of-time memory report when the
    checkpoint is not on this machine."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Probe / evaluation dtype."""


@dataclass(frozen=True)
class DataSource:
    """The trajectory corpus D that PRISM routes."""

    path: Path | None = None
    """A trajectory JSONL of your own; None generates expert trajectories."""
    n: int | Literal["all"] = 1000
    """Expert trajectories to generate (one per game / goal of the training split; ALFWorld's
    games round-robin over the task types); all: every one of the split."""
    games_dir: Path | None = None
    """ALFWorld: a json_2.1.1 root (ALFWorld's own games): the corpus and the RL tasks come from
    DIR/train and evaluation plays DIR/valid_seen and DIR/valid_unseen. None: games generated
    into the run directory."""
    seed: int = 0
    """Seed of the generated games (ALFWorld) or catalog (WebShop)."""
    task_types: tuple[str, ...] = ()
    """ALFWorld, generated games: only these task types, for the data, the RL tasks and the
    evaluation games (default: all six)."""
    plan_steps: int = 50
    """ALFWorld, generated games: every expert plan fits this many steps (data and evaluation)."""
    webshop_products: int = 1000
    """WebShop catalog size (data, RL and evaluation use the same catalog)."""
    webshop_query: Literal["attributes", "instruction"] = "attributes"
    """WebShop expert's first query: attributes (the type, attributes and option values) or
    instruction (the instruction verbatim, the paper's rule baseline's query: a policy then only
    has to copy it)."""


@dataclass(frozen=True)
class WarmUp:
    """Partial competence for a from-scratch base model: a short SFT on a disjoint set of simple
    tasks, so that the corpus D meets a model that knows some of it (like the paper's base)."""

    n: int = 0
    """Warm-up trajectories (0: no warm-up)."""
    task_types: tuple[str, ...] = ("pick_and_place_simple", "look_at_obj_in_light")
    """ALFWorld task types of the warm-up games (WebShop warms up on the `eval` goals)."""
    seed: int = 1000
    """Seed of the warm-up games (differs from the data's, so the tasks are disjoint)."""
    epochs: int = 3
    """Warm-up SFT epochs."""
    lr: float = 1e-3
    """Warm-up SFT peak learning rate."""


@dataclass(frozen=True)
class PreTrain:
    """Copy pre-training of a from-scratch base (`prism_jax.pretrain`): next-token loss on
    windows of the corpus's per-step prompts, each shown twice around a gap of other prompt
    text, never on an answer, so the base learns to copy (the skill a query from the instruction
    and a click on a listed id need) and still knows nothing of the task. The windows are
    written to base/pretrain.jsonl, the run's record of what the base was trained on."""

    steps: int = 0
    """Optimizer steps on one device (0: no pre-training; a mesh with k data shards takes
    steps / k of batch_size each)."""
    batch_size: int = 32
    """Windows per step."""
    words: int = 64
    """Longest window, in words (each is min_words to this many; a sequence holds it twice)."""
    min_words: int = 8
    """Shortest window, in words (= words, with gap 0: every copy the same distance behind
    its original)."""
    gap: int = 48
    """Longest run of other prompt text between the two copies, in words (0 to this many)."""
    lr: float = 2e-3
    """Peak learning rate (warm-up and cosine as SFT's)."""
    replay: int = 0
    """Further windows of the same kind (another draw), written to base/replay.jsonl and mixed
    into every method's SFT data with the loss on every token (`SFTConfig.mix`), so SFT keeps
    the copying instead of erasing it (0: none)."""


@dataclass(frozen=True)
class PipelineConfig(Checked):
    """PRISM end to end (paper section 3; appendix C hyperparameters by default)."""

    name: str = "custom"
    """Name of the configuration (recorded in the results)."""
    env: Literal["alfworld", "webshop"] = "alfworld"
    """Benchmark."""
    model: ModelSource = ModelSource()
    data: DataSource = DataSource()
    warmup: WarmUp = WarmUp()
    pretrain: PreTrain = PreTrain()
    methods: tuple[str, ...] = ("prism:gini",)
    """Methods to run: base, sft, grpo, gigpo, random, hpt (online: GRPO on all tasks, a task whose
    rollouts have <= hpt_gate successes trained on its demonstration in the same update), hpt_static (the base model's pass rates route each
    trajectory once, then SFT, then GRPO), sft_then_rl, prism:METRIC, inverse:METRIC, magnitude;
    append @RATIO for another RL share (e.g. prism:cv@0.3)."""
    seeds: tuple[int, ...] = (0,)
    """Seeds of each method (tables report the mean over seeds)."""
    max_len: int = 2048
    """Probe context length T (2048 ALFWorld, 4096 WebShop)."""
    probe_batch_size: int = 8
    """Trajectories per probe step."""
    probe_remat: Literal["full", "none"] = "full"
    """Probe rematerialisation (full: least memory)."""
    rl_epochs: float = 1.0
    """RL budget as passes over the RL task set: iterations = ceil(rl_epochs * tasks /
    tasks_per_iter), so every method gets the same budget per task (0: use grpo.iterations)."""
    hpt_gate: int = 0
    """HPT (online and static): successes out of a task's rollouts (group_size online,
    hpt_rollouts static) at or below which it trains on its demonstration with the SFT loss."""
    hpt_rollouts: int = 8
    """hpt_static: rollouts per task used to measure the base model's pass rate."""
    sft: SFTHparams = SFTHparams()
    """SFT hyperparameters (each run's model, data and output directory are the pipeline's)."""
    grpo: GRPOHparams = GRPOHparams()
    """GRPO/GiGPO hyperparameters (each run's model, tasks, output directory and advantage are the
    pipeline's)."""
    eval: EvalSettings = EvalSettings()
    """Evaluation settings."""
    eval_splits: tuple[str, ...] = ()
    """Evaluation splits (default: valid_seen valid_unseen for ALFWorld, test for WebShop)."""
    caption: str = ""
    """Printed under the held-out table of analyses/analyses.md (a preset's simplifications);
    `{cfg.FIELD}` is replaced by the run's setting (e.g. `{cfg.data.n}`)."""

    def check(self) -> None:
        for spec in self.methods:
            parse_method(spec)
        if not self.seeds:
            raise ValueError("seeds: give at least one seed")
        if not 1 <= self.pretrain.min_words <= self.pretrain.words:
            raise ValueError(f"pretrain.min_words: must be in [1, pretrain.words="
                             f"{self.pretrain.words}], got {self.pretrain.min_words}")
        if (self.pretrain.steps or self.pretrain.replay) and self.model.path is not None:
            raise ValueError("pretrain.steps/replay: only the tiny base built from scratch "
                             "(model.path None) is pre-trained; a checkpoint already is")
        if self.env == "webshop" and self.data.path is None and self.data.n == "all":
            raise ValueError("data.n: 'all' (every game of a split) is for ALFWorld; WebShop "
                             "generates a number of goals")


def route(run: Run, method: Method, seed: int, scores: Path, data: Path, out: Path,
          pass_rates: Path | None) -> tuple[Path | None, Path | None]:
    """(sft split, rl split) of a method; None where the method has no such phase."""
    if method.name == "base":
        return None, None
    if not method.info.routed:
        return (data if method.uses_sft_all else None), (data if method.uses_rl_all else None)
    hpt = method.info.pass_rates
    gate = {"pass_rates": pass_rates, "hpt_gate": run.config.hpt_gate,
            "hpt_rollouts": run.config.hpt_rollouts} if hpt else {}
    config = RouteConfig(
        scores=Path(scores), out_dir=out, data=Path(data), method=method.info.route_method,
        seed=seed, metric=method.metric if len(method.info.metrics) > 1 else None,
        rl_ratio=0.5 if method.rl_ratio is None else method.rl_ratio, **gate,
        overwrite=True)   # the stage owns out/: an interrupted attempt may have written it
    run.stage(f"{method.label} seed {seed}: route", out, lambda: route_file(config) and None,
              command=command_line("route", config))
    return out / "sft.jsonl", out / "rl.jsonl"


def run_method(run: Run, method: Method, seed: int, *, base: Path, data: Path, scores: Path,
               probe_seconds: float, pass_rates: Path | None) -> dict:
    """Route, SFT, RL and evaluate one method with one seed; returns its result record."""
    cfg = run.config
    home = run.dir / "runs" / method.label / f"seed{seed}"
    sft_split, rl_split = route(run, method, seed, scores, data, home / "route", pass_rates)
    model, timings = base, {"probe": probe_seconds if method.info.probes else None, "sft": None,
                            "rl": None}
    sizes = {"sft": len(read_jsonl(sft_split)) if sft_split else 0,
             "rl": len(read_jsonl(rl_split)) if rl_split else 0}
    if sft_split is not None and sizes["sft"]:
        sft_cfg = SFTConfig.of(cfg.sft, model=model, data=sft_split, out=home / "sft",
                               max_len=cfg.max_len, seed=seed, mix=replay_file(run))
        info = run.stage(f"{method.label} seed {seed}: SFT on {sizes['sft']} trajectories", home / "sft",
                         lambda: train_sft(sft_cfg), command=command_line("sft", sft_cfg))
        model, timings["sft"] = Path(info["final_model"]), info["seconds"]
    if rl_split is not None and sizes["rl"]:
        _, tasks = load_tasks(rl_split)
        rl = rl_config(cfg)
        iterations = rl.iterations
        if cfg.rl_epochs > 0:
            iterations = max(1, math.ceil(cfg.rl_epochs * len(tasks) / rl.tasks_per_iter))
        grpo_cfg = GRPOConfig.of(rl, model=model, tasks=rl_split, out=home / "grpo",
                                 advantage="gigpo" if method.name == "gigpo" else "grpo",
                                 iterations=iterations, seed=seed,
                                 **({"hpt_gate": cfg.hpt_gate} if method.info.sft == "gated" else {}))
        info = run.stage(f"{method.label} seed {seed}: {grpo_cfg.advantage.upper()} on {len(tasks)} "
                         f"tasks, {iterations} iterations", home / "grpo", lambda: train_grpo(grpo_cfg),
                         command=command_line("grpo", grpo_cfg))
        model, timings["rl"] = Path(info["final_model"]), info["seconds"]

    settings = eval_settings(run, seed)

    def evaluate():
        res = evaluate_model(model, cfg.env, cfg.eval_splits or None, settings, cfg.grpo.build())
        write_jsonl(home / "eval" / "episodes.jsonl",
                    [{"split": s, **e} for s, eps in res["episodes"].items() for e in eps])
        return {"eval": res["eval"]}

    splits = {"splits": cfg.eval_splits} if cfg.eval_splits else {}
    info = run.stage(f"{method.label} seed {seed}: evaluate", home / "eval", evaluate,
                     command=command_line("eval", model=model, env=cfg.env, out=home / "eval",
                                          **splits, settings=settings, **_mesh_flags(cfg.grpo)))
    result = {"env": cfg.env, "model": str(cfg.model.path.name if cfg.model.path else "tiny"),
              "method": method.name, "metric": method.metric, "rl_ratio": method.rl_ratio,
              "seed": seed, "split_sizes": sizes, "timings": timings, "eval": info["eval"],
              "command": run.command, "config": cfg.name, "final_model": str(model)}
    write_json(home / "result.json", result)
    return result


def _mesh_flags(config: MeshConfig) -> dict:
    """The mesh fields of `config` that differ from MeshConfig's defaults (as CLI flags)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(MeshConfig)
            if getattr(config, f.name) != f.default}


def eval_settings(run: Run, seed: int) -> EvalSettings:
    """A method's evaluation settings: the configured ones, on the run's games (or the
    configured eval.games_dir), with the data's catalog and the prompt training used."""
    cfg = run.config
    return dataclasses.replace(
        cfg.eval, seed=seed, data_seed=cfg.data.seed, games_dir=cfg.eval.games_dir or games_dir(run),
        num_products=cfg.data.webshop_products, task_types=cfg.data.task_types,
        plan_steps=cfg.data.plan_steps, think=cfg.grpo.think, history=cfg.grpo.history,
        prompt_style=cfg.grpo.prompt_style, actions=cfg.grpo.actions, dtype=cfg.model.dtype)


def write_tables(run: Run) -> Path:
    out = run.dir / "tables"
    write_report(load_results(run.dir / "runs"), out)
    venns = sorted((run.dir / "runs").glob("prism-gini/seed*/route/venn.png"))
    if venns:
        shutil.copyfile(venns[0], out / "figure5_venn.png")
    write_run_analyses(run)
    return out


def write_run_analyses(run: Run) -> Path:
    """analyses/: held-out intervals, PRISM vs Random, the metrics' consensus, raw vs normalised
    ranks and the routed trajectories' profile (`prism_jax.analyses`)."""
    cfg = run.config
    scores_path = run.dir / "probe" / "scores.jsonl"
    scores = load_scores(scores_path) if scores_path.is_file() else None
    prism = next((parse_method(m) for m in cfg.methods if m.startswith("prism")), None)
    out = run.dir / "analyses"
    write_analyses(out, env=cfg.env, runs_dir=run.dir / "runs", scores=scores,
                   records=read_jsonl(run.dir / "data" / "trajs.jsonl") if scores else None,
                   rl_ratio=prism.rl_ratio if prism else 0.5,
                   metric=prism.metric if prism else "gini", caption=cfg.caption.format(cfg=cfg))
    return out


def run_pipeline(config: PipelineConfig, run_dir: Path, command: str | None = None) -> Path:
    """Run (or resume) the whole pipeline; returns the tables directory."""
    methods = [parse_method(m) for m in config.methods]
    command = command or "prism pipeline " + shlex.join(sys.argv[1:])
    with Run(run_dir, config, command) as run:
        data = make_data(run)
        base = make_base(run, data)
        needs_probe = any(m.info.probes for m in methods)
        scores, probe_seconds = make_scores(run, base, data) if needs_probe else (None, 0.0)
        pass_rates = (make_pass_rates(run, base, data)
                      if any(m.info.pass_rates for m in methods) else None)
        for method in methods:
            for seed in config.seeds:
                run_method(run, method, seed, base=base, data=data, scores=scores,
                           probe_seconds=probe_seconds, pass_rates=pass_rates)
        return write_tables(run)


__all__ = ["DataSource", "ModelSource", "PipelineConfig", "WarmUp", "run_pipeline"]
