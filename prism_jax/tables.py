"""The paper's result tables (1-4) and figures (3, 4) from the pipeline's per-run `result.json`s.

Each run of a method on an environment with one seed writes one result (schema: `validate_result`).
Runs are grouped by (env, model, method, metric, rl_ratio); a table cell is the mean over the
group's seeds, optionally "mean ± std" with the sample standard deviation (ddof=1) when a group
has two or more seeds. Numbers have two decimals, as in the paper.

The headline measure of a run (Fig. 3/4) is the WebShop score, or the ALFWorld seen-split "All"
success rate (the number the paper's Table 4 quotes for ALFWorld).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from prism_jax.files import atomic_write, staged_outputs

ENVS = ("alfworld", "webshop")
ENV_LABELS = {"alfworld": "ALFWorld", "webshop": "WebShop"}
METHODS = ("base", "sft", "grpo", "gigpo", "random", "hpt", "hpt_static", "sft_then_rl", "prism",
           "inverse", "magnitude")
METRICS = ("gini", "kurtosis", "cv", "l2")
METRIC_LABELS = {"gini": "Gini", "kurtosis": "Kurtosis", "cv": "CV", "l2": "L2"}
# Methods that split one data set between SFT and RL, so their split follows rl_ratio.
ROUTED = ("random", "hpt_static", "prism", "inverse", "magnitude")
NEEDS_METRIC = ("prism", "inverse", "magnitude")
ALFWORLD_COLUMNS = ("Pick", "Look", "Clean", "Heat", "Cool", "Pick2", "All")
ALFWORLD_SPLITS = {"valid_seen": "Seen (In-Distribution)",
                   "valid_unseen": "Unseen (Out-of-Distribution)"}
WEBSHOP_FIELDS = ("score", "success_rate")
# Optional: percent of agent steps whose response held a well-formed action the environment
# accepted (written by `prism eval`); shown after the success rates when any run has it.
VALID = "Valid"
PHASES = ("probe", "sft", "rl")
# The paper's main comparisons route half of the data to RL; other ratios belong to Fig. 4.
MAIN_RL_RATIO = 0.5
REQUIRED_KEYS = ("env", "model", "method", "metric", "rl_ratio", "seed", "split_sizes", "timings",
                 "eval")

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


class ResultError(ValueError):
    """A result file or dict that does not follow the result schema."""


class MissingData(ValueError):
    """The results hold nothing a table or figure could show; the message says what is needed."""


# ----------------------------------------------------------------------------------- loading

def _missing(x) -> bool:
    """null or NaN: how a task type without episodes may be recorded."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_result(result, source: str) -> dict:
    """Check one run's result against the schema; `source` (a file name) prefixes every error.

    Returns the result unchanged. ALFWorld evals need at least one of valid_seen / valid_unseen,
    each a subset of the task-type columns in percent (a type without episodes is absent, null
    or NaN); WebShop evals need test.score and test.success_rate.
    """
    def fail(msg: str):
        raise ResultError(f"{source}: {msg}")

    if not isinstance(result, dict):
        fail(f"expected a JSON object, got {type(result).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        fail(f"missing required key(s) {', '.join(missing)}")
    env, method, metric = result["env"], result["method"], result["metric"]
    if env not in ENVS:
        fail(f"env is {env!r}; expected one of {', '.join(ENVS)}")
    if method not in METHODS:
        fail(f"method is {method!r}; expected one of {', '.join(METHODS)}")
    if metric is not None and metric not in METRICS:
        fail(f"metric is {metric!r}; expected null or one of {', '.join(METRICS)}")
    if method in NEEDS_METRIC and metric is None:
        fail(f"method {method!r} needs a metric (one of {', '.join(METRICS)})")
    if not isinstance(result["model"], str) or not result["model"]:
        fail(f"model must be a non-empty string, got {result['model']!r}")
    ratio = result["rl_ratio"]
    if ratio is not None and not (_is_number(ratio) and 0.0 <= ratio <= 1.0):
        fail(f"rl_ratio is {ratio!r}; expected null or a number in [0, 1]")
    if not isinstance(result["seed"], int) or isinstance(result["seed"], bool):
        fail(f"seed must be an integer, got {result['seed']!r}")
    sizes = result["split_sizes"]
    if not isinstance(sizes, dict) or any(not isinstance(sizes.get(k), int) for k in ("sft", "rl")):
        fail(f"split_sizes must be {{'sft': int, 'rl': int}}, got {sizes!r}")
    timings = result["timings"]
    if not isinstance(timings, dict) or any(k not in timings for k in PHASES):
        fail(f"timings must have keys {', '.join(PHASES)} (seconds or null), got {timings!r}")
    for k in PHASES:
        if timings[k] is not None and not (_is_number(timings[k]) and timings[k] >= 0):
            fail(f"timings.{k} is {timings[k]!r}; expected null or seconds >= 0")
    ev = result["eval"]
    if not isinstance(ev, dict):
        fail(f"eval must be an object, got {type(ev).__name__}")
    if env == "alfworld":
        splits = [s for s in ALFWORLD_SPLITS if s in ev]
        if not splits:
            fail(f"eval needs {' or '.join(ALFWORLD_SPLITS)} for ALFWorld; has {sorted(ev)}")
        for s in splits:
            if not isinstance(ev[s], dict):
                fail(f"eval.{s} must be an object of success rates")
            for col, v in ev[s].items():
                if col not in (*ALFWORLD_COLUMNS, VALID):
                    fail(f"eval.{s} has unknown task type {col!r}; expected "
                         f"{', '.join(ALFWORLD_COLUMNS)} (or {VALID})")
                if _missing(v):
                    continue
                if not (_is_number(v) and 0.0 <= v <= 100.0):
                    fail(f"eval.{s}.{col} is {v!r}; expected a success rate in percent "
                         "(0-100), or null / NaN for a type without episodes")
    else:
        test = ev.get("test")
        if not isinstance(test, dict) or any(not _is_number(test.get(k)) for k in WEBSHOP_FIELDS):
            fail(f"eval.test must hold numbers {' and '.join(WEBSHOP_FIELDS)} for WebShop, "
                 f"got {test!r}")
        valid = test.get(VALID)
        if not _missing(valid) and not (_is_number(valid) and 0.0 <= valid <= 100.0):
            fail(f"eval.test.{VALID} is {valid!r}; expected a percentage (0-100) or null")
    return result


def load_results(paths_or_dir: str | os.PathLike | Iterable[str | os.PathLike]) -> list[dict]:
    """Read and validate result.json files: a file, a directory (every `result.json` below it,
    in sorted path order) or a list of either. Each result gets a "_source" key (its path)."""
    items = [paths_or_dir] if isinstance(paths_or_dir, (str, os.PathLike)) else list(paths_or_dir)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.rglob("result.json"))
            if not found:
                raise ResultError(f"{p}: no result.json anywhere under this directory")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ResultError(f"{p}: no such file or directory")
    results = []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise ResultError(f"{f}: line {e.lineno}, column {e.colno}: invalid JSON "
                              f"({e.msg})") from e
        validate_result(data, str(f))
        results.append({**data, "_source": str(f)})
    return results


