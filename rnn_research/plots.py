"""PNG plots of a run: training curves per metric (with the baselines an experiment reports as
reference lines) and per-timestep heatmaps (gradient flow), drawn with matplotlib's Agg canvas
and no pyplot state (no display needed, nothing global changed)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_RESERVED = ("step", "split", "time")
# plot_curves draws two metrics once when their values agree to this relative tolerance.
SAME_RTOL = 1e-5
_DASHES = ("--", ":", "-.", (0, (5, 1)), (0, (1, 3)), (0, (3, 1, 1, 1)))


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib figure on an Agg canvas, made without pyplot (no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


_new_figure = new_figure


def save_png(fig: Any, path: str | Path) -> Path:
    """``fig`` laid out and written to ``path`` as a 100-dpi PNG, atomically (parents made)."""
    from rnn_research import io

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _same_series(a: Mapping[str, list[tuple[int, float]]], b: Mapping[str, list[tuple[int, float]]]) -> bool:
    """Whether two metrics' ``{split: [(step, value)]}`` have the same splits, steps and values."""
    if a.keys() != b.keys():
        return False
    for split in a:
        (steps_a, values_a), (steps_b, values_b) = (zip(*sorted(s[split])) for s in (a, b))
        if steps_a != steps_b or not np.allclose(values_a, values_b, rtol=SAME_RTOL, atol=0.0):
            return False
    return True


def _flat(by_split: Mapping[str, list[tuple[int, float]]]) -> bool:
    """Whether a metric holds one value in each split that has two or more records (and some
    split has): a flat line per split, such as the number of examples of each set."""
    repeated = [points for points in by_split.values() if len(points) >= 2]
    return bool(repeated) and all(len({v for _, v in points}) == 1 for points in repeated)


def _references(
    series: Mapping[str, Mapping[str, list[tuple[int, float]]]], groups: list[list[str]]
) -> dict[str, list[tuple[str, str, dict[str, float]]]]:
    """``{plotted metric: [(reference metric, label, {split: value})]}`` for the metrics that
    :func:`plot_curves` draws as reference lines (see there); ``groups`` are its plots."""
    plotted = {name: group[0] for group in groups for name in group}
    out: dict[str, list[tuple[str, str, dict[str, float]]]] = {}
    for name, by_split in series.items():
        if not _flat(by_split):
            continue
        levels = {split: points[0][1] for split, points in by_split.items() if len(points) >= 2}
        bases = [m for m in plotted if name.startswith(m + "_") and m != name]
        if bases:
            base = max(bases, key=len)
            out.setdefault(plotted[base], []).append((name, name[len(base) + 1 :], levels))
    return out


