"""Forecasting experiment: heads, metrics against the numpy reference, baselines in the run, modes, bad input."""

from __future__ import annotations

import csv
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import forecasting_table
from configs.forecasting import ett as forecasting_ett
from configs.forecasting import sunspots as forecasting_sunspots
from experiments.forecasting import metrics as fmetrics
from experiments.forecasting import modes as forecasting_modes
from experiments.forecasting import task as forecasting
from rnn_research import metrics, train
from tests.paths import SHARED_DATA
from tests.test_main import run

ETTH1 = SHARED_DATA / "ett" / "ETTh1.csv"


def series_csv(path: pathlib.Path, n: int = 1200, noise: float = 0.05, spike_at: int | None = None, seed: int = 0):
    """Hourly rows: two daily sines (``load``, ``OT``) plus noise; optionally one spike in OT."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    dates = np.datetime64("2020-01-01T00:00") + t.astype("timedelta64[h]")
    load = 10 + 3 * np.sin(2 * np.pi * t / 24) + noise * rng.normal(size=n)
    ot = 20 + 5 * np.sin(2 * np.pi * (t + 6) / 24) + noise * rng.normal(size=n)
    if spike_at is not None:
        ot[spike_at] += 30.0
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["date", "load", "OT"])
        for d, a, b in zip(dates, load, ot):
            writer.writerow([str(d).replace("T", " "), f"{a:.5f}", f"{b:.5f}"])
    return path


def config_for(path: pathlib.Path, **model):
    config = forecasting_ett.get_config("smoke")
    config.data.update(path=str(path), split="ratio", split_ratios="0.6,0.2,0.2")
    config.model.update(**model)
    config.forecast.seasonal_period = 24  # the fixture's daily cycle
    return config


def info_for(config):
    return forecasting.make_data(config)[2]


@pytest.mark.parametrize(
    "decoder,gaussian,cell",
    [("direct", False, "lstm"), ("direct", True, "minlstm"), ("autoregressive", False, "layernorm_lstm"),
     ("autoregressive", True, "mingru")],
)  # fmt: skip
def test_heads_give_every_horizon_step_and_sigma_is_positive(tmp_path, decoder, gaussian, cell):
    """Every head and decoder, with new cells too (the autoregressive decoder steps the cell)."""
    config = config_for(series_csv(tmp_path / "s.csv", n=400), decoder=decoder, gaussian=gaussian, cell=cell)
    config.data.features = "MS"
    info = info_for(config)
    model = forecasting.make_model(config, info)
    x = jnp.ones((3, config.data.lookback, 2))
    params = model.init(jax.random.key(0), x)["params"]
    mean, sigma = model.apply({"params": params}, x)
    assert mean.shape == (3, config.data.horizon, 1)
    if decoder == "autoregressive":  # the decoder starts from the encoder's state: no learned state of its own
        config.model.learn_initial_state = True
        learned = forecasting.make_model(config, info).init(jax.random.key(0), x)["params"]
        assert "initial_state" in learned["rnn"]["layer_0"] and "initial_state" not in learned["decoder_0"]
    assert (sigma is None) == (not gaussian)
    if gaussian:
        assert float(sigma.min()) > 0


def test_teacher_forcing_feeds_true_values_in_training_only(tmp_path):
    config = config_for(series_csv(tmp_path / "s.csv", n=400), decoder="autoregressive", teacher_forcing=1.0)
    model = forecasting.make_model(config, info_for(config))
    x = jax.random.normal(jax.random.key(1), (2, config.data.lookback, 1))
    params = model.init(jax.random.key(0), x)["params"]
    targets = jnp.zeros((2, config.data.horizon, 1))
    other = targets.at[:, 2].set(5.0)
    rngs = {"dropout": jax.random.key(2)}
    a, _ = model.apply({"params": params}, x, targets, deterministic=False, rngs=rngs)
    b, _ = model.apply({"params": params}, x, other, deterministic=False, rngs=rngs)
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-6)  # step 3 reads target 2: only later steps move
    assert not np.allclose(a[:, 3:], b[:, 3:])
    c, _ = model.apply({"params": params}, x, targets)
    d, _ = model.apply({"params": params}, x, other)
    np.testing.assert_array_equal(c, d)  # evaluation rolls out its own forecasts


def test_relative_mode_shifts_inputs_and_forecasts_by_the_last_observed_values(tmp_path):
    config = config_for(series_csv(tmp_path / "s.csv", n=400), relative=True)
    config.data.features = "MS"
    model = forecasting.make_model(config, info_for(config))
    x = jax.random.normal(jax.random.key(1), (2, config.data.lookback, 2))
    params = model.init(jax.random.key(0), x)["params"]
    a, _ = model.apply({"params": params}, x)
    b, _ = model.apply({"params": params}, x + jnp.array([3.0, -2.0])[None, None])  # the same shape at another level
    np.testing.assert_allclose(b, a - 2.0, atol=1e-5)  # OT (the last column) moved by -2


def test_metrics_in_the_run_equal_the_numpy_reference_and_baselines_are_beside_the_model(tmp_path):
    config = config_for(series_csv(tmp_path / "s.csv", n=600), gaussian=True)
    config.data.eval_batch_size = 24  # several padded batches
    config.forecast.ar_lags = 6
    train_batches, eval_sets, info = forecasting.make_data(config)
    model = forecasting.make_model(config, info)
    params = model.init(jax.random.key(0), next(train_batches(0))["inputs"])["params"]
    history = []
    for batch in eval_sets["test"]():
        _, (values, _) = forecasting.loss_and_metrics(model, {"params": params}, batch, {}, jax.random.key(0), False)
        history.append(values)
    got = forecasting.finalize_metrics(config, train.mean_metrics(history))
    p = info["prepared"]
    x, y = p.windows("test")
    mean, sigma = forecasting_modes.forecast(model, params, x)
    scaled = dict(scale=p.scaler.std[p.targets], offset=p.scaler.mean[p.targets], mase_scale=p.mase_scale)
    ref = fmetrics.evaluate(mean, y, **scaled, sigma=sigma)
    for key in ("mse", "mae", "rmse_orig", "mae_orig", "mape_orig", "mase", "coverage", "interval_width", "nll"):
        assert got[key] == pytest.approx(ref[key], rel=1e-4), key
    for name, pred in p.baseline_forecasts("test", x, config.forecast).items():
        ref = fmetrics.evaluate(pred, y, **scaled)
        assert got[f"mse_{name}"] == pytest.approx(ref["mse"], rel=1e-4), name
        assert got[f"mase_{name}"] == pytest.approx(ref["mase"], rel=1e-4), name
    assert {"mse_repeat_last", "mse_seasonal_naive", "mse_linear", "mse_ar"} <= set(got)


def test_channel_independent_forecasts_read_only_their_own_channel(tmp_path):
    config = config_for(series_csv(tmp_path / "s.csv", n=400), channel_independent=True, gaussian=True)
    config.data.features = "M"
    model = forecasting.make_model(config, info_for(config))
    x = jax.random.normal(jax.random.key(1), (2, config.data.lookback, 2))
    params = model.init(jax.random.key(0), x)["params"]
    assert params["head"]["kernel"].shape[-1] == config.data.horizon * 2  # one head for every channel
    a, sa = model.apply({"params": params}, x)
    b, sb = model.apply({"params": params}, x.at[:, :, 0].add(jnp.linspace(0, 1, config.data.lookback)))
    assert a.shape == (2, config.data.horizon, 2)
    np.testing.assert_allclose(a[..., 1], b[..., 1], atol=1e-6)  # channel 1 ignores channel 0
    assert not np.allclose(a[..., 0], b[..., 0])
    swapped, _ = model.apply({"params": params}, x[..., ::-1])
    np.testing.assert_allclose(swapped[..., ::-1], a, atol=1e-5)  # the same weights for every channel


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """150 steps on the two-sine fixture with one spike in OT at row 1100 (in the test split)."""
    root = tmp_path_factory.mktemp("trained")
    config = config_for(series_csv(root / "s.csv", spike_at=1100))
    config.data.eval_stride = 1
    config.train.update(num_steps=150, eval_every=75, plots=False)  # the curves are tested elsewhere
    final = train.train_and_evaluate(config, root / "run", forecasting)
    return config, root / "run", final


def test_training_beats_repeat_last_and_writes_every_artefact_then_predicts(trained):
    config, workdir, final = trained
    test = final["test"]
    assert test["mse"] < 0.5 * test["mse_repeat_last"], test
    records = metrics.read_jsonl(workdir / "metrics.jsonl")
    assert any(r["split"] == "valid" and "mse_linear" in r for r in records)
    assert json.loads((workdir / "scaler.json").read_text())["targets"] == ["OT"]
    text = forecasting_table.table(forecasting_table.best_record(workdir, "test"), ["mse", "mae_orig"])
    assert text.splitlines()[2].startswith(f"| model | {test['mse']:.4g} |")
    assert {"| repeat_last |", "| linear |", "| seasonal_naive |"} <= {
        "| " + r.split("|")[1].strip() + " |" for r in text.splitlines()
    }

    result = forecasting.predict(config, workdir)
    p = info_for(config)["prepared"]
    windows = len(p.origins["test"])
    with open(workdir / "predictions_test.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["origin", "step", "date", "column", "forecast", "actual"]
    assert len(rows) == 1 + windows * config.data.horizon
    assert result["metrics"]["mse"] == pytest.approx(test["mse"], rel=1e-4)  # same windows as the evaluation
    curves = json.loads((workdir / "per_horizon_test.json").read_text())
    assert len(curves["mse"]) == config.data.horizon
    assert len(list((workdir / "plots").glob("forecast_test_[0-9]*.png"))) == config.predict.num_plots
    assert (workdir / "plots" / "forecast_test_series.png").is_file()


def test_anomaly_mode_flags_an_injected_spike(trained):
    config, workdir, _ = trained
    result = forecasting.anomalies(config, workdir)
    with open(workdir / "anomalies_test.csv") as f:
        rows = list(csv.DictReader(f))
    assert result["anomalies"] == len(rows) >= 1
    assert "2020-02-15 20:00:00" in {r["date"] for r in rows}  # row 1100
    assert max(abs(float(r["z"])) for r in rows) > 10
    assert (workdir / "plots" / "anomalies_test.png").is_file()


@pytest.mark.slow
def test_gaussian_head_intervals_cover_white_noise_at_their_nominal_rate(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.csv"
    with path.open("w") as f:
        f.write("date,OT\n")
        for i, v in enumerate(rng.normal(size=3000)):
            f.write(f"{np.datetime64('2020-01-01T00') + np.timedelta64(i, 'h')},{v:.6f}\n".replace("T", " "))
    config = config_for(path, gaussian=True)
    config.data.eval_stride = 1
    config.train.update(num_steps=300, eval_every=300, checkpoint_every=300, plots=False)
    final = train.train_and_evaluate(config, tmp_path / "run", forecasting)["test"]
    assert 0.92 < final["coverage"] < 0.98, final  # nominal 0.95
    assert final["interval_width"] == pytest.approx(2 * 1.96, rel=0.15)


def test_launcher_reports_bad_cells_and_short_series_in_one_line(tmp_path):
    path = series_csv(tmp_path / "s.csv", n=400)
    lines = path.read_text().splitlines()
    lines[7] = lines[7].rsplit(",", 1)[0] + ",abc"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    args = ["--config.data.split=ratio", "--config.data.split_ratios=0.6,0.2,0.2"]
    code, _, err = run(tmp_path / "a", f"--config.data.path={tmp_path / 'bad.csv'}", *args,
                       config="configs/forecasting/ett.py:smoke")  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "bad.csv:8" in err and "OT" in err and "abc" in err
    code, _, err = run(tmp_path / "b", f"--config.data.path={path}", "--config.data.lookback=300", *args,
                       config="configs/forecasting/ett.py:smoke")  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "300" in err and "s.csv, train split" in err, err
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_presets_build_every_variant_and_refuse_unknown_ones():
    for variant in ("etth1_s_24", "etth1_m_96", "ettm1_ms_336", "etth1_m_720", "smoke"):
        forecasting_ett.get_config(variant)
    assert forecasting_ett.get_config("ettm1_s_24").forecast.seasonal_period == 96
    assert forecasting_ett.get_config("etth1_m_192").data.features == "M"
    for variant in ("lstm", "gaussian", "smoke"):
        forecasting_sunspots.get_config(variant)
    for module, bad in ((forecasting_ett, "etth2_s_24"), (forecasting_ett, "etth1_s_25"), (forecasting_sunspots, "x")):
        with pytest.raises(ValueError, match="unknown variant"):
            module.get_config(bad)


@pytest.mark.slow
def test_sunspots_smoke_preset_runs_offline_end_to_end(tmp_path):
    code, out, err = run(tmp_path / "run", config="configs/forecasting/sunspots.py:smoke", devices=1)
    assert code == 0, err
    final = json.loads(out.strip().splitlines()[-1])["final"]
    assert {"mse", "mse_ar", "mse_arima", "mse_repeat_last", "rmse_orig_seasonal_naive"} <= set(final["test"])
    # The console: the model's metrics (baselines once per split); the yearly series has zeros.
    lines = out.strip().splitlines()[:-1]
    assert max(len(line) for line in lines) < 200, max(lines, key=len)
    valid = next(line for line in lines if line.startswith("[valid] step "))
    assert " | mse=" in valid and "_repeat_last" not in valid and valid.endswith("(+28 in metrics.jsonl)")
    (baselines,) = [line for line in lines if line.startswith("[test] baselines: ")]
    names = [f"mse_{name}" for name in ("repeat_last", "seasonal_naive", "linear", "ar", "arima")]
    assert baselines == "[test] baselines: " + " ".join(f"{k}={final['test'][k]:.4g}" for k in names)
    records = metrics.read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert all(0 < r["mape_orig"] < 1000 for r in records), [r["mape_orig"] for r in records]


@pytest.mark.skipif(not ETTH1.is_file(), reason="../shared/data/ett is not here")
def test_etth1_windows_follow_informers_split(tmp_path):
    config = forecasting_ett.get_config("etth1_s_24")
    config.data.path = str(ETTH1)
    p = info_for(config)["prepared"]
    assert p.borders == {"train": (0, 8640), "valid": (8640, 11520), "test": (11520, 14400)}
    assert len(p.origins["test"]) == 14400 - 11520 - 24 + 1  # Informer's 2,857 test windows


def test_a_workdir_written_before_the_new_fields_resumes(tmp_path):
    """A config.json without the fields added for SegRNN, RevIN and headerless files (as every
    earlier forecasting run has) resumes: the added fields read as the values those runs had."""
    config = config_for(series_csv(tmp_path / "s.csv", n=400))
    config.train.update(num_steps=4, eval_every=4, checkpoint_every=4, plots=False)
    train.train_and_evaluate(config, tmp_path / "run", forecasting)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert set(forecasting.ADDED_FIELDS) == {
        *(f"model.{k}" for k in ("revin", "revin_affine", "head_dropout", "segment_length")),
        *(f"model.{k}" for k in ("segment_decoder", "channel_embedding")),
        "data.header",
    }
    for key in forecasting.ADDED_FIELDS:
        section, field = key.split(".")
        del saved[section][field]
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    config.train.num_steps = 8
    final = train.train_and_evaluate(config, tmp_path / "run", forecasting)
    records = metrics.read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert max(r["step"] for r in records) == 8 and np.isfinite(final["test"]["mse"])
