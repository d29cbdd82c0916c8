"""Sentiment (text classification) data: labelled texts from standard formats, as plain lists.

``load_splits(config.data, seed)`` returns the train split, the eval splits in order (the FIRST
selects the best checkpoint) and the label names. Formats (``data.format``):

* ``glue``: ``data.path`` holds ``train.tsv`` and ``dev.tsv`` (GLUE SST-2: a ``sentence<TAB>label``
  header, tab-separated, no quoting since the text contains quotes). ``test.tsv`` is read when its
  header has the label column and skipped when it has none (GLUE hides test labels). Evals:
  ``valid`` (held out from train), ``dev``, then ``test`` when labelled.
* ``aclimdb``: Maas et al.'s ``data.path/{train,test}/{neg,pos}/*.txt`` (the class directories are
  ``data.labels``; ``unsup``, ``*.feat`` and the url files are not read). Files sorted by name, the
  classes interleaved (neg, pos, neg, ...), ``<br />`` becomes a space. Evals: ``valid``, ``test``.
* ``posneg``: rt-polarity style, ``data.path`` holds exactly one ``*.neg`` and one ``*.pos`` file
  with one text per line (UTF-8, else latin-1 for that line); blank lines at the end are ignored.
  Lines are interleaved by class like aclimdb. Evals: ``valid`` (``data.valid_fraction``, 0.1 when
  it is 0) and ``test`` (``data.test_fraction``), both held out.
* ``csv`` / ``jsonl``: a header-first CSV (standard quoting), or one JSON object per line. Either
  ``data.path`` is a directory with ``train.<ext>`` and optionally one of ``valid|validation|dev``
  and ``test`` (``.csv`` or ``.jsonl``), or it is one file and ``valid`` / ``test`` are held out by
  ``data.valid_fraction`` / ``data.test_fraction``. JSONL labels may be strings or integers.
* ``tfds``: ``tensorflow_datasets.load(data.tfds_name)`` when installed; the ``train``,
  ``validation`` (as ``valid``) and ``test`` splits that exist, features ``text`` / ``label``.
* ``hf``: ``datasets.load_dataset(data.hf_name)`` when installed; same splits, columns
  ``data.text_column`` / ``data.label_column``. For tfds and hf a ``test`` split whose labels are
  all -1 (hidden) is skipped.
* ``synthetic``: ``experiments.classification.synthetic.generate(n, seed)``: ``data.synthetic_train``
  train examples from ``seed``, ``data.synthetic_eval`` each for ``valid`` and ``test``.

Columns: ``data.text_column`` / ``data.label_column`` ("": ``sentence`` / ``label`` for glue, else
``text`` / ``label``). Labels: ``data.labels`` lists the label values as they appear in the data,
in class-id order ("": ``0,1``; ``neg,pos`` for aclimdb and posneg); ``data.label_names`` the
display names ("": ``negative,positive`` for two classes, else the values).

Holdout: when a format has no validation split of its own, ``data.valid_fraction`` of train
becomes ``valid`` (first among the evals; 0: none). With ``data.holdout="sentences"`` (for
phrase-level corpora such as SST) it is that fraction of the whole sentences instead, and their
sub-phrases leave train (``experiments/classification/holdout.py``). The chosen rows are the first of a
``numpy.random.default_rng(seed)`` permutation (``valid`` first, then ``test`` where that is held
out too); every split keeps the file order. ``data.max_examples`` (0: all) keeps the first N
examples of each loaded split, before any holdout. Texts are stripped of surrounding whitespace.

Errors are one line and name the config key, the file and the line where there is one
(``Examples.where`` holds ``path:line`` per example, the file path for aclimdb).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.classification import formats, sources
from experiments.classification.formats import Examples, collect, nonempty
from rnn_research.data.fields import comma_list

if TYPE_CHECKING:
    import ml_collections

__all__ = ["DEFAULT_NAMES", "FORMATS", "Examples", "Splits", "load_splits"]

FORMATS = ("glue", "aclimdb", "posneg", "csv", "jsonl", "tfds", "hf", "synthetic")
DEFAULT_LABELS = {"glue": "0,1", "aclimdb": "neg,pos", "posneg": "neg,pos"}  # others: "0,1"
DEFAULT_NAMES = ["negative", "positive"]
KINDS = {"glue": "GLUE TSV", "aclimdb": "aclImdb", "posneg": "pos/neg lines", "csv": "CSV", "jsonl": "JSONL"}
SYNTHETIC_VALID_SEED, SYNTHETIC_TEST_SEED = 1_000_003, 2_000_003


class Splits(NamedTuple):
    """Train, the eval splits in order (the first picks the best checkpoint), label names, a description."""

    train: Examples
    evals: dict[str, Examples]
    label_names: list[str]
    description: str


# ---------------------------------------------------------------------------------- helpers
def _labels(data: Any, fmt: str) -> tuple[list[str], list[str]]:
    """Declared label values (class-id order) and their display names."""
    values = comma_list(data.labels or DEFAULT_LABELS.get(fmt, "0,1"), "data.labels")
    if len(values) < 2:
        raise ValueError(f"data.labels={data.labels!r} needs at least 2 labels")
    if not data.label_names:
        return values, DEFAULT_NAMES if len(values) == 2 else list(values)
    names = comma_list(data.label_names, "data.label_names")
    if len(names) != len(values):
        raise ValueError(f"data.label_names has {len(names)} names but data.labels has {len(values)} values: {values}")
    return values, names


def _subset(ex: Examples, rows: Iterable[int]) -> Examples:
    rows = [int(i) for i in rows]
    return Examples([ex.texts[i] for i in rows], [ex.labels[i] for i in rows], [ex.where[i] for i in rows])


def _hold_out(
    train: Examples, fractions: dict[str, tuple[float, str]], seed: int
) -> tuple[Examples, dict[str, Examples]]:
    """Moves ``round(fraction * n)`` (at least 1) random train examples to each named split, in order.

    ``fractions`` maps a split name to ``(fraction, config key)``; fraction 0 holds out nothing.
    """
    n = len(train.texts)
    sizes: dict[str, int] = {}
    for name, (fraction, key) in fractions.items():
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"{key} must be in [0, 1), got {fraction}")
        if fraction > 0:
            sizes[name] = max(1, math.floor(fraction * n + 0.5))
    if not sizes:
        return train, {}
    if sum(sizes.values()) >= n:
        keys = ", ".join(f"{fractions[name][1]}={fractions[name][0]}" for name in sizes)
        raise ValueError(f"{keys}: holding out {sum(sizes.values())} of {n} examples leaves the train split empty")
    order = np.random.default_rng(seed).permutation(n)
    held, start = {}, 0
    for name, size in sizes.items():
        held[name] = _subset(train, np.sort(order[start : start + size]))
        start += size
    return _subset(train, np.sort(order[start:])), held


def _load_synthetic(data: Any, seed: int) -> Splits:
    generate = importlib.import_module("experiments.classification.synthetic").generate
    sizes = {}
    for key in ("synthetic_train", "synthetic_eval"):
        n = getattr(data, key)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"data.{key} must be a positive integer, got {n!r}")
        sizes[key] = min(n, data.max_examples) if data.max_examples else n
    index = {"0": 0, "1": 1}
    out = {}
    for split, n, split_seed in (
        ("train", sizes["synthetic_train"], seed),
        ("valid", sizes["synthetic_eval"], seed + SYNTHETIC_VALID_SEED),
        ("test", sizes["synthetic_eval"], seed + SYNTHETIC_TEST_SEED),
    ):
        texts, labels = generate(n, split_seed)
        if len(texts) != len(labels):
            raise ValueError(f"synthetic:{split}: generate gave {len(texts)} texts but {len(labels)} labels")
        where = (f"synthetic:{split}:{i}" for i in range(1, len(texts) + 1))
        out[split] = collect(zip(texts, labels, where), index)
    counts = ", ".join(f"{k} {len(v.texts):,}" for k, v in out.items())
    return Splits(
        out["train"], {"valid": out["valid"], "test": out["test"]}, list(DEFAULT_NAMES), f"synthetic ({counts})"
    )


# ------------------------------------------------------------------------------------ loading
def load_splits(data: ml_collections.ConfigDict, seed: int = 0) -> Splits:
    """The splits ``config.data`` describes (see the module docstring); ``seed`` picks the holdout."""
    fmt = data.format
    if fmt not in FORMATS:
        raise ValueError(f"data.format={fmt!r} is not one of {list(FORMATS)}")
    if fmt in ("synthetic", "tfds", "hf") and data.get("path"):  # e.g. a smoke variant's generated corpus
        raise ValueError(
            f"data.path={data.path!r} is set but data.format={fmt!r} does not read it; "
            "add --config.data.format=glue, aclimdb, posneg, csv or jsonl (whichever the files are)"
        )
    if fmt == "synthetic":
        return _load_synthetic(data, seed)
    values, names = _labels(data, fmt)
    index = {v: i for i, v in enumerate(values)}
    cols = (data.text_column or ("sentence" if fmt == "glue" else "text"), data.label_column or "label")
    cap = int(data.max_examples)
    if cap < 0:
        raise ValueError(f"data.max_examples must be >= 0, got {cap}")
    valid = (float(data.valid_fraction), "data.valid_fraction")
    test = (float(data.test_fraction), "data.test_fraction")
    holdouts: dict[str, tuple[float, str]] = {"valid": valid}

    if fmt in ("tfds", "hf"):
        name = data.tfds_name if fmt == "tfds" else data.hf_name
        loaded = sources.load_tfds(name, cols, index, cap) if fmt == "tfds" else sources.load_hf(name, cols, index, cap)
        if "train" not in loaded:
            raise ValueError(f"data.{fmt}_name: {fmt}:{name} has no train split (splits: {list(loaded)})")
        train = loaded.pop("train")
        own = {"valid" if k == "validation" else k: v for k, v in loaded.items()}
        if "valid" in own:
            holdouts = {}
        label = f"{fmt}:{name}"
    else:
        if not data.path:
            raise ValueError(f"data.path is required with data.format={fmt!r}")
        path = Path(data.path)
        if not path.exists():
            raise FileNotFoundError(f"data.path: no such file: {path}")
        label = f"{KINDS[fmt]} {data.path}"
        if fmt == "glue":
            train, own = formats.load_glue(path, cols, index, cap)
        elif fmt == "aclimdb":
            formats.check_dir(path)
            train = nonempty(formats.aclimdb_split(path, "train", values, index, cap), f"data.path: {path}/train")
            own = {"test": nonempty(formats.aclimdb_split(path, "test", values, index, cap), f"data.path: {path}/test")}
        elif fmt == "posneg":
            train, own = formats.load_posneg(path, values, index, cap), {}
            holdouts = {"valid": (valid[0] or 0.1, valid[1]), "test": test}
        elif path.is_dir():  # csv / jsonl
            train, own = formats.load_table_dir(path, fmt, cols, index, cap)
            if "valid" in own:
                holdouts = {}
        else:
            train, own = nonempty(collect(formats.file_items(path, fmt, *cols), index, cap), f"data.path: {path}"), {}
            holdouts = {"valid": valid, "test": test}

    if data.holdout == "sentences" and "valid" in holdouts:
        from experiments.classification.holdout import sentence_holdout

        kept, valid_rows = sentence_holdout(train.texts, holdouts.pop("valid")[0], seed)
        held_valid = _subset(train, valid_rows)
        train = _subset(train, kept)
        train, held = _hold_out(train, holdouts, seed)
        held = {"valid": held_valid, **held}
    elif data.holdout != "random":
        raise ValueError(f"data.holdout={data.holdout!r} is not one of ['random', 'sentences']")
    else:
        train, held = _hold_out(train, holdouts, seed)
    evals = {**held, **own}
    counts = ", ".join(f"{k} {len(v.texts):,}" for k, v in {"train": train, **evals}.items())
    description = f"{label} ({counts})"
    if not evals:
        raise ValueError(f"{description}: no eval split (set data.valid_fraction > 0)")
    return Splits(train, evals, names, description)
