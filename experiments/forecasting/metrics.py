"""Forecast metrics, defined once for the in-graph (``jax.numpy``) and the host (``numpy``) paths.

Every function here takes the array module ``xp`` (``numpy`` or ``jax.numpy``) and uses only
operations both provide, so training's evaluation and ``--mode=predict`` compute the same numbers.
Forecasts ``pred`` and targets ``y`` are ``[W, H, Ct]`` on the normalised (z-scored) scale; the
original scale is ``v * scale + offset`` with the scaler's ``std`` and ``mean`` of the target
columns (``[Ct]``, or ``[W, 1, Ct]`` per window).

:func:`totals` sums over windows weighted by ``weights [W]`` (0 for a padding row), so the totals
of several batches add up; :func:`summarize` turns (summed) totals into metrics, with
``n = sum_w weights_w * H * Ct`` and ``e = pred - y``:

* ``mse = sum e^2 / n``, ``mae = sum |e| / n`` (the numbers papers report);
* ``rmse_orig = sqrt(sum (e scale)^2 / n)``, ``mae_orig = sum |e scale| / n``;
* ``mape_orig = 100 * mean |e scale| / |y_orig|`` (percent) over the targets with
  ``|y_orig| > 1e-3 scale`` only (:data:`NONZERO`; NaN when there is none). A percentage of a true
  zero is undefined, and a zero does not come back as zero: on the float32 path ``y_orig = y scale
  + offset`` of a true zero is a rounding error of a few ``1e-8 |offset|`` (``~1e-6`` for yearly
  sunspots), which the former absolute threshold ``1e-8`` counted: MAPE read millions of percent.
  That error is a few ``1e-8 k scale`` for a zero ``k = |offset| / scale`` standard deviations
  from the train mean, far below ``1e-3 scale`` unless ``k`` is in the tens of thousands; so a
  target within a thousandth of a standard deviation of zero is skipped as a zero. The host path (float64) applies the same
  threshold, so both paths agree;
* ``mase = sum |e scale| / mase_scale / n`` with :func:`mase_scale` per target channel.

With a Gaussian head's ``sigma`` (normalised scale) and ``z``: ``coverage``, the fraction of ``y``
inside ``pred +- z sigma``; ``interval_width``, the mean ``2 z sigma scale`` (original scale);
``nll``, the mean :func:`gaussian_nll`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

LOG_2PI = math.log(2 * math.pi)
NONZERO = 1e-3  # |y_orig| above this times the channel's scale (std) counts for MAPE


def gaussian_nll(xp: ModuleType, y: Any, mean: Any, sigma: Any) -> Any:
    """Elementwise ``-log N(y; mean, sigma^2) = 0.5 log(2 pi) + log sigma + 0.5 ((y - mean) / sigma)^2``."""
    return 0.5 * LOG_2PI + xp.log(sigma) + 0.5 * xp.square((y - mean) / sigma)


def totals(
    xp: ModuleType,
    pred: Any,
    y: Any,
    *,
    scale: Any,
    offset: Any,
    mase_scale: Any,
    weights: Any = None,
    sigma: Any = None,
    z: float = 1.96,
) -> dict[str, Any]:
    """Summed errors of ``pred [W, H, Ct]`` against ``y [W, H, Ct]``; see the module docstring.

    Keys: ``n``, ``se``, ``ae``, ``se_orig``, ``ae_orig``, ``ase``, ``ape``, ``ape_n`` and, with
    ``sigma [W, H, Ct]``, ``covered``, ``width``, ``nll``. ``weights [W]`` defaults to all ones;
    ``scale``, ``offset`` and ``mase_scale`` are ``[Ct]`` or ``[W, 1, Ct]`` arrays.
    """
    w = xp.ones(y.shape[:1], y.dtype) if weights is None else weights
    w = w[:, None, None]
    scale, offset, mase_scale = (v if v.ndim == 3 else xp.reshape(v, (1, 1, -1)) for v in (scale, offset, mase_scale))
    err = pred - y
    err_orig = err * scale
    y_orig = y * scale + offset
    nonzero = (xp.abs(y_orig) > NONZERO * xp.abs(scale)) & (w > 0)
    out = {
        "n": xp.sum(w * xp.ones_like(y)),
        "se": xp.sum(w * xp.square(err)),
        "ae": xp.sum(w * xp.abs(err)),
        "se_orig": xp.sum(w * xp.square(err_orig)),
        "ae_orig": xp.sum(w * xp.abs(err_orig)),
        "ase": xp.sum(w * xp.abs(err_orig) / mase_scale),
        "ape": xp.sum(xp.where(nonzero, xp.abs(err_orig) / xp.where(nonzero, xp.abs(y_orig), 1.0), 0.0)),
        "ape_n": xp.sum(xp.where(nonzero, 1.0, 0.0)),
    }
    if sigma is not None:
        out["covered"] = xp.sum(w * (xp.abs(err) <= z * sigma))
        out["width"] = xp.sum(w * 2 * z * sigma * scale)
        out["nll"] = xp.sum(w * gaussian_nll(xp, y, pred, sigma))
    return out


def summarize(values: Mapping[str, float]) -> dict[str, float]:
    """Metrics from (summed) :func:`totals`: each present total gives its metric (module docstring)."""
    n = max(float(values["n"]), 1.0)
    out = {"mse": values["se"] / n, "mae": values["ae"] / n}
    if "se_orig" in values:
        out["rmse_orig"] = math.sqrt(values["se_orig"] / n)
    if "ae_orig" in values:
        out["mae_orig"] = values["ae_orig"] / n
    if "ape" in values:
        out["mape_orig"] = 100.0 * values["ape"] / values["ape_n"] if values["ape_n"] > 0 else math.nan
    if "ase" in values:
        out["mase"] = values["ase"] / n
    if "covered" in values:
        out.update(coverage=values["covered"] / n, interval_width=values["width"] / n, nll=values["nll"] / n)
    return {k: float(v) for k, v in out.items()}


def evaluate(
    pred: np.ndarray,
    y: np.ndarray,
    *,
    scale: np.ndarray,
    offset: np.ndarray,
    mase_scale: np.ndarray,
    sigma: np.ndarray | None = None,
    z: float = 1.96,
) -> dict[str, float]:
    """Host-side metrics of whole ``[W, H, Ct]`` arrays (float64): ``summarize(totals(np, ...))``."""
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    if pred.ndim != 3 or pred.shape != y.shape:
        raise ValueError(f"pred and y must share one [W, H, Ct] shape, got {pred.shape}, {y.shape}")
    channels = (y.shape[2],)
    for name, value in (("scale", scale), ("offset", offset), ("mase_scale", mase_scale)):
        if np.shape(value) != channels:
            raise ValueError(f"{name} must be [Ct={channels[0]}], got shape {np.shape(value)}")
    if sigma is not None:
        sigma = np.asarray(sigma, np.float64)
        if sigma.shape != y.shape:
            raise ValueError(f"sigma must be {y.shape}, got shape {sigma.shape}")
        if not np.all(sigma > 0):
            raise ValueError("sigma must be positive everywhere")
    as64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    sums = totals(np, pred, y, scale=as64(scale), offset=as64(offset), mase_scale=as64(mase_scale), sigma=sigma, z=z)
    return summarize(sums)


def per_horizon(pred: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """``{"mse": [H], "mae": [H]}``: errors per step ahead, averaged over windows and channels."""
    pred, y = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if pred.ndim != 3 or pred.shape != y.shape:
        raise ValueError(f"pred and y must share one [W, H, Ct] shape, got {pred.shape}, {y.shape}")
    err = pred - y
    return {"mse": np.mean(err**2, axis=(0, 2)), "mae": np.mean(np.abs(err), axis=(0, 2))}


def mase_scale(train_raw: np.ndarray, period: int = 1) -> np.ndarray:
    """``[Ct]``: the mean absolute ``period``-step difference of each train channel (original scale); 0 -> 1."""
    train_raw = np.asarray(train_raw, dtype=np.float64)
    if train_raw.ndim == 1:
        train_raw = train_raw[:, None]
    if train_raw.ndim != 2:
        raise ValueError(f"train_raw must be [N, Ct], got shape {train_raw.shape}")
    if not 1 <= int(period) < train_raw.shape[0]:
        raise ValueError(f"forecast.seasonal_period={period} must be in [1, {train_raw.shape[0] - 1}] for MASE")
    scale = np.mean(np.abs(train_raw[int(period) :] - train_raw[: -int(period)]), axis=0)
    return np.where(scale > 0, scale, 1.0)
