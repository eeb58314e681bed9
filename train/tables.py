"""`prism tables RUN_DIR`: rebuild the paper's tables and figures from a run's result.json files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import tyro

from prism_jax.files import check_output_files
from prism_jax.results import load_results
from prism_jax.tables import write_report
from prism_jax.train.shell import run


OUTPUTS = ("tables.md", "table1.csv", "table2.csv", "table3.csv", "table4.csv", "figure3.png",
           "figure4.png")


@dataclasses.dataclass(frozen=True)
class TablesArgs:
    """Collect every result.json under RUNS (recursively; several run directories may be given)
    and write Tables 1-4 and Figures 3-4 as Markdown, CSV and PNG, with means over seeds."""

    runs: Annotated[tuple[Path, ...], tyro.conf.Positional, tyro.conf.arg(metavar="RUNS")]
    """Run directories (or result.json files) of `prism pipeline`."""
    out: Path = Path("tables")
    """Output directory (tables and figures already there are refused, see --overwrite)."""
    std: bool = True
    """Show mean ± sample std when a group has two or more seeds."""
    overwrite: bool = False
    """Replace tables and figures of an earlier run of this command in --out."""


def _tables(args: TablesArgs) -> Path:
    results = load_results(list(args.runs))
    if not results:
        raise ValueError(f"no result.json under {', '.join(map(str, args.runs))}")
    check_output_files(args.out, OUTPUTS, overwrite=args.overwrite)
    write_report(results, args.out, std=args.std)
    return args.out


def main(argv: list[str] | None = None, prog: str = "prism tables") -> int:
    return run(TablesArgs, _tables, argv, prog, show=lambda out: print((out / "tables.md").read_text()))
