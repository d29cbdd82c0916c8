"""Naive and statistical forecasting baselines, reported beside the RNN forecaster.

Every forecasting run reports these baselines, computed in the same run on the same windows. A window has
inputs ``x [W, L, Ci]`` (the lookback: times ``t-L .. t-1``, ``Ci`` input channels) and targets
``y [W, H, Ct]`` (times ``t .. t+H-1`` of the ``Ct`` target channels); ``target_in_inputs[c]`` is the index of
target channel ``c`` among the input channels. Arrays are on the normalised (z-scored) scale unless said
otherwise. Below, ``h = 0 .. H-1`` is the step ahead and ``l = 0 .. L-1`` indexes the lookback.

* ``repeat_last``: ``y_hat_c[t+h] = x_c[t-1]``, the last observed value, for every ``h``.
* ``seasonal_naive``: ``y_hat_c[t+h] = x_c[t+h-k*P]`` with period ``P`` and the smallest ``k >= 1`` that lands
  inside the lookback, ``k = ceil((h+1)/P)``; ``P = 1`` is ``repeat_last``. Needs ``1 <= P <= L``.
* ``LinearBaseline``: one linear map from the lookback to the horizon, shared by all channels and applied to
  each channel's own history (the shared variant of NLinear/DLinear, without their normalisation or
  decomposition): ``y_hat_c[t+h] = sum_l W[h, l] x_c[t-L+l] + b[h]``. Fitted in closed form on the train
  windows by ridge least squares over the rows ``(window, target channel)``:
  ``[W; b] = argmin ||A [W; b]^T - Y||^2 + ridge ||W||^2`` (the bias is not penalised), solved from the normal
  equations ``(A^T A + ridge D) theta = A^T Y`` with ``A = [x_c, 1]`` and ``D = diag(1, .., 1, 0)``.
* ``ar_forecasts``: a univariate AR(p) with intercept, ``s[t] = c + sum_{i=1..p} phi_i s[t-i] + e[t]``, fitted
  once by statsmodels ``AutoReg`` (conditional OLS) on the train series; from each origin ``t`` it forecasts
  ``s[t .. t+H-1]`` recursively from the observed ``s[t-p .. t-1]`` with those fitted parameters (forecasts
  feed back for ``h >= 1``). Vectorised over origins: ``H`` matrix-vector products of size ``[W, p]``.
* ``arima_forecasts``: statsmodels ``ARIMA(p, d, q)`` (its default trend: a constant mean when ``d = 0``, none
  when ``d > 0``) fitted once by maximum likelihood on the train series. The forecast from origin ``t`` is the
  conditional mean given ``s[0 .. t-1]`` under the fitted parameters (no refit), which is what
  ``results.apply(series[:t]).forecast(H)`` returns. Rather than one ``apply`` per origin (a new model and a
  Kalman filter over ``t`` points each: ``O(W N)``, about 0.1 s per origin on 3,000 points), the fitted
  parameters are applied once to the whole series (``results.apply(series)``: one Kalman filter pass,
  ``O(N k^2)`` for ``k`` states); the filter's one-step predicted state ``a[t] = E[alpha_t | s[0 .. t-1]]`` is
  exactly the state ``apply(series[:t])`` ends in, and the state-space recursion
  ``y_hat[t+h] = d + Z a_h``, ``a_{h+1} = c + T a_h`` with ``a_0 = a[t]`` gives the ``H`` forecasts of all
  origins at once (``O(W H k^2)``). The total cost is one fit on the train series (seconds) plus one filter pass;
  origins are still capped at ``max_origins`` (evenly spaced) as the API promises.

The metrics that compare them with the RNN forecaster (one definition for the JAX and NumPy paths)
are in ``experiments/forecasting/metrics.py``.
"""

