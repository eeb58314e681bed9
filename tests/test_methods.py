"""The methods table and its spec strings (prism_jax/methods.py)."""

from __future__ import annotations

import pytest

from prism_jax import metrics
from prism_jax.methods import (CONCENTRATION, METHODS, METRICS, NEEDS_METRIC, ROUTED, TABLE, Method,
                               parse_method)


def test_method_specs():
    assert parse_method("prism:cv@0.3") == Method("prism", "cv", 0.3)
    assert parse_method("prism") == Method("prism", "gini", 0.5)
    assert parse_method("magnitude") == Method("magnitude", "l2", 0.5)
    assert parse_method("hpt") == Method("hpt", None, None)
    # online HPT trains GRPO on every task (the gate picks SFT per task inside the run)
    assert parse_method("hpt").uses_rl_all and not parse_method("hpt").uses_sft_all
    assert parse_method("hpt_static") == Method("hpt_static", None, None)
    assert parse_method("grpo").label == "grpo" and parse_method("inverse:cv@0.7").label == "inverse-cv-r0.7"
    for bad in ("prism:entropy", "grpo@0.3", "sft:gini", "nope", "random@1.5", "hpt@0.3"):
        with pytest.raises(ValueError):
            parse_method(bad)


def test_table_matches_the_paper_and_the_metrics_module():
    # The paper's ten methods and the static HPT variant; routed and probed ones as Sec. 4 has them.
    assert METHODS == ("base", "sft", "grpo", "gigpo", "random", "hpt", "hpt_static", "sft_then_rl",
                       "prism", "inverse", "magnitude")
    assert ROUTED == ("random", "hpt_static", "prism", "inverse", "magnitude")
    assert NEEDS_METRIC == ("prism", "inverse", "magnitude")
    assert [n for n, m in TABLE.items() if m.probes] == ["prism", "inverse", "magnitude"]
    assert [(n, m.sft, m.rl) for n, m in TABLE.items() if not m.routed] == [
        ("base", "none", "none"), ("sft", "all", "none"), ("grpo", "none", "all"),
        ("gigpo", "none", "all"), ("hpt", "gated", "all"), ("sft_then_rl", "all", "all")]
    assert [n for n, m in TABLE.items() if m.pass_rates] == ["hpt_static"]
    # the names here are the scores Stage II computes
    assert METRICS == tuple(metrics.METRICS) and CONCENTRATION == metrics.CONCENTRATION_METRICS
