"""Sentiment analysis (text classification) on the shared harness: (Bi)RNN encoder, pooling, MLP head.

Model: embedding ``[V, E]`` (random, or GloVe-format vectors from ``data.embeddings``), plus with
``model.subword_buckets > 0`` the mean of the word's hashed character n-gram vectors
(:class:`experiments.classification.text.Subwords`; ``tokens`` then ``[B, T, 1 + K]``) -> word dropout (a word
id becomes ``<unk>`` with probability ``model.word_dropout``, its n-grams stay) -> dropout -> stacked
uni- or bidirectional RNN/LSTM/GRU over the valid prefix of each row (``lengths``; with
``model.encoder="bow"`` no encoder at all: the order-blind bag-of-words baseline) -> pooling
over the valid steps -> dropout -> MLP head (``model.head_hidden`` ReLU units, 0: linear) ->
logits over the classes. Pooling (``model.pooling``):

* ``last``: the state after the last valid token (bidirectional: forward at ``t = len - 1``
  concatenated with backward at ``t = 0``, i.e. each direction's final state);
* ``mean`` / ``max``: over valid steps only;
* ``attention``: ``a_t = softmax_t(v . tanh(W y_t + b))`` over valid steps, ``sum_t a_t y_t``.

Padding never changes a prediction: the encoder freezes state through padded steps and every
pooling masks them (tested against the same sentence padded to other lengths and batches).

Loss: mean cross-entropy over the real rows (padding rows have weight 0); with
``model.adversarial_eps > 0``, training adds the same loss at embeddings moved, per example, by
that fraction of their norm in the direction that raises the loss most
(:mod:`experiments.classification.adversarial`, Miyato et al. 2017; logged as ``adversarial_loss``). Metrics over a whole
split: ``accuracy``, ``macro_f1``, ``nll`` and the confusion matrix (``confusion_<true>_<pred>``
counts, in ``metrics.jsonl`` and TensorBoard).

``--mode=predict`` reads one text per line from ``predict.input`` (a file; ``-`` or empty:
stdin) and prints ``label<TAB>probability<TAB>text`` per non-blank line from the best checkpoint
of the workdir (the latest when none is marked best; optionally also written to
``predict.output`` as TSV).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.classification import adversarial, text
from experiments.classification import data as sentiment_data
from experiments.classification.model import POOLINGS, SentimentClassifier
from experiments.classification.prediction import (  # noqa: F401 -- the mode and its parts, as before
    LABELS_FILE,
    VOCAB_FILE,
    check_output,
    predict,
    predict_texts,
    read_labels,
    read_lines,
)
from rnn_research import configured
from rnn_research.configured import make_rnn
from rnn_research.data import batching
from rnn_research.data.utf8 import decode_utf8
from rnn_research.data.vocab import Vocab
from rnn_research.experiment import Data
from rnn_research.io import atomic_write_json, require_file
from rnn_research.train import validate as v

ARTEFACTS = (VOCAB_FILE, LABELS_FILE)  # fingerprinted with every checkpoint: inference refuses an edited one
ENCODERS = ("rnn", "bow")
TRAINING_ONLY = (*configured.TRAINING_ONLY, "word_dropout", "adversarial_eps")
# The data fields that decide the vocabulary and labels: prediction refuses others than the run's.
VOCAB_FIELDS = (
    "format",
    "path",
    "text_column",
    "label_column",
    "labels",
    "label_names",
    "holdout",
    "valid_fraction",
    "test_fraction",
    "max_examples",
    "tfds_name",
    "hf_name",
    "synthetic_train",
    "min_count",
    "max_vocab",
)  # data.max_length has its own check in predict
CONFIG_RULES = {  # checked with the generic fields before a run writes anything
    "data.format": v.one_of(*sentiment_data.FORMATS),
    "data.valid_fraction": v.fraction(),
    "data.holdout": v.one_of("random", "sentences"),
    "data.test_fraction": v.fraction(),
    "data.max_examples": v.int_at_least(0),
    "data.synthetic_train": v.int_at_least(1),
    "data.synthetic_eval": v.int_at_least(1),
    "data.min_count": v.int_at_least(0),
    "data.max_vocab": v.int_at_least(0),
    "data.max_length": v.int_at_least(0),
    "data.num_buckets": v.int_at_least(1),
    "data.eval_batch_size": v.int_at_least(0),
    "model.embed_size": v.int_at_least(1),
    "model.bidirectional": v.boolean(),
    "model.encoder": v.one_of(*ENCODERS),
    "model.pooling": v.one_of(*POOLINGS),
    "model.head_hidden": v.int_at_least(0),
    "model.word_dropout": v.fraction(),
    "model.adversarial_eps": v.at_least(0),
    "model.subword_buckets": v.int_at_least(0),
    "model.subword_width": v.int_at_least(1),
}
CONFIG_NOTES = {
    "data.valid_fraction": " (0: no held-out valid set)",
    "data.max_examples": " (0: all)",
    "data.max_vocab": " (0: no limit)",
    "data.max_length": " (0: no cut)",
    "data.eval_batch_size": " (0: train.batch_size)",
    "model.head_hidden": " (0: a linear head)",
    "model.adversarial_eps": " (0: off)",
    "model.subword_buckets": " (0: off)",
}
# Fields added after workdirs were written, with the value a saved config without them ran with.
ADDED_FIELDS = {
    "model.subword_buckets": 0,
    "model.subword_ngrams": "3,5",
    "model.subword_width": 24,
    "model.adversarial_eps": 0.0,
}
FORMER_NAMES = ("sentiment",)  # workdirs saved under the old name resume and load under this one


# ------------------------------------------------------------------------------------ data
MAX_EMBEDDING = 1e6  # pretrained vectors are O(1); larger values would overflow the model's products


def load_embeddings(path: str | Path, vocab: Vocab, size: int, seed: int) -> tuple[np.ndarray, int]:
    """``([V, size] float32, words found)`` from a GloVe-format text file (``word v_1 ... v_size``
    per line); words not in the file get ``N(0, 0.1^2)`` rows from ``seed``, ``<pad>`` zeros."""
    path = require_file(path, "data.embeddings")
    table = np.random.default_rng(seed).normal(0.0, 0.1, (len(vocab), size)).astype(np.float32)
    table[0] = 0.0
    ids, found = {w: i for i, w in enumerate(vocab.symbols)}, 0
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            line = decode_utf8(raw, f"{path}:{line_no}", "")
            parts = line.rstrip().split(" ")
            if len(parts) <= 1:
                continue
            if len(parts) == 2 and line_no == 1:  # word2vec-style "count dim" header
                continue
            # A few GloVe entries are several words (". . ."): the last `size` fields are the vector.
            values = len(parts) - 1 if len(parts) <= size + 1 or _is_number(parts[-size - 1]) else size
            if values != size:
                raise ValueError(f"{path}:{line_no}: {values} values, but model.embed_size={size}")
            word = " ".join(parts[:-size])
            i = ids.get(word)
            if i is not None and i > 1:
                try:
                    row = np.asarray(parts[-size:], np.float64)
                except ValueError:
                    raise ValueError(f"{path}:{line_no}: a value is not a number") from None
                large = np.flatnonzero(~(np.abs(row) < MAX_EMBEDDING))  # NaN, infinity, overflow
                if len(large):
                    column = int(large[0]) + 1
                    raise ValueError(
                        f"{path}:{line_no}: value {column} of {word!r} ({parts[-size:][column - 1][:40]}) is not a "
                        f"finite number below {MAX_EMBEDDING:g} in magnitude"
                    )
                table[i] = row.astype(np.float32)
                found += 1
    return table, found


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def parse_buckets(value: str) -> tuple[int, ...]:
    """``data.buckets`` (``"16,32,64"``) as sorted lengths; a one-line error naming the key."""
    try:
        buckets = tuple(sorted(int(b) for b in str(value).split(",")))
    except ValueError:
        raise ValueError(f"data.buckets={value!r} is not a list of lengths such as '16,32,64'") from None
    if buckets[0] < 1:
        raise ValueError(f"data.buckets={value!r}: every length must be >= 1")
    return buckets


def this_host_rows(batch_size: int, key: str) -> slice:
    """This process's rows of a global batch (:func:`batching.host_rows`); errors name ``key``."""
    try:
        return batching.host_rows(batch_size, jax.process_index(), jax.process_count())
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None


