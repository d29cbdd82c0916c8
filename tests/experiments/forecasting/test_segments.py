"""The segment-recurrent forecaster (SegRNN) against a plain loop, RevIN's inverse, channel
independence under permutation, and forecasts of series whose answer is known."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.forecasting import normalize
from experiments.forecasting.model import Forecaster, make_model
from rnn_research import cells, layers

jax.config.update("jax_default_matmul_precision", "highest")


def forecaster(width: int = 8, cell: str = "gru", num_layers: int = 1, targets=(0, 1), **kw) -> Forecaster:
    c = cells.make(cell, width)
    kw = {"decoder": "segment", "segment_length": 6, **kw}
    rnn = layers.RNN(cell=c, num_layers=num_layers, return_state=kw["decoder"] != "direct")
    return Forecaster(
        horizon=kw.pop("horizon", 16), num_targets=len(targets), rnn=rnn, cell=c, target_in_inputs=targets, **kw
    )


def reference(model: Forecaster, params, x: np.ndarray) -> np.ndarray:
    """The segment forecaster step by step: one window and (channel-independent) one channel at a
    time, each segment flattened by hand, the library's cell called once per step."""
    cell, size, horizon = model.rnn.resolved_cell(), model.segment_length, model.horizon
    per_layer = [params["rnn"][f"layer_{i}"] for i in range(model.rnn.num_layers)]
    count = -(-horizon // size)
    emb, head = params["segment_embedding"], params["head"]

    def run(series: np.ndarray, channel: int | None) -> np.ndarray:  # series [L, C'] -> [H, C']
        states = [cell.initial_state(1) for _ in per_layer]

        def step(states, inp):
            out = []
            for p, s in zip(per_layer, states):
                s, inp = cell(p, s, inp)
                out.append(s)
            return out, inp

        h = None
        for n in range(len(series) // size):
            flat = np.concatenate([series[n * size + i] for i in range(size)])  # time-major, channels inside
            e = np.maximum(flat @ np.asarray(emb["kernel"]) + np.asarray(emb["bias"]), 0.0)
            states, h = step(states, jnp.asarray(e)[None])
        pieces = []
        for m in range(count):
            if model.segment_decoder == "parallel":
                read = np.asarray(params["position_embedding"][m])
                if channel is not None and model.channel_embedding:
                    read = np.concatenate([read, np.asarray(params["channel_embedding"][channel])])
                _, out = step(states, jnp.asarray(read)[None])
            else:
                out = h
            y = np.asarray(out[0] @ head["kernel"] + head["bias"]).reshape(size, -1)
            pieces.append(y)
            if model.segment_decoder == "recurrent":
                e = np.maximum(y.reshape(-1) @ np.asarray(emb["kernel"]) + np.asarray(emb["bias"]), 0.0)
                states, h = step(states, jnp.asarray(e)[None])
        return np.concatenate(pieces)[:horizon]

    out = []
    for window in np.asarray(x):
        if model.channel_independent:
            cols = [run(window[:, [c]], k)[:, 0] for k, c in enumerate(model.target_in_inputs)]
            out.append(np.stack(cols, axis=-1))
        else:
            out.append(run(window, None))
    return np.stack(out)


@pytest.mark.parametrize(
    "kw",
    [
        {"channel_independent": True},
        {"channel_independent": True, "channel_embedding": False, "cell": "lstm"},
        {"channel_independent": False, "num_layers": 2},
        {"channel_independent": True, "segment_decoder": "recurrent", "horizon": 13},
        {"channel_independent": False, "segment_decoder": "recurrent", "cell": "lstm"},
    ],
    ids=["ci", "ci-noembed-lstm", "joint-2layers", "ci-recurrent-cut", "joint-recurrent-lstm"],
)
def test_segment_forecaster_matches_a_plain_loop(kw):
    model = forecaster(**kw)
    x = jax.random.normal(jax.random.key(1), (3, 18, 2))
    params = model.init(jax.random.key(0), x)["params"]
    mean, sigma = model.apply({"params": params}, x)
    assert mean.shape == (3, model.horizon, 2) and sigma is None
    np.testing.assert_allclose(np.asarray(mean), reference(model, params, x), rtol=1e-5, atol=1e-5)


def test_segment_forecaster_shares_the_encoders_cells_and_cuts_the_last_segment():
    model = forecaster(horizon=13, channel_independent=True)  # 3 segments of 6 steps, the last cut to 1
    params = model.init(jax.random.key(0), jnp.zeros((1, 18, 2)))["params"]
    assert set(params) == {"rnn", "segment_embedding", "position_embedding", "channel_embedding", "head"}
    assert params["position_embedding"].shape == (3, 4) and params["channel_embedding"].shape == (2, 4)


def test_revin_inverse_undoes_forward_with_and_without_affine():
    x = 3.0 + 5.0 * jax.random.normal(jax.random.key(0), (4, 20, 3))
    stats = normalize.revin_stats(x)
    normed = normalize.forward(x, stats)
    np.testing.assert_allclose(normed.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalize.inverse(normed, stats), x, rtol=1e-5, atol=1e-5)
    weight, bias = jnp.array([0.5, -2.0, 0.01]), jnp.array([0.1, 0.0, -3.0])  # negative and small weights
    normed = normalize.forward(x, stats, weight, bias)
    np.testing.assert_allclose(normalize.inverse(normed, stats, weight, bias), x, rtol=1e-5, atol=1e-4)
    zero = jnp.zeros(3)  # a weight driven to 0 is kept EPS away from it: the inverse stays finite
    assert np.isfinite(normalize.inverse(normalize.forward(x, stats, zero, bias), stats, zero, bias)).all()
    last = normalize.last_value_stats(x)
    np.testing.assert_allclose(normalize.inverse(normalize.forward(x, last), last), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decoder", ["segment", "direct", "autoregressive"])
def test_revin_forecasts_follow_a_shift_and_scale_of_the_window(decoder):
    """Per channel ``x -> a x + b`` (a > 0) maps the forecast to ``a y + b`` and sigma to ``a sigma``:
    the network sees the same normalised window, and the inverse undoes the forward exactly."""
    model = forecaster(decoder=decoder, revin=True, revin_affine=True, gaussian=True, channel_independent=False)
    x = jax.random.normal(jax.random.key(2), (2, 18, 2))
    params = model.init(jax.random.key(0), x)["params"]
    params["revin_weight"] = jnp.array([1.5, 0.7])
    params["revin_bias"] = jnp.array([-0.2, 0.3])
    a, b = jnp.array([[[4.0, 0.25]]]), jnp.array([[[-7.0, 100.0]]])
    mean, sigma = model.apply({"params": params}, x)
    mean2, sigma2 = model.apply({"params": params}, a * x + b)
    # exact but for RevIN's eps in sqrt(var + eps): a relative 1e-5 / (2 a^2 var) ~ 1e-4 at a = 0.25
    np.testing.assert_allclose(mean2, a * mean + b, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(sigma2, a * sigma, rtol=1e-3)
    relative = forecaster(decoder=decoder, relative=True)
    params = relative.init(jax.random.key(0), x)["params"]
    shifted, _ = relative.apply({"params": params}, x + b)
    np.testing.assert_allclose(shifted, relative.apply({"params": params}, x)[0] + b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("decoder", ["segment", "direct", "autoregressive"])
def test_channel_independence_commutes_with_a_permutation_of_the_channels(decoder):
    perm = np.array([2, 0, 1])
    x = jax.random.normal(jax.random.key(3), (2, 18, 3))
    targets = (0, 1, 2)
    plain = forecaster(decoder=decoder, channel_independent=True, channel_embedding=False, targets=targets)
    params = plain.init(jax.random.key(0), x)["params"]
    out = plain.apply({"params": params}, x)[0]
    np.testing.assert_allclose(plain.apply({"params": params}, x[..., perm])[0], out[..., perm], atol=1e-5)
    if decoder != "segment":
        return
    embedded = forecaster(channel_independent=True, targets=targets)  # a learned vector per channel
    params = embedded.init(jax.random.key(0), x)["params"]
    out = embedded.apply({"params": params}, x)[0]
    moved = {**params, "channel_embedding": params["channel_embedding"][perm]}
    np.testing.assert_allclose(embedded.apply({"params": moved}, x[..., perm])[0], out[..., perm], atol=1e-5)
    assert not np.allclose(embedded.apply({"params": params}, x[..., perm])[0], out[..., perm], atol=1e-3)


# ------------------------------------------------------------------------ known answers
def windows(series: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    view = np.lib.stride_tricks.sliding_window_view(series, lookback + horizon)
    return view[:, :lookback, None].astype(np.float32), view[:, lookback:, None].astype(np.float32)


def fit(model: Forecaster, x: np.ndarray, y: np.ndarray, steps: int = 300, seed: int = 0):
    params = model.init(jax.random.key(seed), x[:2])["params"]
    tx = optax.adam(3e-3)
    state = tx.init(params)

    @jax.jit
    def update(params, state, xb, yb):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((model.apply({"params": p}, xb)[0] - yb) ** 2))(params)
        updates, state = tx.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        pick = rng.integers(0, len(x), 64)
        params, state, _ = update(params, state, x[pick], y[pick])
    return params


def mse(model: Forecaster, params, x: np.ndarray, y: np.ndarray) -> float:
    return float(jnp.mean((model.apply({"params": params}, x)[0] - y) ** 2))


def test_segment_forecaster_recovers_a_sum_of_sines_to_the_noise_floor():
    t = np.arange(1400)
    rng = np.random.default_rng(0)
    clean = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 12 + 1.0)
    noisy = clean + 0.1 * rng.normal(size=len(t))
    x, y = windows(noisy[:1000], 48, 24)
    model = forecaster(width=32, targets=(0,), segment_length=12, horizon=24, revin=True)
    params = fit(model, x, y)
    xt, yt = windows(noisy[1000:], 48, 24)
    _, clean_y = windows(clean[1000:], 48, 24)
    got = mse(model, params, xt, clean_y)  # against the noiseless continuation
    repeat_last = float(np.mean((xt[:, -1:, :] - clean_y) ** 2))
    assert got < 0.02, got  # the noise alone has variance 0.01; repeat-last is ~0.6
    assert got < 0.05 * repeat_last, (got, repeat_last)


def test_revin_recovers_a_trend_past_a_level_shift_that_an_unnormalised_model_misses():
    """Train on a rising trend with a daily cycle; test after a jump of +6 (far outside the training
    range): RevIN's forecast follows the new level, the same model without it does not."""
    t = np.arange(1600)
    rng = np.random.default_rng(1)
    clean = 0.004 * t + 0.5 * np.sin(2 * np.pi * t / 24) + np.where(t >= 1200, 6.0, 0.0)
    noisy = clean + 0.05 * rng.normal(size=len(t))
    x, y = windows(noisy[:1100], 48, 24)
    xt, _ = windows(noisy[1200:], 48, 24)
    _, clean_y = windows(clean[1200:], 48, 24)
    errors = {}
    for name, kw in {"revin": {"revin": True}, "none": {}}.items():
        model = forecaster(width=32, targets=(0,), segment_length=12, horizon=24, **kw)
        errors[name] = mse(model, fit(model, x, y), xt, clean_y)
    assert errors["revin"] < 0.05, errors
    assert errors["none"] > 20 * errors["revin"], errors


def test_make_model_refuses_settings_that_cannot_work(tmp_path):
    from configs.forecasting import ett

    config = ett.get_config("etth1_m_96")
    info = {"num_targets": 7, "num_inputs": 7, "target_in_inputs": tuple(range(7))}
    make_model(config, info)  # the preset itself builds
    bad = [
        ({"data.lookback": 100}, "data.lookback=100 is not a multiple of model.segment_length=24"),
        ({"model.revin": True}, "model.relative and model.revin are two per-window normalisations"),
        ({"model.relative": False, "model.revin_affine": True}, "model.revin_affine needs model.revin=true"),
        ({"model.bidirectional": True}, "model.decoder='segment' needs model.bidirectional=False"),
        ({"model.segment_decoder": "both"}, "model.segment_decoder='both' is not one of"),
        ({"model.decoder": "autoregressive"}, "model.head_dropout applies to the direct and segment decoders"),
    ]
    for overrides, message in bad:
        c = ett.get_config("etth1_m_96")
        for key, value in overrides.items():
            section, field = key.split(".")
            c[section][field] = value
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            make_model(c, info)
    c = ett.get_config("etth1_ms_96")
    c.model.segment_decoder = "recurrent"
    with pytest.raises(ValueError, match="reads its forecasts back as inputs"):
        make_model(c, {"num_targets": 1, "num_inputs": 7, "target_in_inputs": (6,)})
