"""Figures and tables of the PRISM analyses (written all-or-nothing with `files.staged_outputs`).

Plots use matplotlib's object API (`Figure`, no pyplot), so they need no display, keep no global
state and can be called from any CLI or notebook. Each plotting function writes one PNG.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from prism_jax.models.config import MATRICES


def matrix_shares(norms, num_layers: int) -> np.ndarray:
    """Each trajectory's g as shares of its total: float [n, 7L] -> float64 [n, L, 7] summing to 1.

    Shares make trajectories with very different gradient magnitudes comparable, so a mean over
    trajectories says where the gradient goes rather than which trajectories are loudest.
    """
    g = np.asarray(norms, np.float64)
    if g.ndim != 2 or g.shape[1] != len(MATRICES) * num_layers:
        raise ValueError(f"norms has shape {g.shape}; expected [n, {len(MATRICES) * num_layers}] "
                         f"for {num_layers} layers x {len(MATRICES)} matrices")
    total = g.sum(axis=1, keepdims=True)
    shares = np.divide(g, total, out=np.zeros_like(g), where=total > 0)
    return shares.reshape(len(g), num_layers, len(MATRICES))


def share_by_route(shares, rl_mask) -> dict[str, np.ndarray]:
    """Mean shares for all trajectories and per route: shares [n, L, 7], rl_mask bool [n] ->
    {"all", "sft", "rl", "rl_minus_sft"}, each float64 [L, 7]. Each side needs a trajectory."""
    shares = np.asarray(shares, np.float64)
    rl = np.asarray(rl_mask, bool)
    if rl.all() or not rl.any():
        raise ValueError("a route comparison needs trajectories on both sides; got "
                         f"{int(rl.sum())} RL and {int((~rl).sum())} SFT")
    means = {"all": shares.mean(0), "sft": shares[~rl].mean(0), "rl": shares[rl].mean(0)}
    means["rl_minus_sft"] = means["rl"] - means["sft"]
    return means


def cell_rows(tables: dict[str, np.ndarray], matrix_types: Sequence[str] = MATRICES) -> list[dict]:
    """One row per layer x matrix cell of same-shaped [L, 7] tables, values in percent:
    [{"layer": l, "matrix": "q", "<name>_pct": ...}, ...] in layer-major order."""
    first = next(iter(tables.values()))
    return [{"layer": l, "matrix": m,
             **{f"{name}_pct": float(100.0 * t[l, j]) for name, t in tables.items()}}
            for l in range(first.shape[0]) for j, m in enumerate(matrix_types)]


def plot_layer_matrix_heatmap(values, path: str | os.PathLike, *, title: str,
                              colorbar_label: str, diverging: bool = False,
                              annotate: str | None = "{:.1f}",
                              matrix_types: Sequence[str] = MATRICES) -> None:
    """Heat map of a float [L, 7] layer x matrix-type table (layer 0 at the top).

    diverging=True centres a red/blue colour map at 0, for differences such as RL minus SFT.
    Cells are annotated with `annotate.format(value)` when there are at most 16 layers.
    """
    v = np.asarray(values, np.float64)
    n_layers, n_types = v.shape
    fig = Figure(figsize=(1.2 + 0.9 * n_types, 1.2 + 0.32 * max(n_layers, 4)), layout="constrained")
    ax = fig.add_subplot()
    if diverging:
        bound = float(np.max(np.abs(v))) or 1.0
        image = ax.imshow(v, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    else:
        image = ax.imshow(v, cmap="viridis", aspect="auto")
    ax.set_xticks(range(n_types), list(matrix_types))
    step = max(1, n_layers // 24)
    ax.set_yticks(range(0, n_layers, step), [str(l) for l in range(0, n_layers, step)])
    ax.set_xlabel("matrix")
    ax.set_ylabel("layer")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=colorbar_label)
    if annotate is not None and n_layers <= 16:
        for (l, j), x in np.ndenumerate(v):
            # viridis is dark below ~0.6 of its range; RdBu_r at both ends.
            level = float(image.norm(x))
            dark_cell = abs(level - 0.5) > 0.3 if diverging else level < 0.6
            ax.text(j, l, annotate.format(x), ha="center", va="center", fontsize=7,
                    color="white" if dark_cell else "black")
    fig.savefig(path, dpi=120, format="png")


def plot_score_histogram(scores, path: str | os.PathLike, *, rl_mask=None,
                         threshold: float | None = None, xlabel: str, title: str,
                         bins: int = 40) -> None:
    """Histogram of float [n] scores, stacked by route (SFT / RL) when rl_mask bool [n] is given,
    with the routing threshold as a dashed vertical line."""
    s = np.asarray(scores, np.float64)
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    edges = np.histogram_bin_edges(s, bins=bins)
    if rl_mask is None:
        ax.hist(s, bins=edges, color="tab:gray")
    else:
        rl = np.asarray(rl_mask, bool)
        ax.hist([s[~rl], s[rl]], bins=edges, stacked=True, color=["tab:blue", "tab:orange"],
                label=[f"SFT ({int((~rl).sum())})", f"RL ({int(rl.sum())})"])
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2,
                   label=f"threshold {threshold:.4g}")
    if rl_mask is not None or threshold is not None:
        ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("trajectories")
    ax.set_title(title)
    fig.savefig(path, dpi=120, format="png")


def plot_venn3(regions: dict[str, int], labels: Sequence[str], path: str | os.PathLike, *,
               title: str) -> None:
    """Three-set Venn diagram from region sizes keyed "100", "010", "110", ..., "111" (bit i set
    <=> in set i), as `prism_jax.routing.venn_regions` returns them.

    The layout is unweighted (equal circles): with strongly agreeing metrics an area-proportional
    layout collapses into one disc and hides the small regions, whose counts matter here.
    """
    # lazy: matplotlib-venn costs ~1.5 s at import and only this figure needs it
    from matplotlib_venn import venn3
    from matplotlib_venn.layout.venn3 import DefaultLayoutAlgorithm

    fig = Figure(figsize=(5.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    if sum(regions.values()) == 0:
        ax.text(0.5, 0.5, "all three sets are empty", ha="center", va="center")
        ax.set_axis_off()
    else:
        venn3(subsets=dict(regions), set_labels=tuple(labels), ax=ax,
              layout_algorithm=DefaultLayoutAlgorithm(fixed_subset_sizes=(1,) * 7))
    ax.set_title(title)
    fig.savefig(path, dpi=120, format="png")


def markdown_table(rows: Sequence[dict], float_format: str = "{:.4g}") -> str:
    """A GitHub Markdown table of dict rows (columns: the first row's keys, in order)."""
    if not rows:
        return ""
    columns = list(rows[0])

    def cell(x):
        return float_format.format(x) if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def csv_table(rows: Sequence[dict]) -> str:
    """CSV text of dict rows (header: the first row's keys)."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()
