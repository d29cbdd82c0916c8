"""Time-series forecasting on the shared harness: RNN forecasters, baselines in the same run, plots.

Data (``experiments/forecasting/data.py``): a CSV with a date column (the ETT layout) or a series
statsmodels ships; Informer's modes ``S`` / ``M`` / ``MS`` (``data.features``); the ETT split
(12/4/4 months) or chronological ratios or dates; per-column z-scores fitted on train only.
A window at origin ``t`` reads the lookback ``x = rows [t - L, t)`` of the input channels and
forecasts ``y = rows [t, t + H)`` of the target channels; targets never leave their split, and
with ``data.context="previous"`` (Informer's borders, the default for ETT) the lookback of the
first valid/test windows comes from the end of the split before.

Models (``model.decoder``, ``model.gaussian``):

* ``direct``: an RNN encoder reads ``x``; its final state (forward at ``t - 1`` and, when
  bidirectional, backward at ``t - L``) feeds a linear head that emits all ``H`` steps at once.
* ``autoregressive``: an encoder-decoder; the decoder (same cell, same depth, started from the
  encoder's final states) rolls the horizon out one step at a time, reading the previous target
  value: in training the true one with probability ``model.teacher_forcing``, else its own forecast.
* ``model.relative``: the lookback is shifted by its last row and the forecast is the change from
  the last observed target values (the normalisation of Zeng et al.'s NLinear), which keeps a
  model trained on one level of the series from drifting on another.
* ``model.channel_independent`` (direct decoder): every input channel is read as its own
  univariate series by the same encoder and head (weights shared across channels, as in DLinear
  and PatchTST), and the target channels' forecasts are kept.
* ``model.gaussian``: each step gives a mean and ``sigma = softplus(s) + 1e-3``; the loss is the
  Gaussian negative log-likelihood and evaluation reports the coverage of ``mean +- z * sigma``
  (``forecast.interval_z``, 1.96 for 95%). Otherwise the loss is the MSE.

Baselines, computed on the same windows in the same run and reported beside the model in every
evaluation record (``<metric>_<baseline>``): ``repeat_last``, ``seasonal_naive``
(``forecast.seasonal_period``), ``linear`` (least squares over the lookback, fitted on train
windows), ``ar`` (AR(``forecast.ar_lags``) fitted on the train series) and ``arima``
(``forecast.arima_order``, statsmodels, fitted on train and run from every origin with the fitted
parameters). Metrics: ``mse`` and ``mae`` on the normalised scale (the papers' numbers);
``rmse_orig``, ``mae_orig``, ``mape_orig`` (%) and ``mase`` on the original scale.

Modes (``experiments/forecasting/modes.py``): ``--mode=predict`` writes every test window's
forecasts as CSV with plots and per-horizon curves; ``--mode=anomalies`` flags points whose
one-step forecast residual has a large z-score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from experiments.forecasting.model import DECODERS, TRAINING_ONLY, Forecaster, make_model  # noqa: F401
from experiments.forecasting.modes import anomalies, predict
from experiments.forecasting.pipeline import Prepared, make_data  # noqa: F401

_LOG_2PI = math.log(2 * math.pi)


def prepare(config: ml_collections.ConfigDict, workdir: Path, info: Mapping[str, Any]) -> None:
    """Prints what the run reads, and writes the scaler (``scaler.json``) for later inspection."""
    p: Prepared = info["prepared"]
    sizes = ", ".join(f"{k} {len(v):,}" for k, v in p.origins.items())
    print(f"data: {p.series.description}; windows {sizes}; lookback {p.lookback}, horizon {p.horizon}", flush=True)
    record = {
        "columns": p.series.columns,
        "targets": [p.series.columns[i] for i in p.targets],
        "mean": p.scaler.mean.tolist(),
        "std": p.scaler.std.tolist(),
        "borders": {k: list(v) for k, v in p.borders.items()},
    }
    path = Path(workdir) / "scaler.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)


# ------------------------------------------------------------------------------ loss, metrics
def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["inputs"],)


def gaussian_nll(y: jax.Array, mean: jax.Array, sigma: jax.Array) -> jax.Array:
    """Elementwise ``-log N(y; mean, sigma^2)``."""
    return 0.5 * _LOG_2PI + jnp.log(sigma) + 0.5 * jnp.square((y - mean) / sigma)


def _error_totals(pred: jax.Array, batch: Mapping[str, Any], w: jax.Array, suffix: str = "") -> dict[str, jax.Array]:
    """Summed errors of ``pred [B, H, Ct]`` (normalised) on both scales, rows weighted by ``w [B, 1, 1]``."""
    y = batch["targets"]
    err = pred - y
    std, mean = batch["std"][:, None, :], batch["mean"][:, None, :]
    err_orig = err * std
    y_orig = y * std + mean
    nonzero = (jnp.abs(y_orig) > 1e-8) & (w > 0)
    totals = {
        "total_se": jnp.sum(w * jnp.square(err)),
        "total_ae": jnp.sum(w * jnp.abs(err)),
        "total_se_orig": jnp.sum(w * jnp.square(err_orig)),
        "total_ae_orig": jnp.sum(w * jnp.abs(err_orig)),
        "total_ase": jnp.sum(w * jnp.abs(err_orig) / batch["mase_scale"][:, None, :]),
        "total_ape": jnp.sum(jnp.where(nonzero, jnp.abs(err_orig) / jnp.where(nonzero, jnp.abs(y_orig), 1.0), 0.0)),
        "total_ape_n": jnp.sum(nonzero.astype(jnp.float32)),
    }
    return {f"{k}{suffix}": v for k, v in totals.items()}


def loss_and_metrics(
    model: Forecaster, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    y = batch["targets"]
    mean, sigma = model.apply(
        variables, batch["inputs"], y if train else None, deterministic=not train, rngs={"dropout": rng}
    )
    w = batch["weights"][:, None, None]
    n = jnp.sum(batch["weights"]) * y.shape[1] * y.shape[2]
    nll = None if sigma is None else jnp.sum(w * gaussian_nll(y, mean, sigma))
    loss = (jnp.sum(w * jnp.square(mean - y)) if nll is None else nll) / jnp.maximum(n, 1.0)
    metrics = {"total_n": n, **_error_totals(mean, batch, w)}
    if sigma is not None:
        z = model.interval_z
        inside = jnp.abs(y - mean) <= z * sigma
        metrics.update(
            total_covered=jnp.sum(w * inside),
            total_width=jnp.sum(w * 2 * z * sigma * batch["std"][:, None, :]),
            total_nll=nll,
        )
    for key in batch:
        if key.startswith("baseline_"):
            totals = _error_totals(batch[key], batch, w, suffix="_" + key[len("baseline_") :])
            metrics.update({k: v for k, v in totals.items() if not k.startswith("total_ape")})
    return loss, (metrics, carry)


def _derived(values: Mapping[str, float], suffix: str = "") -> dict[str, float]:
    n = max(values["total_n"], 1.0)
    out = {
        "mse": values[f"total_se{suffix}"] / n,
        "mae": values[f"total_ae{suffix}"] / n,
        "rmse_orig": math.sqrt(values[f"total_se_orig{suffix}"] / n),
        "mase": values[f"total_ase{suffix}"] / n,
    }
    if f"total_ae_orig{suffix}" in values:
        out["mae_orig"] = values[f"total_ae_orig{suffix}"] / n
    if f"total_ape{suffix}" in values:
        out["mape_orig"] = 100.0 * values[f"total_ape{suffix}"] / max(values[f"total_ape_n{suffix}"], 1.0)
    return {f"{k}{suffix}": v for k, v in out.items()}


def finalize_metrics(config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
    """MSE/MAE (normalised), RMSE/MAE/MAPE/MASE (original scale), coverage; the same for each baseline."""
    if "total_n" not in values:
        return values
    out = {k: v for k, v in values.items() if not k.startswith("total_")}
    out.update(_derived(values))
    n = max(values["total_n"], 1.0)
    if "total_covered" in values:
        out.update(
            coverage=values["total_covered"] / n, interval_width=values["total_width"] / n, nll=values["total_nll"] / n
        )
    names = sorted({k[len("total_se_orig_") :] for k in values if k.startswith("total_se_orig_")})
    for name in names:
        out.update(_derived(values, suffix=f"_{name}"))
    return out


MODES = {"predict": predict, "anomalies": anomalies}
