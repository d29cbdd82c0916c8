"""What a speech run reads: utterances of ``data.source`` as normalised log-mel frames and symbol
ids, split into train / valid / test, and their batches (``make_data``).

Sources (``data.source``):

* ``dtmf`` (the offline default): generated touch-tone key strings (``dtmf.py`` states the rule);
  ``data.num_train`` / ``num_valid`` / ``num_test`` utterances by seeds ``data.generator_seed``,
  ``+ 1`` and ``+ 2``; symbols the 16 keys.
* ``fsdd``: the Free Spoken Digit Dataset (``data.path``; ``fsdd.py``). ``data.split``: ``take``
  (the official split: takes 0-4 test, 5-9 valid, 10-49 train) or ``speaker``
  (``data.test_speakers`` and ``data.valid_speakers`` held out, comma-separated).
  ``data.task``: ``connected`` (``num_*`` utterances of ``data.min_symbols`` .. ``max_symbols``
  recordings of one split joined with gaps, by seeds as for ``dtmf``; an extra eval set
  ``isolated`` holds the test split's single recordings) or ``isolated`` (each recording one
  utterance). Symbols the digits ``0123456789``.
* ``table``: a user's transcript table (``data.path``, CSV or TSV with ``path`` and ``text``
  columns; ``table.py``), split by ``data.valid_fraction`` / ``data.test_fraction`` of a
  permutation by ``data.split_seed``, or three tables ``train.*``, ``valid.*``, ``test.*`` in
  the folder ``data.path``. Symbols ``data.alphabet``, or every character of the training
  transcripts when it is empty; a valid or test symbol outside them is an error.

Features (``features.py``): ``data.num_mels`` log-mel channels of ``data.window_ms`` windows
every ``data.hop_ms``, plus ``data.deltas`` orders of deltas, at ``data.sample_rate`` (audio is
resampled to it); ``data.normalize``: ``global`` (mean and variance of the training frames),
``utterance`` (each utterance's own) or ``none``. A transcript must fit CTC after the model's
subsampling (its symbols plus one blank between repeats, at most the frames): an utterance that
does not is a one-line error naming it.

Batches: ``features [B, T, F]`` padded with zeros to a bucket length, ``lengths [B]``,
``labels [B, L]`` (ids ``1 .. V``; 0 is the blank and pads), ``label_lengths [B]``, ``weights``.
Training batches are shuffled per epoch and grouped by length, a pure function of the seed and
the step (``rnn_research.data.batching``), so a resumed run sees the batches it would have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import ml_collections
import numpy as np

from experiments.speech import ctc, features
from rnn_research import sharding
from rnn_research.data import batching
from rnn_research.experiment import Data

SOURCES = ("dtmf", "fsdd", "table")
SPLITS = ("take", "speaker")
TASKS = ("connected", "isolated")
NORMALIZE = ("global", "utterance", "none")
DIGITS = "0123456789"
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


class Utterances(NamedTuple):
    """One split: audio (``float32 [N_i]``), transcripts and where each came from."""

    audio: list[np.ndarray]
    texts: list[str]
    names: list[str]


class Prepared(NamedTuple):
    """One split as the model reads it: ``features [T_i, F]`` (normalised) and ``labels [L_i]``."""

    features: list[np.ndarray]
    labels: list[np.ndarray]
    texts: list[str]
    names: list[str]


def _speakers(value: str) -> list[str]:
    return [s.strip() for s in str(value).split(",") if s.strip()]


def _generated(count: int, make: Callable[[int], tuple[np.ndarray, str]], what: str) -> Utterances:
    made = [make(i) for i in range(count)]
    return Utterances([a for a, _ in made], [t for _, t in made], [f"{what}[{i}]" for i in range(count)])


def load_dtmf(data: ml_collections.ConfigDict) -> tuple[dict[str, Utterances], str, str]:
    from experiments.speech import dtmf

    counts = {"train": data.num_train, "valid": data.num_valid, "test": data.num_test}
    splits = {}
    for offset, (name, count) in enumerate(counts.items()):
        seed = data.generator_seed + offset
        splits[name] = _generated(
            count,
            lambda i, seed=seed: dtmf.generate(
                i, seed, data.sample_rate, min_keys=data.min_symbols, max_keys=data.max_symbols
            ),
            f"dtmf(seed={seed})",
        )
    return splits, dtmf.KEYS, f"generated DTMF key strings (seed {data.generator_seed})"


def load_fsdd(data: ml_collections.ConfigDict) -> tuple[dict[str, Utterances], str, str]:
    from experiments.speech import fsdd

    if not data.path:
        raise ValueError("data.path is required with data.source='fsdd' (the dataset folder or its recordings/)")
    recordings = fsdd.index(Path(data.path).expanduser())
    if data.split == "take":
        parts = fsdd.split_by_take(recordings)
        how = "official take split (test takes 0-4, valid 5-9)"
    else:
        parts = fsdd.split_by_speaker(recordings, _speakers(data.test_speakers), _speakers(data.valid_speakers))
        how = f"speakers held out (test {data.test_speakers}, valid {data.valid_speakers})"
    load = fsdd.loader(data.sample_rate)  # each recording read once, shared by the utterances that draw it

    def single(part: Sequence[Any]) -> Utterances:
        return Utterances([load(r.path) for r in part], [str(r.digit) for r in part], [r.path.name for r in part])

    if data.task == "isolated":
        return {k: single(parts[k]) for k in ("train", "valid", "test")}, DIGITS, f"FSDD isolated digits, {how}"
    counts = {"train": data.num_train, "valid": data.num_valid, "test": data.num_test}
    splits = {}
    for offset, (name, count) in enumerate(counts.items()):
        seed = data.generator_seed + offset

        def make(i: int, pool: Sequence[Any] = parts[name], seed: int = seed) -> tuple[np.ndarray, str]:
            return fsdd.connected_utterance(
                pool, i, seed, load, data.sample_rate, min_digits=data.min_symbols, max_digits=data.max_symbols
            )

        splits[name] = _generated(count, make, f"fsdd-{name}(seed={seed})")
    splits["isolated"] = single(parts["test"])
    what = f"FSDD connected digits ({data.min_symbols}-{data.max_symbols} a row), {how}"
    return splits, DIGITS, what


def _table_files(folder: Path) -> dict[str, Path] | None:
    found = {}
    for name in ("train", "valid", "test"):
        hits = [folder / f"{name}{s}" for s in TABLE_SUFFIXES if (folder / f"{name}{s}").is_file()]
        if hits:
            found[name] = hits[0]
    if not found:
        return None
    if len(found) < 3:
        missing = [n for n in ("train", "valid", "test") if n not in found]
        raise ValueError(f"{folder} has tables for {', '.join(found)} but not for {', '.join(missing)}")
    return found


def load_table(data: ml_collections.ConfigDict) -> tuple[dict[str, Utterances], str, str]:
    from experiments.speech import audio, table

    if not data.path:
        raise ValueError("data.path is required with data.source='table' (a CSV/TSV with path and text columns)")
    path = Path(data.path).expanduser()
    tables = _table_files(path) if path.is_dir() else None
    if path.is_dir() and tables is None:
        raise ValueError(f"{path}: a folder needs train.csv, valid.csv and test.csv (or .tsv); or name one table")
    rows_of = {k: table.read_table(v) for k, v in tables.items()} if tables else None
    if rows_of is None:
        rows = table.read_table(path)
        order = np.random.default_rng(data.split_seed).permutation(len(rows))
        n_test, n_valid = round(len(rows) * data.test_fraction), round(len(rows) * data.valid_fraction)
        picks = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid], "train": order[n_test + n_valid :]}
        rows_of = {k: [rows[i] for i in sorted(v)] for k, v in picks.items()}
        for name, part in rows_of.items():
            if not part:
                raise ValueError(f"{path}: the {name} split of its {len(rows)} rows is empty (data.*_fraction)")
    seen: dict[Path, str] = {}
    for name, part in rows_of.items():
        for p, _ in part:
            if p in seen and tables:
                raise ValueError(
                    f"{p} is in both {tables[seen[p]]} and {tables[name]}: a recording belongs to one split"
                )
            seen[p] = name
    alphabet = data.alphabet or "".join(sorted({c for _, text in rows_of["train"] for c in text}))
    for name, part in rows_of.items():
        table.check_vocabulary(part, alphabet, tables[name] if tables else path)
    splits = {
        k: Utterances([audio.read_audio(p, data.sample_rate) for p, _ in v], [t for _, t in v], [str(p) for p, _ in v])
        for k, v in rows_of.items()
    }
    return splits, alphabet, f"{path} (transcript table)"


LOADERS = {"dtmf": load_dtmf, "fsdd": load_fsdd, "table": load_table}


def featurize(samples: np.ndarray, data: ml_collections.ConfigDict) -> np.ndarray:
    """``float32 [N]`` audio -> ``[T, num_mels * (1 + deltas)]`` log-mel frames (not normalised)."""
    frames = features.log_mel(
        samples, data.sample_rate, window_ms=data.window_ms, hop_ms=data.hop_ms, num_mels=data.num_mels
    )
    return features.add_deltas(frames, data.deltas) if data.deltas else frames


def encode(text: str, alphabet: str, where: str) -> np.ndarray:
    """A transcript as ids ``1 .. V`` (0 is the blank); a symbol outside ``alphabet`` names ``where``."""
    ids = []
    for c in text:
        i = alphabet.find(c)
        if i < 0:
            raise ValueError(f"{where}: transcript {text!r} has the symbol {c!r}, not in the alphabet {alphabet!r}")
        ids.append(i + 1)
    return np.asarray(ids, np.int32)


def check_fits(frames: int, labels: np.ndarray, subsample: int, where: str, hop_ms: float) -> None:
    """A CTC alignment needs ``len(labels)`` + (adjacent repeats) frames after subsampling."""
    need, have = ctc.min_frames([int(x) for x in labels]), math.ceil(frames / subsample)
    if need > have:
        raise ValueError(
            f"{where}: its {len(labels)} symbols need at least {need} frames under CTC, but its "
            f"{frames * hop_ms / 1000:.2f} s give {have} after model.subsample={subsample}"
        )


def featurize_split(part: Utterances, data: ml_collections.ConfigDict) -> list[np.ndarray]:
    """Each utterance's frames (not normalised); a feature error names the utterance."""
    out = []
    for samples, name in zip(part.audio, part.names):
        try:
            out.append(featurize(samples, data))
        except features.FeatureError as e:
            raise ValueError(f"{name}: {e}") from None
    return out


