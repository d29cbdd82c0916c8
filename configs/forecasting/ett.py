"""ETTh1 / ETTm1 (Zhou et al. 2021, "Informer"): ``--config.data.path=DIR/ETTh1.csv`` (or ETTm1.csv).

Variant ``<dataset>_<features>_<horizon>[_<model>]``, e.g. ``etth1_s_24`` (default),
``etth1_m_96``, ``ettm1_ms_336_lstm``: dataset ``etth1`` (hourly, seasonal period 24) or ``ettm1``
(15 minutes, period 96); features ``s`` (OT -> OT), ``m`` (7 columns -> 7) or ``ms`` (7 columns
-> OT); horizon 24 to 720; model ``segrnn`` (the default) or ``lstm``. Informer's split (12/4/4
months, lookbacks may reach into the previous split) and z-scores fitted on train; MSE/MAE on the
normalised scale over every test window.

* ``segrnn``: the segment-recurrent forecaster (SegRNN, Lin et al. 2023) with the settings of
  its ETTh1 lookback-96 script but 10 epochs at most (the script: 30): a GRU of width 512 over segments of 24 steps, every horizon segment decoded at once
  from position (and channel) embeddings, dropout 0.5 before the output layer, the forecast
  relative to the last observed values (``ettm1_m_*``: RevIN instead, which had the lower valid
  MSE there at every horizon, and the higher on ETTh1), channels independent under ``m``; batch
  256, Adam 1e-3, at most 10 epochs, the checkpoint chosen on valid each epoch, stopping after 3
  evaluations without gain.
* ``lstm``: the former preset, a 2x64 LSTM with a direct head, batch 32.

Published rows (docs/experiments/forecasting.md): univariate OT at horizon 24 on ETTh1: Informer
0.098, ARIMA 0.108, LSTMa 0.114; multivariate at lookback 96, horizons 96/192/336/720: ETTh1
SegRNN 0.368/0.408/0.444/0.446, DLinear 0.386/0.437/0.481/0.519; ETTm1 SegRNN
0.330/0.369/0.399/0.454, DLinear 0.345/0.380/0.413/0.474. ``python -m
benchmarks.long_horizon`` runs that benchmark. ``smoke``: seconds on whatever file
``data.path`` names.
"""

from configs.forecasting import common as forecasting_common

HORIZONS = (24, 48, 96, 168, 192, 336, 720)
MODELS = ("segrnn", "lstm")
VARIANTS = (
    *(f"{d}_{f}_{h}" for d in ("etth1", "ettm1") for f in ("s", "m", "ms") for h in HORIZONS),
    *(f"{d}_{f}_{h}_lstm" for d in ("etth1", "ettm1") for f in ("s", "m", "ms") for h in HORIZONS),
    "smoke",
)


def _parse(variant: str) -> tuple[str, str, int, str]:
    parts = variant.split("_")
    try:
        if len(parts) == 3:
            parts.append("segrnn")
        dataset, features, horizon, model = parts
        horizon = int(horizon)
        if dataset not in ("etth1", "ettm1") or features not in ("s", "m", "ms") or horizon not in HORIZONS:
            raise ValueError
        if model not in MODELS:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"unknown variant {variant!r} of configs/forecasting/ett.py: <etth1|ettm1>_<s|m|ms>_"
            f"<{'|'.join(map(str, HORIZONS))}>[_lstm] or smoke"
        ) from None
    return dataset, features, horizon, model


def segrnn(config, features: str):
    """The segment-recurrent forecaster with SegRNN's settings (see the module docstring)."""
    config.model.update(cell="gru", hidden_size=512, num_layers=1, decoder="segment", segment_length=24)
    config.model.update(segment_decoder="parallel", relative=True, head_dropout=0.5)
    config.model.channel_independent = features == "m"
    config.optim.update(learning_rate=1e-3)
    config.train.update(batch_size=256, num_epochs=10, early_stopping_evals=3)
    return config


def get_config(variant: str = "etth1_s_24"):
    config = forecasting_common.get_config()
    config.data.update(source="csv", split="ett", target="OT", lookback=96, context="previous")
    config.model.update(cell="lstm", hidden_size=64, num_layers=2, decoder="direct")
    config.forecast.update(ar_lags=24)
    if variant == "smoke":
        return forecasting_common.smoke(config)
    dataset, features, horizon, model = _parse(variant)
    config.data.update(features=features.upper(), horizon=horizon)
    config.forecast.seasonal_period = 24 if dataset == "etth1" else 96
    if dataset == "ettm1":
        config.forecast.ar_lags = 96
    if model == "segrnn":
        segrnn(config, features)
        if dataset == "ettm1" and features == "m":  # RevIN: the lower valid MSE at every horizon (docs)
            config.model.update(relative=False, revin=True)
    return config
