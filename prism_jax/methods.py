"""The methods the paper compares, in one table: each one's name, paper label, what data its SFT
and RL phases see, and what it routes on; and the spec strings that name one run of a method
("prism:cv@0.3": PRISM on the CV score with 30 % of the data routed to RL).

The pipeline (which phases to run), routing (which split rule), the result schema and the tables
(which rows, which "SFT : RL" label) all read this table, so a method is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Every score a run may record; CONCENTRATION ones are those prism / inverse route on.
METRICS = ("gini", "kurtosis", "cv", "l2")
CONCENTRATION = ("gini", "kurtosis", "cv")
METRIC_LABELS = {"gini": "Gini", "kurtosis": "Kurtosis", "cv": "CV", "l2": "L2"}

# The paper's main comparisons route half of the data to RL; other ratios belong to Fig. 4.
MAIN_RL_RATIO = 0.5

# Which data a phase trains on: none, all of it, its share of a routed split, or (online HPT's
# SFT) the tasks whose rollouts the gate finds too weak, chosen anew at every GRPO iteration.
Phase = Literal["none", "all", "split", "gated"]


@dataclass(frozen=True)
class MethodInfo:
    """One method. `sft` / `rl`: which data the phase trains on (`Phase`). `metrics`: the scores
    it may route on (first = default; empty: it needs none). `probes`: whether it needs Stage I's
    gradient scores. `pass_rates`: its split comes from HPT's gate on the base model's pass
    rates, not from a ratio."""

    name: str
    label: str
    sft: Phase
    rl: Phase
    metrics: tuple[str, ...] = ()
    probes: bool = False
    pass_rates: bool = False

    @property
    def routed(self) -> bool:
        """Whether it splits one data set between SFT and RL before training."""
        return self.sft == "split"

    @property
    def route_method(self) -> str:
        """Its `RouteConfig.method` (route_file's split rule)."""
        return "hpt" if self.pass_rates else self.name


TABLE = {m.name: m for m in (
    MethodInfo("base", "Base Model", sft="none", rl="none"),
    MethodInfo("sft", "SFT", sft="all", rl="none"),
    MethodInfo("grpo", "GRPO", sft="none", rl="all"),
    MethodInfo("gigpo", "GiGPO", sft="none", rl="all"),
    MethodInfo("random", "Random", sft="split", rl="split"),
    MethodInfo("hpt", "HPT", sft="gated", rl="all"),
    MethodInfo("hpt_static", "HPT (static)", sft="split", rl="split", pass_rates=True),
    MethodInfo("sft_then_rl", "SFT-then-RL", sft="all", rl="all"),
    MethodInfo("prism", "PRISM", sft="split", rl="split", metrics=CONCENTRATION, probes=True),
    MethodInfo("inverse", "Inverse", sft="split", rl="split", metrics=CONCENTRATION, probes=True),
    MethodInfo("magnitude", "Gradient Magnitude (L2)", sft="split", rl="split", metrics=("l2",),
               probes=True),
)}
METHODS = tuple(TABLE)
ROUTED = tuple(name for name, m in TABLE.items() if m.routed)
NEEDS_METRIC = tuple(name for name, m in TABLE.items() if m.metrics)


@dataclass(frozen=True)
class Method:
    """One run's method: a table entry plus the metric and RL ratio the spec chose."""

    name: str
    metric: str | None = None
    rl_ratio: float | None = None

    @property
    def info(self) -> MethodInfo:
        return TABLE[self.name]

    @property
    def label(self) -> str:
        """Its run-directory name: "prism-cv-r0.3", "grpo", ..."""
        parts = [self.name] + ([self.metric] if self.metric else [])
        if self.rl_ratio is not None and self.rl_ratio != MAIN_RL_RATIO:
            parts.append(f"r{self.rl_ratio:g}")
        return "-".join(parts)

    @property
    def uses_sft_all(self) -> bool:
        return self.info.sft == "all"

    @property
    def uses_rl_all(self) -> bool:
        return self.info.rl == "all"


def parse_method(spec: str) -> Method:
    """'prism:gini', 'prism:cv@0.3', 'inverse:kurtosis', 'magnitude', 'random@0.5', 'grpo', ...

    A metric chooses among the method's scores (default: its first); @RATIO is the RL share of
    a ratio-routed method (default 0.5; hpt_static's gate sets its own)."""
    body, _, ratio = spec.partition("@")
    name, _, metric = body.partition(":")
    if name not in TABLE:
        raise ValueError(f"unknown method {spec!r}; methods: {', '.join(METHODS)} "
                         "(prism/inverse take :gini, :kurtosis or :cv; routed ones take @RATIO)")
    m = TABLE[name]
    choosable = m.metrics if len(m.metrics) > 1 else ()
    if choosable:
        metric = metric or m.metrics[0]
        if metric not in choosable:
            raise ValueError(f"{spec!r}: metric must be {', '.join(choosable[:-1])} or "
                             f"{choosable[-1]}")
    elif metric:
        choosers = [n for n, x in TABLE.items() if len(x.metrics) > 1]
        raise ValueError(f"{spec!r}: only {' and '.join(choosers)} take a metric")
    else:
        metric = m.metrics[0] if m.metrics else None
    if ratio and not m.routed:
        raise ValueError(f"{spec!r}: only routed methods ({', '.join(ROUTED)}) take @RATIO")
    rl_ratio = float(ratio) if ratio else (MAIN_RL_RATIO if m.routed and not m.pass_rates else None)
    if rl_ratio is not None and not 0.0 < rl_ratio < 1.0:
        raise ValueError(f"{spec!r}: the RL ratio must be in (0, 1)")
    return Method(name, metric or None, rl_ratio)


__all__ = ["CONCENTRATION", "MAIN_RL_RATIO", "METHODS", "METRICS", "METRIC_LABELS", "Method",
           "MethodInfo", "NEEDS_METRIC", "ROUTED", "TABLE", "parse_method"]