def normalized(frames: np.ndarray, mode: str, normalizer: Any) -> np.ndarray:
    """``frames [T, F]`` as the model reads them under ``data.normalize``."""
    if mode == "utterance":
        return features.normalize_utterance(frames)
    if mode == "global":
        return features.normalize(frames, normalizer)
    return frames


def prepare_split(
    part: Utterances,
    frames: list[np.ndarray],
    alphabet: str,
    data: ml_collections.ConfigDict,
    subsample: int,
    normalizer: Any,
) -> Prepared:
    feats, labels = [], []
    for f, text, name in zip(frames, part.texts, part.names):
        ids = encode(text, alphabet, name)
        if not len(ids):
            raise ValueError(f"{name}: an empty transcript (CTC needs at least one symbol)")
        check_fits(len(f), ids, subsample, name, data.hop_ms)
        feats.append(normalized(f, data.normalize, normalizer).astype(np.float32))
        labels.append(ids)
    return Prepared(feats, labels, list(part.texts), list(part.names))


def load(config: ml_collections.ConfigDict) -> tuple[dict[str, Prepared], str, Any, str]:
    """The prepared splits, the alphabet, the normalizer (``None`` unless global, fitted on the
    training frames only) and a description."""
    data = config.data
    if data.source not in LOADERS:
        raise ValueError(f"data.source={data.source!r} is not one of {list(SOURCES)}")
    splits, alphabet, what = LOADERS[data.source](data)
    frames = {k: featurize_split(v, data) for k, v in splits.items()}
    normalizer = features.fit_normalizer(frames["train"]) if data.normalize == "global" else None
    prepared = {
        k: prepare_split(v, frames[k], alphabet, data, config.model.subsample, normalizer) for k, v in splits.items()
    }
    return prepared, alphabet, normalizer, what


