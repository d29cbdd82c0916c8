"""Yearly sunspot numbers 1700-2008 (statsmodels ships them; no download), one step ahead.

The textbook exercise (docs/experiments/forecasting.md): train to 1958, forecast 1959-2008 one year
ahead: naive RMSE 30.35, AR(9) 16.95. Here 1929-1958 is held out of train as ``valid`` to pick
the best checkpoint, so the model and the in-run baselines (AR(9), ARIMA(2,0,1), seasonal naive
over the 11-year cycle, repeat-last, linear) fit on 1700-1928 and the test years are never seen.

Variants: ``lstm`` (default), ``gaussian`` (mean and sigma, 95% intervals), ``smoke``.
"""

from configs.forecasting import common as forecasting_common

VARIANTS = ("lstm", "gaussian", "smoke")


def get_config(variant: str = "lstm"):
    config = forecasting_common.get_config()
    config.data.update(source="statsmodels", dataset="sunspots", target="", features="S")
    config.data.update(split="dates", valid_start="1929", test_start="1959", lookback=24, horizon=1, context="previous")
    config.model.update(cell="lstm", hidden_size=32, num_layers=1)
    config.forecast.update(seasonal_period=11, ar_lags=9, arima_order="2,0,1", mase_period=1)
    config.optim.update(learning_rate=3e-3)
    config.train.update(batch_size=16, num_epochs=60, early_stopping_evals=0, log_every=20)
    if variant == "lstm":
        pass
    elif variant == "gaussian":
        config.model.gaussian = True
    elif variant == "smoke":
        forecasting_common.smoke(config)
        config.data.update(lookback=12, horizon=1)
        config.forecast.arima_order = "1,0,0"
    else:
        raise ValueError(
            f"unknown variant {variant!r} of configs/forecasting/sunspots.py (one of {', '.join(VARIANTS)})"
        )
    return config
