"""Per-window normalisations of a forecaster's lookback, and their exact inverses on its forecast.

Both act on one window at a time, on top of the z-scores fitted on train (``data.py``), so a
model trained on one level or spread of the series is not thrown by another:

* last value (NLinear, Zeng et al. 2023; ``model.relative``): ``x' = x - x[-1]``, forecast
  ``y = y' + x[-1]``;
* reversible instance normalisation (RevIN, Kim et al. 2022; ``model.revin``): per window and
  channel, ``mu = mean_t x``, ``s = sqrt(var_t x + eps)``, ``x' = (x - mu) / s * w + b`` with
  learned ``w [C]`` (ones) and ``b [C]`` (zeros) when ``model.revin_affine``, else ``w = 1, b = 0``;
  the forecast is ``y = (y' - b) / w * s + mu``, and a Gaussian head's ``sigma = sigma' / |w| * s``.

``inverse(forward(x)) == x`` up to float rounding (``tests/experiments/forecasting/test_segments.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

EPS = 1e-5  # RevIN: added to the variance; the affine weight is kept this far from 0


class Stats(NamedTuple):
    """A window's location and spread per channel, ``[B, 1, C]`` each (``scale`` is 1 for the last value)."""

    loc: jax.Array
    scale: jax.Array


def last_value_stats(x: jax.Array) -> Stats:
    """``x [B, L, C]`` -> the last row as location, unit scale."""
    loc = jax.lax.stop_gradient(x[:, -1:, :])
    return Stats(loc, jnp.ones_like(loc))


def revin_stats(x: jax.Array, eps: float = EPS) -> Stats:
    """``x [B, L, C]`` -> the mean over time and ``sqrt(var + eps)`` (population variance), no gradient."""
    x = jax.lax.stop_gradient(x.astype(jnp.float32))
    mean = x.mean(axis=1, keepdims=True)
    return Stats(mean, jnp.sqrt(x.var(axis=1, keepdims=True) + eps))


def _safe(weight: jax.Array) -> jax.Array:
    """The affine weight kept at least :data:`EPS` from zero (sign kept), so the inverse is finite."""
    return jnp.where(weight >= 0, jnp.maximum(weight, EPS), jnp.minimum(weight, -EPS))


def forward(x: jax.Array, stats: Stats, weight: jax.Array | None = None, bias: jax.Array | None = None) -> jax.Array:
    """``x [B, T, C]`` -> ``(x - loc) / scale * w + b`` (``w``, ``b``: ``[C]`` or None)."""
    out = (x - stats.loc) / stats.scale
    if weight is not None:
        out = out * _safe(weight)[None, None] + bias[None, None]
    return out


def inverse(y: jax.Array, stats: Stats, weight: jax.Array | None = None, bias: jax.Array | None = None) -> jax.Array:
    """The inverse of :func:`forward`: ``y [B, T, C]`` -> ``(y - b) / w * scale + loc``."""
    if weight is not None:
        y = (y - bias[None, None]) / _safe(weight)[None, None]
    return y * stats.scale + stats.loc


def inverse_sigma(sigma: jax.Array, stats: Stats, weight: jax.Array | None = None) -> jax.Array:
    """A standard deviation on the normalised scale back on the input scale: ``sigma / |w| * scale``."""
    if weight is not None:
        sigma = sigma / jnp.abs(_safe(weight))[None, None]
    return sigma * stats.scale


def select(stats: Stats, columns: tuple[int, ...]) -> Stats:
    """The statistics of some channels (the targets among the inputs), in that order."""
    index = jnp.asarray(columns)
    return Stats(stats.loc[..., index], stats.scale[..., index])