from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------------------------- helpers
def _check_windows(x: np.ndarray, target_in_inputs: list[int]) -> np.ndarray:
    """The lookback of the target channels, ``[W, L, Ct]``; one-line errors for bad shapes or indices."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be [W, L, Ci], got shape {x.shape}")
    idx = [int(i) for i in target_in_inputs]
    if not idx:
        raise ValueError("forecast.target_in_inputs is empty")
    if min(idx) < 0 or max(idx) >= x.shape[2]:
        raise ValueError(f"forecast.target_in_inputs={idx} out of range for {x.shape[2]} input channels")
    return x[:, :, idx]


def _check_horizon(horizon: int) -> int:
    if int(horizon) < 1:
        raise ValueError(f"forecast.horizon={horizon} must be >= 1")
    return int(horizon)


def _check_series(series: np.ndarray, name: str) -> np.ndarray:
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series, got shape {series.shape}")
    return series


# ---------------------------------------------------------------------------------- naive baselines
def repeat_last(x: np.ndarray, horizon: int, target_in_inputs: list[int]) -> np.ndarray:
    """``[W, H, Ct]``: each target channel's last observed value, repeated ``horizon`` times."""
    xt = _check_windows(x, target_in_inputs)
    horizon = _check_horizon(horizon)
    return np.repeat(xt[:, -1:, :], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, period: int, target_in_inputs: list[int]) -> np.ndarray:
    """``[W, H, Ct]``: ``y_hat[t+h] = x[t+h-k*period]`` with ``k = ceil((h+1)/period)``, the latest season seen."""
    xt = _check_windows(x, target_in_inputs)
    horizon = _check_horizon(horizon)
    lookback = xt.shape[1]
    if not 1 <= int(period) <= lookback:
        raise ValueError(f"forecast.seasonal_period={period} must be in [1, lookback={lookback}]")
    period = int(period)
    h = np.arange(horizon)
    k = (h + period) // period  # ceil((h + 1) / period)
    return xt[:, lookback + h - k * period, :]


class LinearBaseline:
    """Ridge least squares from the lookback to the horizon, one map shared by all channels (see the module doc)."""

    def __init__(self, ridge: float = 1e-6) -> None:
        if not ridge >= 0:
            raise ValueError(f"forecast.linear_ridge={ridge} must be >= 0")
        self.ridge = float(ridge)
        self.weight: np.ndarray | None = None  # [H, L]
        self.bias: np.ndarray | None = None  # [H]

    def fit(self, x: np.ndarray, y: np.ndarray, target_in_inputs: list[int]) -> LinearBaseline:
        """Fit on the TRAIN windows: rows are (window, target channel) pairs of the channel's own history."""
        xt = _check_windows(x, target_in_inputs)
        y = np.asarray(y)
        if y.ndim != 3 or y.shape[0] != xt.shape[0] or y.shape[2] != xt.shape[2]:
            raise ValueError(f"y must be [W={xt.shape[0]}, H, Ct={xt.shape[2]}], got shape {y.shape}")
        n_win, lookback, n_ch = xt.shape
        feats = np.transpose(xt, (0, 2, 1)).reshape(n_win * n_ch, lookback).astype(np.float64)
        targets = np.transpose(y, (0, 2, 1)).reshape(n_win * n_ch, y.shape[1]).astype(np.float64)
        design = np.concatenate([feats, np.ones((feats.shape[0], 1))], axis=1)
        gram = design.T @ design
        gram[np.arange(lookback), np.arange(lookback)] += self.ridge  # bias left unpenalised
        theta = np.linalg.lstsq(gram, design.T @ targets, rcond=None)[0]  # [L+1, H]; lstsq copes with ridge=0
        self.weight, self.bias = theta[:lookback].T, theta[lookback]
        return self

    def predict(self, x: np.ndarray, target_in_inputs: list[int]) -> np.ndarray:
        """``[W, H, Ct]``: the fitted map applied to each target channel's lookback."""
        if self.weight is None or self.bias is None:
            raise ValueError("LinearBaseline.predict called before fit")
        xt = _check_windows(x, target_in_inputs).astype(np.float64)
        if xt.shape[1] != self.weight.shape[1]:
            raise ValueError(f"forecast.lookback={xt.shape[1]} differs from the fitted {self.weight.shape[1]}")
        return np.einsum("wlc,hl->whc", xt, self.weight) + self.bias[None, :, None]


