"""The result schema: one `result.json` per run of a method on an environment with one seed,
written by the pipeline; validating, loading and grouping results for the tables and figures.

Runs are grouped by (env, model, method, metric, rl_ratio); a table cell or figure point is the
mean over a group's seeds. The headline measure of a run (Fig. 3/4, Table 4) is the WebShop
score, or the ALFWorld seen-split "All" success rate (the number the paper's Table 4 quotes for
ALFWorld).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from prism_jax.methods import MAIN_RL_RATIO, METHODS, METRICS, NEEDS_METRIC, ROUTED

ENVS = ("alfworld", "webshop")
ENV_LABELS = {"alfworld": "ALFWorld", "webshop": "WebShop"}
ALFWORLD_COLUMNS = ("Pick", "Look", "Clean", "Heat", "Cool", "Pick2", "All")
ALFWORLD_SPLITS = {"valid_seen": "Seen (In-Distribution)",
                   "valid_unseen": "Unseen (Out-of-Distribution)"}
WEBSHOP_FIELDS = ("score", "success_rate")
# Optional: percent of agent steps whose response held a well-formed action the environment
# accepted (written by `prism eval`); shown after the success rates when any run has it.
VALID = "Valid"
PHASES = ("probe", "sft", "rl")
REQUIRED_KEYS = ("env", "model", "method", "metric", "rl_ratio", "seed", "split_sizes", "timings",
                 "eval")


class ResultError(ValueError):
    """A result file or dict that does not follow the result schema."""


class MissingData(ValueError):
    """The results hold nothing a table or figure could show; the message says what is needed."""


# ----------------------------------------------------------------------------------- loading

def missing(x) -> bool:
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
    absent = [k for k in REQUIRED_KEYS if k not in result]
    if absent:
        fail(f"missing required key(s) {', '.join(absent)}")
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
                if missing(v):
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
        if not missing(valid) and not (_is_number(valid) and 0.0 <= valid <= 100.0):
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


def run_key(r: dict) -> Key:
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
        groups.setdefault(run_key(r), []).append(r)
    for key, runs in groups.items():
        seeds = [r["seed"] for r in runs]
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        if dup:
            sources = [r.get("_source", "?") for r in runs if r["seed"] in dup]
            raise ResultError(f"{'/'.join(str(k) for k in key)}: seed(s) {dup} appear more than "
                              f"once ({', '.join(sources)})")
        runs.sort(key=lambda r: r["seed"])
    return groups


def main_runs(groups, env: str, model: str, method: str, metric: str | None) -> list[dict]:
    """The runs of one paper row: a routed method's row is its 50 : 50 split (or a null ratio,
    as HPT's gate sets its own)."""
    return [r for (e, m, me, mt, ratio), runs in groups.items() for r in runs
            if (e, m, me, mt) == (env, model, method, metric)
            and (ratio is None or math.isclose(ratio, MAIN_RL_RATIO))]


def models_of(groups, env: str | None = None) -> list[str]:
    return list(dict.fromkeys(k[1] for k in groups if env is None or k[0] == env))


def values_of(runs: Sequence[dict], get: Callable[[dict], float | None]) -> list[float]:
    return [v for v in map(get, runs) if not missing(v)]


def pct(x: float) -> str:
    return f"{x:.0f}" if math.isclose(x, round(x), abs_tol=1e-9) else f"{x:.1f}"


def headline(r: dict) -> float | None:
    """A run's headline number: WebShop score, or ALFWorld seen-split "All" success rate (%)."""
    if r["env"] == "webshop":
        return float(r["eval"]["test"]["score"])
    return r["eval"].get("valid_seen", {}).get("All")


HEADLINE_LABELS = {"webshop": "WebShop score", "alfworld": "ALFWorld seen SR (%)"}


def seeds_note(rows: Sequence[tuple[str, Sequence[dict]]], std: bool) -> str:
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


