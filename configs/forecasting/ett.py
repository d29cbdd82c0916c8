"""ETTh1 / ETTm1 (Zhou et al. 2021, "Informer"): ``--config.data.path=DIR/ETTh1.csv`` (or ETTm1.csv).

Variant ``<dataset>_<features>_<horizon>``, e.g. ``etth1_s_24`` (default), ``etth1_m_96``,
``ettm1_ms_336``: dataset ``etth1`` (hourly, seasonal period 24) or ``ettm1`` (15 minutes, period
96); features ``s`` (OT -> OT), ``m`` (7 columns -> 7) or ``ms`` (7 columns -> OT); horizon 24 to
720. Informer's split (12/4/4 months, lookbacks may reach into the previous split) and z-scores
fitted on train; MSE/MAE on the normalised scale. Published rows (docs/experiments/forecasting.md):
univariate OT at horizon 24 on ETTh1: Informer 0.098, ARIMA 0.108, LSTMa 0.114; multivariate
ETTh1 at 96/192/336/720: DLinear 0.375/0.405/0.439/0.472, repeat-last 1.295/1.325/1.323/1.339.
``smoke``: seconds on whatever file ``data.path`` names.
"""

from configs.forecasting import common as forecasting_common

HORIZONS = (24, 48, 96, 168, 192, 336, 720)
VARIANTS = (*(f"{d}_{f}_{h}" for d in ("etth1", "ettm1") for f in ("s", "m", "ms") for h in HORIZONS), "smoke")


def get_config(variant: str = "etth1_s_24"):
    config = forecasting_common.get_config()
    config.data.update(source="csv", split="ett", target="OT", lookback=96, context="previous")
    config.model.update(cell="lstm", hidden_size=64, num_layers=2, decoder="direct")
    config.forecast.update(ar_lags=24)
    if variant == "smoke":
        return forecasting_common.smoke(config)
    try:
        dataset, features, horizon = variant.split("_")
        horizon = int(horizon)
        if dataset not in ("etth1", "ettm1") or features not in ("s", "m", "ms") or horizon not in HORIZONS:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"unknown variant {variant!r} of configs/forecasting/ett.py: <etth1|ettm1>_<s|m|ms>_<{'|'.join(map(str, HORIZONS))}>"
            " or smoke"
        ) from None
    config.data.update(features=features.upper(), horizon=horizon)
    config.forecast.seasonal_period = 24 if dataset == "etth1" else 96
    if dataset == "ettm1":
        config.forecast.ar_lags = 96
    return config
