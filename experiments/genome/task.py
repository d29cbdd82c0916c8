"""Genomic sequence classification on the shared harness: DNA read as nucleotides (one-hot) or
k-mers by a (Bi)RNN, optionally strand-invariant.

Data (``data.py``, readers in ``sources.py``, encodings in ``sequences.py``): generated
sequences with a planted motif (offline default), the UCI splice-junction CSV, CSV/TSV tables,
FASTA with labels in the headers or one file per class; IUPAC ambiguity codes read as the mean
of the bases they stand for; a random split or k-fold cross-validation (``data.split=folds``;
``python -m benchmarks.cross_validate`` runs every fold).

Model (``model.py``): ``model.inputs`` ``onehot`` or ``kmer`` (``model.k``, ``model.kmer_stride``,
``model.embed_size``), the configured RNN (``model.cell``, ``hidden_size``, ``num_layers``,
``bidirectional``), pooling over the valid positions (``model.pooling``), an MLP head.
Both strands: ``model.rc_augment`` trains on the reverse complement of each example with
probability 1/2; ``model.strand_average`` averages the logits of a sequence and of its reverse
complement, so both strands get the same prediction.

Loss: mean cross-entropy over real rows. Metrics over a split: ``accuracy``, ``macro_f1``,
``nll``, ``error_<i>`` (1 - recall of class ``i``, the class names in ``labels.json``) and the
confusion counts ``confusion_<true>_<pred>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from experiments.classification import task as classification
from experiments.genome.data import SOURCES, SPLITS, make_data  # noqa: F401
from experiments.genome.model import INPUTS, POOLINGS, DNAClassifier
from experiments.genome.saliency import BASELINES, TARGETS, saliency
from rnn_research import configured, io
from rnn_research.configured import make_rnn
from rnn_research.train import validate as v

LABELS_FILE = "labels.json"
ARTEFACTS = (LABELS_FILE,)
TRAINING_ONLY = (*configured.TRAINING_ONLY, "rc_augment")
CONFIG_RULES = {
    "data.source": v.one_of(*SOURCES),
    "data.split": v.one_of(*SPLITS),
    "data.folds": v.int_at_least(2),
    "data.fold": v.int_at_least(0),
    "data.split_seed": v.int_at_least(0),
    "data.test_fraction": v.fraction(),
    "data.valid_fraction": v.fraction(),
    "data.length": v.int_at_least(0),
    "data.deduplicate": v.boolean(),
    "data.num_sequences": v.int_at_least(2),
    "data.generated_length": v.int_at_least(1),
    "data.eval_batch_size": v.int_at_least(0),
    "model.inputs": v.one_of(*INPUTS),
    "model.k": v.int_at_least(1),
    "model.kmer_stride": v.int_at_least(1),
    "model.embed_size": v.int_at_least(1),
    "model.pooling": v.one_of(*POOLINGS),
    "model.head_hidden": v.int_at_least(0),
    "model.rc_augment": v.boolean(),
    "model.strand_average": v.boolean(),
    "saliency.split": v.one_of("train", "valid", "test"),
    "saliency.num_sequences": v.int_at_least(0),
    "saliency.target": v.one_of(*TARGETS),
    "saliency.steps": v.int_at_least(1),
    "saliency.baseline": v.one_of(*BASELINES),
}
CONFIG_NOTES = {"data.length": " (0: any length)", "data.eval_batch_size": " (0: train.batch_size)"}


def prepare(config: ml_collections.ConfigDict, workdir: Path, info: Mapping[str, Any]) -> None:
    """Prints what the run reads; saves the label names (``labels.json``) or refuses other ones."""
    print(f"data: {info['description']}", flush=True)
    path = Path(workdir) / LABELS_FILE
    if path.exists():
        saved = classification.read_labels(path)
        if saved != info["label_names"]:
            raise ValueError(f"{path} has labels {saved}, the data {info['label_names']}; use a new --workdir")
    else:
        io.atomic_write_json(path, {"labels": info["label_names"]})


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> DNAClassifier:
    m = config.model
    from experiments.genome import sequences

    return DNAClassifier(
        num_classes=info["num_classes"],
        rnn=make_rnn(m),
        inputs=m.inputs,
        vocab_size=sequences.kmer_vocab_size(m.k) if m.inputs == "kmer" else 0,
        embed_size=m.embed_size,
        pooling=m.pooling,
        head_hidden=m.head_hidden,
        dropout=m.dropout,
        strand_average=m.strand_average,
    )


def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["inputs"], batch["lengths"], batch["inputs_rc"])


def loss_and_metrics(
    model: DNAClassifier, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    labels, weights = batch["labels"], batch["weights"]
    logits = model.apply(
        variables,
        batch["inputs"],
        batch["lengths"],
        batch["inputs_rc"],
        deterministic=not train,
        rngs={"dropout": rng},
    )
    xent = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    count = jnp.sum(weights)
    predicted = jnp.argmax(logits, axis=-1)
    metrics = {
        "total_count": count,
        "total_correct": jnp.sum(weights * (predicted == labels)),
        "total_xent": jnp.sum(weights * xent),
    }
    for t in range(logits.shape[-1]):
        for p in range(logits.shape[-1]):
            metrics[f"total_confusion_{t}_{p}"] = jnp.sum(weights * ((labels == t) & (predicted == p)))
    return jnp.sum(weights * xent) / jnp.maximum(count, 1.0), (metrics, carry)


def finalize_metrics(config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
    """Classification's accuracy, macro F1, NLL and confusion counts, plus ``error_<i>`` per class."""
    out = classification.finalize_metrics(config, values)
    if "accuracy" not in out:
        return out
    confusion = {tuple(map(int, k.split("_")[1:])): v for k, v in out.items() if k.startswith("confusion_")}
    classes = 1 + max(t for t, _ in confusion)
    for c in range(classes):
        actual = sum(confusion[c, p] for p in range(classes))
        out[f"error_{c}"] = 1.0 - confusion[c, c] / actual if actual else float("nan")
    return out


CONSOLE_METRICS = ("accuracy", "macro_f1", "nll", "error_0", "error_1", "error_2", "grad_norm")
MODES = {"saliency": saliency}