def plot_curves(records: Sequence[Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """Writes ``curves_<metric>.png``, one line per split vs step, for the metrics that vary;
    returns the paths.

    Non-numeric and non-finite values are skipped; the y axis is logarithmic when all values are
    positive and span more than two decades. Plots that would show nothing new are left out:

    * a metric with one value everywhere (every split, every step; a single record too), such as
      a constant learning rate or ``nonfinite_steps`` of a run that never skipped a step, gets no
      plot;
    * metrics whose series are the same in every split (same splits, same steps, values equal to
      a relative :data:`SAME_RTOL`, float32 rounding), such as ``loss`` and ``mse`` of a model
      trained on its MSE, share one plot, named after the first of them in ``records``
      (``curves_loss.png``) and titled with all of them (``loss = mse``);
    * a metric that holds one value in each split with two or more records (the size of each
      data set) gets no plot either; if it is named ``<m>_<name>`` and ``<m>`` is plotted (a baseline computed once, reported at every evaluation: forecasting's
      ``mse_repeat_last``) is drawn on ``<m>``'s plot as a dashed horizontal line per such split,
      labelled ``<name> (<split>)``, not as a plot of its own. The longest plotted ``<m>`` wins
      (``mae_orig_ar`` goes on ``mae_orig``'s plot).
    """
    out_dir = Path(out_dir)
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for record in records:
        for name, value in record.items():
            if name not in _RESERVED and (v := _as_float(value)) is not None:
                series.setdefault(name, {}).setdefault(str(record.get("split", "train")), []).append(
                    (int(record["step"]), v)
                )
    groups: list[list[str]] = []
    for name, by_split in series.items():
        if len({v for points in by_split.values() for _, v in points}) == 1 or _flat(by_split):
            continue  # one constant, or one per split: nothing to see (or a reference line below)
        same = next((g for g in groups if _same_series(series[g[0]], by_split)), None)
        if same is None:
            groups.append([name])
        else:
            same.append(name)
    references = _references(series, groups)  # flat metrics: never in groups
    paths = []
    for group in groups:
        by_split, title = series[group[0]], " = ".join(group)
        out_dir.mkdir(parents=True, exist_ok=True)
        fig = _new_figure((9.0, 4.0) if references.get(group[0]) else (6.4, 4.0))
        ax = fig.add_subplot()
        splits = sorted(by_split, key=lambda s: (s != "train", s))
        colours = {}
        for split in splits:
            points = sorted(by_split[split])
            marker = "." if split != "train" or len(points) == 1 else None
            (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=split)
            colours[split] = line.get_color()
        values = [v for points in by_split.values() for _, v in points]
        for number, (_, label, levels) in enumerate(references.get(group[0], [])):
            for split, level in levels.items():
                colour = colours.get(split, "grey")
                ax.axhline(level, color=colour, linestyle=_DASHES[number % len(_DASHES)], linewidth=1.0)
                ax.plot([], [], color=colour, linestyle=_DASHES[number % len(_DASHES)], label=f"{label} ({split})")
                values.append(level)
        if min(values) > 0 and max(values) / min(values) > 100:
            ax.set_yscale("log")
        ax.set(xlabel="step", ylabel=title, title=title)
        ax.grid(alpha=0.3)
        if references.get(group[0]):  # beside the axes: many lines
            ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            ax.legend()
        fig.tight_layout()
        path = out_dir / f"curves_{re.sub(r'[^A-Za-z0-9_.-]+', '_', group[0])}.png"
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


def plot_heatmap(
    matrix: np.ndarray,
    steps: Sequence[int],
    out_path: str | Path,
    *,
    title: str,
    log: bool = True,
    label: str = "value",
) -> Path:
    """Heatmap of ``matrix: [num_records, T]``: time step ``t`` on x, training step on y.

    With ``log`` the colour is ``log10(value)`` (non-positive and non-finite cells left blank),
    e.g. gradient norms ``||dL/dh_t||`` over training to show vanishing or exploding gradients.
    ``steps`` (strictly increasing) are the training steps of the rows.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != steps.shape[0] or matrix.size == 0:
        raise ValueError(
            f"matrix must be [num_records, T] with one row per step, got {matrix.shape} and {len(steps)} steps"
        )
    if np.any(np.diff(steps) <= 0):
        raise ValueError(f"steps must be strictly increasing, got {steps.astype(int).tolist()}")
    with np.errstate(divide="ignore", invalid="ignore"):
        colour = np.where(matrix > 0, np.log10(matrix), np.nan) if log else matrix
    colour = np.ma.masked_invalid(colour)
    # Row edges halfway between recorded steps, so the y axis reads in training steps.
    mids = (steps[1:] + steps[:-1]) / 2
    first = steps[0] - (mids[0] - steps[0] if mids.size else 0.5)
    last = steps[-1] + (steps[-1] - mids[-1] if mids.size else 0.5)
    y_edges = np.concatenate([[first], mids, [last]])
    x_edges = np.arange(matrix.shape[1] + 1) - 0.5
    fig = _new_figure((7.0, 4.5))
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(x_edges, y_edges, colour, shading="flat", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=f"log10({label})" if log else label)
    ax.set(xlabel="time step t", ylabel="training step", title=title)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    return out_path
