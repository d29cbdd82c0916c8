"""Forecasting baselines: each test checks a known answer (the metrics are in test_metrics.py)."""

import math

import numpy as np
import pytest

from experiments.forecasting import baselines as fb


def make_windows(series, lookback, horizon, stride=1):
    """``x [W, L, C]``, ``y [W, H, C]`` from ``series [N, C]``; window ``w`` has its first target at ``w*stride+L``."""
    series = np.asarray(series, dtype=np.float64)
    starts = np.arange(0, len(series) - lookback - horizon + 1, stride)
    x = np.stack([series[s : s + lookback] for s in starts])
    y = np.stack([series[s + lookback : s + lookback + horizon] for s in starts])
    return x, y


def simulate_ar2(n, const, phi1, phi2, noise, seed=0):
    rng = np.random.default_rng(seed)
    s = np.zeros(n)
    for t in range(2, n):
        s[t] = const + phi1 * s[t - 1] + phi2 * s[t - 2] + noise * rng.standard_normal()
    return s


# ---------------------------------------------------------------------------------- naive baselines
@pytest.mark.parametrize("horizon", [1, 24, 50, 72])
def test_seasonal_naive_is_exact_on_a_pure_seasonal_series(horizon):
    t = np.arange(400)
    series = np.stack([np.sin(2 * np.pi * (t % 24) / 24), np.cos(2 * np.pi * (t % 24) / 24) + 3], axis=1)
    x, y = make_windows(series, lookback=48, horizon=horizon, stride=5)
    pred = fb.seasonal_naive(x, horizon, 24, [0, 1])
    assert pred.shape == y.shape
    np.testing.assert_array_equal(pred, y)


def test_seasonal_naive_picks_the_latest_season_inside_the_lookback():
    x = np.arange(7, dtype=np.float64)[None, :, None]  # times t-7 .. t-1 hold 0 .. 6
    # period 5: h=0..4 -> t+h-5 (values 2..6), h=5..9 -> t+h-10 (values 2..6), h=10 -> t+10-15 = value 2
    np.testing.assert_array_equal(fb.seasonal_naive(x, 11, 5, [0])[0, :, 0], [2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 2])
    np.testing.assert_array_equal(fb.seasonal_naive(x, 3, 1, [0]), fb.repeat_last(x, 3, [0]))
    np.testing.assert_array_equal(fb.seasonal_naive(x, 3, 7, [0])[0, :, 0], [0, 1, 2])
    for bad in (0, 8):
        with pytest.raises(ValueError, match="forecast.seasonal_period"):
            fb.seasonal_naive(x, 3, bad, [0])


def test_repeat_last_is_exact_on_a_constant_series_and_picks_target_channels():
    series = np.tile([[1.5, -2.0, 7.0]], (100, 1))
    x, y = make_windows(series, lookback=10, horizon=6)
    pred = fb.repeat_last(x, 6, [2, 0])
    assert pred.shape == (x.shape[0], 6, 2)
    np.testing.assert_array_equal(pred, y[:, :, [2, 0]])
    assert fb.seasonal_naive(x, 6, 3, [1]).shape == (x.shape[0], 6, 1)


# ---------------------------------------------------------------------------------- linear baseline
def test_linear_baseline_is_exact_on_straight_lines():
    t = np.arange(600, dtype=np.float64)
    series = np.stack([0.01 * t - 1.0, 2.0 - 0.003 * t, np.sin(t)], axis=1)  # channel 2 is not a target
    x, y = make_windows(series, lookback=16, horizon=8)
    train, test = slice(0, 300), slice(400, None)  # held out and extrapolated past the train range
    model = fb.LinearBaseline().fit(x[train], y[train][:, :, [0, 1]], [0, 1])
    pred = model.predict(x[test], [0, 1])
    assert pred.shape == y[test][:, :, [0, 1]].shape
    np.testing.assert_allclose(pred, y[test][:, :, [0, 1]], atol=1e-6)


def test_linear_baseline_is_exact_on_a_noiseless_ar2_recursion():
    s = np.zeros(500)
    s[0], s[1] = 1.0, 0.5
    for i in range(2, 500):
        s[i] = 1.8 * s[i - 1] - 0.99 * s[i - 2]
    x, y = make_windows(s[:, None], lookback=12, horizon=10)
    model = fb.LinearBaseline().fit(x[:250], y[:250], [0])
    np.testing.assert_allclose(model.predict(x[300:], [0]), y[300:], atol=1e-6)


