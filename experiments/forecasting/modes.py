"""The forecasting experiment's extra modes, from the best checkpoint of a finished run.

``--mode=predict`` writes ``predictions_<split>.csv`` (every window's forecasts, intervals and
actuals on the original scale), forecast-vs-actual PNGs, the split's one-step forecasts over time
and per-horizon error curves; ``--mode=anomalies`` flags points whose one-step forecast residual
has a z-score (residual statistics from the train split) above ``forecast.anomaly_threshold``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from experiments.forecasting import metrics
from experiments.forecasting import plots as forecasting_plots
from experiments.forecasting import series as fseries
from experiments.forecasting.model import MODEL_ADDED_FIELDS, TRAINING_ONLY, make_model
from experiments.forecasting.pipeline import make_data
from rnn_research import checkpoint, io
from rnn_research.configured import check_data_config, check_model_config

# The data fields that decide the series, its split and the scaler fitted on train: the modes
# rebuild them, so they refuse others than the run's.
SCALER_FIELDS = (
    "source",
    "path",
    "header",
    "dataset",
    "date_column",
    "target",
    "features",
    "columns",
    "fill",
    "split",
    "split_ratios",
    "valid_start",
    "test_start",
)


def _restore(config: ml_collections.ConfigDict, workdir: Path) -> tuple[Any, Any, Any, int]:
    """The run's data (rebuilt from the config), its model and the best checkpoint's parameters."""
    check_model_config(config, workdir, TRAINING_ONLY, MODEL_ADDED_FIELDS)
    check_data_config(config, workdir, SCALER_FIELDS, "the scaler and windows are rebuilt from the run's data")
    train_batches, _, info = make_data(config)
    params, step = checkpoint.restore_params(workdir / "checkpoints")
    model = make_model(config, info)
    inputs = next(iter(train_batches(0)))["inputs"][:1]
    expected = jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs)["params"]
    checkpoint.check_params(params, expected, step, workdir / "checkpoints")
    return info["prepared"], model, params, step


def forecast(model: Any, params: Any, x: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
    """``x [W, L, Ci]`` -> normalised ``(mean [W, H, Ct], sigma or None)``, in jitted batches."""
    apply = jax.jit(lambda p, xb: model.apply({"params": p}, xb))
    means, sigmas = [], []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        padded = np.zeros((batch, *x.shape[1:]), np.float32)
        padded[: len(chunk)] = chunk
        mean, sigma = apply(params, padded)
        means.append(np.asarray(mean)[: len(chunk)])
        if sigma is not None:
            sigmas.append(np.asarray(sigma)[: len(chunk)])
    mean, sigma = np.concatenate(means), (np.concatenate(sigmas) if sigmas else None)
    for name, values in (("forecast", mean), ("sigma", sigma)):
        if values is not None and not np.isfinite(values).all():
            window = int(np.argwhere(~np.isfinite(values))[0][0])
            raise ValueError(
                f"the model's {name} is non-finite from window {window} on (its parameters overflow on "
                "this input); nothing was written"
            )
    return mean, sigma


def _write_csv(path: Path, header: list[str], rows: Any) -> None:
    with io.atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _date(value: Any) -> str:
    return fseries.stamp(value)


def predict(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=predict``: forecasts of ``predict.split`` from the best checkpoint, as CSV, PNGs and curves."""
    workdir, split = Path(workdir), config.predict.split
    p, model, params, step = _restore(config, workdir)
    if split not in p.origins:
        raise ValueError(f"predict.split={split!r} is not one of {sorted(p.origins)}")
    x, y = p.windows(split)
    mean, sigma = forecast(model, params, x)
    z = config.forecast.interval_z
    cols = p.targets
    to_orig = lambda a: p.scaler.inverse(a, cols)  # noqa: E731
    pred_raw, y_raw = to_orig(mean), to_orig(y)
    lower = to_orig(mean - z * sigma) if sigma is not None else None
    upper = to_orig(mean + z * sigma) if sigma is not None else None
    dates, names = p.series.dates, [p.series.columns[c] for c in cols]
    origins = p.origins[split]

    def rows() -> Iterator[list[Any]]:
        for w, t in enumerate(origins):
            for h in range(p.horizon):
                for k, name in enumerate(names):
                    row = [_date(dates[t]), h + 1, _date(dates[t + h]), name, f"{pred_raw[w, h, k]:.6g}"]
                    if lower is not None:
                        row += [f"{lower[w, h, k]:.6g}", f"{upper[w, h, k]:.6g}"]
                    yield [*row, f"{y_raw[w, h, k]:.6g}"]

    header = ["origin", "step", "date", "column", "forecast"] + (["lower", "upper"] if lower is not None else [])
    out = workdir / f"predictions_{split}.csv"
    _write_csv(out, [*header, "actual"], rows())
    scale, offset = p.scaler.std[cols], p.scaler.mean[cols]
    scores = metrics.evaluate(mean, y, scale=scale, offset=offset, mase_scale=p.mase_scale, sigma=sigma, z=z)
    curves = {k: v.tolist() for k, v in metrics.per_horizon(mean, y).items()}
    io.atomic_write_json(workdir / f"per_horizon_{split}.json", curves)
    plots = forecasting_plots.forecasts(
        workdir / "plots", split, p, origins, x, y, mean, sigma, z, config.predict.num_plots
    )
    plots.append(forecasting_plots.per_horizon(workdir / "plots" / f"per_horizon_{split}.png", curves, split))
    plots.append(
        forecasting_plots.series(
            workdir / "plots" / f"forecast_{split}_series.png",
            dates[origins],
            y_raw[:, 0, 0],
            pred_raw[:, 0, 0],
            names[0],
            split,
            None if lower is None else lower[:, 0, 0],
            None if upper is None else upper[:, 0, 0],
        )
    )
    print(f"wrote {out} ({len(origins):,} windows) and {len(plots)} plots in {workdir / 'plots'}", flush=True)
    return {"split": split, "windows": len(origins), "checkpoint_step": step, "metrics": scores}