# ---------------------------------------------------------------------------------- grouping

Key = tuple  # (env, model, method, metric, rl_ratio)


def _key(r: dict) -> Key:
    # A single-phase method trains on all of its data whatever ratio a run records.
    routed = r["method"] in ROUTED and r["rl_ratio"] is not None
    ratio = round(float(r["rl_ratio"]), 6) if routed else None
    return (r["env"], r["model"], r["method"], r["metric"], ratio)


def group_runs(results: Sequence[dict]) -> dict[Key, list[dict]]:
    """Validate results and group them by (env, model, method, metric, rl_ratio), seeds sorted.
    Two runs of one group with the same seed are an error (a re-run would be counted twice)."""
    groups: dict[Key, list[dict]] = {}
    for i, r in enumerate(results):
        source = r.get("_source", f"result #{i}") if isinstance(r, dict) else f"result #{i}"
        validate_result(r, source)
        groups.setdefault(_key(r), []).append(r)
    for key, runs in groups.items():
        seeds = [r["seed"] for r in runs]
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        if dup:
            sources = [r.get("_source", "?") for r in runs if r["seed"] in dup]
            raise ResultError(f"{'/'.join(str(k) for k in key)}: seed(s) {dup} appear more than "
                              f"once ({', '.join(sources)})")
        runs.sort(key=lambda r: r["seed"])
    return groups


def _main_runs(groups, env: str, model: str, method: str, metric: str | None) -> list[dict]:
    """The runs of one paper row: a routed method's row is its 50 : 50 split (or a null ratio,
    as HPT's gate sets its own)."""
    return [r for (e, m, me, mt, ratio), runs in groups.items() for r in runs
            if (e, m, me, mt) == (env, model, method, metric)
            and (ratio is None or math.isclose(ratio, MAIN_RL_RATIO))]