def make_data(config: ml_collections.ConfigDict) -> Data:
    """Length-bucketed batches of ``config.data`` (:mod:`experiments.classification.text`); the train
    stream is a pure function of (config, step) (:func:`batching.step_indices`)."""
    data, global_batch = config.data, config.train.batch_size
    splits = sentiment_data.load_splits(data, seed=config.seed)
    vocab = text.build_vocab(splits.train.texts, min_count=data.min_count, max_size=data.max_vocab)
    subwords = make_subwords(config.model)
    train_ids = text.encode_all(vocab, splits.train.texts, data.max_length, subwords)
    eval_ids = {name: text.encode_all(vocab, ex.texts, data.max_length, subwords) for name, ex in splits.evals.items()}
    train_lengths = [len(r) for r in train_ids]
    buckets = parse_buckets(data.buckets) if data.buckets else batching.bucket_lengths(train_lengths, data.num_buckets)
    longest = max([*train_lengths, *(len(r) for ids in eval_ids.values() for r in ids)])
    if longest > buckets[-1]:
        buckets = (*buckets, batching.round_up(longest, 8))  # every row fits somewhere
    rows = this_host_rows(global_batch, "train.batch_size")
    steps_per_epoch = batching.steps_per_epoch(len(train_ids), global_batch)
    labels = np.asarray(splits.train.labels, np.int32)
    indices_at = batching.step_indices(train_lengths, global_batch, config.seed)  # resumes see the same batches

    def batch_at(step: int) -> dict[str, np.ndarray]:
        chunk = indices_at(step)
        batch = text.labelled_batch([train_ids[i] for i in chunk], labels[chunk], buckets, global_batch)
        return {k: v[rows] for k, v in batch.items()}

    def train_batches(start: int) -> Iterator[dict[str, np.ndarray]]:
        return batching.step_stream(batch_at, start)

    eval_batch = data.eval_batch_size or global_batch

    def eval_set(name: str) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
        ids, ex = eval_ids[name], splits.evals[name]
        eval_rows = this_host_rows(eval_batch, "data.eval_batch_size")

        def batches() -> Iterator[dict[str, np.ndarray]]:
            for batch in text.labelled_eval_batches(ids, ex.labels, buckets, eval_batch):
                yield {k: v[eval_rows] for k, v in batch.items()}

        return batches

    embeddings, found = None, 0
    if data.embeddings:
        embeddings, found = load_embeddings(data.embeddings, vocab, config.model.embed_size, config.seed)
    info = {
        "vocab": vocab,
        "vocab_size": len(vocab),
        "label_names": list(splits.label_names),
        "num_classes": len(splits.label_names),
        "steps_per_epoch": steps_per_epoch,
        "buckets": buckets,
        "embeddings": embeddings,
        "embeddings_found": found,
        "description": splits.description,
    }
    return Data(train_batches, {name: eval_set(name) for name in splits.evals}, info)


