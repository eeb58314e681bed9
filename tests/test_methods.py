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
    assert parse_method("grpo").label == "grpo" and parse_method("inverse:cv@0.7").label == "inverse-cv-r0.7"
    for bad in ("prism:entropy", "grpo@0.3", "sft:gini", "nope", "random@1.5"):
        with pytest.raises(ValueError):
            parse_method(bad)


def test_table_matches_the_paper_and_the_metrics_module():
    # The paper's ten methods; ratio-routed and probed ones as Sec. 4 describes them.
    assert METHODS == ("base", "sft", "grpo", "gigpo", "random", "hpt", "sft_then_rl", "prism",
                       "inverse", "magnitude")
    assert ROUTED == ("random", "hpt", "prism", "inverse", "magnitude")
    assert NEEDS_METRIC == ("prism", "inverse", "magnitude")
    assert [n for n, m in TABLE.items() if m.probes] == ["prism", "inverse", "magnitude"]
    assert [(n, m.sft, m.rl) for n, m in TABLE.items() if not m.routed] == [
        ("base", "none", "none"), ("sft", "all", "none"), ("grpo", "none", "all"),
        ("gigpo", "none", "all"), ("sft_then_rl", "all", "all")]
    # the names here are the scores Stage II computes
    assert METRICS == tuple(metrics.METRICS) and CONCENTRATION == metrics.CONCENTRATION_METRICS
