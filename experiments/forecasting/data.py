"""Time-series forecasting data: chronological splits, z-scoring and windows of a series.

The series comes from ``experiments/forecasting/series.py`` (``load_series``).

Splits (``split_borders``; half-open row ranges, chronological, ``train``, ``valid``, ``test``):

* ``ett``: Informer's borders, 12*30 days train, 4*30 valid, 4*30 test (rows = days * steps per day,
  from the median date spacing: hourly 8640 / 11520 / 14400, 15-minute 34560 / 46080 / 57600);
  rows after the test split are not used.
* ``ratio``: ``data.split_ratios`` ("0.7,0.1,0.2"; non-negative, summing to 1, train and test > 0):
  ``int(N * train)`` rows train, ``int(N * test)`` rows test (at the end), valid the rows between.
* ``dates``: valid from the first date >= ``data.valid_start``, test from the first date >=
  ``data.test_start`` (ISO strings such as ``1939`` or ``1959-01-01``); train is everything before.
  ``data.valid_start=""`` means no validation split: ``valid`` is then the EMPTY range ``(a, a)``
  and the caller must not evaluate on it (e.g. select on train loss, or use the last checkpoint).

Scaling: ``Scaler.fit(values[train])`` z-scores each column with the train rows' mean and (population)
standard deviation (a constant column gets 1), as Informer does; ``transform`` / ``inverse`` act on
the last axis. Windows: ``window_origins`` lists the origins ``t`` of a split (inputs are rows
``[t - lookback, t)``, targets rows ``[t, t + horizon)``); targets always lie inside the split,
inputs may reach ``context`` rows back into the previous split (``context=lookback`` reproduces
Informer's borders, 0 keeps every window inside its split). ``make_windows`` cuts the arrays.

Errors are one line and name the config key, the file, the line (the header is line 1) and the
column where there is one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from experiments.forecasting.series import DAY, Series, dated, median_spacing

if TYPE_CHECKING:
    import ml_collections

SPLITS = ("ett", "ratio", "dates")
ETT_DAYS = (12 * 30, 4 * 30, 4 * 30)


# ---------------------------------------------------------------------------------- splits
def _date(value: str, key: str) -> np.datetime64:
    text = str(value).strip()
    try:
        return np.datetime64(text, "s")
    except ValueError:
        pass
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if stamp is pd.NaT or stamp.tzinfo is not None:
        raise ValueError(f"{key}={value!r} is not an ISO date such as '1959' or '1959-01-01'")
    return np.datetime64(stamp.to_datetime64(), "s")


def split_borders(series: Series, data: ml_collections.ConfigDict) -> dict[str, tuple[int, int]]:
    """Half-open row ranges ``{"train": (0, a), "valid": (a, b), "test": (b, c)}`` for ``data.split``."""
    n = len(series.values)
    if data.split in ("ett", "dates") and not dated(series.dates):
        raise ValueError(
            f"data.split={data.split!r} needs dates, and a file read with data.header=False has none; "
            "use data.split='ratio' (e.g. data.split_ratios='0.6,0.2,0.2')"
        )
    if data.split == "ett":
        spacing = median_spacing(series.dates)
        if spacing is None or spacing <= 0 or DAY % spacing:
            raise ValueError(
                f"data.split='ett': the median date spacing ({spacing} s) does not divide a day; "
                "use data.split='ratio' or 'dates'"
            )
        per_day = DAY // spacing
        a, b, c = np.cumsum(ETT_DAYS) * per_day
        if n < c:
            raise ValueError(
                f"data.split='ett': the series has {n:,} rows, fewer than the {c:,} that Informer's borders need "
                f"(12*30 + 4*30 + 4*30 days x {per_day} steps a day)"
            )
        return {"train": (0, int(a)), "valid": (int(a), int(b)), "test": (int(b), int(c))}
    if data.split == "ratio":
        try:
            ratios = [float(r) for r in str(data.split_ratios).split(",")]
        except ValueError:
            raise ValueError(f"data.split_ratios={data.split_ratios!r} must be three comma-separated numbers") from None
        if (
            len(ratios) != 3
            or not all(math.isfinite(r) and r >= 0 for r in ratios)
            or abs(sum(ratios) - 1) > 1e-6
            or not ratios[0] > 0
            or not ratios[2] > 0
        ):
            raise ValueError(
                f"data.split_ratios={data.split_ratios!r} must be train,valid,test >= 0 summing to 1, train and test > 0"
            )
        n_train, n_test = int(n * ratios[0]), int(n * ratios[2])
        if n_train < 1 or n_test < 1 or n_train + n_test > n:
            raise ValueError(f"data.split_ratios={data.split_ratios!r} leaves an empty split of a {n}-row series")
        return {"train": (0, n_train), "valid": (n_train, n - n_test), "test": (n - n_test, n)}
    if data.split == "dates":
        if not data.test_start:
            raise ValueError("data.test_start is required with data.split='dates'")
        test = _date(data.test_start, "data.test_start")
        b = int(np.searchsorted(series.dates, test, side="left"))
        a = b
        if data.valid_start:
            valid = _date(data.valid_start, "data.valid_start")
            if valid >= test:
                raise ValueError(
                    f"data.valid_start={data.valid_start!r} is not before data.test_start={data.test_start!r}"
                )
            a = int(np.searchsorted(series.dates, valid, side="left"))
        first, last = series.dates[0], series.dates[-1]
        if b >= n:
            raise ValueError(f"data.test_start={data.test_start!r} is after the last date {last}: no test rows")
        if a == 0:
            key, value = ("valid_start", data.valid_start) if data.valid_start else ("test_start", data.test_start)
            raise ValueError(f"data.{key}={value!r} is not after the first date {first}: no train rows")
        return {"train": (0, a), "valid": (a, b), "test": (b, n)}
    raise ValueError(f"data.split={data.split!r} is not one of {list(SPLITS)}")


# ---------------------------------------------------------------------------------- scaling
def _columns(size: int, columns: list[int] | None, last: int) -> np.ndarray:
    index = np.arange(size) if columns is None else np.asarray(columns, dtype=np.int64).reshape(-1)
    if len(index) and (index.min() < -size or index.max() >= size):
        raise ValueError(f"Scaler: column indices {list(index)} are out of range for {size} columns")
    if last != len(index):
        raise ValueError(f"Scaler: the last axis has {last} entries but {len(index)} columns were given")
    return index


class Scaler(NamedTuple):
    """Per-column z-score: ``(x - mean) / std`` with the train rows' statistics."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """Statistics of ``values`` ``[N, C]`` (pass the TRAIN rows only); a constant column gets std 1."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or not len(values):
            raise ValueError(f"Scaler.fit: values must be [N, C] with N >= 1, got shape {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError("Scaler.fit: values are not all finite")
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(np.ptp(values, axis=0) > 0, std, 1.0))

    def _apply(self, values: np.ndarray, columns: list[int] | None, inverse: bool) -> np.ndarray:
        values = np.asarray(values)
        dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
        index = _columns(len(self.mean), columns, values.shape[-1] if values.ndim else 0)
        mean, std = self.mean[index], self.std[index]
        out = values * std + mean if inverse else (values - mean) / std
        return out.astype(dtype, copy=False)

    def transform(self, values: np.ndarray, columns: list[int] | None = None) -> np.ndarray:
        """Z-scores; the last axis holds all columns, or those of ``columns`` (indices) in that order."""
        return self._apply(values, columns, inverse=False)

    def inverse(self, values: np.ndarray, columns: list[int] | None = None) -> np.ndarray:
        """Original scale of z-scores; the last axis as for ``transform``."""
        return self._apply(values, columns, inverse=True)


