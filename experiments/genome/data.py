"""What a genome run reads: the records of ``data.source``, their split, the encoded arrays of
both strands, and the batches (``make_data``).

Sources (``data.source``; readers in ``sources.py``): ``motifs`` (the offline default, generated:
``sources.generate_motifs``), ``splice`` (the UCI splice-junction CSV), ``table`` (CSV/TSV with
``data.sequence_column`` and ``data.label_column``), ``fasta`` (``>name label`` records),
``fasta_folder`` (one FASTA file per class). ``data.labels`` declares the label set (and its
order; "" = the sorted labels found); ``data.length > 0`` requires every sequence to have that
length; ``data.deduplicate`` keeps only the first copy of a sequence that occurs more than once
(the UCI splice file repeats 125 sequences, 185 extra copies, one of them under another label),
so that no test sequence is also a training sequence.

Splits (``data.split``): ``random`` (``data.test_fraction`` and ``data.valid_fraction`` of a
permutation by ``data.split_seed``) or ``folds`` (k-fold cross-validation: the permutation cut
into ``data.folds`` near-equal folds; fold ``data.fold`` is the test set, and the last
``data.valid_fraction`` of the other folds' examples is held out as valid to choose the
checkpoint; the rest trains). The permutation depends on ``data.split_seed`` only, so every
fold of one cross-validation partitions the same data.

Arrays: one-hot ``[N, W, 4]`` (``model.inputs=onehot``) or k-mer ids ``[N, W']`` padded with the
padding id (``kmer``), W the longest sequence; the reverse complement of every sequence in the
same layout (``inputs_rc``). Training with ``model.rc_augment`` reads each example's reverse
complement instead with probability 1/2 (a pure function of the seed and the step).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import ml_collections
import numpy as np

from experiments.genome import sequences as seq
from experiments.genome import sources
from rnn_research import sharding
from rnn_research.data.fields import comma_list
from rnn_research.experiment import Data

SOURCES = ("motifs", "splice", "table", "fasta", "fasta_folder")
SPLITS = ("random", "folds")


class Encoded(NamedTuple):
    """A split's arrays: ``inputs`` and ``inputs_rc`` (``[N, W, 4]`` float32 or ``[N, W']`` int32),
    ``lengths [N]``, ``labels [N]`` (int32 class ids), and the records' ``names``."""

    inputs: np.ndarray
    inputs_rc: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    names: list[str]


def load_records(data: ml_collections.ConfigDict) -> tuple[sources.Records, str]:
    """The records ``data.source`` names and a one-line description."""
    if data.source == "motifs":
        records, _ = sources.generate_motifs(
            data.num_sequences, length=data.generated_length, motif=data.motif, seed=data.generator_seed
        )
        text = f"generated: {data.num_sequences:,} sequences of {data.generated_length} (motif {data.motif})"
        return records, text
    if data.source not in SOURCES:
        raise ValueError(f"data.source={data.source!r} is not one of {list(SOURCES)}")
    if not data.path:
        raise ValueError(f"data.path is required with data.source={data.source!r}")
    path = Path(data.path).expanduser()
    if data.source == "splice":
        records = sources.read_splice(path)
    elif data.source == "table":
        records = sources.read_table(path, data.sequence_column, data.label_column)
    elif data.source == "fasta":
        records = sources.read_fasta(path)
    else:
        records = sources.read_fasta_folder(path)
    return records, f"{path.name}: {len(records.labels):,} sequences"


def deduplicate(records: sources.Records) -> tuple[sources.Records, int, int]:
    """The records with every repeat of an earlier sequence removed (the first copy kept), the
    number removed, and how many of those carried another label than the copy kept."""
    seen: dict[bytes, str] = {}
    keep, conflicts = [], 0
    for i, (codes, label) in enumerate(zip(records.sequences, records.labels)):
        key = codes.tobytes()
        if key in seen:
            conflicts += seen[key] != label
            continue
        seen[key] = label
        keep.append(i)
    picked = sources.Records(*([field[i] for i in keep] for field in records))
    return picked, len(records.labels) - len(keep), conflicts


def label_names(records: sources.Records, declared: str) -> list[str]:
    """``data.labels`` (comma-separated, in that order) checked against the records, or the sorted
    labels found."""
    if declared:
        names = comma_list(declared, "data.labels")
        sources.check_labels(records, names)
        return names
    return sorted(set(records.labels))


