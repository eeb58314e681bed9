"""The paper's figures from run results: Fig. 3 (PRISM vs inverse routing) and Fig. 4 (sensitivity
to the RL ratio), as matplotlib `Figure`s (object API, no pyplot: no display, no global state).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

from prism_jax.methods import METRIC_LABELS, METRICS
from prism_jax.results import (ENV_LABELS, HEADLINE_LABELS, MissingData, group_runs, headline,
                               main_runs, models_of, pct, values_of)


def _mean_std(runs: Sequence[dict]) -> tuple[float, float] | None:
    values = values_of(runs, headline)
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _panels(groups, wanted: Callable[[str, str], bool]) -> list[tuple[str, str]]:
    return [(env, model) for env in ("webshop", "alfworld") for model in models_of(groups, env)
            if wanted(env, model)]


def _grid(n: int, title: str) -> tuple[Figure, list]:
    fig = Figure(figsize=(4.2 * n + 0.6, 3.8), layout="constrained")
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    fig.suptitle(title)
    return fig, axes


def _figure3_panels(groups) -> list[tuple[str, str]]:
    return _panels(groups, lambda e, m: any(main_runs(groups, e, m, "inverse", x)
                                            for x in METRICS))


def plot_figure3(results: Sequence[dict]) -> Figure:
    """Fig. 3: PRISM (orange) vs inverse routing (blue) per metric at 50 : 50, one panel per
    (env, model), with the Random 50 : 50 result as a dashed line; error bars are the std."""
    groups = group_runs(results)

    def metrics(env, model):
        return [m for m in METRICS
                if main_runs(groups, env, model, "prism", m) or
                main_runs(groups, env, model, "inverse", m)]

    panels = _figure3_panels(groups)
    if not panels:
        raise MissingData("needs inverse-routing runs at 50 : 50")
    fig, axes = _grid(len(panels), "PRISM vs inverse routing")
    for ax, (env, model) in zip(axes, panels):
        names = metrics(env, model)
        x = np.arange(len(names))
        for offset, method, colour, label in ((-0.2, "prism", "tab:orange", "PRISM"),
                                              (0.2, "inverse", "tab:blue", "Inverse")):
            stats = [_mean_std(main_runs(groups, env, model, method, m)) for m in names]
            keep = [i for i, s in enumerate(stats) if s is not None]
            ax.bar(x[keep] + offset, [stats[i][0] for i in keep], width=0.4,
                   yerr=[stats[i][1] for i in keep], color=colour, label=label, capsize=3)
        random = _mean_std(main_runs(groups, env, model, "random", None))
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
                and values_of(runs, headline)):
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


def figure_runs(results: Sequence[dict], name: str) -> list[tuple[str, list[dict]]]:
    """The (label, runs) of every point or bar a figure plots, for its seeds note."""
    groups = group_runs(results)
    if name == "figure4":
        return [(f"{env}/{model}/{metric}/RL {pct(100 * ratio)}%", runs)
                for env, model in _panels(groups, lambda e, m: True)
                for metric, points in _sweep(groups, env, model).items()
                for ratio, runs in points]
    return [(f"{env}/{model}/{method}/{metric}", main_runs(groups, env, model, method, metric))
            for env, model in _figure3_panels(groups)
            for method, metric in [("random", None)] + [(me, mt) for me in ("prism", "inverse")
                                                        for mt in METRICS]]
