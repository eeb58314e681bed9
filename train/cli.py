"""The `prism` console script: one subcommand per stage.

Each subcommand lives in its own module with a ``main(argv)`` built on tyro; this file only
dispatches, so `prism --help` stays fast (no JAX import) and stages stay independent.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line summary). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("prism_jax.train.convert", "Convert a Hugging Face directory <-> an orbax checkpoint."),
    "build-tiny": ("prism_jax.train.build_tiny", "Write a tiny Qwen3-architecture HF checkpoint + tokenizer."),
    "generate": ("prism_jax.train.generate", "Generate text from a checkpoint (greedy or sampled)."),
    "gen-games": ("prism_jax.train.gen_games", "Generate embedded ALFWorld games for a split."),
    "gen-data": ("prism_jax.train.gen_data", "Write expert trajectories (JSONL) for an environment."),
    "probe": ("prism_jax.train.probe", "Stage I+II: per-trajectory gradient norms and concentration scores."),
    "route": ("prism_jax.train.route", "Stage III: split trajectories into SFT and RL sets."),
    "report": ("prism_jax.train.report", "Probe report: where in the network the concentration sits."),
    "sft": ("prism_jax.train.sft", "Supervised fine-tuning on a trajectory JSONL."),
    "grpo": ("prism_jax.train.grpo", "GRPO / GiGPO on an environment's tasks."),
    "eval": ("prism_jax.train.eval", "Evaluate a checkpoint on an environment split."),
    "pipeline": ("prism_jax.train.pipeline", "Run PRISM end to end from a config."),
    "tables": ("prism_jax.train.tables", "Rebuild the paper's tables and figures from run results."),
    "memory": ("prism_jax.train.memory", "Per-device memory of a config's steps, compiled ahead of time."),
    "plan": ("prism_jax.train.plan", "Predicted wall clock of a config's stages on N accelerators."),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: prism COMMAND [--help] [flags]", "", "commands:"]
    for name, (_, summary) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {summary}")
    lines += ["", "Run `prism COMMAND --help` for the flags of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"prism: unknown command {name!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            print(f"prism: command {name!r} is not available in this build.", file=sys.stderr)
            return 2
        raise
    result = module.main(rest, prog=f"prism {name}")
    return int(result or 0)


def dispatch_env(argv: list[str], prog: str, envs: tuple[str, ...], module: str, summary: str) -> int:
    """Run `prog ENV [flags]` as `prism_jax.envs.<ENV>.<module>.main(flags)`."""
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {prog} {{{','.join(envs)}}} [--help] [flags]\n\n{summary}\n"
              f"Run `{prog} ENV --help` for the flags of one environment.")
        return 0
    env, rest = argv[0], argv[1:]
    if env not in envs:
        print(f"{prog}: unknown environment {env!r}; choose one of {', '.join(envs)}.", file=sys.stderr)
        return 2
    impl = importlib.import_module(f"prism_jax.envs.{env}.{module}")
    shell = importlib.import_module("prism_jax.train.shell")   # imports JAX: only when run
    shell.setup()
    name = f"{prog} {env}"
    return int(shell.call(lambda: impl.main(rest, prog=name), prog=name) or 0)


if __name__ == "__main__":
    sys.exit(main())