def anomalies(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=anomalies``: points of ``predict.split`` whose one-step residual z-score exceeds the threshold.

    The one-step forecast of row ``t`` is the first step of the window at origin ``t``; residual
    mean and standard deviation per column come from the train split's windows.
    """
    workdir, split = Path(workdir), config.predict.split
    p, model, params, step = _restore(config, workdir)
    if split not in p.origins:
        raise ValueError(f"predict.split={split!r} is not one of {sorted(p.origins)}")
    residual = {}
    for name in ("train", split):
        x, y = p.windows(name)
        mean, _ = forecast(model, params, x)
        residual[name] = (p.scaler.inverse(y[:, 0], p.targets) - p.scaler.inverse(mean[:, 0], p.targets), mean[:, 0])
    mu, sd = residual["train"][0].mean(axis=0), residual["train"][0].std(axis=0) + 1e-12
    res, one_step = residual[split]
    zscores = (res - mu) / sd
    flagged = np.argwhere(np.abs(zscores) > config.forecast.anomaly_threshold)
    origins = p.origins[split]
    names = [p.series.columns[c] for c in p.targets]
    actual = p.series.values[origins][:, p.targets]
    forecast_orig = p.scaler.inverse(one_step, p.targets)
    rows = (
        [_date(p.series.dates[origins[w]]), names[k], f"{actual[w, k]:.6g}", f"{forecast_orig[w, k]:.6g}",
         f"{res[w, k]:.6g}", f"{zscores[w, k]:.3f}"]
        for w, k in flagged
    )  # fmt: skip
    out = workdir / f"anomalies_{split}.csv"
    _write_csv(out, ["date", "column", "actual", "forecast", "residual", "z"], rows)
    plot = forecasting_plots.anomalies(
        workdir / "plots" / f"anomalies_{split}.png", p.series.dates[origins], actual, forecast_orig, flagged, names
    )
    print(f"{len(flagged)} anomalies (|z| > {config.forecast.anomaly_threshold}) written to {out}; plot {plot}")
    return {"split": split, "anomalies": int(len(flagged)), "points": int(zscores.size), "checkpoint_step": step}