# ---------------------------------------------------------------------------------- statistical baselines
def ar_forecasts(train: np.ndarray, series: np.ndarray, origins: np.ndarray, horizon: int, lags: int) -> np.ndarray:
    """``[W, H]``: AR(``lags``) fitted once on ``train``, forecasting ``series[t : t+H]`` from ``series[t-lags : t]``."""
    from statsmodels.tsa.ar_model import AutoReg

    train = _check_series(train, "train")
    series = _check_series(series, "series")
    horizon = _check_horizon(horizon)
    if int(lags) < 1 or int(lags) >= len(train) - 1:
        raise ValueError(f"forecast.ar_lags={lags} must be in [1, len(train) - 2 = {len(train) - 2}]")
    lags = int(lags)
    origins = np.asarray(origins, dtype=np.int64).reshape(-1)
    if origins.size and (origins.min() < lags or origins.max() > len(series)):
        raise ValueError(f"origins must lie in [ar_lags={lags}, len(series)={len(series)}]")
    params = np.asarray(AutoReg(train, lags=lags, trend="c").fit().params, dtype=np.float64)
    const, coef = params[0], params[1:][::-1]  # coef[i] multiplies the value lags - i steps back (oldest first)
    buf = np.empty((origins.size, lags + horizon))
    buf[:, :lags] = series[origins[:, None] + np.arange(-lags, 0)[None, :]]
    for h in range(horizon):
        buf[:, lags + h] = const + buf[:, h : h + lags] @ coef
    return buf[:, lags:]


def evenly_spaced(n: int, max_count: int) -> np.ndarray:
    """Indices into ``range(n)``: all of them when ``n <= max_count``, else ``max_count`` evenly spaced, ends kept."""
    if int(max_count) < 1:
        raise ValueError(f"forecast.arima_max_origins={max_count} must be >= 1")
    if n <= max_count:
        return np.arange(n)
    if max_count == 1:
        return np.zeros(1, dtype=np.int64)
    return np.arange(max_count, dtype=np.int64) * (n - 1) // (max_count - 1)


def _time_invariant(arr: np.ndarray, rows: int, name: str) -> np.ndarray:
    """A state-space vector that may be stored per time step, checked constant over time; ``[rows]``."""
    arr = np.asarray(arr, dtype=np.float64).reshape(rows, -1)
    if not np.all(arr == arr[:, :1]):
        raise ValueError(f"ARIMA {name} varies over time; only constant trends are supported")
    return arr[:, 0]


def arima_forecasts(
    train: np.ndarray,
    series: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    order: tuple[int, int, int],
    max_origins: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """``(forecasts [W', H], used)``: ARIMA(``order``) fitted once on ``train``; from each origin ``t`` in
    ``origins[used]`` the conditional mean of ``series[t : t+H]`` given ``series[:t]`` under the fitted parameters.

    ``used`` is every index into ``origins``, or ``max_origins`` evenly spaced ones when there are more. Cost: one
    maximum-likelihood fit on ``train`` plus one Kalman filter pass over ``series`` and ``O(W' H k^2)`` for the
    forecasts (see the module doc); equal to ``results.apply(series[:t]).forecast(H)`` origin by origin.
    """
    from statsmodels.tsa.arima.model import ARIMA

    train = _check_series(train, "train")
    series = _check_series(series, "series")
    horizon = _check_horizon(horizon)
    if len(order) != 3 or min(int(o) for o in order) < 0:
        raise ValueError(f"forecast.arima_order={tuple(order)} must be three non-negative integers (p, d, q)")
    origins = np.asarray(origins, dtype=np.int64).reshape(-1)
    if origins.size and (origins.min() < 1 or origins.max() > len(series)):
        raise ValueError(f"origins must lie in [1, len(series)={len(series)}]")
    used = evenly_spaced(origins.size, max_origins)
    picked = origins[used]

    fitted = ARIMA(train, order=tuple(int(o) for o in order)).fit()
    full = fitted.apply(series)  # fixed parameters, no refit: one filter pass over the whole series
    ssm = full.model.ssm
    n_states = int(ssm.k_states)
    design = np.asarray(ssm["design"], dtype=np.float64).reshape(1, n_states)
    transition = np.asarray(ssm["transition"], dtype=np.float64).reshape(n_states, n_states)
    obs_intercept = _time_invariant(ssm["obs_intercept"], 1, "obs_intercept")
    state_intercept = _time_invariant(ssm["state_intercept"], n_states, "state_intercept")

    state = np.asarray(full.predicted_state, dtype=np.float64)[:, picked]  # [k, W']: E[alpha_t | series[:t]]
    out = np.empty((picked.size, horizon))
    for h in range(horizon):
        out[:, h] = obs_intercept[0] + (design @ state)[0]
        state = state_intercept[:, None] + transition @ state
    return out, used
