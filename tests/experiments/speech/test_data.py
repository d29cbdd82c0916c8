"""What a speech run reads: batches that depend only on the seed and the step (exact resume), a
normaliser fitted on the training frames only, and bad data refused in one line by the launcher."""

import itertools

import numpy as np
import pytest

from configs.speech import dtmf as dtmf_config
from configs.speech import fsdd as fsdd_config
from experiments.speech import audio, data, features, task
from tests.paths import SHARED_DATA
from tests.test_main import run


def test_train_batches_depend_only_on_the_step():
    config = dtmf_config.get_config("smoke")
    train_batches, _, info = task.make_data(config)
    from_start = list(itertools.islice(train_batches(0), 6))
    resumed = list(itertools.islice(train_batches(4), 2))
    for a, b in zip(from_start[4:], resumed):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    epoch = info["steps_per_epoch"]
    assert epoch == -(-config.data.num_train // config.train.batch_size)
    seen = np.concatenate([b["labels"][b["weights"] > 0] for b in from_start[:epoch]])
    assert len(seen) == config.data.num_train  # an epoch reads every training utterance once


def test_the_global_normaliser_is_fitted_on_the_training_frames_only():
    config = dtmf_config.get_config("smoke")
    splits, _, normalizer, _ = data.load(config)
    raw = data.LOADERS["dtmf"](config.data)[0]
    expected = features.fit_normalizer([data.featurize(a, config.data) for a in raw["train"].audio])
    np.testing.assert_allclose(normalizer.mean, expected.mean, rtol=1e-6)
    np.testing.assert_allclose(normalizer.std, expected.std, rtol=1e-6)
    frames = np.concatenate(splits["train"].features)
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-3)


def test_the_launcher_refuses_a_transcript_outside_the_alphabet_in_one_line(tmp_path):
    clip = np.zeros(4000, np.float32)
    clip[::5] = 0.1
    lines = ["path,text"]
    for i in range(10):
        audio.write_wav(tmp_path / f"u{i}.wav", clip, 8000)
        lines.append(f"u{i}.wav,{'ab' if i != 6 else 'a?'}")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    args = [f"--config.data.path={tmp_path / 't.csv'}", "--config.data.alphabet=ab", "--config.data.sample_rate=8000"]
    code, out, err = run(tmp_path / "run", *args, config="configs/speech/table.py:smoke")
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "t.csv:8" in errors[0] and "'?'" in errors[0]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_fsdd_connected_digits_come_from_one_split_each():
    """On the real recordings (skipped without ../shared/data/fsdd): the smoke variant's splits, and
    the ``isolated`` eval set holding the 300 recordings of the official test takes."""
    if not (SHARED_DATA / "fsdd").is_dir():
        pytest.skip("../shared/data/fsdd is absent")
    config = fsdd_config.get_config("smoke")
    config.data.path = str(SHARED_DATA / "fsdd")
    splits, alphabet, normalizer, _ = data.load(config)
    assert alphabet == "0123456789" and normalizer is not None
    assert {k: len(v.features) for k, v in splits.items()} == {"train": 24, "valid": 8, "test": 8, "isolated": 300}
    isolated = splits["isolated"]
    assert all(int(name.split("_")[2].split(".")[0]) < 5 for name in isolated.names)  # takes 0-4
    assert all(len(t) == 1 and name.startswith(t + "_") for t, name in zip(isolated.texts, isolated.names))
    assert all(3 <= len(t) <= config.data.max_symbols for t in splits["test"].texts)