def describe(splits: dict[str, Prepared], hop_ms: float) -> str:
    return ", ".join(
        f"{k} {len(v.features):,} utterances / {sum(len(f) for f in v.features) * hop_ms / 60e3:.1f} min"
        for k, v in splits.items()
    )


def make_data(config: ml_collections.ConfigDict) -> Data:
    data, global_batch = config.data, config.train.batch_size
    splits, alphabet, normalizer, what = load(config)
    train = splits["train"]
    lengths = [len(f) for part in splits.values() for f in part.features]
    buckets = batching.bucket_lengths(lengths, data.num_buckets, multiple=8 * config.model.subsample)
    max_labels = max(len(x) for part in splits.values() for x in part.labels)
    indices_at = batching.step_indices([len(f) for f in train.features], global_batch, config.seed)
    rows = sharding.host_slice(global_batch)

    def as_batch(part: Prepared, chosen: Sequence[int], size: int) -> dict[str, np.ndarray]:
        labels = np.zeros((len(chosen), max_labels), np.int32)
        for j, i in enumerate(chosen):
            labels[j, : len(part.labels[i])] = part.labels[i]
        return batching.pad_batch(
            {"features": [part.features[i] for i in chosen]},
            buckets,
            size,
            per_row={"labels": labels, "label_lengths": np.asarray([len(part.labels[i]) for i in chosen], np.int32)},
        )

    def batch_at(step: int) -> dict[str, np.ndarray]:
        batch = as_batch(train, [int(i) for i in indices_at(step)], global_batch)
        return {k: v[rows] for k, v in batch.items()}

    def train_batches(start: int) -> Iterator[dict[str, np.ndarray]]:
        return batching.step_stream(batch_at, start)

    eval_batch = data.eval_batch_size or global_batch
    eval_rows = sharding.host_slice(eval_batch)

    def eval_set(part: Prepared) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
        order = np.argsort([len(f) for f in part.features], kind="stable")

        def batches() -> Iterator[dict[str, np.ndarray]]:
            for start in range(0, len(order), eval_batch):
                batch = as_batch(part, [int(i) for i in order[start : start + eval_batch]], eval_batch)
                yield {k: v[eval_rows] for k, v in batch.items()}

        return batches

    info = {
        "alphabet": alphabet,
        "num_symbols": len(alphabet),
        "num_features": int(train.features[0].shape[1]),
        "normalizer": normalizer,
        "steps_per_epoch": batching.steps_per_epoch(len(train.features), global_batch),
        "description": f"{what}: {describe(splits, data.hop_ms)}",
        "splits": splits,
    }
    eval_sets = {k: eval_set(v) for k, v in splits.items() if k != "train"}
    return Data(train_batches, eval_sets, info)