def _models(groups, env: str | None = None) -> list[str]:
    return list(dict.fromkeys(k[1] for k in groups if env is None or k[0] == env))


def _cell(values: Sequence[float], std: bool) -> str:
    if not values:
        return "-"
    mean = float(np.mean(values))
    if std and len(values) >= 2:
        return f"{mean:.2f} ± {float(np.std(values, ddof=1)):.2f}"
    return f"{mean:.2f}"


def _values(runs: Sequence[dict], get: Callable[[dict], float | None]) -> list[float]:
    return [v for v in map(get, runs) if not _missing(v)]


def _pct(x: float) -> str:
    return f"{x:.0f}" if math.isclose(x, round(x), abs_tol=1e-9) else f"{x:.1f}"


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
    if method == "base":
        return f"{none} : {none}"
    if method == "sft":
        return f"100{pc} : {none}"
    if method in ("grpo", "gigpo"):
        return f"{none} : 100{pc}"
    if method == "sft_then_rl":
        return f"100{pc} : 100{pc}"
    if method == "hpt":     # online: each task's side is chosen at every iteration
        return "gated"
    share = _rl_share(runs)
    if share is None:
        return "?"
    return f"{_pct(100 * (1 - share))}{pc} : {_pct(100 * share)}{pc}"


def headline(r: dict) -> float | None:
    """A run's headline number: WebShop score, or ALFWorld seen-split "All" success rate (%)."""
    if r["env"] == "webshop":
        return float(r["eval"]["test"]["score"])
    return r["eval"].get("valid_seen", {}).get("All")


HEADLINE_LABELS = {"webshop": "WebShop score", "alfworld": "ALFWorld seen SR (%)"}


