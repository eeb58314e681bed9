"""`prism eval`: evaluate a checkpoint on an environment's held-out splits."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from prism_jax.evaluate import EvalSettings, evaluate_to_dir
from prism_jax.runs import MeshConfig
from prism_jax.train.shell import run


@dataclasses.dataclass(frozen=True)
class _EvalRun:
    model: Path
    """Model directory (Hugging Face or orbax), with its tokenizer files."""
    env: Literal["alfworld", "webshop"]
    """Environment."""
    out: Path
    """Output directory: eval.json (the tables' numbers) and episodes.jsonl (every episode: its
    turns and the prompt shown at each step); written at the end, all at once. An existing
    non-empty directory is refused (see --overwrite)."""


    splits: tuple[str, ...] = ()
    """Splits to evaluate (default: valid_seen valid_unseen for ALFWorld, test for WebShop)."""
    settings: EvalSettings = EvalSettings()
    """How episodes are played."""
    overwrite: bool = False
    """Replace an existing non-empty --out (never the directory the model is read from)."""


@dataclasses.dataclass(frozen=True)
class EvalArgs(MeshConfig, _EvalRun):
    """Play a model on ALFWorld (success rate per task type, seen and unseen) or WebShop (Score and
    SR on the test goals) and write the results. With a mesh (--mesh-fsdp, --mesh-tensor) the
    weights are sharded by the rules and sampling batches split over data x fsdp."""


def _evaluate(args: EvalArgs) -> dict:
    res = evaluate_to_dir(args.model, args.env, args.out, args.splits or None, args.settings,
                          overwrite=args.overwrite, mesh=args.build())
    return {"env": args.env, "eval": res["eval"], "out": args.out}


def _show(res: dict) -> None:
    for split, table in res["eval"].items():
        cells = ", ".join(f"{k} {'-' if v is None else f'{v:.2f}'}" for k, v in table.items())
        print(f"{res['env']} {split}: {cells}")
    print(f"wrote {res['out']}/eval.json and episodes.jsonl")


def main(argv: list[str] | None = None, prog: str = "prism eval") -> int:
    return run(EvalArgs, _evaluate, argv, prog, show=_show)
