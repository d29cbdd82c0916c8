"""What a music run reads: the pieces of ``data.source`` split into train / valid / test, and the
batches of next-frame pairs (``make_data``).

Sources (``data.source``):

* ``generated`` (the offline default): four-part chord progressions with a stated rule
  (``generated.py``); ``data.num_pieces`` pieces by ``data.generator_seed``, split by
  ``data.valid_fraction`` / ``data.test_fraction`` of a permutation by ``data.split_seed``.
* ``mat``: Boulanger-Lewandowski et al.'s MATLAB piano rolls (``data.path``: ``JSB_Chorales.mat``,
  ``Nottingham.mat``, any file with ``traindata``, ``validdata``, ``testdata`` of ``[T, 88]``
  binary rolls); the file's own split.
* ``midi``: a folder of MIDI files turned into rolls at ``data.frames_per_beat`` frames a quarter
  note (``rolls.py``); its ``train/``, ``valid/`` and ``test/`` subfolders when it has them (some
  but not all three is an error), else a split by fractions as for ``generated``.

A piece of ``T`` frames gives ``T - 1`` predictions: ``inputs`` = frames ``0 .. T-2``,
``targets`` = frames ``1 .. T-1`` (the protocol of Bai, Kolter & Koltun's code for these sets:
the first frame is not scored). Training batches hold ``train.batch_size`` pieces, shuffled per
epoch and grouped by length (``rnn_research.data.batching``); with ``data.max_train_frames > 0``
a longer training piece is cut to a window of that many predictions at a random start, which
bounds a step's cost on long pieces; with ``data.transpose = k > 0`` each training piece is
shifted by a uniform whole number of semitones in ``[-k, k]``, narrowed for that piece so that no
sounding key leaves the roll (augmentation: the test set is never shifted). Both are pure
functions of the seed, the step and the piece, so a resumed run sees the batches it would have. Evaluation always
reads whole pieces from their first frame. Rows are padded to one of a few bucket lengths; padded
steps and padded rows carry no weight.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from experiments.music import rolls
from rnn_research import sharding
from rnn_research.data import batching
from rnn_research.experiment import Data

SOURCES = ("generated", "mat", "midi")
SPLIT_NAMES = ("train", "valid", "test")


def split_by_fractions(pieces: rolls.Pieces, data: ml_collections.ConfigDict, what: str) -> dict[str, rolls.Pieces]:
    """``{"train", "valid", "test"}`` from a permutation of the pieces by ``data.split_seed``."""
    n = len(pieces.rolls)
    order = np.random.default_rng(data.split_seed).permutation(n)
    n_test, n_valid = int(round(n * data.test_fraction)), int(round(n * data.valid_fraction))
    parts = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid], "train": order[n_test + n_valid :]}
    for name, part in parts.items():
        if not len(part):
            raise ValueError(
                f"data: the {name} split of the {n} pieces of {what} is empty (data.valid_fraction="
                f"{data.valid_fraction}, data.test_fraction={data.test_fraction})"
            )
    return {k: rolls.Pieces([pieces.rolls[i] for i in v], [pieces.names[i] for i in v]) for k, v in parts.items()}


def load_splits(data: ml_collections.ConfigDict) -> tuple[dict[str, rolls.Pieces], str]:
    """The split pieces ``data.source`` names and a one-line description."""
    if data.source not in SOURCES:
        raise ValueError(f"data.source={data.source!r} is not one of {list(SOURCES)}")
    if data.source == "generated":
        from experiments.music import generated

        made = rolls.Pieces(*generated.generate_chorales(data.num_pieces, seed=data.generator_seed))
        what = f"generated chorales (seed {data.generator_seed})"
        return split_by_fractions(made, data, what), what
    if not data.path:
        raise ValueError(f"data.path is required with data.source={data.source!r}")
    path = Path(data.path).expanduser()
    if data.source == "mat":
        return rolls.read_mat(path), path.name
    parts = [path / name for name in SPLIT_NAMES]
    present = [p.name for p in parts if p.is_dir()]
    if present and len(present) < len(parts):
        missing = [name for name in SPLIT_NAMES if name not in present]
        raise ValueError(
            f"{path} has {'/, '.join(present)}/ but no {'/, '.join(missing)}/: give all three split folders, "
            "or none to split the files by data.valid_fraction and data.test_fraction"
        )
    if present:
        splits, dropped = {}, 0
        for name, part in zip(SPLIT_NAMES, parts):
            splits[name], lost = rolls.read_midi_folder(part, frames_per_beat=data.frames_per_beat)
            dropped += lost
    else:
        pieces, dropped = rolls.read_midi_folder(path, frames_per_beat=data.frames_per_beat)
        splits = split_by_fractions(pieces, data, str(path))
    what = f"{path} (MIDI, {data.frames_per_beat} frames per beat)"
    if dropped:
        what += f"; {dropped} notes outside the {rolls.KEYS} keys dropped"
    return splits, what


def check_pieces(splits: dict[str, rolls.Pieces]) -> int:
    """Every piece has at least two frames (one prediction) and every roll the same width: that width."""
    widths = {r.shape[1] for part in splits.values() for r in part.rolls}
    if len(widths) != 1:
        raise ValueError(f"the pieces have rolls of different widths {sorted(widths)}")
    for part in splits.values():
        for roll, name in zip(part.rolls, part.names):
            if len(roll) < 2:
                raise ValueError(f"{name}: a piece of {len(roll)} frame(s) has no next frame to predict")
    return widths.pop()


def key_log_odds(train: rolls.Pieces) -> tuple[float, ...]:
    """Each key's log-odds of sounding in the training frames (add-one smoothed): the heads' initial biases."""
    frames = np.concatenate(train.rolls)
    rate = (frames.sum(axis=0, dtype=np.float64) + 1.0) / (len(frames) + 2.0)
    return tuple(float(x) for x in np.log(rate / (1.0 - rate)))


def transpose_range(roll: np.ndarray, k: int) -> tuple[int, int]:
    """The shifts ``[low, high]`` within ``[-k, k]`` that keep every sounding key of ``roll [T, K]`` on the roll."""
    sounding = np.flatnonzero(roll.any(axis=0))
    if not len(sounding):
        return 0, 0
    return max(-k, -int(sounding[0])), min(k, roll.shape[1] - 1 - int(sounding[-1]))


def shift(roll: np.ndarray, semitones: int) -> np.ndarray:
    """``roll [T, K]`` moved up (``> 0``) or down by ``semitones`` keys (the caller keeps its notes on the roll)."""
    out = np.zeros_like(roll)
    if semitones >= 0:
        out[:, semitones:] = roll[:, : roll.shape[1] - semitones]
    else:
        out[:, :semitones] = roll[:, -semitones:]
    return out


def describe(splits: dict[str, rolls.Pieces]) -> str:
    return ", ".join(
        f"{k} {len(v.rolls):,} pieces / {sum(len(r) for r in v.rolls):,} frames" for k, v in splits.items()
    )


def make_data(config: ml_collections.ConfigDict) -> Data:
    data, global_batch = config.data, config.train.batch_size
    splits, what = load_splits(data)
    num_keys = check_pieces(splits)
    train = splits["train"]
    window = data.max_train_frames
    train_lengths = [len(r) - 1 if window <= 0 else min(len(r) - 1, window) for r in train.rolls]
    all_lengths = train_lengths + [len(r) - 1 for k in ("valid", "test") for r in splits[k].rolls]
    buckets = batching.bucket_lengths(all_lengths, data.num_buckets, multiple=16)
    indices_at = batching.step_indices(train_lengths, global_batch, config.seed)
    rows = sharding.host_slice(global_batch)

    def batch_at(step: int) -> dict[str, np.ndarray]:
        chosen = indices_at(step)
        pieces = []
        for i in chosen:
            roll, rng = train.rolls[i], np.random.default_rng([config.seed, step, int(i)])
            if 0 < window < len(roll) - 1:
                start = int(rng.integers(0, len(roll) - window))
                roll = roll[start : start + window + 1]
            if data.transpose > 0:
                low, high = transpose_range(roll, data.transpose)
                roll = shift(roll, int(rng.integers(low, high + 1)))
            pieces.append(roll)
        batch = batching.pad_batch(
            {"inputs": [r[:-1] for r in pieces], "targets": [r[1:] for r in pieces]}, buckets, global_batch
        )
        return {k: v[rows] for k, v in batch.items()}

    def train_batches(start: int) -> Iterator[dict[str, np.ndarray]]:
        return batching.step_stream(batch_at, start)

    eval_batch = data.eval_batch_size or global_batch
    eval_rows = sharding.host_slice(eval_batch)

    def eval_set(part: rolls.Pieces) -> Any:
        def batches() -> Iterator[dict[str, np.ndarray]]:
            sequences = {"inputs": [r[:-1] for r in part.rolls], "targets": [r[1:] for r in part.rolls]}
            for batch in batching.eval_batches(sequences, buckets, eval_batch):
                yield {k: v[eval_rows] for k, v in batch.items()}

        return batches

    info = {
        "num_keys": num_keys,
        "steps_per_epoch": batching.steps_per_epoch(len(train.rolls), global_batch),
        "description": f"{what}: {describe(splits)}",
        "splits": splits,
        "key_log_odds": key_log_odds(train),
    }
    return Data(train_batches, {"valid": eval_set(splits["valid"]), "test": eval_set(splits["test"])}, info)