def prepare(config: ml_collections.ConfigDict, workdir: Path, info: Mapping[str, Any]) -> None:
    """Saves the vocabulary and label names as JSON in the workdir, or refuses ones that differ."""
    workdir = Path(workdir)
    vocab_path, labels_path = workdir / VOCAB_FILE, workdir / LABELS_FILE
    print(
        f"data: {info['description']}; vocabulary {len(info['vocab']):,} words; buckets {list(info['buckets'])}"
        + (f"; {info['embeddings_found']:,} pretrained vectors" if info["embeddings"] is not None else ""),
        flush=True,
    )
    if vocab_path.exists():
        saved = Vocab.from_json(vocab_path)
        if saved != info["vocab"]:
            raise ValueError(
                f"{vocab_path} ({len(saved)} words) does not match the vocabulary built from "
                f"{info['description']} ({len(info['vocab'])} words); point data.* at the run's original "
                "data, or use a new --workdir"
            )
    else:
        info["vocab"].to_json(vocab_path)
    if labels_path.exists():
        saved_labels = read_labels(labels_path)
        if saved_labels != info["label_names"]:
            raise ValueError(f"{labels_path} has labels {saved_labels}, the data {info['label_names']}")
    else:
        atomic_write_json(labels_path, {"labels": info["label_names"]})


