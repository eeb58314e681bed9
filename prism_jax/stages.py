"""The pipeline's run directory (`Run`: stage records, the command log) and its shared stages:
the trajectory corpus, the base model, Stage I+II scores and (for hpt_static) the base model's
pass rates. The per-method stages and the whole run: `prism_jax.pipeline`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prism_jax.data import read_trajectories
from prism_jax.envs.alfworld import datagen as alfworld_datagen, generate_games
from prism_jax.envs.webshop import datagen as webshop_datagen
from prism_jax.files import write_json, write_jsonl
from prism_jax.grpo import ENV_DEFAULTS, GRPOConfig, load_start, make_vec_env
from prism_jax.models.builder import build_tiny, corpus_from_files
from prism_jax.pretrain import repeated_windows
from prism_jax.probe_file import ProbeConfig, probe_file
from prism_jax.rollout import ModelSampler, RolloutConfig, rollout
from prism_jax.runs import CONFIG_FILE, RunDir, command_args, command_line
from prism_jax.sft import SFTConfig, train_sft

if TYPE_CHECKING:
    from prism_jax.pipeline import PipelineConfig

log = logging.getLogger("prism.pipeline")


# ------------------------------------------------------------------------------ bookkeeping
# Each environment's expert-trajectory generator (`prism gen-data ENV`).
GENERATORS = {"alfworld": alfworld_datagen, "webshop": webshop_datagen}


def gen_data_config(cfg: PipelineConfig, out: Path, *, split: str, n, **fields):
    """The `GenDataConfig` of `cfg.env` for `n` trajectories of `split` into `out`, with the
    prompt the RL stage and evaluation use (one setting for all)."""
    return GENERATORS[cfg.env].GenDataConfig(
        out=out, split=split, n=n, think=cfg.grpo.think, history=cfg.grpo.history,
        prompt_style=cfg.grpo.prompt_style, **fields)


def _gen_data(env: str, gen) -> None:
    """`prism gen-data ENV` in-process: the generator's function, its summary line and its rule
    for failure (ALFWorld: an expert that did not win every game)."""
    module = GENERATORS[env]
    line, code = module.report(gen, module.generate(gen))
    print(line, flush=True)
    if code:
        raise RuntimeError(f"`{shlex.join(command_line(f'gen-data {env}', gen))}` failed with "
                           f"exit code {code}")


def _union(old: list, new: tuple) -> tuple:
    return tuple(dict.fromkeys([*old, *new]))


class Run:
    """One pipeline run directory: its lock and config record, stage records and the command log.

    Use as a context manager. The run directory is a `RunDir`: a second invocation must have the
    same config and inputs (a user data file or model is fingerprinted), except `methods` and
    `seeds`, which may grow (config.json then lists every method and seed run so far); anything
    else is refused, since the finished stages it would skip ran with the old settings.
    """

    def __init__(self, run_dir: Path, config: PipelineConfig, command: str):
        self.dir = Path(run_dir).absolute()
        self.config = config
        self.command = command
        inputs = {k: v for k, v in (("data.path", config.data.path),
                                    ("model.path", config.model.path)) if v is not None}
        self._run = RunDir(self.dir, "pipeline", config, inputs=inputs,
                           resumable=("methods", "seeds"))

    def __enter__(self) -> "Run":
        self._run.__enter__()
        try:
            record = self.dir / CONFIG_FILE
            if record.exists():
                old = json.loads(record.read_text())
                self._run.config = dataclasses.replace(
                    self.config, methods=_union(old.get("methods", []), self.config.methods),
                    seeds=_union(old.get("seeds", []), self.config.seeds))
            self._run.start()
            self._log_command(f"pipeline ({time.strftime('%Y-%m-%d %H:%M:%S')})", self.command)
        except BaseException:
            self._run.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._run.__exit__(*exc)

    def _log_command(self, title: str, command: str) -> None:
        with open(self.dir / "commands.txt", "a") as f:
            f.write(f"# {title}\n{command}\n")

    def stage(self, name: str, path: Path, fn: Callable[[], dict | None], *,
              command: list[str] | str = "") -> dict:
        """Run fn once: skip when `path/stage.json` exists, otherwise run and record its time.

        `command` (argv, or text for steps that are not one command) goes to commands.txt.
        """
        record = path / "stage.json"
        if record.exists():
            log.info("skipping %s: done by an earlier invocation with this config (%s)", name, record)
            return json.loads(record.read_text())
        path.mkdir(parents=True, exist_ok=True)
        print(f"\n== {name}", flush=True)
        if command:
            self._log_command(name, command if isinstance(command, str) else shlex.join(command))
        t0 = time.perf_counter()
        info = dict(fn() or {})
        info["seconds"] = round(time.perf_counter() - t0, 3)
        write_json(record, info)
        return info


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------ stages
def games_dir(run: Run) -> Path:
    """Where a run's ALFWorld games are: the configured folder, else the run's own."""
    return run.config.data.games_dir or run.dir / "games"


def make_data(run: Run) -> Path:
    cfg = run.config
    out = run.dir / "data" / "trajs.jsonl"
    gen = None
    if cfg.data.path is None:
        where = ({"games_dir": games_dir(run), "task_types": cfg.data.task_types,
                  "max_steps": cfg.data.plan_steps} if cfg.env == "alfworld"
                 else {"num_products": cfg.data.webshop_products})
        if cfg.env == "webshop":
            where["expert_query"] = cfg.data.webshop_query
        gen = gen_data_config(cfg, out, split="train", n=cfg.data.n, seed=cfg.data.seed, **where)

    def go():
        if gen is None:
            read_trajectories(cfg.data.path)  # validate before copying
            shutil.copyfile(cfg.data.path, out)
        else:
            _gen_data(cfg.env, gen)
        return {"trajectories": str(out), "n": len(read_jsonl(out))}

    run.stage("data: expert trajectories", out.parent, go,
              command=(command_line(f"gen-data {cfg.env}", gen) if gen is not None
                       else ["cp", str(cfg.data.path), str(out)]))
    return out


def catalog_pages(cfg):
    """The WebShop catalog's own text (product ids, titles, prices, descriptions, options), so a
    word-level vocabulary covers every page the agent can be shown, not only the corpus's."""
    from prism_jax.envs.webshop.env import default_catalog
    for p in default_catalog(cfg.data.webshop_products, cfg.data.seed).products:
        yield f"[SEP] {p.asin} [SEP] {p.title} [SEP] {p.price_tag} [SEP]"   # as a results page
        yield p.description
        yield from p.bullet_points
        for name, values in p.options.items():
            yield " ".join([name, *values])


