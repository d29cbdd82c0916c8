"""Class 2 of issue 27: no non-finite number leaves the program silently. Inference refuses a
checkpoint whose parameters hold NaN, and each inference mode refuses non-finite outputs before
printing or writing anything; training halts with a line that says what to do. (Evaluation's
non-finite metrics become ``null`` and exit code 1 in the launcher: ``tests/test_main.py``.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.classification import synthetic as classification_synthetic
from configs.lm import char as lm_char
from experiments.classification import task as classification
from experiments.classification import text
from experiments.forecasting import modes as forecasting_modes
from experiments.lm import task as lm
from rnn_research import checkpoint, metrics, train
from tests import toy_experiment as toy
from tests.errors import one_line_error


def nan_like(tree):
    return jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan), tree)


def test_inference_refuses_a_checkpoint_whose_parameters_are_not_finite(tmp_path):
    config = toy.get_config(num_steps=4)
    h = train.Harness(config, tmp_path, toy)
    state = h.init_state(h.shard(next(iter(h.train_batches(0)))))
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=2, best_metric="mse", best_mode="min")
    ckpt.save(4, state.replace(params=nan_like(state.params)), {})  # its checksums pass: saved that way
    ckpt.close()
    with one_line_error(ValueError, r"checkpoint step 4 in .*latest holds non-finite parameters \(.+ and \d+ more\)"):
        checkpoint.restore_params(tmp_path / "checkpoints")


def test_sampling_refuses_nan_log_probabilities_instead_of_printing_text():
    config = lm_char.get_config("smoke")
    model = lm.make_model(config, {"vocab_size": 6})
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 3), jnp.int32))["params"]
    prime = np.array([0, 1], np.int32)
    assert lm.generate(config, params, prime, length=5, temperature=1.0, top_k=0, seed=0).shape == (5,)
    params["output"] = nan_like(params["output"])
    with one_line_error(ValueError, r"log-probabilities are non-finite while sampling"):
        lm.generate(config, params, prime, length=5, temperature=1.0, top_k=0, seed=0)


def test_prediction_refuses_nan_probabilities_naming_the_text():
    config = classification_synthetic.get_config("smoke")
    vocab = text.build_vocab(["good bad"])
    model = classification.make_model(config, {"vocab_size": len(vocab), "num_classes": 2})
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32), jnp.ones(1, jnp.int32))["params"]
    texts = ["good", "bad bad"]
    assert len(classification.predict_texts(config, params, vocab, ["neg", "pos"], texts)) == 2
    params["output"] = nan_like(params["output"])
    with one_line_error(ValueError, r"probabilities are non-finite for text 1 \(its logits overflow\)"):
        classification.predict_texts(config, params, vocab, ["neg", "pos"], texts)


class Overflowing:
    """A stand-in forecaster: finite for the first ``3 - offset`` windows of a batch, infinite after."""

    def apply(self, variables, x):
        first = jnp.arange(x.shape[0])[:, None, None] < 3 - variables["params"]["offset"]
        return jnp.where(first, x[:, :2, :1], jnp.inf), None


def test_forecasts_that_overflow_are_refused_before_anything_is_written():
    x = np.ones((5, 4, 1), np.float32)
    mean, sigma = forecasting_modes.forecast(Overflowing(), {"offset": -10}, x, batch=2)
    assert mean.shape == (5, 2, 1) and sigma is None and np.isfinite(mean).all()
    with one_line_error(ValueError, r"the model's forecast is non-finite from window 3 on"):
        forecasting_modes.forecast(Overflowing(), {"offset": 0}, x, batch=8)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # lr 1e39 in float32
def test_an_update_that_overflows_is_halted_at_its_step_and_skipped_under_skip(tmp_path):
    """Loss and gradient are finite at step 1; only the update overflows float32 (lr 1e39)."""
    config = toy.get_config(num_steps=3, checkpoint_every=1, eval_every=3, log_every=1)
    config.optim.update(name="sgd", learning_rate=1e39, clip_norm=0.0)
    with one_line_error(
        train.NonFiniteError, r"non-finite loss, gradient or update at step 1 .*or set optim\.clip_norm"
    ):
        train.train_and_evaluate(config, tmp_path / "halt", toy)
    assert not checkpoint.saved_any(tmp_path / "halt" / "checkpoints")

    config.train.nonfinite = "skip"
    train.train_and_evaluate(config, tmp_path / "skip", toy)
    rows = [r for r in metrics.read_jsonl(tmp_path / "skip" / "metrics.jsonl") if r["split"] == "train"]
    assert [r["nonfinite_steps"] for r in rows] == [1, 2, 3]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["grad_norm"]) for r in rows)  # only the update overflowed
    params, step = checkpoint.restore_params(tmp_path / "skip" / "checkpoints")  # finite: not refused
    assert step == 3


def test_inference_refuses_data_settings_that_would_build_another_vocabulary_or_scaler(tmp_path):
    from configs.forecasting import sunspots
    from experiments.forecasting import task as forecasting

    cases = [
        (lm_char.get_config("smoke"), lm.sample, "path", "/elsewhere.txt", "sampling reads the run's vocab.json"),
        (
            classification_synthetic.get_config("smoke"),
            classification.predict,
            "synthetic_train",
            99,
            "prediction reads the run's vocab.json and labels.json",
        ),
        (sunspots.get_config("smoke"), forecasting.predict, "dataset", "nile", "the scaler and windows are rebuilt"),
    ]
    for i, (config, mode, key, value, reads) in enumerate(cases):
        workdir = tmp_path / str(i)
        workdir.mkdir()
        (workdir / "config.json").write_text(config.to_json_best_effort())
        before = config.data[key]
        with config.unlocked():
            config.data[key] = value
        with one_line_error(
            ValueError, rf"was trained on other data \(data\.{key}: {before!r} -> {value!r}\); {reads}"
        ):
            mode(config, workdir)


def test_json_files_never_hold_nan_tokens(tmp_path):
    from rnn_research import diagnostics, io

    log = diagnostics.DiagnosticsLog(tmp_path)
    log.write(4, {"RNN_0/layer_0": np.array([1.0, np.nan, np.inf])})
    line = (tmp_path / diagnostics.FILENAME).read_text()
    assert "NaN" not in line and "Infinity" not in line and '"RNN_0/layer_0": [1.0, null, null]' in line
    assert log.read() == [{"step": 4, "RNN_0/layer_0": [1.0, None, None]}]
    assert len(diagnostics.plot(log.read(), tmp_path / "plots")) == 1  # a null is a gap, not a crash
    with one_line_error(ValueError, r"Out of range float values are not JSON compliant"):
        io.atomic_write_json(tmp_path / "x.json", {"mse": float("nan")})
    assert not (tmp_path / "x.json").exists()
