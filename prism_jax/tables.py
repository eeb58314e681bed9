"""The paper's result tables (1-4) from the pipeline's per-run `result.json`s, and the report
that writes them with the figures (`prism_jax.figures`).

A table cell is the mean over a group's seeds (grouping: `prism_jax.results`), optionally
"mean ± std" with the sample standard deviation (ddof=1) when a group has two or more seeds.
Numbers have two decimals, as in the paper.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prism_jax.files import atomic_write, staged_outputs
from prism_jax.figures import FIGURE_NOTE, figure_runs, plot_figure3, plot_figure4
from prism_jax.methods import TABLE
from prism_jax.results import (ALFWORLD_COLUMNS, ALFWORLD_SPLITS, ENV_LABELS, PHASES, VALID,
                               MissingData, group_runs, main_runs, missing, models_of, pct, run_key,
                               seeds_note, values_of)

# (category, label, method, metric): the rows of Tables 1 and 2 in the paper's order.
MAIN_ROWS = (
    ("Base", "Base Model", "base", None),
    ("Single Phase", "SFT", "sft", None),
    ("Single Phase", "GRPO", "grpo", None),
    ("Single Phase", "GiGPO", "gigpo", None),
    ("Hybrid", "Random", "random", None),
    ("Hybrid", "HPT", "hpt", None),
    ("Hybrid", "SFT-then-RL", "sft_then_rl", None),
    ("PRISM (Ours)", "Gini", "prism", "gini"),
    ("PRISM (Ours)", "Kurtosis", "prism", "kurtosis"),
    ("PRISM (Ours)", "CV", "prism", "cv"),
)


def _cell(values: Sequence[float], std: bool) -> str:
    if not values:
        return "-"
    mean = float(np.mean(values))
    if std and len(values) >= 2:
        return f"{mean:.2f} ± {float(np.std(values, ddof=1)):.2f}"
    return f"{mean:.2f}"


def _rl_share(runs: Sequence[dict]) -> float | None:
    r = runs[0]
    if r["rl_ratio"] is not None:
        return float(r["rl_ratio"])
    total = [x["split_sizes"]["sft"] + x["split_sizes"]["rl"] for x in runs]
    if sum(total) == 0:
        return None
    return sum(x["split_sizes"]["rl"] for x in runs) / sum(total)


def split_label(method: str, runs: Sequence[dict], percent_sign: bool = False) -> str:
    """The "SFT : RL" data allocation of a method: "100 : -", "- : 100", "50 : 50", "100 : 100".

    Routed methods use rl_ratio, or the mean split sizes when the ratio is null (HPT's gate)."""
    pc = "%" if percent_sign else ""
    none = f"0{pc}" if percent_sign else "-"
    phases = TABLE[method]
    if phases.sft == "gated":     # online: each task's side is chosen at every iteration
        return "gated"
    if not phases.routed:
        shown = {"none": none, "all": f"100{pc}"}
        return f"{shown[phases.sft]} : {shown[phases.rl]}"
    share = _rl_share(runs)
    if share is None:
        return "?"
    return f"{pct(100 * (1 - share))}{pc} : {pct(100 * share)}{pc}"


# ------------------------------------------------------------------------------------ tables

@dataclass
class Table:
    """A paper-style table of text cells.

    `sections` are (label, first row index) pairs: Markdown shows each label as an italic row
    before its rows, CSV as a leading "Section" column. The first `merge_columns` columns repeat
    a value only where it changes in Markdown (like merged cells); CSV repeats it on every row.
    """
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    sections: list[tuple[str, int]] = field(default_factory=list)
    merge_columns: int = 0

    def _section_of_rows(self) -> list[str]:
        starts = sorted(self.sections, key=lambda s: s[1])
        out = []
        for i in range(len(self.rows)):
            out.append(next((label for label, s in reversed(starts) if s <= i), ""))
        return out

    def to_markdown(self) -> str:
        width = len(self.header)
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * width]
        starts = {s: label for label, s in self.sections}
        previous: list[str] = []
        for i, row in enumerate(self.rows):
            if i in starts:
                lines.append("| " + " | ".join([f"*{starts[i]}*"] + [""] * (width - 1)) + " |")
                previous = []
            shown = list(row)
            for j in range(self.merge_columns):
                if previous[: j + 1] == row[: j + 1]:
                    shown[j] = ""
            previous = list(row)
            lines.append("| " + " | ".join(shown) + " |")
        lines.append("")
        lines += [f"{note}  " for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the header and rows (plus a leading Section column if any) atomically."""
        with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            if self.sections:
                writer.writerow(["Section", *self.header])
                writer.writerows([section, *row] for section, row
                                 in zip(self._section_of_rows(), self.rows))
            else:
                writer.writerow(self.header)
                writer.writerows(self.rows)


def table1(results: Sequence[dict], *, std: bool = True) -> Table:
    """Table 1: ALFWorld task-wise success rate (%) per method, a Seen and an Unseen block
    (one pair of blocks per model when several models ran ALFWorld)."""
    groups = group_runs(results)
    models = [m for m in models_of(groups, "alfworld")
              if any(main_runs(groups, "alfworld", m, spec[2], spec[3]) for spec in MAIN_ROWS)]
    # one column set for the whole table: Valid when any ALFWorld run reports it
    columns = ALFWORLD_COLUMNS + ((VALID,) if any(
        not missing(r["eval"].get(s, {}).get(VALID)) for r in results if r["env"] == "alfworld"
        for s in ALFWORLD_SPLITS) else ())
    rows, sections, used = [], [], []
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for model in models:
        found = [(spec, main_runs(groups, "alfworld", model, spec[2], spec[3]))
                 for spec in MAIN_ROWS]
        found = [(spec, runs) for spec, runs in found if runs]
        for split, split_label_text in ALFWORLD_SPLITS.items():
            with_split = [(spec, [r for r in runs if split in r["eval"]]) for spec, runs in found]
            with_split = [(spec, runs) for spec, runs in with_split if runs]
            if not with_split:
                continue
            suffix = f", {model}" if len(models) > 1 else ""
            sections.append((f"({next(letters)}) ALFWorld - {split_label_text}{suffix}", len(rows)))
            for (category, label, method, _), runs in with_split:
                cells = [_cell(values_of(runs, lambda r, c=col: r["eval"][split].get(c)), std)
                         for col in columns]
                rows.append([category, label, split_label(method, runs), *cells])
                used.append((f"{label} ({split})", runs))
    if not rows:
        raise MissingData("no ALFWorld runs of the paper's methods (base, sft, grpo, gigpo, "
                          "random, hpt, sft_then_rl, prism) at the default 50 : 50 split")
    title_model = f" ({models[0]})" if len(models) == 1 else ""
    notes = [seeds_note(used, std), "Success rate (%) per task type; \"-\": no episode of "
             "that type was evaluated."]
    if VALID in columns:
        notes.append(f"{VALID}: agent steps with a well-formed action the environment accepted (%).")
    return Table(f"Table 1: Detailed Performance on ALFWorld{title_model}",
                 ["Category", "Method", "SFT : RL", *columns], rows, notes, sections,
                 merge_columns=1)


def table2(results: Sequence[dict], *, std: bool = True) -> Table:
    """Table 2: WebShop success rate (%) and score per method, one column pair per model."""
    groups = group_runs(results)
    models = [m for m in models_of(groups, "webshop")
              if any(main_runs(groups, "webshop", m, spec[2], spec[3]) for spec in MAIN_ROWS)]
    rows, used = [], []
    with_valid = any(not missing(r["eval"]["test"].get(VALID)) for r in results
                     if r["env"] == "webshop")
    for category, label, method, metric in MAIN_ROWS:
        per_model = [main_runs(groups, "webshop", m, method, metric) for m in models]
        if not any(per_model):
            continue
        name = f"PRISM ({label})" if method == "prism" else label
        all_runs = [r for runs in per_model for r in runs]
        cells = []
        for runs in per_model:
            cells += [_cell(values_of(runs, lambda r: r["eval"]["test"]["success_rate"]), std),
                      _cell(values_of(runs, lambda r: r["eval"]["test"]["score"]), std)]
            if with_valid:
                cells.append(_cell(values_of(runs, lambda r: r["eval"]["test"].get(VALID)), std))
            used.append((name, runs))
        rows.append([name, split_label(method, all_runs), *cells])
    if not rows:
        raise MissingData("no WebShop runs of the paper's methods at the default 50 : 50 split")
    header = ["Method", "SFT : RL"]
    for m in models:
        header += [f"{m} SR(%)", f"{m} Score"] + ([f"{m} {VALID}(%)"] if with_valid else [])
    notes = [seeds_note(used, std)]
    if with_valid:
        notes.append(f"{VALID}: agent steps with a well-formed action the environment accepted.")
    return Table("Table 2: Main Results on WebShop", header, rows, notes)


def format_duration(seconds: float | None) -> str:
    """Wall-clock time as in the paper: "1h 02m 03s", "8m 05s", "4.2s"; None -> "-"."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _phase_mean(runs: Sequence[dict], phase: str) -> float | None:
    values = values_of(runs, lambda r: r["timings"][phase])
    return float(np.mean(values)) if values else None


def _total_mean(runs: Sequence[dict]) -> float | None:
    totals = [sum(t for t in r["timings"].values() if t is not None) for r in runs
              if any(t is not None for t in r["timings"].values())]
    return float(np.mean(totals)) if totals else None


def table3(results: Sequence[dict]) -> Table:
    """Table 3: mean wall-clock time per phase (probe, SFT, RL), total, and speed-up = the GRPO
    row's mean total / this row's mean total, per env (and model)."""
    groups = group_runs(results)
    rows, used = [], []
    for env in ("webshop", "alfworld"):
        models = models_of(groups, env)
        for model in models:
            task = ENV_LABELS[env] + (f" ({model})" if len(models_of(groups)) > 1 else "")
            grpo_total = _total_mean(main_runs(groups, env, model, "grpo", None))
            for _, label, method, metric in MAIN_ROWS:
                runs = main_runs(groups, env, model, method, metric)
                total = _total_mean(runs) if runs else None
                if total is None:
                    continue
                name = f"PRISM ({label})" if method == "prism" else label
                speedup = (f"{grpo_total / total:.2f}×" if grpo_total is not None and total > 0
                           else "-")
                rows.append([task, name, split_label(method, runs, percent_sign=True),
                             *[format_duration(_phase_mean(runs, p)) for p in PHASES],
                             format_duration(total), speedup])
                used.append((f"{task} {name}", runs))
    if not rows:
        raise MissingData("no run recorded any phase timing")
    notes = [seeds_note(used, std=False),
             "Total: the mean over seeds of each run's probe + SFT + RL time; Speedup: the "
             "GRPO row's total over this row's total (\"-\" without a GRPO run)."]
    return Table("Table 3: Computational Efficiency and Training Costs",
                 ["Task", "Method", "Data Allocation (SFT : RL)", "Probing", "SFT Phase",
                  "RL Phase", "Total Time", "Speedup"], rows, notes, merge_columns=1)


def table4(results: Sequence[dict], *, std: bool = True) -> Table:
    """Table 4: magnitude (L2) routing vs PRISM (Gini), WebShop score and ALFWorld success rate
    (seen and unseen "All"), for whichever envs and models are present."""
    groups = group_runs(results)
    specs = (("Gradient Magnitude (L2)", "magnitude", "l2"),
             ("PRISM (Spatial Gini)", "prism", "gini"))
    measures = (("webshop", "WebShop (Score)", lambda r: r["eval"]["test"]["score"]),
                ("alfworld", "ALFWorld Seen (SR %)",
                 lambda r: r["eval"].get("valid_seen", {}).get("All")),
                ("alfworld", "ALFWorld Unseen (SR %)",
                 lambda r: r["eval"].get("valid_unseen", {}).get("All")))
    # Only where magnitude routing ran: the table exists to compare against it.
    present = [(head, env, model, get) for env, head, get in measures
               for model in models_of(groups, env)
               if values_of(main_runs(groups, env, model, "magnitude", "l2"), get)]
    several = len({model for _, _, model, _ in present}) > 1
    columns = [(f"{model} {head}" if several else head, env, model, get)
               for head, env, model, get in present]
    if not columns:
        raise MissingData("needs magnitude (l2) routing runs at 50 : 50 with an eval")
    rows, used = [], []
    for label, method, metric in specs:
        cells = []
        for _, env, model, get in columns:
            runs = main_runs(groups, env, model, method, metric)
            cells.append(_cell(values_of(runs, get), std))
            used.append((f"{label} {env} {model}", runs))
        rows.append([label, *cells])
    title_model = "" if several else f" ({present[0][2]})"
    return Table(f"Table 4: Spatial Concentration vs. Gradient Magnitude{title_model}",
                 ["Routing Metric", *[c[0] for c in columns]], rows, [seeds_note(used, std)])


# ------------------------------------------------------------------------------------ report

def _runs_section(results: Sequence[dict]) -> list[str]:
    lines = ["## Runs", ""]
    for r in sorted(results, key=lambda r: (*(str(k) for k in run_key(r)), r["seed"])):
        ratio = run_key(r)[4]
        details = [r["metric"]] if r["metric"] else []
        if ratio is not None:
            details.append(f"RL {pct(100 * ratio)}%")
        what = r["method"] + (f" ({', '.join(details)})" if details else "")
        command = r.get("command")
        lines.append(f"- {r['env']} / {r['model']} / {what} / seed {r['seed']}: "
                     + (f"`{command}`" if command else "(no command recorded)"))
    return lines


def write_report(results: Sequence[dict], out_dir: str | os.PathLike, *,
                 std: bool = True) -> list[Path]:
    """Write every table and figure the results support into out_dir: tables.md (all tables,
    the skipped ones with the reason, the runs and their commands), table1.csv ... table4.csv,
    figure3.png, figure4.png. All files appear together or none does. Returns the paths written."""
    results = list(results)
    if not results:
        raise MissingData("no results to report")
    group_runs(results)
    out = Path(out_dir)
    built_tables = (("table1", lambda: table1(results, std=std)),
                    ("table2", lambda: table2(results, std=std)),
                    ("table3", lambda: table3(results)),
                    ("table4", lambda: table4(results, std=std)))
    figures = (("figure3", "Figure 3: PRISM vs inverse routing", plot_figure3),
               ("figure4", "Figure 4: Sensitivity to RL allocation ratio", plot_figure4))
    md = ["# PRISM results", "",
          f"{len(results)} runs; envs: {', '.join(sorted({r['env'] for r in results}))}; "
          f"models: {', '.join(dict.fromkeys(r['model'] for r in results))}.", ""]
    skipped, written = [], []
    with staged_outputs(out) as stage:
        for name, build in built_tables:
            try:
                table = build()
            except MissingData as e:
                skipped.append(f"- {name}: {e}")
                continue
            table.to_csv(stage(f"{name}.csv"))
            written.append(out / f"{name}.csv")
            md += [table.to_markdown(), f"CSV: [{name}.csv]({name}.csv)", ""]
        for name, title, plot in figures:
            try:
                fig = plot(results)
            except MissingData as e:
                skipped.append(f"- {name}: {e}")
                continue
            fig.savefig(stage(f"{name}.png"), dpi=120, format="png")
            written.append(out / f"{name}.png")
            md += [f"### {title}", "", f"![{title}]({name}.png)", "",
                   f"{FIGURE_NOTE} {seeds_note(figure_runs(results, name), std=False)}", ""]
        if skipped:
            md += ["## Skipped", "", *skipped, ""]
        md += _runs_section(results)
        stage("tables.md").write_text("\n".join(md) + "\n")
        written.insert(0, out / "tables.md")
    return written
