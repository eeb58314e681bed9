"""Where a jitted step's time goes: trace one call with jax.profiler and sum the XLA ops' time by
a category of their op_name (the named scopes and jax primitives they come from).

Robust to a loaded box in a way wall clock is not: it sums what each op took, and the shares
between categories hold even when the totals are inflated.
"""

from __future__ import annotations

import collections
import gzip
import json
import re
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp


def op_times(jitted, *args, **static) -> dict[str, float]:
    """Milliseconds per HLO op_name over one call of `jitted(*args, **static)` (after a warm-up;
    array arguments are copied for each call, so donated buffers are no concern).

    Control flow (while, call, conditional) is left out: its time is the time of the ops inside.
    """
    hlo = jitted.lower(*args, **static).compile().as_text()
    names = {m.group(1): m.group(3) for m in
             re.finditer(r"%([\w.\-]+) = \S+ ([\w\-]+)\(.*?op_name=\"([^\"]*)\"", hlo)
             if m.group(2) not in ("while", "call", "conditional")}
    # fresh copies per call: the step may donate its arguments
    fresh = lambda: jax.block_until_ready(jax.tree.map(
        lambda x: jnp.copy(x) if isinstance(x, jax.Array) else x, args))
    jax.block_until_ready(jitted(*fresh(), **static))
    again = fresh()
    with tempfile.TemporaryDirectory() as d:
        jax.profiler.start_trace(d)
        jax.block_until_ready(jitted(*again, **static))
        jax.profiler.stop_trace()
        events = json.load(gzip.open(next(Path(d).rglob("*.trace.json.gz"))))["traceEvents"]
    spent: dict[str, float] = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and e.get("name") in names:
            spent[names[e["name"]]] += e["dur"] / 1e3
    return dict(spent)


def breakdown(times: dict[str, float], category) -> dict[str, float]:
    """Sum `op_times` by category(op_name) -> {category: ms}, largest first."""
    out: dict[str, float] = collections.Counter()
    for op, ms in times.items():
        out[category(op)] += ms
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def print_breakdown(title: str, parts: dict[str, float], per: float = 1.0, unit: str = "ms") -> None:
    total = sum(parts.values())
    print(title)
    for k, v in parts.items():
        print(f"  {k:58s} {v / per:8.2f} {unit}  {100 * v / max(total, 1e-9):4.0f}%")
    print(f"  {'all ops':58s} {total / per:8.2f} {unit}")
