"""Time-series forecasting on the shared harness: RNN forecasters, baselines in the same run, plots.

Data (``experiments/forecasting_data.py``): a CSV with a date column (the ETT layout) or a series
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

Modes (``experiments/forecasting_modes.py``): ``--mode=predict`` writes every test window's
forecasts as CSV with plots and per-horizon curves; ``--mode=anomalies`` flags points whose
one-step forecast residual has a large z-score.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import forecasting_baselines as baselines
from experiments import forecasting_data as fdata
from experiments.common import make_cell, make_rnn
from rnn_research import cells, layers, sharding
from rnn_research.experiment import Data

DECODERS = ("direct", "autoregressive")
TRAINING_ONLY = ("dropout", "teacher_forcing", "remat", "unroll", "backward", "truncate_every", "scan_mode")
_LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------------------ data
def _arima_order(text: str) -> tuple[int, int, int] | None:
    if not text:
        return None
    try:
        p, d, q = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"forecast.arima_order={text!r} is not 'p,d,q' (e.g. '2,0,1'), or '' for none") from None
    return p, d, q


class Prepared:
    """Everything a run derives from the data: the normalised series, windows and baselines."""

    def __init__(self, config: ml_collections.ConfigDict) -> None:
        data, fc = config.data, config.forecast
        self.series = fdata.load_series(data)
        self.borders = fdata.split_borders(self.series, data)
        self.lookback, self.horizon = int(data.lookback), int(data.horizon)
        a, b = self.borders["train"]
        self.scaler = fdata.Scaler.fit(self.series.values[a:b])
        self.values = self.scaler.transform(self.series.values)  # [N, C], normalised
        self.inputs = list(range(len(self.series.columns)))
        self.targets = list(self.series.targets)
        self.context = {"previous": self.lookback, "none": 0}.get(data.context)
        if self.context is None:
            raise ValueError(f"data.context={data.context!r} is not one of ['previous', 'none']")
        self.origins = {}
        source = f"data.path {data.path}" if data.source == "csv" else f"data.dataset {data.dataset}"
        for split, border in self.borders.items():
            if border[1] <= border[0]:
                continue  # an empty split (e.g. no validation period)
            stride = data.stride if split == "train" else data.eval_stride
            context = 0 if split == "train" else self.context
            self.origins[split] = fdata.window_origins(
                border, self.lookback, self.horizon, stride, context=context, key=f"{source}, {split} split"
            )
        self.mean = self.scaler.mean[self.targets].astype(np.float32)
        self.std = self.scaler.std[self.targets].astype(np.float32)
        self.mase_scale = baselines.mase_scale(self.series.values[a:b][:, self.targets], fc.mase_period).astype(
            np.float32
        )
        x_train, y_train = self.windows("train")
        self.linear = baselines.LinearBaseline().fit(x_train, y_train, self.targets)
        self.arima_order = _arima_order(fc.arima_order)

    def windows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return fdata.make_windows(
            self.values, self.origins[split], self.lookback, self.horizon, self.inputs, self.targets
        )

    def baseline_forecasts(self, split: str, x: np.ndarray, fc: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
        """``{name: [W, H, Ct]}`` normalised forecasts of every applicable baseline for ``split``."""
        # statsmodels' notes on starting values and convergence (it resets the filters itself, so
        # the warnings are recorded and dropped rather than filtered).
        with warnings.catch_warnings(record=True):
            return self._baseline_forecasts(split, x, fc)

    def _baseline_forecasts(self, split: str, x: np.ndarray, fc: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
        out = {"repeat_last": baselines.repeat_last(x, self.horizon, self.targets)}
        if 1 <= fc.seasonal_period <= self.lookback:
            out["seasonal_naive"] = baselines.seasonal_naive(x, self.horizon, fc.seasonal_period, self.targets)
        out["linear"] = self.linear.predict(x, self.targets)
        a, b = self.borders["train"]
        origins = self.origins[split]
        if fc.ar_lags > 0:
            out["ar"] = np.stack(
                [
                    baselines.ar_forecasts(self.values[a:b, c], self.values[:, c], origins, self.horizon, fc.ar_lags)
                    for c in self.targets
                ],
                axis=-1,
            ).astype(np.float32)
        if self.arima_order is not None:  # one Kalman filter pass over the series per target
            out["arima"] = np.stack(
                [
                    baselines.arima_forecasts(
                        self.values[a:b, c],
                        self.values[:, c],
                        origins,
                        self.horizon,
                        self.arima_order,
                        max_origins=len(origins),
                    )[0]
                    for c in self.targets
                ],
                axis=-1,
            ).astype(np.float32)
        return out


def _constants(p: Prepared, rows: int) -> dict[str, np.ndarray]:
    return {
        "mean": np.broadcast_to(p.mean, (rows, len(p.targets))).copy(),
        "std": np.broadcast_to(p.std, (rows, len(p.targets))).copy(),
        "mase_scale": np.broadcast_to(p.mase_scale, (rows, len(p.targets))).copy(),
    }


def make_data(config: ml_collections.ConfigDict) -> Data:
    p = Prepared(config)
    global_batch = config.train.batch_size
    try:
        rows = sharding.host_slice(global_batch)
    except ValueError as e:
        raise ValueError(f"train.batch_size: {e}".replace(" (train.batch_size)", "")) from None
    train_origins = p.origins["train"]
    steps_per_epoch = len(train_origins) // global_batch
    if steps_per_epoch < 1:
        raise ValueError(
            f"train.batch_size={global_batch} is larger than the {len(train_origins)} training windows of "
            f"{p.series.description}"
        )
    plans: dict[int, np.ndarray] = {}

    def batch_at(step: int) -> dict[str, np.ndarray]:
        epoch, index = divmod(step, steps_per_epoch)
        if epoch not in plans:  # a pure function of (seed, epoch): resumes see the same batches
            plans.clear()
            plans[epoch] = np.random.default_rng([config.seed, epoch]).permutation(len(train_origins))
        chosen = train_origins[plans[epoch][index * global_batch : (index + 1) * global_batch]]
        x, y = fdata.make_windows(p.values, chosen, p.lookback, p.horizon, p.inputs, p.targets)
        batch = {"inputs": x, "targets": y, "weights": np.ones(global_batch, np.float32), **_constants(p, global_batch)}
        return {k: v[rows] for k, v in batch.items()}

    def train_batches(start: int) -> Iterator[dict[str, np.ndarray]]:
        step = start
        while True:
            yield batch_at(step)
            step += 1

    eval_batch = config.data.eval_batch_size or global_batch
    try:
        eval_rows = sharding.host_slice(eval_batch)
    except ValueError as e:
        raise ValueError(f"data.eval_batch_size: {e}".replace(" (train.batch_size)", "")) from None

    def eval_set(split: str) -> Any:
        x, y = p.windows(split)
        arrays = {"inputs": x, "targets": y}
        arrays.update({f"baseline_{k}": v for k, v in p.baseline_forecasts(split, x, config.forecast).items()})

        def batches() -> Iterator[dict[str, np.ndarray]]:
            for start in range(0, len(x), eval_batch):
                n = min(eval_batch, len(x) - start)
                batch = {}
                for k, v in arrays.items():
                    padded = np.zeros((eval_batch, *v.shape[1:]), np.float32)
                    padded[:n] = v[start : start + n]
                    batch[k] = padded
                batch["weights"] = (np.arange(eval_batch) < n).astype(np.float32)
                batch.update(_constants(p, eval_batch))
                yield {k: v[eval_rows] for k, v in batch.items()}

        return batches

    eval_sets = {split: eval_set(split) for split in ("valid", "test") if split in p.origins}
    if not eval_sets:
        raise ValueError("data: no valid or test split to evaluate on (check data.split and its fields)")
    info = {
        "prepared": p,
        "num_inputs": len(p.inputs),
        "num_targets": len(p.targets),
        "steps_per_epoch": steps_per_epoch,
        "description": p.series.description,
    }
    return Data(train_batches, eval_sets, info)


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


# ----------------------------------------------------------------------------------- model
class Forecaster(nn.Module):
    """``x [B, L, Ci]`` (normalised) -> ``(mean [B, H, Ct], sigma [B, H, Ct] or None)``."""

    horizon: int
    num_targets: int
    rnn: layers.RNN
    cell: cells.Cell
    target_in_inputs: tuple[int, ...]
    decoder: str = "direct"
    gaussian: bool = False
    teacher_forcing: float = 0.5
    interval_z: float = 1.96  # evaluation: coverage of mean +- z * sigma
    relative: bool = False  # inputs and forecasts relative to the last observed values
    channel_independent: bool = False  # direct: each channel alone through shared weights

    @nn.compact
    def __call__(
        self, x: jax.Array, targets: jax.Array | None = None, *, deterministic: bool = True
    ) -> tuple[jax.Array, jax.Array | None]:
        outputs = 2 if self.gaussian else 1
        batch = x.shape[0]
        anchor = None
        if self.relative:  # forecast the change from the last observed values (NLinear's normalisation)
            anchor = x[:, -1:, :]
            x = x - anchor
            anchor = anchor[:, :, jnp.asarray(self.target_in_inputs)]  # [B, 1, Ct]
            if targets is not None:
                targets = targets - anchor
        if self.decoder == "direct" and self.channel_independent:
            channels = x.shape[-1]  # every channel is its own univariate series through shared weights
            last = self._encode(jnp.swapaxes(x, 1, 2).reshape(batch * channels, x.shape[1], 1), deterministic)
            raw = nn.Dense(self.horizon * outputs, name="head")(last).reshape(batch, channels, self.horizon, outputs)
            raw = jnp.swapaxes(raw, 1, 2)[:, :, jnp.asarray(self.target_in_inputs)]  # [B, H, Ct, outputs]
        elif self.decoder == "direct":
            last = self._encode(x, deterministic)
            raw = nn.Dense(self.horizon * self.num_targets * outputs, name="head")(last)
            raw = raw.reshape(batch, self.horizon, self.num_targets, outputs)
        else:
            raw = self._decode(x, targets, outputs, deterministic)
        mean = raw[..., 0].astype(jnp.float32)
        if anchor is not None:
            mean = mean + anchor.astype(jnp.float32)
        if not self.gaussian:
            return mean, None
        return mean, jax.nn.softplus(raw[..., 1].astype(jnp.float32)) + 1e-3

    def _encode(self, x: jax.Array, deterministic: bool) -> jax.Array:
        """The encoder's final output ``[B, H']``: forward at the last step (and backward at the first)."""
        ys = self.rnn(x, deterministic=deterministic)  # [B, L, H']
        if not self.rnn.bidirectional:
            return ys[:, -1]
        half = ys.shape[-1] // 2
        return jnp.concatenate([ys[:, -1, :half], ys[:, 0, half:]], axis=-1)

    def _decode(self, x: jax.Array, targets: jax.Array | None, outputs: int, deterministic: bool) -> jax.Array:
        if self.rnn.bidirectional:
            raise ValueError("model.decoder='autoregressive' needs a unidirectional encoder (model.bidirectional)")
        finals, _ = self.rnn(x, deterministic=deterministic)  # made with return_state=True
        cell, size = self.cell, self.cell.hidden_size
        params = [
            self.param(f"decoder_{i}", lambda key, n: cell.init(key, n), self.num_targets if i == 0 else size)
            for i in range(len(finals))
        ]
        kernel = self.param("output_kernel", nn.initializers.lecun_normal(), (size, self.num_targets * outputs))
        bias = self.param("output_bias", nn.initializers.zeros, (self.num_targets * outputs,))
        previous = x[:, -1, jnp.asarray(self.target_in_inputs)]  # the last observed target values
        teach = jnp.zeros((self.horizon,), bool)
        if targets is not None and not deterministic and self.teacher_forcing > 0:
            teach = jax.random.bernoulli(self.make_rng("dropout"), self.teacher_forcing, (self.horizon,))
        if targets is None:
            truth = jnp.zeros((self.horizon, *previous.shape), previous.dtype)
        else:
            truth = jnp.swapaxes(targets, 0, 1).astype(previous.dtype)  # [H, B, Ct]

        def step(carry: Any, inputs: tuple[jax.Array, jax.Array]) -> tuple[Any, jax.Array]:
            states, prev = carry
            use_truth, true_value = inputs
            h, new_states = prev, []
            for p, s in zip(params, states):
                s, h = cell(p, s, h)
                new_states.append(s)
            out = (h @ kernel + bias[None]).reshape(h.shape[0], self.num_targets, outputs)
            nxt = jnp.where(use_truth, true_value, out[..., 0].astype(prev.dtype))
            return (new_states, nxt), out

        _, raw = jax.lax.scan(step, (list(finals), previous), (teach, truth))
        return jnp.swapaxes(raw, 0, 1)  # [B, H, Ct, outputs]


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> Forecaster:
    m = config.model
    if m.decoder not in DECODERS:
        raise ValueError(f"model.decoder={m.decoder!r} is not one of {list(DECODERS)}")
    if not 0.0 <= m.teacher_forcing <= 1.0:
        raise ValueError(f"model.teacher_forcing={m.teacher_forcing} must lie in [0, 1]")
    if m.channel_independent and m.decoder != "direct":
        raise ValueError("model.channel_independent needs model.decoder='direct'")
    if m.decoder == "autoregressive" and m.bidirectional:
        raise ValueError("model.decoder='autoregressive' needs model.bidirectional=False")
    p = info.get("prepared")
    targets = tuple(p.targets) if p is not None else tuple(info["target_in_inputs"])
    return Forecaster(
        horizon=config.data.horizon,
        num_targets=info["num_targets"],
        rnn=make_rnn(m).clone(return_state=m.decoder == "autoregressive"),
        cell=dataclasses.replace(make_cell(m), learn_initial_state=False),  # the decoder starts from the encoder
        target_in_inputs=targets,
        decoder=m.decoder,
        gaussian=m.gaussian,
        teacher_forcing=m.teacher_forcing,
        interval_z=config.forecast.interval_z,
        relative=m.relative,
        channel_independent=m.channel_independent,
    )


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


# The modes read this module's data and model code; imported last, they see all of it.
from experiments.forecasting_modes import anomalies, predict  # noqa: E402

MODES = {"predict": predict, "anomalies": anomalies}