# ----------------------------------------------------------------------------------- model
def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> SentimentClassifier:
    m = config.model
    if m.pooling not in POOLINGS:
        raise ValueError(f"model.pooling={m.pooling!r} is not one of {list(POOLINGS)}")
    if m.encoder not in ENCODERS:
        raise ValueError(f"model.encoder={m.encoder!r} is not one of {list(ENCODERS)}")
    if m.adversarial_eps < 0:
        raise ValueError(f"model.adversarial_eps={m.adversarial_eps!r} must be >= 0 (0 turns adversarial training off)")
    if m.encoder == "bow" and m.pooling == "last":
        raise ValueError("model.pooling='last' needs model.encoder='rnn' (a bag of words has no last state)")
    kwargs = {}
    table = info.get("embeddings")
    if table is not None:
        kwargs["embedding_init"] = lambda key, shape, dtype=jnp.float32: jnp.asarray(table, dtype)
    return SentimentClassifier(
        vocab_size=info["vocab_size"],
        embed_size=m.embed_size,
        num_classes=info["num_classes"],
        rnn=make_rnn(m) if m.encoder == "rnn" else None,
        pooling=m.pooling,
        head_hidden=m.head_hidden,
        dropout=m.dropout,
        word_dropout=m.word_dropout,
        subword_buckets=m.subword_buckets,
        adversarial_eps=m.adversarial_eps,
        **kwargs,
    )


def make_subwords(model: ml_collections.ConfigDict) -> text.Subwords | None:
    """The :class:`text.Subwords` that ``model.subword_*`` describe; None when ``subword_buckets`` is 0."""
    if not model.subword_buckets:
        return None
    try:
        low, high = (int(n) for n in str(model.subword_ngrams).split(","))
        return text.Subwords((low, high), int(model.subword_buckets), int(model.subword_width))
    except ValueError as e:
        raise ValueError(
            f"model.subword_ngrams={model.subword_ngrams!r}, model.subword_buckets={model.subword_buckets!r}, "
            f"model.subword_width={model.subword_width!r}: {e}"
        ) from None


# ------------------------------------------------------------------------------ loss, metrics
def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["tokens"], batch["lengths"])


def loss_and_metrics(
    model: SentimentClassifier, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    tokens, lengths, labels, weights = batch["tokens"], batch["lengths"], batch["labels"], batch["weights"]
    count = jnp.sum(weights)

    def run(variables: Any, adversary: jax.Array | None) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        logits = model.apply(
            variables, tokens, lengths, deterministic=not train, adversary=adversary, rngs={"dropout": rng}
        )
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return jnp.sum(weights * xent) / jnp.maximum(count, 1.0), (logits, xent)

    loss, (logits, xent) = run(variables, None)
    extra = {}
    if train and model.adversarial_eps > 0:  # the same dropout masks (rng) in all three passes
        zeros = jnp.zeros(tokens.shape[:2] + (model.embed_size,), jnp.float32)
        adv = adversarial.adversarial_loss(lambda v, d: run(v, d)[0], variables, zeros, lengths)
        extra["adversarial_loss"] = adv
        loss = loss + adv
    predicted = jnp.argmax(logits, axis=-1)
    metrics = {
        **extra,
        "total_count": count,
        "total_correct": jnp.sum(weights * (predicted == labels)),
        "total_xent": jnp.sum(weights * xent),
    }
    classes = logits.shape[-1]
    for t in range(classes):
        for p in range(classes):
            metrics[f"total_confusion_{t}_{p}"] = jnp.sum(weights * ((labels == t) & (predicted == p)))
    return loss, (metrics, carry)


def finalize_metrics(config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
    """Accuracy, macro F1, NLL and confusion counts from the summed counts of a split."""
    if "total_count" not in values:
        return values
    out = {k: v for k, v in values.items() if not k.startswith("total_")}
    count = max(values["total_count"], 1.0)
    out.update(examples=values["total_count"], accuracy=values["total_correct"] / count)
    out["nll"] = values["total_xent"] / count
    confusion = {tuple(map(int, k.split("_")[2:])): v for k, v in values.items() if k.startswith("total_confusion_")}
    classes = 1 + max(t for t, _ in confusion)
    f1s = []
    for c in range(classes):
        tp = confusion[c, c]
        predicted = sum(confusion[t, c] for t in range(classes))
        actual = sum(confusion[c, p] for p in range(classes))
        f1s.append(2 * tp / (predicted + actual) if predicted + actual else 0.0)
    out["macro_f1"] = float(np.mean(f1s))
    out.update({f"confusion_{t}_{p}": v for (t, p), v in confusion.items()})
    return out


MODES = {"predict": predict}