# ---------------------------------------------------------------------------------- AR
def test_ar_forecasts_match_the_true_recursion_and_a_reference_loop():
    const, phi1, phi2 = 0.3, 0.6, -0.3
    train = simulate_ar2(5000, const, phi1, phi2, noise=1.0)
    continuation = list(train[-2:])
    for _ in range(200):  # noiseless continuation of the process
        continuation.append(const + phi1 * continuation[-1] + phi2 * continuation[-2])
    series = np.concatenate([train, continuation[2:]])
    origins = np.arange(len(train), len(series) - 10, 7)
    pred = fb.ar_forecasts(train, series, origins, horizon=10, lags=2)
    assert pred.shape == (len(origins), 10)
    np.testing.assert_allclose(pred, np.stack([series[o : o + 10] for o in origins]), atol=0.05)

    from statsmodels.tsa.ar_model import AutoReg

    params = AutoReg(train, lags=2, trend="c").fit().params
    origins = np.arange(2, len(series) - 10, 13)
    pred = fb.ar_forecasts(train, series, origins, horizon=10, lags=2)
    reference = np.zeros_like(pred)
    for w, o in enumerate(origins):
        history = list(series[o - 2 : o])
        for h in range(10):
            history.append(params[0] + params[1] * history[-1] + params[2] * history[-2])
            reference[w, h] = history[-1]
    np.testing.assert_allclose(pred, reference, rtol=1e-12, atol=1e-12)


def test_sunspots_ar9_one_step_rmse_matches_the_literature():
    import statsmodels.api as sm

    data = sm.datasets.sunspots.load_pandas().data
    series = data["SUNACTIVITY"].to_numpy(dtype=np.float64)
    n_train = int((data["YEAR"] <= 1958).sum())
    origins = np.arange(n_train, len(series))  # one step ahead on 1959 .. 2008
    truth = series[n_train:]
    pred = fb.ar_forecasts(series[:n_train], series, origins, horizon=1, lags=9)[:, 0]
    rmse_ar = math.sqrt(np.mean((pred - truth) ** 2))
    x = np.stack([series[o - 9 : o] for o in origins])[:, :, None]
    naive = fb.repeat_last(x, 1, [0])[:, 0, 0]
    rmse_naive = math.sqrt(np.mean((naive - truth) ** 2))
    assert abs(rmse_ar - 16.95) < 0.5, rmse_ar
    assert abs(rmse_naive - 30.35) < 0.5, rmse_naive


# ---------------------------------------------------------------------------------- ARIMA
def test_evenly_spaced_keeps_ends_and_is_strictly_increasing():
    np.testing.assert_array_equal(fb.evenly_spaced(5, 10), np.arange(5))
    np.testing.assert_array_equal(fb.evenly_spaced(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(fb.evenly_spaced(7, 1), [0])
    for n, m in [(1000, 500), (501, 500), (3000, 7)]:
        idx = fb.evenly_spaced(n, m)
        assert len(idx) == m and idx[0] == 0 and idx[-1] == n - 1 and np.all(np.diff(idx) > 0)
        assert np.ptp(np.diff(idx)) <= 1
    with pytest.raises(ValueError, match="forecast.arima_max_origins"):
        fb.evenly_spaced(10, 0)


def test_arima_forecasts_agree_with_statsmodels_apply_and_with_ar():
    from statsmodels.tsa.arima.model import ARIMA

    series = simulate_ar2(400, 0.3, 0.6, -0.3, noise=1.0, seed=1)
    train = series[:300]
    origins = np.arange(300, 391)
    pred, used = fb.arima_forecasts(train, series, origins, horizon=5, order=(2, 0, 0), max_origins=10)
    np.testing.assert_array_equal(used, fb.evenly_spaced(91, 10))
    assert pred.shape == (10, 5)
    fitted = ARIMA(train, order=(2, 0, 0)).fit()
    for w in (0, 4, 9):
        reference = np.asarray(fitted.apply(series[: origins[used[w]]]).forecast(5))
        np.testing.assert_allclose(pred[w], reference, atol=1e-8)
    ar = fb.ar_forecasts(train, series, origins[used], horizon=5, lags=2)
    np.testing.assert_allclose(pred, ar, atol=0.1)


def test_arima_forecasts_with_differencing_agree_with_statsmodels_apply():
    from statsmodels.tsa.arima.model import ARIMA

    rng = np.random.default_rng(2)
    steps = np.zeros(300)
    for t in range(1, 300):
        steps[t] = 0.5 * steps[t - 1] + rng.standard_normal()
    series = np.cumsum(steps) / 10
    origins = np.array([200, 250, 299, 300])
    pred, used = fb.arima_forecasts(series[:200], series, origins, horizon=4, order=(1, 1, 0))
    np.testing.assert_array_equal(used, np.arange(4))
    fitted = ARIMA(series[:200], order=(1, 1, 0)).fit()
    for w, o in enumerate(origins):
        np.testing.assert_allclose(pred[w], np.asarray(fitted.apply(series[:o]).forecast(4)), atol=1e-8)
