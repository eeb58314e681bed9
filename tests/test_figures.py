"""Figures 3 and 4 (prism_jax/figures.py) from hand-made run results: the plotted bars, lines and
error bars are the hand-worked means over seeds."""

from __future__ import annotations

import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from prism_jax import figures
from prism_jax.results import MissingData
from synthetic_runs import figure3_results, run


def test_figure3_bars_and_random_line():
    fig = figures.plot_figure3(figure3_results())
    (ax,) = fig.axes
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in bars] == ["PRISM", "Inverse"]
    assert [[p.get_height() for p in c] for c in bars] == [[85.0, 84.0], [60.0, 65.0]]
    dashed = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [72.0, 72.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Gini", "CV"]
    # A second model gets its own panel; it has no Random run, so no dashed line there.
    other = [run("webshop", m, 0, metric="kurtosis", model="Llama-3.1-8B", score=sc)
             for m, sc in (("prism", 81.0), ("inverse", 61.0))]
    fig = figures.plot_figure3(figure3_results() + other)
    assert [a.get_title() for a in fig.axes] == ["WebShop, tiny", "WebShop, Llama-3.1-8B"]
    assert len(fig.axes[1].patches) == 2
    assert not [l for l in fig.axes[1].get_lines() if l.get_linestyle() == "--"]


def test_figure4_one_line_per_swept_metric():
    results = [run("webshop", "prism", s, metric="cv", rl_ratio=r, score=sc)
               for r, s, sc in ((0.3, 0, 70.0), (0.5, 0, 80.0), (0.5, 1, 84.0), (0.7, 0, 75.0))]
    results.append(run("webshop", "prism", 0, metric="gini", score=90.0))   # one ratio: no line
    fig = figures.plot_figure4(results)
    (ax,) = fig.axes
    lines = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(lines) == 1 and lines[0].get_label() == "CV"
    x, y = lines[0].lines[0].get_data()
    assert list(x) == [30.0, 50.0, 70.0] and list(y) == [70.0, 82.0, 75.0]
    with pytest.raises(MissingData, match="two or more RL ratios"):
        figures.plot_figure4(results[-1:])