def make_base(run: Run, data: Path) -> Path:
    """The base model: the configured checkpoint, or the tiny model built on the data + warm-up."""
    cfg = run.config
    if cfg.model.path is not None:
        return cfg.model.path
    base = run.dir / "base"
    warm, init, games = base / "warmup.jsonl", base / "init", base / "warmup_games"
    files = [data] + ([warm] if cfg.warmup.n else [])
    games_args = warm_gen = None
    if cfg.warmup.n:
        if cfg.env == "alfworld":
            games_args = ["gen-games", "alfworld", "--out", str(games), "--split", "train", "--n",
                          str(cfg.warmup.n), "--seed", str(cfg.warmup.seed), "--task-types",
                          *cfg.warmup.task_types]
            warm_gen = gen_data_config(cfg, warm, split="train", n=cfg.warmup.n, games_dir=games,
                                       use_existing=True)
        else:
            warm_gen = gen_data_config(cfg, warm, split="eval", n=cfg.warmup.n,
                                       num_products=cfg.data.webshop_products, seed=cfg.data.seed)
    tiny_args = ["build-tiny", "--corpus", *map(str, files), "--out", str(init),
                 *command_args(cfg.model.tiny, "spec."), "--seed", str(cfg.seeds[0])]
    # copy pre-training on the corpus's prompts; the warm-up (if any) starts from its result
    pre = cfg.pretrain
    windows = base / "pretrain.jsonl"
    pre_sft = SFTConfig.of(cfg.sft, model=init, data=windows, out=base / "pretrain", epochs=1,
                           lr=pre.lr, batch_size=pre.batch_size, accum_steps=1, per_step=False,
                           targets="prompt", max_len=cfg.max_len, seed=cfg.seeds[0])
    start = base / "pretrain" / "final" if pre.steps else init
    warm_sft = SFTConfig.of(cfg.sft, model=start, data=warm, out=base / "warmup_sft",
                            epochs=cfg.warmup.epochs, lr=cfg.warmup.lr, max_len=cfg.max_len,
                            seed=cfg.seeds[0])

    def go():
        if games_args:
            generate_games("train", cfg.warmup.n, games, seed=cfg.warmup.seed,
                           task_types=list(cfg.warmup.task_types), progress=False)
        if warm_gen is not None:
            _gen_data(cfg.env, warm_gen)
        # the stage owns init/: an interrupted earlier attempt may have left one
        corpus = corpus_from_files(files)
        if cfg.model.tiny.tokenizer == "word" and cfg.env == "webshop":
            corpus = itertools.chain(corpus, catalog_pages(cfg))
        build_tiny(init, corpus, cfg.model.tiny, seed=cfg.seeds[0], overwrite=True)
        info = {"model": str(init)}
        if pre.steps or pre.replay:
            records = read_trajectories(data)
        if pre.replay:
            write_jsonl(replay_file(run), repeated_windows(
                records, pre.replay, words=pre.words, min_words=pre.min_words, gap=pre.gap,
                seed=cfg.seeds[0] + 1))
            info["replay"] = str(replay_file(run))
        if pre.steps:
            write_jsonl(windows, repeated_windows(records, pre.steps * pre.batch_size,
                                                  words=pre.words, min_words=pre.min_words,
                                                  gap=pre.gap, seed=cfg.seeds[0]))
            info["pretrain"] = train_sft(pre_sft)
            info["model"] = info["pretrain"]["final_model"]
        if cfg.warmup.n:
            info["warmup"] = train_sft(warm_sft)
            info["model"] = info["warmup"]["final_model"]
        return info

    commands = [["prism", *a] for a in (games_args, tiny_args) if a]
    if warm_gen is not None:
        commands.insert(len(commands) - 1, command_line(f"gen-data {cfg.env}", warm_gen))
    title = "base model: tiny Qwen3"
    if pre.steps:
        commands.append(command_line("sft", pre_sft))
        title += f" + {pre.steps} steps of copy pre-training on the prompts"
    if pre.replay:
        title += f" (+ {pre.replay} copy windows for SFT to rehearse)"
    if cfg.warmup.n:
        commands.append(command_line("sft", warm_sft))
        title += " + warm-up SFT"
    info = run.stage(title, base, go,
                     command="\n".join(shlex.join(c) for c in commands))
    return Path(info["model"])


