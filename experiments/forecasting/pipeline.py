"""What a forecasting run derives from its data: the normalised series, windows, baselines and batches
(``make_data``), shared by training and by the predict and anomaly modes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import ml_collections
import numpy as np

from experiments.forecasting import baselines, metrics
from experiments.forecasting import data as fdata
from experiments.forecasting import series as fseries
from rnn_research import sharding
from rnn_research.experiment import Data


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
        self.series = fseries.load_series(data)
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
        self.mase_scale = metrics.mase_scale(self.series.values[a:b][:, self.targets], fc.mase_period).astype(
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