def _seeds_note(rows: Sequence[tuple[str, Sequence[dict]]], std: bool) -> str:
    """Say how many seeds each row averages, and which."""
    seed_sets = {tuple(r["seed"] for r in runs) for _, runs in rows if runs}
    if len(seed_sets) == 1:
        seeds = next(iter(seed_sets))
        note = (f"Mean over {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
                f"({', '.join(map(str, seeds))}).")
    else:
        per_row = "; ".join(f"{label}: {', '.join(str(r['seed']) for r in runs)}"
                            for label, runs in rows if runs)
        note = f"Mean over each row's seeds ({per_row})."
    if std and any(len(s) >= 2 for s in seed_sets):
        note += " ± is the sample standard deviation over seeds (ddof=1)."
    return note


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
    models = [m for m in _models(groups, "alfworld")
              if any(_main_runs(groups, "alfworld", m, spec[2], spec[3]) for spec in MAIN_ROWS)]
    # one column set for the whole table: Valid when any ALFWorld run reports it
    columns = ALFWORLD_COLUMNS + ((VALID,) if any(
        not _missing(r["eval"].get(s, {}).get(VALID)) for r in results if r["env"] == "alfworld"
        for s in ALFWORLD_SPLITS) else ())
    rows, sections, used = [], [], []
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for model in models:
        found = [(spec, _main_runs(groups, "alfworld", model, spec[2], spec[3]))
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
                cells = [_cell(_values(runs, lambda r, c=col: r["eval"][split].get(c)), std)
                         for col in columns]
                rows.append([category, label, split_label(method, runs), *cells])
                used.append((f"{label} ({split})", runs))
    if not rows:
        raise MissingData("no ALFWorld runs of the paper's methods (base, sft, grpo, gigpo, "
                          "random, hpt, sft_then_rl, prism) at the default 50 : 50 split")
    title_model = f" ({models[0]})" if len(models) == 1 else ""
    notes = [_seeds_note(used, std), "Success rate (%) per task type; \"-\": no episode of "
             "that type was evaluated."]
    if VALID in columns:
        notes.append(f"{VALID}: agent steps with a well-formed action the environment accepted (%).")
    return Table(f"Table 1: Detailed Performance on ALFWorld{title_model}",
                 ["Category", "Method", "SFT : RL", *columns], rows, notes, sections,
                 merge_columns=1)


def table2(results: Sequence[dict], *, std: bool = True) -> Table:
    """Table 2: WebShop success rate (%) and score per method, one column pair per model."""
    groups = group_runs(results)
    models = [m for m in _models(groups, "webshop")
              if any(_main_runs(groups, "webshop", m, spec[2], spec[3]) for spec in MAIN_ROWS)]
    rows, used = [], []
    with_valid = any(not _missing(r["eval"]["test"].get(VALID)) for r in results
                     if r["env"] == "webshop")
    for category, label, method, metric in MAIN_ROWS:
        per_model = [_main_runs(groups, "webshop", m, method, metric) for m in models]
        if not any(per_model):
            continue
        name = f"PRISM ({label})" if method == "prism" else label
        all_runs = [r for runs in per_model for r in runs]
        cells = []
        for runs in per_model:
            cells += [_cell(_values(runs, lambda r: r["eval"]["test"]["success_rate"]), std),
                      _cell(_values(runs, lambda r: r["eval"]["test"]["score"]), std)]
            if with_valid:
                cells.append(_cell(_values(runs, lambda r: r["eval"]["test"].get(VALID)), std))
            used.append((name, runs))
        rows.append([name, split_label(method, all_runs), *cells])
    if not rows:
        raise MissingData("no WebShop runs of the paper's methods at the default 50 : 50 split")
    header = ["Method", "SFT : RL"]
    for m in models:
        header += [f"{m} SR(%)", f"{m} Score"] + ([f"{m} {VALID}(%)"] if with_valid else [])
    notes = [_seeds_note(used, std)]
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
    values = _values(runs, lambda r: r["timings"][phase])
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
        models = _models(groups, env)
        for model in models:
            task = ENV_LABELS[env] + (f" ({model})" if len(_models(groups)) > 1 else "")
            grpo_total = _total_mean(_main_runs(groups, env, model, "grpo", None))
            for _, label, method, metric in MAIN_ROWS:
                runs = _main_runs(groups, env, model, method, metric)
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
    notes = [_seeds_note(used, std=False),
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
               for model in _models(groups, env)
               if _values(_main_runs(groups, env, model, "magnitude", "l2"), get)]
    several = len({model for _, _, model, _ in present}) > 1
    columns = [(f"{model} {head}" if several else head, env, model, get)
               for head, env, model, get in present]
    if not columns:
        raise MissingData("needs magnitude (l2) routing runs at 50 : 50 with an eval")
    rows, used = [], []
    for label, method, metric in specs:
        cells = []
        for _, env, model, get in columns:
            runs = _main_runs(groups, env, model, method, metric)
            cells.append(_cell(_values(runs, get), std))
            used.append((f"{label} {env} {model}", runs))
        rows.append([label, *cells])
    title_model = "" if several else f" ({present[0][2]})"
    return Table(f"Table 4: Spatial Concentration vs. Gradient Magnitude{title_model}",
                 ["Routing Metric", *[c[0] for c in columns]], rows, [_seeds_note(used, std)])


# ----------------------------------------------------------------------------------- figures

def _mean_std(runs: Sequence[dict]) -> tuple[float, float] | None:
    values = _values(runs, headline)
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _panels(groups, wanted: Callable[[str, str], bool]) -> list[tuple[str, str]]:
    return [(env, model) for env in ("webshop", "alfworld") for model in _models(groups, env)
            if wanted(env, model)]


def _grid(n: int, title: str) -> tuple[Figure, list]:
    fig = Figure(figsize=(4.2 * n + 0.6, 3.8), layout="constrained")
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    fig.suptitle(title)
    return fig, axes


def _figure3_panels(groups) -> list[tuple[str, str]]:
    return _panels(groups, lambda e, m: any(_main_runs(groups, e, m, "inverse", x)
                                            for x in METRICS))


def plot_figure3(results: Sequence[dict]) -> Figure:
    """Fig. 3: PRISM (orange) vs inverse routing (blue) per metric at 50 : 50, one panel per
    (env, model), with the Random 50 : 50 result as a dashed line; error bars are the std."""
    groups = group_runs(results)

    def metrics(env, model):
        return [m for m in METRICS
                if _main_runs(groups, env, model, "prism", m) or
                _main_runs(groups, env, model, "inverse", m)]

    panels = _figure3_panels(groups)
    if not panels:
        raise MissingData("needs inverse-routing runs at 50 : 50")
    fig, axes = _grid(len(panels), "PRISM vs inverse routing")
    for ax, (env, model) in zip(axes, panels):
        names = metrics(env, model)
        x = np.arange(len(names))
        for offset, method, colour, label in ((-0.2, "prism", "tab:orange", "PRISM"),
                                              (0.2, "inverse", "tab:blue", "Inverse")):
            stats = [_mean_std(_main_runs(groups, env, model, method, m)) for m in names]
            keep = [i for i, s in enumerate(stats) if s is not None]
            ax.bar(x[keep] + offset, [stats[i][0] for i in keep], width=0.4,
                   yerr=[stats[i][1] for i in keep], color=colour, label=label, capsize=3)
        random = _mean_std(_main_runs(groups, env, model, "random", None))
        if random is not None:
            ax.axhline(random[0], color="black", linestyle="--", linewidth=1.2, label="Random")
        ax.set_xticks(x, [METRIC_LABELS[m] for m in names])
        ax.set_ylabel(HEADLINE_LABELS[env])
        ax.set_title(f"{ENV_LABELS[env]}, {model}")
        # Below the axes: inside, the legend would cover bars of any height.
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    return fig


def _sweep(groups, env: str, model: str) -> dict[str, list[tuple[float, list[dict]]]]:
    """PRISM runs by metric: [(rl_ratio, runs)] sorted by ratio, for metrics with >= 2 ratios."""
    lines: dict[str, list] = {}
    for (e, m, method, metric, ratio), runs in groups.items():
        if ((e, m, method) == (env, model, "prism") and ratio is not None
                and _values(runs, headline)):
            lines.setdefault(metric, []).append((ratio, runs))
    return {metric: sorted(pts, key=lambda p: p[0]) for metric, pts in lines.items()
            if len(pts) >= 2}


def plot_figure4(results: Sequence[dict]) -> Figure:
    """Fig. 4: headline performance vs the share routed to RL (%), one line per PRISM metric
    run at two or more ratios, one panel per (env, model); error bars are the std over seeds."""
    groups = group_runs(results)
    panels = _panels(groups, lambda e, m: bool(_sweep(groups, e, m)))
    if not panels:
        raise MissingData("needs PRISM runs of one metric at two or more RL ratios")
    fig, axes = _grid(len(panels), "Sensitivity to RL allocation ratio")
    for ax, (env, model) in zip(axes, panels):
        sweep = _sweep(groups, env, model)
        ax.set_xticks(sorted({100 * ratio for points in sweep.values() for ratio, _ in points}))
        for metric, points in sweep.items():
            stats = [_mean_std(runs) for _, runs in points]
            ax.errorbar([100 * ratio for ratio, _ in points], [s[0] for s in stats],
                        yerr=[s[1] for s in stats], marker="o", capsize=3,
                        label=METRIC_LABELS[metric])
        ax.set_xlabel("RL allocation (%)")
        ax.set_ylabel(HEADLINE_LABELS[env])
        ax.set_title(f"{ENV_LABELS[env]}, {model}")
        ax.legend(fontsize=8)
    return fig


FIGURE_NOTE = ("Y axis: WebShop score, or ALFWorld seen-split success rate (All); points and "
               "bars are means over seeds, error bars the sample standard deviation.")


def _figure_runs(results: Sequence[dict], name: str) -> list[tuple[str, list[dict]]]:
    """The (label, runs) of every point or bar a figure plots, for its seeds note."""
    groups = group_runs(results)
    if name == "figure4":
        return [(f"{env}/{model}/{metric}/RL {_pct(100 * ratio)}%", runs)
                for env, model in _panels(groups, lambda e, m: True)
                for metric, points in _sweep(groups, env, model).items()
                for ratio, runs in points]
    return [(f"{env}/{model}/{method}/{metric}", _main_runs(groups, env, model, method, metric))
            for env, model in _figure3_panels(groups)
            for method, metric in [("random", None)] + [(me, mt) for me in ("prism", "inverse")
                                                        for mt in METRICS]]


def figure3(results: Sequence[dict], path: str | os.PathLike) -> None:
    """Write Fig. 3 (see `plot_figure3`) as a PNG."""
    plot_figure3(results).savefig(path, dpi=120, format="png")


def figure4(results: Sequence[dict], path: str | os.PathLike) -> None:
    """Write Fig. 4 (see `plot_figure4`) as a PNG."""
    plot_figure4(results).savefig(path, dpi=120, format="png")


# ------------------------------------------------------------------------------------ report

def _runs_section(results: Sequence[dict]) -> list[str]:
    lines = ["## Runs", ""]
    for r in sorted(results, key=lambda r: (*(str(k) for k in _key(r)), r["seed"])):
        ratio = _key(r)[4]
        details = [r["metric"]] if r["metric"] else []
        if ratio is not None:
            details.append(f"RL {_pct(100 * ratio)}%")
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
                   f"{FIGURE_NOTE} {_seeds_note(_figure_runs(results, name), std=False)}", ""]
        if skipped:
            md += ["## Skipped", "", *skipped, ""]
        md += _runs_section(results)
        stage("tables.md").write_text("\n".join(md) + "\n")
        written.insert(0, out / "tables.md")
    return written
