"""A headerless numeric file (LSTNet's layout, Lai et al. 2018): ``--config.data.path=FILE``.

LSTNet's multivariate benchmarks (``electricity.txt``, ``traffic.txt``, ``solar_AL.txt``,
``exchange_rate.txt`` of github.com/laiguokun/multivariate-time-series-data) are comma-separated
numbers, one row per time step, no header and no dates. This preset reads such a file with
``data.header=False`` (columns named ``0``, ``1``, ...), splits it 60/20/20 in time as LSTNet does,
z-scores every column with the train rows' statistics, and forecasts every column from a lookback
of 168 steps (a week of hourly rows) with the segment-recurrent forecaster (channels
independent, segments of 24 steps).

Variants: ``h<horizon>`` for horizons 3, 6, 12, 24 (default ``h24``), 48, 96, 192, 336, 720;
``smoke``: seconds on whatever file ``data.path`` names. The model and baselines report MSE/MAE
on the z-scored scale over every horizon step, not LSTNet's RSE/CORR of the single step at the
horizon.
"""

from configs.forecasting import common as forecasting_common
from configs.forecasting import ett

HORIZONS = (3, 6, 12, 24, 48, 96, 192, 336, 720)
VARIANTS = (*(f"h{h}" for h in HORIZONS), "smoke")


def get_config(variant: str = "h24"):
    config = forecasting_common.get_config()
    config.data.update(source="csv", header=False, split="ratio", split_ratios="0.6,0.2,0.2", context="previous")
    config.data.update(features="M", target="", lookback=168)
    config.forecast.update(seasonal_period=24, ar_lags=0)
    ett.segrnn(config, "m")
    if variant == "smoke":
        forecasting_common.smoke(config)
        config.model.update(hidden_size=16, segment_length=12)
        return config
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown variant {variant!r} of configs/forecasting/numeric.py (one of {', '.join(VARIANTS)})"
        )
    config.data.horizon = int(variant[1:])
    return config
