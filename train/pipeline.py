"""`prism pipeline --config NAME [--run-dir DIR] [overrides]`: PRISM end to end."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from prism_jax.configs import ALL_METHODS, PRESETS, get_config
from prism_jax.pipeline import PipelineConfig, run_pipeline
from prism_jax.train.shell import call, run

USAGE = """Run PRISM end to end: expert data -> base model -> probe -> route -> SFT on the
low-conflict split -> GRPO on the high-conflict split's tasks -> evaluation -> tables.

  --config NAME   a preset: {presets} (default: tiny-alfworld)
  --run-dir DIR   where every artefact goes (default: runs/NAME); a re-run skips finished stages
                  and resumes an interrupted one

Every field of the preset can be overridden below, e.g. `--methods prism:gini random hpt`
(`--methods all` runs every baseline of the paper), `--seeds 0 1 2`, `--sft.lr 1e-5`,
`--grpo.group-size 8`, `--model.path /models/Qwen3-8B`."""


def _pop(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
            del argv[i: i + 2]
            return value
        if a.startswith(flag + "="):
            del argv[i]
            return a.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None, prog: str = "prism pipeline") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _pop(argv, "--config") or "tiny-alfworld"
    run_dir = _pop(argv, "--run-dir") or f"runs/{name}"
    preset = call(get_config, name, prog=prog)
    if "all" in argv:
        at = argv.index("all")
        if at > 0 and argv[at - 1] == "--methods":
            argv[at: at + 1] = list(ALL_METHODS)
    command = shlex.join(["prism", "pipeline", "--config", name, "--run-dir", run_dir, *argv])

    def show(tables: Path) -> None:
        print(f"\n== tables ({tables})\n")
        print((tables / "tables.md").read_text())
        analyses = tables.parent / "analyses" / "analyses.md"
        if analyses.is_file():
            print(f"\n== analyses ({analyses.parent})\n")
            print(analyses.read_text())

    return run(PipelineConfig, lambda config: run_pipeline(config, Path(run_dir), command=command),
               argv, prog, default=preset, description=USAGE.format(presets=", ".join(PRESETS)),
               show=show)
