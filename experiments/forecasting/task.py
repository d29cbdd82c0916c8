"""Time-series forecasting on the shared harness: RNN forecasters, baselines in the same run, plots.

Data (``series.py`` reads, ``data.py`` splits and windows): a CSV with a date column (the ETT
layout), a headerless file of numbers (LSTNet's layout, ``data.header=False``) or a series
statsmodels ships; Informer's modes ``S`` / ``M`` / ``MS`` (``data.features``);
the ETT split (12/4/4 months) or chronological ratios or dates; per-column z-scores fitted on train only.
A window at origin ``t`` reads the lookback ``x = rows [t - L, t)`` of the input channels and
forecasts ``y = rows [t, t + H)`` of the target channels; targets never leave their split, and
with ``data.context="previous"`` (Informer's borders, the default for ETT) the lookback of the
first valid/test windows comes from the end of the split before.

Models (``model.decoder``, ``model.gaussian``; ``model.py``):

* ``direct``: an RNN encoder reads ``x``; its final state (forward at ``t - 1`` and, when
  bidirectional, backward at ``t - L``) feeds a linear head that emits all ``H`` steps at once.
* ``autoregressive``: an encoder-decoder; the decoder (same cell, same depth, started from the
  encoder's final states) rolls the horizon out one step at a time, reading the previous target
  value: in training the true one with probability ``model.teacher_forcing``, else its own forecast.
* ``segment`` (SegRNN, Lin et al. 2023): the lookback is cut into segments of
  ``model.segment_length`` steps (a divisor of ``data.lookback``), each embedded by a linear
  layer and a ReLU into the encoder's width; the encoder runs over segments, not points. With
  ``model.segment_decoder=parallel`` every horizon segment is one step of the encoder's own cells
  from its final state, reading a learned position embedding (and, channel-independent, a learned
  channel embedding, ``model.channel_embedding``): all segments at once, no error fed back;
  ``recurrent`` feeds each forecast segment back through the segment embedding.
* ``model.relative``: the lookback is shifted by its last row and the forecast is the change from
  the last observed target values (the normalisation of Zeng et al.'s NLinear), which keeps a
  model trained on one level of the series from drifting on another. ``model.revin``: reversible
  instance normalisation (Kim et al. 2022) instead: each window's channels are z-scored by their
  own mean and standard deviation (``model.revin_affine``: then a learned weight and bias per
  channel) and the forecast is mapped back (``normalize.py``). Both act on top of the train z-scores.
* ``model.channel_independent`` (every decoder): each target channel is read as its own
  univariate series by the same weights (DLinear, PatchTST, SegRNN); with ``M`` every channel.
* ``model.head_dropout`` (direct and segment decoders): dropout on what the output layer reads
  (SegRNN uses 0.5).
* ``model.gaussian``: each step gives a mean and ``sigma = softplus(s) + 1e-3``; the loss is the
  Gaussian negative log-likelihood and evaluation reports the coverage of ``mean +- z * sigma``
  (``forecast.interval_z``, 1.96 for 95%). Otherwise the loss is the MSE.

Baselines, computed on the same windows in the same run and reported beside the model in every
evaluation record (``<metric>_<baseline>``; the console shows their ``mse`` once per split,
``CONSOLE_ONCE``): ``repeat_last``, ``seasonal_naive``
(``forecast.seasonal_period``), ``linear`` (least squares over the lookback, fitted on train
windows), ``ar`` (AR(``forecast.ar_lags``) fitted on the train series) and ``arima``
(``forecast.arima_order``, statsmodels, fitted on train and run from every origin with the fitted
parameters). Metrics (``metrics.py``, one definition for JAX and NumPy): ``mse`` and ``mae`` on
the normalised scale (the papers' numbers); ``rmse_orig``, ``mae_orig``, ``mape_orig`` (%) and ``mase`` on the original scale.

Modes (``experiments/forecasting/modes.py``): ``--mode=predict`` writes every test window's
forecasts as CSV with plots and per-horizon curves; ``--mode=anomalies`` flags points whose
one-step forecast residual has a large z-score.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from experiments.forecasting import metrics
from experiments.forecasting import model as forecasting_model
from experiments.forecasting.data import SPLITS
from experiments.forecasting.model import (  # noqa: F401
    DECODERS,
    SEGMENT_DECODERS,
    TRAINING_ONLY,
    Forecaster,
    make_model,
)
from experiments.forecasting.modes import anomalies, predict
from experiments.forecasting.pipeline import Prepared, make_data  # noqa: F401
from experiments.forecasting.series import FEATURES, FILLS, SOURCES
from rnn_research import io
from rnn_research.train import validate as v

CONFIG_RULES = {  # checked with the generic fields before a run writes anything
    "data.source": v.one_of(*SOURCES),
    "data.features": v.one_of(*FEATURES),
    "data.fill": v.one_of(*FILLS),
    "data.header": v.boolean(),
    "data.split": v.one_of(*SPLITS),
    "data.lookback": v.int_at_least(1),
    "data.horizon": v.int_at_least(1),
    "data.stride": v.int_at_least(1),
    "data.eval_stride": v.int_at_least(1),
    "data.context": v.one_of("previous", "none"),
    "data.eval_batch_size": v.int_at_least(0),
    "forecast.seasonal_period": v.int_at_least(0),
    "forecast.mase_period": v.int_at_least(1),
    "forecast.ar_lags": v.int_at_least(0),
    "forecast.interval_z": v.at_least(0, strict=True),
    "forecast.anomaly_threshold": v.at_least(0, strict=True),
    "model.decoder": v.one_of(*DECODERS),
    "model.segment_length": v.int_at_least(1),
    "model.segment_decoder": v.one_of(*SEGMENT_DECODERS),
    "model.channel_embedding": v.boolean(),
    "model.relative": v.boolean(),
    "model.revin": v.boolean(),
    "model.revin_affine": v.boolean(),
    "model.head_dropout": v.fraction(),
    "model.channel_independent": v.boolean(),
    "model.gaussian": v.boolean(),
    "model.teacher_forcing": v.fraction(high_closed=True),
    "predict.num_plots": v.int_at_least(0),
}
# fields added after forecasting workdirs were written, with the value those runs had (resume)
ADDED_FIELDS = {**forecasting_model.MODEL_ADDED_FIELDS, "data.header": True}
CONFIG_NOTES = {
    "data.eval_batch_size": " (0: train.batch_size)",
    "forecast.seasonal_period": " (0: no seasonal naive baseline)",
    "forecast.ar_lags": " (0: no AR baseline)",
}
# The console shows the model's metrics (coverage and nll with model.gaussian); the baselines'
# (unchanged between evaluations) once per split, by their mse. Every metric is in metrics.jsonl.
CONSOLE_METRICS = ("mse", "mae", "rmse_orig", "mase", "coverage", "nll", "grad_norm")
CONSOLE_ONCE = {
    "baselines": tuple(f"mse_{name}" for name in ("repeat_last", "seasonal_naive", "linear", "ar", "arima"))
}


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
    io.atomic_write_json(Path(workdir) / "scaler.json", record, indent=2)


# ------------------------------------------------------------------------------ loss, metrics
def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["inputs"],)


def error_totals(
    pred: jax.Array, batch: Mapping[str, Any], sigma: jax.Array | None = None, z: float = 1.96
) -> dict[str, jax.Array]:
    """:func:`metrics.totals` of ``pred [B, H, Ct]`` (normalised) for a batch, padding rows weighted 0."""
    return metrics.totals(
        jnp,
        pred,
        batch["targets"],
        scale=batch["std"][:, None, :],
        offset=batch["mean"][:, None, :],
        mase_scale=batch["mase_scale"][:, None, :],
        weights=batch["weights"],
        sigma=sigma,
        z=z,
    )


def loss_and_metrics(
    model: Forecaster, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    """Loss: the mean squared error, or the mean Gaussian NLL; metrics: ``total_*`` sums (see metrics.py)."""
    y = batch["targets"]
    mean, sigma = model.apply(
        variables, batch["inputs"], y if train else None, deterministic=not train, rngs={"dropout": rng}
    )
    totals = error_totals(mean, batch, sigma, model.interval_z)
    loss = (totals["se"] if sigma is None else totals["nll"]) / jnp.maximum(totals["n"], 1.0)
    out = {f"total_{k}": v for k, v in totals.items()}
    for key in batch:
        if key.startswith("baseline_"):
            name = key[len("baseline_") :]
            base = error_totals(batch[key], batch)
            out.update({f"total_{k}_{name}": v for k, v in base.items() if k not in ("n", "ape", "ape_n")})
    return loss, (out, carry)


def finalize_metrics(config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
    """MSE/MAE (normalised), RMSE/MAE/MAPE/MASE (original scale), coverage; the same for each baseline."""
    if "total_n" not in values:
        return values
    out = {k: v for k, v in values.items() if not k.startswith("total_")}
    out.update(metrics.summarize({k[len("total_") :]: v for k, v in values.items() if k.startswith("total_")}))
    names = sorted({k[len("total_se_orig_") :] for k in values if k.startswith("total_se_orig_")})
    for name in names:
        sums = {k: values[f"total_{k}_{name}"] for k in ("se", "ae", "se_orig", "ae_orig", "ase")}
        out.update({f"{k}_{name}": v for k, v in metrics.summarize({"n": values["total_n"], **sums}).items()})
    return out


MODES = {"predict": predict, "anomalies": anomalies}
