"""Sequence-logo figures of per-position attributions (PNG, matplotlib's Agg canvas, no pyplot state).

A logo draws, at each position, the letters of the bases with a nonzero value as glyphs one
position wide and ``|value|`` high: positive values stacked upward from the zero line, negative
ones downward, the largest farthest from it (A green, C blue, G orange, T red). One sequence's
attribution, given to the bases read there, reads as the sequence itself, tall where it
matters; a class average has up to four letters per position.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.genome import sequences as seq
from experiments.genome.sequences import BASES
from rnn_research import plots

COLOURS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}
GLYPH_WIDTH = 0.92  # of a position: a thin gap between neighbouring letters


_figure = plots.new_figure
_save = plots.save_png


@functools.cache
def _glyph(letter: str) -> tuple[Any, tuple[float, float, float, float]]:
    """The outline of ``letter`` (bold sans-serif) and its extent ``(x0, y0, width, height)``."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    path = TextPath((0.0, 0.0), letter, size=1.0, prop=FontProperties(family="DejaVu Sans", weight="bold"))
    extent = path.get_extents()
    return path, (extent.x0, extent.y0, extent.width, extent.height)


def _letter(ax: Any, letter: str, x: float, bottom: float, height: float) -> None:
    """``letter`` filling the box ``[x - w/2, x + w/2] x [bottom, bottom + height]`` (``w`` = GLYPH_WIDTH)."""
    from matplotlib.patches import PathPatch
    from matplotlib.transforms import Affine2D

    path, (x0, y0, width, tall) = _glyph(letter)
    box = (
        Affine2D().translate(-x0, -y0).scale(GLYPH_WIDTH / width, height / tall).translate(x - GLYPH_WIDTH / 2, bottom)
    )
    ax.add_patch(PathPatch(box.transform_path(path), facecolor=COLOURS.get(letter, "0.4"), edgecolor="none"))


def draw(ax: Any, values: np.ndarray, ylabel: str = "", start: int = 1) -> None:
    """A logo of ``values: [L, 4]`` (over A, C, G, T) on ``ax``: position ``i`` at ``x = start + i``,
    a zero line, position ticks."""
    values = np.asarray(values, np.float64)
    if values.ndim != 2 or values.shape[1] != len(BASES):
        raise ValueError(f"logo: expected values of shape [L, 4] over A, C, G, T, got shape {values.shape}")
    length = len(values)
    for i, row in enumerate(values):
        x = start + i
        for sign in (1.0, -1.0):
            chosen = [b for b in np.argsort(np.abs(row)) if sign * row[b] > 0]  # smallest next to zero
            level = 0.0
            for b in chosen:
                height = abs(float(row[b]))
                _letter(ax, BASES[b], x, level if sign > 0 else level - height, height)
                level += sign * height
    top = float(np.clip(values, 0, None).sum(axis=1).max(initial=0.0))
    bottom = float(np.clip(values, None, 0).sum(axis=1).min(initial=0.0))
    pad = 0.05 * max(top - bottom, 1e-12)
    ax.set_xlim(start - 0.5, start + length - 0.5)
    ax.set_ylim(bottom - pad, top + pad)
    ax.axhline(0.0, color="0.3", lw=0.6)
    every = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if length / s <= 25)
    ticks = [t for t in range(start, start + length) if (t - start + 1) % every == 0 or t == start]
    ax.set_xticks(ticks)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_ylabel(ylabel)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def logos(path: Path, panels: Sequence[tuple[str, np.ndarray]], title: str) -> Path:
    """One PNG at ``path``: a logo per ``(ylabel, values [L, 4])`` panel, stacked, under ``title``."""
    length = max(len(v) for _, v in panels)
    fig = _figure((float(np.clip(2.0 + 0.14 * length, 6.0, 40.0)), 1.0 + 2.2 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (ylabel, values) in zip(axes, panels):
        draw(ax, values, ylabel)
    axes[-1].set_xlabel("position")
    axes[0].set_title(title, fontsize=9)
    return _save(fig, path)


# ------------------------------------------------------------------ what the logos show
def symbols(x: np.ndarray) -> str:
    """The IUPAC symbols of base profiles ``x: [L, 4]`` (each row the nearest of :data:`sequences.PROBS`)."""
    distance = ((np.asarray(x)[:, None, :] - seq.PROBS[None]) ** 2).sum(axis=-1)
    return "".join(seq.SYMBOLS[i] for i in distance.argmin(axis=1))


def on_observed_bases(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Attributions ``values: [..., L, 4]`` summed per position and given to the bases read there:
    ``x * sum_c values[..., c]`` for base profiles ``x: [..., L, 4]`` (each valid row sums to 1)."""
    return x * values.sum(axis=-1, keepdims=True)


def class_average(values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean [W, 4], count [W])`` of attributions ``values: [N, L, 4]`` aligned at the first base:
    position ``t`` averages the ``count[t]`` sequences longer than ``t`` (``W`` the longest)."""
    width = int(lengths.max())
    valid = np.arange(width)[None, :] < lengths[:, None]
    count = valid.sum(axis=0)
    total = (values[:, :width] * valid[:, :, None]).sum(axis=0)
    return total / np.maximum(count, 1)[:, None], count
