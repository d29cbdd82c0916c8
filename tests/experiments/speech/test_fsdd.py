"""FSDD: the index, the take and speaker splits, connected-digit utterances, and the real data when present."""

import wave
from pathlib import Path

import numpy as np
import pytest

from experiments.speech import fsdd
from tests.errors import one_line_error
from tests.paths import SHARED_DATA

SR = 8000
FSDD = SHARED_DATA / "fsdd"


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = SR) -> None:
    """A 16-bit PCM mono WAV with the standard library only."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def read_wav(path: Path) -> np.ndarray:
    """float32 [N] from a 16-bit PCM mono WAV, with the standard library only."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


@pytest.fixture
def dataset(tmp_path):
    """A tiny FSDD: speakers ann and bob, digits 0-2, takes 0-11; clip length 100 + 10 * digit samples."""
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for speaker in ("ann", "bob"):
        for digit in range(3):
            for take in range(12):
                write_wav(folder / f"{digit}_{speaker}_{take}.wav", np.full(100 + 10 * digit, 0.25))
    (folder / "README.txt").write_text("not a recording")
    return tmp_path / "fsdd"


def test_index_accepts_root_or_recordings_and_sorts(dataset):
    recs = fsdd.index(dataset)
    assert recs == fsdd.index(dataset / "recordings")
    assert len(recs) == 2 * 3 * 12
    assert recs[0] == fsdd.Recording(dataset / "recordings" / "0_ann_0.wav", 0, "ann", 0)
    assert [r.take for r in recs[:12]] == list(range(12))  # numeric, not lexicographic, order
    assert recs[-1].speaker == "bob" and recs[-1].digit == 2 and recs[-1].take == 11


def test_index_errors(dataset, tmp_path):
    (dataset / "recordings" / "7_carl.wav").write_bytes(b"")
    with one_line_error(ValueError, r"7_carl.wav: file name is not <digit>_<speaker>_<take>.wav"):
        fsdd.index(dataset)
    (tmp_path / "empty").mkdir()
    with one_line_error(ValueError, "empty holds no"):
        fsdd.index(tmp_path / "empty")
    with one_line_error(FileNotFoundError, "no such folder"):
        fsdd.index(tmp_path / "absent")


def test_split_by_take_is_the_official_split_and_disjoint(dataset):
    recs = fsdd.index(dataset)
    split = fsdd.split_by_take(recs)
    assert {k: len(v) for k, v in split.items()} == {"train": 12, "valid": 30, "test": 30}
    assert {r.take for r in split["test"]} == set(range(5)) and {r.take for r in split["train"]} == {10, 11}
    paths = [{r.path for r in v} for v in split.values()]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    assert sum(map(len, paths)) == len(recs)
    with one_line_error(ValueError, r"takes \[4\] are both test and valid"):
        fsdd.split_by_take(recs, range(5), range(4, 6))


def test_split_by_speaker(dataset):
    recs = fsdd.index(dataset)
    split = fsdd.split_by_speaker(recs, ["bob"], [])
    assert {r.speaker for r in split["test"]} == {"bob"} and {r.speaker for r in split["train"]} == {"ann"}
    assert split["valid"] == [] and len(split["test"]) == len(split["train"]) == 36
    with one_line_error(ValueError, "unknown speaker 'carl'; the speakers are ann, bob"):
        fsdd.split_by_speaker(recs, ["carl"], [])
    with one_line_error(ValueError, "are both test and valid"):
        fsdd.split_by_speaker(recs, ["bob"], ["bob"])
    with one_line_error(ValueError, "no speaker is left for training"):
        fsdd.split_by_speaker(recs, ["bob"], ["ann"])


