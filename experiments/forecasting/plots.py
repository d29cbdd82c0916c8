"""Forecasting figures (PNG, matplotlib's Agg canvas, no pyplot state): forecasts against actuals
with prediction intervals, per-horizon error curves, and flagged anomalies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.forecasting.series import stamp
from rnn_research import plots

_figure = plots.new_figure
_save = plots.save_png


def forecasts(
    out_dir: Path,
    split: str,
    prepared: Any,
    origins: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    mean: np.ndarray,
    sigma: np.ndarray | None,
    z: float,
    num_plots: int,
) -> list[Path]:
    """``forecast_<split>_<i>.png`` for ``num_plots`` evenly spaced windows: the lookback and the
    actual horizon of the first target column, the forecast, and ``mean +- z * sigma`` when given."""
    p, paths = prepared, []
    target, name = p.targets[0], p.series.columns[p.targets[0]]
    picks = np.unique(np.linspace(0, len(origins) - 1, max(num_plots, 0)).astype(int)) if num_plots else []

    def inverse(a: np.ndarray) -> np.ndarray:  # [steps] normalised -> original scale
        return p.scaler.inverse(a[:, None], [target])[:, 0]

    for i, w in enumerate(picks):
        t = origins[w]
        past, actual, pred = inverse(x[w, :, target]), inverse(y[w, :, 0]), inverse(mean[w, :, 0])
        fig = _figure((8.0, 3.6))
        ax = fig.add_subplot()
        steps_past = np.arange(-len(past), 0)
        steps = np.arange(len(actual))
        marker = "o" if len(actual) < 30 else None  # a short horizon is a few points
        ax.plot(steps_past, past, color="0.4", lw=1, label="lookback")
        ax.plot(steps, actual, color="black", lw=1.2, marker=marker, label="actual")
        ax.plot(steps, pred, color="tab:blue", lw=1.2, marker=marker, label="forecast")
        if sigma is not None:
            lo, hi = inverse(mean[w, :, 0] - z * sigma[w, :, 0]), inverse(mean[w, :, 0] + z * sigma[w, :, 0])
            ax.fill_between(steps, lo, hi, color="tab:blue", alpha=0.2, label=f"±{z:g}σ")
        origin = stamp(p.series.dates[t])
        ax.set(xlabel="steps from the origin", ylabel=name, title=f"{split}: forecast from {origin}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(_save(fig, out_dir / f"forecast_{split}_{i}.png"))
    return paths


def per_horizon(path: Path, curves: Mapping[str, Sequence[float]], split: str) -> Path:
    """MSE and MAE (normalised) against the forecast step."""
    fig = _figure((6.4, 3.6))
    ax = fig.add_subplot()
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="." if len(values) < 50 else None, label=name)
    ax.set(xlabel="forecast step", ylabel="error (normalised)", title=f"{split}: error by horizon")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def anomalies(
    path: Path,
    dates: np.ndarray,
    actual: np.ndarray,
    forecast: np.ndarray,
    flagged: np.ndarray,
    names: Sequence[str],
) -> Path:
    """The series, its one-step forecast, and the flagged points (red), one panel per column."""
    fig = _figure((10.0, 2.6 * len(names)))
    for k, name in enumerate(names):
        ax = fig.add_subplot(len(names), 1, k + 1)
        ax.plot(dates, actual[:, k], color="black", lw=0.7, label="actual")
        ax.plot(dates, forecast[:, k], color="tab:blue", lw=0.7, alpha=0.8, label="one-step forecast")
        rows = flagged[flagged[:, 1] == k, 0] if len(flagged) else np.zeros(0, int)
        ax.scatter(dates[rows], actual[rows, k], color="red", s=12, zorder=3, label=f"anomalies ({len(rows)})")
        ax.set(ylabel=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def series(
    path: Path,
    dates: np.ndarray,
    actual: np.ndarray,
    forecast: np.ndarray,
    name: str,
    split: str,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> Path:
    """The whole split: the actual series and the first-step forecast made for each of its rows."""
    fig = _figure((10.0, 3.6))
    ax = fig.add_subplot()
    ax.plot(dates, actual, color="black", lw=0.9, label="actual")
    ax.plot(dates, forecast, color="tab:blue", lw=0.9, label="one-step forecast")
    if lower is not None and upper is not None:
        ax.fill_between(dates, lower, upper, color="tab:blue", alpha=0.2, label="interval")
    ax.set(ylabel=name, title=f"{split}: one-step forecasts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