def replay_file(run: Run) -> Path | None:
    """The copy windows every SFT stage mixes into its data (`PreTrain.replay`), or None."""
    return run.dir / "base" / "replay.jsonl" if run.config.pretrain.replay else None


def make_scores(run: Run, base: Path, data: Path) -> tuple[Path, float]:
    cfg = run.config
    scores = run.dir / "probe" / "scores.jsonl"
    probe = ProbeConfig(model=Path(base), data=Path(data), out=scores, max_len=cfg.max_len,
                        batch_size=cfg.probe_batch_size, dtype=cfg.model.dtype,
                        remat=cfg.probe_remat)
    info = run.stage("probe: stage I+II", scores.parent, lambda: probe_file(probe),
                     command=command_line("probe", probe))
    return scores, info["seconds"]


def rl_config(cfg: PipelineConfig) -> GRPOConfig:
    return dataclasses.replace(cfg.grpo, webshop_products=cfg.data.webshop_products,
                               webshop_seed=cfg.data.seed)


def make_pass_rates(run: Run, base: Path, data: Path) -> Path:
    """HPT's gate input: the base model's success rate over hpt_rollouts rollouts per task."""
    cfg = run.config
    out = run.dir / "hpt" / "pass_rates.jsonl"

    def go():
        records = read_jsonl(data)
        tasks = list(dict.fromkeys(r["task_id"] for r in records))
        grpo = dataclasses.replace(rl_config(cfg), model=base)
        max_steps = grpo.max_steps or ENV_DEFAULTS[cfg.env]["max_steps"]
        rc = RolloutConfig(env=cfg.env, max_steps=max_steps,
                           max_prompt_len=grpo.max_prompt_len or ENV_DEFAULTS[cfg.env]["max_prompt_len"],
                           max_new_tokens=grpo.max_new_tokens, temperature=grpo.temperature,
                           top_p=grpo.top_p, bucket=grpo.bucket, think=grpo.think,
                           history=grpo.history, prompt_style=grpo.prompt_style,
                           actions=grpo.actions)
        model, tok = load_start(grpo)
        per_call = max(1, grpo.tasks_per_iter)
        n_env = per_call * cfg.hpt_rollouts
        sampler = ModelSampler(model.params(), model.config, tok, rc, max_batch=n_env)
        wins: dict[str, list[bool]] = {}
        vec = make_vec_env(cfg.env, n_env, grpo, max_steps)
        try:
            for i in range(0, len(tasks), per_call):
                chunk = tasks[i: i + per_call]
                env_tasks = [t for t in chunk for _ in range(cfg.hpt_rollouts)]
                if len(env_tasks) < n_env:   # keep the env batch size fixed: pad with repeats
                    env_tasks += [env_tasks[-1]] * (n_env - len(env_tasks))
                eps = rollout(sampler, tok, vec, env_tasks, config=rc, seed=cfg.seeds[0] + i,
                              progress=False)
                for t, e in zip(env_tasks[: len(chunk) * cfg.hpt_rollouts], eps):
                    if e.error is None:  # an env failure is no evidence about the model
                        wins.setdefault(t, []).append(bool(e.success))
        finally:
            vec.close()
        rate = {t: float(np.mean(w)) for t, w in wins.items()}
        # a task whose every rollout was lost to env failures counts as never passed
        write_jsonl(out, [{"id": r["id"], "pass_rate": rate.get(r["task_id"], 0.0)} for r in records])
        return {"tasks": len(tasks), "mean_pass_rate": float(np.mean(list(rate.values())))}

    run.stage("HPT: base-model pass rates", out.parent, go,
              command=f"(rollouts of {base}: {cfg.hpt_rollouts} per task)")
    return out