def test_connect_lengths_transcript_and_determinism():
    clips = [np.full(n, 0.1, np.float32) for n in (100, 250, 80, 300)]
    kw = dict(gap_ms=(50, 300), edge_ms=(0, 150))
    for seed in range(20):
        x, text = fsdd.connect(clips, [4, 0, 7, 1], np.random.default_rng(seed), SR, **kw)
        assert text == "4071" and x.dtype == np.float32
        body = 730
        assert body + 3 * 400 <= len(x) <= body + 3 * 2400 + 2 * 1200
        nonzero = np.flatnonzero(x)
        assert len(nonzero) == body  # pure silence between clips
        assert np.all((0.1 * 10 ** (-6 / 20) - 1e-6 <= x[nonzero]) & (x[nonzero] <= 0.1 * 10 ** (6 / 20) + 1e-6))
    a = fsdd.connect(clips, [4, 0, 7, 1], np.random.default_rng(3), SR)
    b = fsdd.connect(clips, [4, 0, 7, 1], np.random.default_rng(3), SR)
    assert np.array_equal(a[0], b[0])
    fixed = fsdd.connect(clips, [4, 0, 7, 1], np.random.default_rng(0), SR, gap_ms=(10, 10), edge_ms=(5, 5))
    assert len(fixed[0]) == 730 + 3 * 80 + 2 * 40
    noisy, _ = fsdd.connect(clips, [4, 0, 7, 1], np.random.default_rng(0), SR, noise_db=-40)
    assert 0.005 < np.std(noisy[np.abs(noisy) < 0.04]) < 0.02


def test_connect_errors():
    rng = np.random.default_rng(0)
    with one_line_error(ValueError, "as many clips as digits"):
        fsdd.connect([np.zeros(5)], [1, 2], rng, SR)
    with one_line_error(ValueError, "digit 12 is not 0-9"):
        fsdd.connect([np.zeros(5)], [12], rng, SR)
    with one_line_error(ValueError, "gap_ms must be"):
        fsdd.connect([np.zeros(5)] * 2, [1, 2], rng, SR, gap_ms=(100, 50))
    with one_line_error(ValueError, "one-dimensional"):
        fsdd.connect([np.zeros((5, 2))], [1], rng, SR)


def test_connected_utterance_is_deterministic_and_draws_from_the_pool(dataset):
    pool = fsdd.split_by_take(fsdd.index(dataset))["train"]
    loads = []
    load = lambda p: loads.append(p) or read_wav(p)
    corpus = fsdd.connected_corpus(pool, 12, 5, load, min_digits=2, max_digits=4)
    assert {len(t) for _, t in corpus} == {2, 3, 4}
    assert set(loads) <= {r.path for r in pool}
    x, text = fsdd.connected_utterance(pool, 7, 5, read_wav, min_digits=2, max_digits=4)
    assert text == corpus[7][1] and np.array_equal(x, corpus[7][0])
    clips = sum(100 + 10 * int(d) for d in text)
    assert clips + (len(text) - 1) * 400 <= len(x) <= clips + (len(text) - 1) * 2400 + 2 * 1200
    assert len(np.flatnonzero(x)) == clips
    with one_line_error(ValueError, "min_digits <= max_digits"):
        fsdd.connected_utterance(pool, 0, 0, read_wav, min_digits=4, max_digits=2)
    with one_line_error(ValueError, "pool of recordings is empty"):
        fsdd.connected_utterance([], 0, 0, read_wav)


@pytest.mark.skipif(not (FSDD / "recordings").is_dir(), reason=f"FSDD not found at {FSDD}")
def test_real_fsdd_index_splits_and_a_few_clips():
    recs = fsdd.index(FSDD)
    assert len(recs) == 3000
    assert {r.speaker for r in recs} == {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    split = fsdd.split_by_take(recs)
    assert {k: len(v) for k, v in split.items()} == {"train": 2400, "valid": 300, "test": 300}
    assert len(fsdd.split_by_speaker(recs, ["theo"], ["lucas"])["train"]) == 2000
    x, text = fsdd.connected_utterance(split["test"], 0, 0, read_wav, min_digits=3, max_digits=3)
    assert len(text) == 3 and x.dtype == np.float32 and len(x) > 3 * 0.1 * SR