# ---------------------------------------------------------------------------------- windows
def window_origins(
    border: tuple[int, int], lookback: int, horizon: int, stride: int, *, context: int = 0, key: str = "data"
) -> np.ndarray:
    """Origins ``t`` (ascending, every ``stride``) with targets ``[t, t + horizon)`` inside ``border``
    ``[a, b)`` and inputs ``[t - lookback, t)`` inside ``[max(a - context, 0), b)``."""
    for name, value, least in (("lookback", lookback, 1), ("horizon", horizon, 1), ("stride", stride, 1)):
        if int(value) != value or value < least:
            raise ValueError(f"{key}: {name} must be an integer >= {least}, got {value}")
    if int(context) != context or context < 0:
        raise ValueError(f"{key}: context must be an integer >= 0, got {context}")
    a, b = int(border[0]), int(border[1])
    if not 0 <= a <= b:
        raise ValueError(f"{key}: border {border} is not a row range [a, b) with 0 <= a <= b")
    first = max(a, max(a - context, 0) + lookback)
    origins = np.arange(first, b - horizon + 1, stride, dtype=np.int64)
    if not len(origins):
        reach = min(context, a)
        raise ValueError(
            f"{key}: the split has {b - a} rows (+{reach} rows of context), too few for "
            f"lookback+horizon = {lookback}+{horizon} = {lookback + horizon}"
        )
    return origins


def make_windows(
    values: np.ndarray, origins: np.ndarray, lookback: int, horizon: int, inputs: list[int], targets: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``x [W, lookback, len(inputs)]`` (rows ``[t - lookback, t)``) and targets
    ``y [W, horizon, len(targets)]`` (rows ``[t, t + horizon)``), float32, one window per origin."""
    values = np.asarray(values)
    origins = np.asarray(origins, dtype=np.int64).reshape(-1)
    if values.ndim != 2:
        raise ValueError(f"make_windows: values must be [N, C], got shape {values.shape}")
    if lookback < 1 or horizon < 1:
        raise ValueError(f"make_windows: lookback and horizon must be >= 1, got {lookback} and {horizon}")
    n = len(values)
    if len(origins) and (origins.min() < lookback or origins.max() + horizon > n):
        raise ValueError(
            f"make_windows: origins must lie in [{lookback}, {n - horizon}] for lookback {lookback}, "
            f"horizon {horizon} and {n} rows, got [{origins.min()}, {origins.max()}]"
        )

    def cut(columns: list[int], start: np.ndarray, length: int) -> np.ndarray:
        part = values[:, list(columns)].astype(np.float32)
        if not len(start) or length > n:
            return np.zeros((len(start), length, part.shape[1]), np.float32)
        view = np.lib.stride_tricks.sliding_window_view(part, length, axis=0)  # [n - length + 1, C, length]
        return np.ascontiguousarray(view[start].transpose(0, 2, 1))

    return cut(inputs, origins - lookback, lookback), cut(targets, origins, horizon)
