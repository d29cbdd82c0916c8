"""``--mode=sample`` end to end on a trained smoke run of the offline default: MIDI files that read
back as the sampled rolls, the PNGs, reproducible by seed, and one-line refusals."""

import json

import jax
import numpy as np
import pytest

from configs.music import chorales
from experiments.music import generated, rolls, sample, task
from rnn_research import train

pytest.importorskip("pretty_midi")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One smoke run (GRU 16, NADE head) shared by the module's tests: ``(config, workdir, results)``."""
    config = chorales.get_config("smoke")
    config.model.head = "nade"
    config.train.update(plots=False, num_steps=10, eval_every=10, checkpoint_every=10)
    workdir = tmp_path_factory.mktemp("music")
    results = train.train_and_evaluate(config, workdir, task)
    return config, workdir, results


def test_training_reports_the_papers_metrics_on_both_splits(trained):
    _, workdir, results = trained
    for split in ("valid", "test"):
        assert 0 < results[split]["nll"] < 88 * np.log(2)  # below the coin-flip model (key rates start the biases)
        assert 0 <= results[split]["frame_accuracy"] <= 1
    assert (workdir / "metrics.jsonl").exists()


def test_sampled_midi_reads_back_as_the_sampled_roll(trained):
    config, workdir, _ = trained
    config = config.copy_and_resolve_references()
    config.sample.update(num_samples=2, length=12, primer_frames=3, seed=5)
    result = sample.sample(config, workdir)
    out = workdir / "samples"
    assert {p.name for p in out.iterdir()} >= {
        "sample_0.mid",
        "sample_1.mid",
        "sample_0.png",
        "probabilities_test_0.png",
    }
    _, _, info = task.make_data(config)
    primer = info["splits"]["test"].rolls[0][:3]
    params, _ = sample.checkpoint.restore_params(workdir / "checkpoints")
    frames = sample.generate_frames(config, params, primer, num_samples=2, length=12, seed=5)
    for i in range(2):
        back, dropped = rolls.read_midi(out / f"sample_{i}.mid", frames_per_beat=config.data.frames_per_beat)
        np.testing.assert_array_equal(back, np.concatenate([primer, frames[i]]))  # same seed, same piece
        assert dropped == 0
    assert result["primer_frames"] == 3 and result["samples"] == 2 and np.isfinite(result["sample_nll"])
    assert 0 <= result["rule_fraction"] <= 1
    json.dumps(result)  # the launcher prints it as JSON


def test_greedy_sampling_from_silence_is_deterministic(trained):
    config, workdir, _ = trained
    params, _ = sample.checkpoint.restore_params(workdir / "checkpoints")
    config = config.copy_and_resolve_references()
    config.sample.temperature = 0.0
    silent = np.zeros((1, 88), np.uint8)
    a = sample.generate_frames(config, params, silent, num_samples=2, length=6, seed=0)
    b = sample.generate_frames(config, params, silent, num_samples=2, length=6, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], a[1])


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_greedy_samples_are_the_models_own_predictions_fed_back(head):
    """At temperature 0 each sampled frame is the frame the model predicts, teacher-forced, from
    the primer and the frames sampled before it (an independent path: the Flax model over the whole roll)."""
    config = chorales.get_config("smoke")
    config.model.update(head=head, num_layers=2)
    config.sample.temperature = 0.0
    model = task.make_model(config, {"num_keys": 88})
    primer = np.zeros((3, 88), np.uint8)
    primer[:, [40, 44, 47]] = 1
    variables = model.init(jax.random.key(3), primer[None, :-1], np.asarray([2], np.int32), primer[None, 1:])
    params = jax.tree_util.tree_map(lambda x: x * 4.0, variables["params"])  # sharper than at init
    frames = sample.generate_frames(config, params, primer, num_samples=1, length=6, seed=0)[0]
    roll = np.concatenate([primer, frames])
    _, predicted = model.apply(
        {"params": params}, roll[None, :-1], np.asarray([len(roll) - 1]), roll[None, 1:], predict=True
    )
    np.testing.assert_array_equal(np.asarray(predicted[0, len(primer) - 1 :]), frames)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("primer", "random", "sample.primer='random' is not one of"),
        ("length", 0, "sample.length must be an integer >= 1"),
        ("temperature", -1.0, "sample.temperature must be >= 0"),
        ("piece", 99, r"sample.piece=99 must lie in \[0, "),
    ],
)
def test_bad_settings_are_one_line(trained, field, value, message):
    config, workdir, _ = trained
    config = config.copy_and_resolve_references()
    config.sample[field] = value
    with pytest.raises(ValueError, match=message) as e:
        sample.sample(config, workdir)
    assert "\n" not in str(e.value)


def test_another_model_is_refused(trained):
    config, workdir, _ = trained
    config = config.copy_and_resolve_references()
    config.model.head = "bernoulli"
    with pytest.raises(ValueError, match="trained with another model"):
        sample.sample(config, workdir)


def test_the_generated_corpus_follows_its_rule():
    pieces, _ = generated.generate_chorales(5, seed=0)
    assert all(generated.rule_fraction(p) == 1.0 for p in pieces)