def split_indices(n: int, data: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """``{"train", "valid", "test"}`` index arrays of ``n`` examples (see the module docstring)."""
    if data.split not in SPLITS:
        raise ValueError(f"data.split={data.split!r} is not one of {list(SPLITS)}")
    order = np.random.default_rng(data.split_seed).permutation(n)
    if data.split == "folds":
        if not 2 <= data.folds <= n:
            raise ValueError(f"data.folds={data.folds} must lie in [2, {n}] (the number of sequences)")
        if not 0 <= data.fold < data.folds:
            raise ValueError(f"data.fold={data.fold} must lie in [0, data.folds={data.folds})")
        parts = np.array_split(order, data.folds)
        test = parts[data.fold]
        rest = np.concatenate([p for i, p in enumerate(parts) if i != data.fold])
    else:
        n_test = int(round(n * data.test_fraction))
        test, rest = order[:n_test], order[n_test:]
    n_valid = int(round(len(rest) * data.valid_fraction))
    train, valid = rest[: len(rest) - n_valid], rest[len(rest) - n_valid :]
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        if not len(part):
            raise ValueError(
                f"data: the {name} split of {n} sequences is empty (data.split={data.split!r}, "
                f"data.test_fraction={data.test_fraction}, data.valid_fraction={data.valid_fraction})"
            )
    return {"train": train, "valid": valid, "test": test}


def encode(codes: list[np.ndarray], model: ml_collections.ConfigDict, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` (one int8 array per sequence) -> padded inputs and their lengths (see the module docstring)."""
    if model.inputs == "kmer":
        pad = seq.kmer_vocab_size(model.k) - 1
        rows = [seq.kmers(c, model.k, model.kmer_stride) for c in codes]
        out = np.full((len(rows), (width - model.k) // model.kmer_stride + 1), pad, np.int32)
    else:
        rows = [seq.one_hot(c) for c in codes]
        out = np.zeros((len(rows), width, 4), np.float32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out, np.asarray([len(r) for r in rows], np.int32)


def encode_split(records: sources.Records, index: np.ndarray, names: list[str], model: Any, width: int) -> Encoded:
    codes = [records.sequences[i] for i in index]
    inputs, lengths = encode(codes, model, width)
    inputs_rc, _ = encode([seq.reverse_complement(c) for c in codes], model, width)
    ids = {name: i for i, name in enumerate(names)}
    labels = np.asarray([ids[records.labels[i]] for i in index], np.int32)
    return Encoded(inputs, inputs_rc, lengths, labels, [records.names[i] for i in index])


def prepare_splits(config: ml_collections.ConfigDict) -> tuple[dict[str, Encoded], list[str], str]:
    """The encoded ``train`` / ``valid`` / ``test`` splits, the label names, a description."""
    data, model = config.data, config.model
    records, description = load_records(data)
    if data.length > 0:
        sources.check_length(records, data.length)
    if data.deduplicate:
        records, removed, conflicts = deduplicate(records)
        description += f" ({removed} repeated sequences removed, {conflicts} of them with another label)"
    names = label_names(records, data.labels)
    width = max(len(s) for s in records.sequences)
    if model.inputs == "kmer" and min(len(s) for s in records.sequences) < model.k:
        short = min(range(len(records.sequences)), key=lambda i: len(records.sequences[i]))
        raise ValueError(f"model.k={model.k}: {records.where[short]} is shorter than k")
    index = split_indices(len(records.labels), data)
    splits = {k: encode_split(records, v, names, model, width) for k, v in index.items()}
    sizes = ", ".join(f"{k} {len(v):,}" for k, v in index.items())
    return splits, names, f"{description}; {sizes}; classes {', '.join(names)}"


def make_data(config: ml_collections.ConfigDict) -> Data:
    splits, names, description = prepare_splits(config)
    train, global_batch = splits["train"], config.train.batch_size
    rows = sharding.host_slice(global_batch)
    steps_per_epoch = len(train.labels) // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"train.batch_size={global_batch} is larger than the {len(train.labels)} training sequences")
    augment = bool(config.model.rc_augment)

    def batch_at(step: int) -> dict[str, np.ndarray]:
        epoch, position = divmod(step, steps_per_epoch)
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train.labels))
        chosen = order[position * global_batch : (position + 1) * global_batch]
        x, x_rc = train.inputs[chosen], train.inputs_rc[chosen]
        if augment:  # each example read as its reverse complement with probability 1/2
            flip = np.random.default_rng([config.seed, step, 1]).random(global_batch) < 0.5
            where = flip.reshape((-1,) + (1,) * (x.ndim - 1))
            x, x_rc = np.where(where, x_rc, x), np.where(where, x, x_rc)
        batch = {
            "inputs": x,
            "inputs_rc": x_rc,
            "lengths": train.lengths[chosen],
            "labels": train.labels[chosen],
            "weights": np.ones(global_batch, np.float32),
        }
        return {k: v[rows] for k, v in batch.items()}

    def train_batches(start: int) -> Iterator[dict[str, np.ndarray]]:
        step = start
        while True:
            yield batch_at(step)
            step += 1

    eval_batch = config.data.eval_batch_size or global_batch
    eval_rows = sharding.host_slice(eval_batch)

    def eval_set(part: Encoded) -> Any:
        def batches() -> Iterator[dict[str, np.ndarray]]:
            for start in range(0, len(part.labels), eval_batch):
                n = min(eval_batch, len(part.labels) - start)
                batch = {}
                for key in ("inputs", "inputs_rc", "lengths", "labels"):
                    value = getattr(part, key)
                    padded = np.zeros((eval_batch, *value.shape[1:]), value.dtype)
                    padded[:n] = value[start : start + n]
                    batch[key] = padded
                batch["lengths"][n:] = 1  # padding rows: one (zero) position, weight 0
                batch["weights"] = (np.arange(eval_batch) < n).astype(np.float32)
                yield {k: v[eval_rows] for k, v in batch.items()}

        return batches

    info = {
        "label_names": names,
        "num_classes": len(names),
        "steps_per_epoch": steps_per_epoch,
        "description": description,
        "splits": splits,
    }
    return Data(train_batches, {"valid": eval_set(splits["valid"]), "test": eval_set(splits["test"])}, info)
