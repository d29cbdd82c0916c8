"""Forecast metrics: known answers, and one definition giving the same numbers on NumPy and JAX."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.forecasting import metrics


def test_metrics_hand_computed():
    pred = np.array([[[1.0, 1.0], [2.0, 0.0]]])  # [W=1, H=2, Ct=2]
    y = np.array([[[0.0, 1.0], [4.0, -2.0]]])  # errors 1, 0, -2, 2
    scaled = dict(scale=np.full(2, 10.0), offset=np.zeros(2), mase_scale=np.array([5.0, 2.0]))
    got = metrics.evaluate(pred, y, **scaled)
    assert got["mse"] == pytest.approx(9 / 4)
    assert got["mae"] == pytest.approx(5 / 4)
    assert got["rmse_orig"] == pytest.approx(15.0)
    assert got["mae_orig"] == pytest.approx(12.5)
    assert got["mape_orig"] == pytest.approx(50.0)  # the zero target is skipped: mean(0, 0.5, 1) = 0.5
    assert got["mase"] == pytest.approx((15 / 5 + 10 / 2) / 2)
    assert "coverage" not in got

    got = metrics.evaluate(pred, y, **scaled, sigma=np.full_like(y, 2.0), z=0.9)
    assert got["coverage"] == pytest.approx(0.5)  # |err| <= 1.8 for errors 1 and 0 only
    assert got["interval_width"] == pytest.approx(36.0)  # 2 * 0.9 * 2 on the original scale (x10)
    assert got["nll"] == pytest.approx(0.5 * math.log(8 * math.pi) + 9 / 32)

    ones = dict(scale=np.ones(2), offset=np.zeros(2), mase_scale=np.ones(2))
    assert math.isnan(metrics.evaluate(pred, np.zeros_like(y), **ones)["mape_orig"])
    with pytest.raises(ValueError, match="sigma must be positive"):
        metrics.evaluate(pred, y, **ones, sigma=np.zeros_like(y))
    with pytest.raises(ValueError, match=r"mase_scale must be \[Ct=2\]"):
        metrics.evaluate(pred, y, **dict(ones, mase_scale=np.ones(3)))


def test_gaussian_coverage_and_nll():
    rng = np.random.default_rng(0)
    shape = (1000, 5, 4)  # 20,000 samples
    pred = rng.standard_normal(shape)
    std = rng.uniform(0.5, 2.0, shape)
    y = pred + std * rng.standard_normal(shape)
    got = metrics.evaluate(pred, y, scale=np.ones(4), offset=np.zeros(4), mase_scale=np.ones(4), sigma=std)
    assert abs(got["coverage"] - 0.95) < 0.01
    assert got["interval_width"] == pytest.approx(np.mean(2 * 1.96 * std))
    nll = [
        0.5 * math.log(2 * math.pi) + math.log(s) + 0.5 * ((t - m) / s) ** 2
        for m, s, t in zip(pred.ravel(), std.ravel(), y.ravel())
    ]
    assert got["nll"] == pytest.approx(sum(nll) / len(nll), rel=1e-12)
    expected = 0.5 * math.log(2 * math.pi) + np.mean(np.log(std)) + 0.5  # E[((y - pred) / std)^2] = 1
    assert got["nll"] == pytest.approx(expected, abs=0.03)


def test_numpy_and_jax_agree_and_padded_batches_add_up_to_the_whole():
    rng = np.random.default_rng(1)
    w, h, c = 10, 3, 2
    pred, y = rng.standard_normal((2, w, h, c)).astype(np.float32)
    sigma = rng.uniform(0.5, 2.0, (w, h, c)).astype(np.float32)
    y[0, 0, 0] = -0.5  # an original value of exactly 0: skipped by MAPE
    kw = dict(scale=np.array([2.0, 0.5], np.float32), offset=np.array([1.0, 3.0], np.float32), z=1.5)
    kw["mase_scale"] = np.array([0.7, 1.3], np.float32)
    whole = metrics.evaluate(pred, y, sigma=sigma, **kw)

    # Two batches of 6 rows, the second padded with 2 rows of weight 0 (garbage values), in JAX.
    sums: dict[str, float] = {}
    for start in (0, 6):
        rows = slice(start, start + 6)
        n = len(pred[rows])

        def pad(a, rows=rows, n=n):
            return np.concatenate([a[rows], np.full((6 - n, h, c), 7.0, np.float32)])

        weights = jnp.asarray(np.arange(6) < n, jnp.float32)
        totals = metrics.totals(
            jnp, jnp.asarray(pad(pred)), jnp.asarray(pad(y)), sigma=jnp.asarray(pad(sigma)), weights=weights, **kw
        )
        for k, v in totals.items():
            sums[k] = sums.get(k, 0.0) + float(v)
    batched = metrics.summarize(sums)
    assert set(batched) == set(whole) == {
        "mse", "mae", "rmse_orig", "mae_orig", "mape_orig", "mase", "coverage", "interval_width", "nll"
    }  # fmt: skip
    for key in whole:
        assert batched[key] == pytest.approx(whole[key], rel=1e-5), key
    assert sums["ape_n"] == w * h * c - 1


def test_mape_over_true_zeros_is_finite_and_the_same_on_the_float32_path():
    """A series with zeros (yearly sunspots has 0 in 1810), z-scored to float32 as the pipeline
    does: scaled back, a zero is a rounding error, not 0, and must be skipped, not divided by."""
    rng = np.random.default_rng(2)
    raw = np.round(rng.uniform(0.0, 190.0, (50, 4, 1)), 1)
    raw[::7, 1, 0] = 0.0
    mean, std = raw.mean(), raw.std()
    y = ((raw - mean) / std).astype(np.float32)
    pred = (y + 0.2 * rng.standard_normal(y.shape)).astype(np.float32)
    zeros = raw == 0.0
    assert np.abs(y * np.float32(std) + np.float32(mean))[zeros].max() > 1e-8  # what used to count
    scaled = dict(scale=np.array([std]), offset=np.array([mean]), mase_scale=np.ones(1))
    pred_orig = pred.astype(np.float64) * std + mean
    expected = 100 * np.mean(np.abs(pred_orig - raw)[~zeros] / raw[~zeros])
    host = metrics.evaluate(pred, y, **scaled)["mape_orig"]
    as32 = {k: jnp.asarray(v, jnp.float32) for k, v in scaled.items()}
    in_graph = metrics.summarize({k: float(v) for k, v in metrics.totals(jnp, pred, y, **as32).items()})
    assert 10 < expected < 1000
    assert host == pytest.approx(expected, rel=1e-4)
    assert in_graph["mape_orig"] == pytest.approx(expected, rel=1e-4)


def test_per_horizon_shapes_and_values():
    pred = np.broadcast_to(np.arange(4.0)[None, :, None], (3, 4, 2))
    got = metrics.per_horizon(pred, np.zeros((3, 4, 2)))
    assert got["mse"].shape == got["mae"].shape == (4,)
    np.testing.assert_allclose(got["mse"], [0, 1, 4, 9])
    np.testing.assert_allclose(got["mae"], [0, 1, 2, 3])


def test_mase_scale_periods_and_zero_scale():
    train = np.array([[0.0, 3.0], [1.0, 3.0], [3.0, 3.0], [6.0, 3.0]])
    np.testing.assert_allclose(metrics.mase_scale(train), [2.0, 1.0])  # diffs 1, 2, 3; constant channel -> 1
    np.testing.assert_allclose(metrics.mase_scale(train, period=2), [4.0, 1.0])  # diffs 3, 5
    with pytest.raises(ValueError, match="forecast.seasonal_period"):
        metrics.mase_scale(train, period=0)
