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

import csv
import importlib
import io
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rnn_research.data.fields import comma_list

if TYPE_CHECKING:
    import ml_collections

FORMATS = ("glue", "aclimdb", "posneg", "csv", "jsonl", "tfds", "hf", "synthetic")
DEFAULT_LABELS = {"glue": "0,1", "aclimdb": "neg,pos", "posneg": "neg,pos"}  # others: "0,1"
DEFAULT_NAMES = ["negative", "positive"]
KINDS = {"glue": "GLUE TSV", "aclimdb": "aclImdb", "posneg": "pos/neg lines", "csv": "CSV", "jsonl": "JSONL"}
VALID_NAMES = ("valid", "validation", "dev")
SYNTHETIC_VALID_SEED, SYNTHETIC_TEST_SEED = 1_000_003, 2_000_003

Item = tuple[Any, Any, str]  # (text, label value, where) before checking


class Examples(NamedTuple):
    """One split: texts, class ids (indices into ``Splits.label_names``) and ``path:line`` per example."""

    texts: list[str]
    labels: list[int]
    where: list[str]


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


def _label_value(value: Any, where: str) -> str:
    """The label as a string: strings stripped, integers written out; anything else is an error."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ValueError(f"{where}: label {value!r} is not valid UTF-8") from None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: label {value!r} is a boolean; labels must be strings or integers (data.labels)")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    kind = type(value).__name__
    raise ValueError(f"{where}: label {value!r} is a {kind}; labels must be strings or integers (data.labels)")


def _collect(items: Iterable[Item], index: dict[str, int], cap: int = 0) -> Examples:
    """Checked examples from ``(text, label, where)`` items; at most ``cap`` (0: all)."""
    ex = Examples([], [], [])
    for text, label, where in items:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{where}: text is not valid UTF-8 (byte 0x{text[e.start]:02x})") from None
        if not isinstance(text, str):
            raise ValueError(f"{where}: text is a {type(text).__name__}, not a string (data.text_column)")
        text = text.strip()
        if not text:
            raise ValueError(f"{where}: empty text")
        value = _label_value(label, where)
        if value not in index:
            raise ValueError(f"{where}: label {value!r} is not one of {list(index)} (data.labels)")
        ex.texts.append(text)
        ex.labels.append(index[value])
        ex.where.append(where)
        if cap and len(ex.texts) >= cap:
            break
    return ex


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


def _read_utf8(path: Path) -> str:
    """The file as text (a leading BOM dropped); one-line errors for a missing or non-UTF-8 file."""
    if not path.is_file():
        raise FileNotFoundError(f"data.path: no such file: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"data.path: {path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})"
        ) from None
    return text.removeprefix("\ufeff")


def _interleave(per_class: list[list[Any]]) -> Iterator[Any]:
    """Round robin over the classes (class 0, 1, ..., 0, 1, ...), so any prefix is balanced."""
    for i in range(max((len(c) for c in per_class), default=0)):
        for items in per_class:
            if i < len(items):
                yield items[i]


def _check_dir(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"data.path: no such file: {path}")
    if not path.is_dir():
        raise ValueError(f"data.path: {path} is not a directory")
    return path


# ------------------------------------------------------------------------------- file formats
def _table_items(path: Path, fmt: str, text_col: str, label_col: str, unlabelled_ok: bool = False) -> Iterator[Item]:
    """Rows of a header-first TSV (glue: no quoting) or CSV file as items; nothing if unlabelled and allowed."""
    text = _read_utf8(path)
    if fmt == "glue":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as e:
        raise ValueError(f"data.path: {path}:{reader.line_num}: {e}") from None
    while rows and not any(field.strip() for field in rows[-1][1]):
        rows.pop()  # blank lines at the end
    if not rows:
        raise ValueError(f"data.path: {path} is empty (a header line is required)")
    header = [h.strip() for h in rows[0][1]]
    if label_col not in header and unlabelled_ok:
        return
    for key, col in (("data.text_column", text_col), ("data.label_column", label_col)):
        if col not in header:
            raise ValueError(f"{key}: {path} has no column {col!r} (header: {header})")
    text_at, label_at = header.index(text_col), header.index(label_col)
    kind = "tab-separated" if fmt == "glue" else "comma-separated"
    for line, row in rows[1:]:
        where = f"{path}:{line}"
        if not any(field.strip() for field in row):
            raise ValueError(f"{where}: empty line")
        if len(row) != len(header):
            raise ValueError(f"{where}: {len(row)} {kind} fields, but the header has {len(header)}")
        yield row[text_at], row[label_at], where


def _jsonl_items(path: Path, text_col: str, label_col: str) -> Iterator[Item]:
    lines = _read_utf8(path).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()  # blank lines at the end
    for line_no, line in enumerate(lines, 1):
        where = f"{path}:{line_no}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not a JSON object ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: not a JSON object (found a {type(obj).__name__})")
        for key, col in (("data.text_column", text_col), ("data.label_column", label_col)):
            if col not in obj:
                raise ValueError(f"{key}: {where}: no key {col!r} (keys: {list(obj)})")
        yield obj[text_col], obj[label_col], where


def _file_items(path: Path, fmt: str, text_col: str, label_col: str) -> Iterator[Item]:
    if fmt == "jsonl":
        return _jsonl_items(path, text_col, label_col)
    return _table_items(path, fmt, text_col, label_col)


def _nonempty(ex: Examples, what: str) -> Examples:
    """``ex``, or an error naming ``what`` (the config key and the file or split) when it is empty."""
    if not ex.texts:
        raise ValueError(f"{what} has no examples")
    return ex


def _load_glue(root: Path, cols: tuple[str, str], index: dict[str, int], cap: int) -> tuple[Examples, dict]:
    _check_dir(root)
    files = {split: root / f"{split}.tsv" for split in ("train", "dev", "test")}
    for split in ("train", "dev"):
        if not files[split].is_file():
            raise FileNotFoundError(f"data.path: no such file: {files[split]} (GLUE needs train.tsv and dev.tsv)")
    train = _nonempty(_collect(_table_items(files["train"], "glue", *cols), index, cap), f"data.path: {files['train']}")
    evals = {
        "dev": _nonempty(_collect(_table_items(files["dev"], "glue", *cols), index, cap), f"data.path: {files['dev']}")
    }
    if files["test"].is_file():
        test = _collect(_table_items(files["test"], "glue", *cols, unlabelled_ok=True), index, cap)
        if test.texts:
            evals["test"] = test
    return train, evals


def _aclimdb_split(root: Path, split: str, values: list[str], index: dict[str, int], cap: int) -> Examples:
    per_class = []
    for value in values:
        folder = root / split / value
        if not folder.is_dir():
            raise FileNotFoundError(
                f"data.path: no such file: {folder} (aclImdb needs {split}/{{{','.join(values)}}}/)"
            )
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise FileNotFoundError(f"data.path: no .txt files in {folder}")
        per_class.append([(file, value) for file in files])

    def items() -> Iterator[Item]:
        for file, value in _interleave(per_class):
            yield _read_utf8(file).replace("<br />", " "), value, str(file)

    return _collect(items(), index, cap)


def _posneg_lines(path: Path, value: str) -> list[Item]:
    """Lines as items, each decoded as UTF-8 or else latin-1; blank lines at the end dropped."""
    raw_lines = path.read_bytes().split(b"\n")
    while raw_lines and not raw_lines[-1].strip():
        raw_lines.pop()
    items = []
    for line_no, raw in enumerate(raw_lines, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        items.append((text, value, f"{path}:{line_no}"))
    return items


def _load_posneg(root: Path, values: list[str], index: dict[str, int], cap: int) -> Examples:
    _check_dir(root)
    per_class = []
    for value in values:
        files = sorted(p for p in root.glob(f"*.{value}") if p.is_file())
        if len(files) != 1:
            found = [p.name for p in files] or "none"
            raise FileNotFoundError(f"data.path: {root} must hold exactly one '*.{value}' file (found: {found})")
        per_class.append(_posneg_lines(files[0], value))
    return _nonempty(_collect(_interleave(per_class), index, cap), f"data.path: {root}/*.{{{','.join(values)}}}")


def _load_table_dir(
    root: Path, fmt: str, cols: tuple[str, str], index: dict[str, int], cap: int
) -> tuple[Examples, dict[str, Examples]]:
    """``train.<ext>`` plus an optional ``valid|validation|dev`` and ``test`` file: train and evals."""
    train_file = root / f"train.{fmt}"
    if not train_file.is_file():
        raise FileNotFoundError(f"data.path: no such file: {train_file}")
    valid_files = [root / f"{name}.{fmt}" for name in VALID_NAMES if (root / f"{name}.{fmt}").is_file()]
    if len(valid_files) > 1:
        raise ValueError(f"data.path: {root} has more than one validation file: {[p.name for p in valid_files]}")
    train = _nonempty(_collect(_file_items(train_file, fmt, *cols), index, cap), f"data.path: {train_file}")
    evals = {}
    for name, file in (("valid", valid_files[0] if valid_files else None), ("test", root / f"test.{fmt}")):
        if file is not None and file.is_file():
            evals[name] = _nonempty(_collect(_file_items(file, fmt, *cols), index, cap), f"data.path: {file}")
    return train, evals


# ----------------------------------------------------------------------------- library formats
def _library_split(
    key: str, name: str, split: str, items: list[Item], index: dict[str, int], cap: int
) -> Examples | None:
    """Examples of one tfds/hf split; ``None`` for a ``test`` split whose labels are all -1 (hidden)."""
    hidden = [
        not isinstance(label, (bool, np.bool_)) and isinstance(label, (int, np.integer)) and int(label) == -1
        for _, label, _ in items
    ]
    if split == "test" and items and all(hidden):
        return None
    return _nonempty(_collect(items, index, cap), f"{key}: {name} split {split!r}")


def _load_tfds(name: str, cols: tuple[str, str], index: dict[str, int], cap: int) -> dict[str, Examples]:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ValueError("data.format='tfds' needs tensorflow-datasets: pip install tensorflow-datasets") from None
    if not name:
        raise ValueError("data.tfds_name is required with data.format='tfds'")
    loaded = tfds.load(name)
    text_col, label_col = cols
    splits: dict[str, Examples] = {}
    for split in ("train", "validation", "test"):
        if split not in loaded:
            continue
        items: list[Item] = []
        for i, ex in enumerate(tfds.as_numpy(loaded[split]), 1):
            where = f"tfds:{name}:{split}:{i}"
            for key, col in (("data.text_column", text_col), ("data.label_column", label_col)):
                if col not in ex:
                    raise ValueError(f"{key}: {where}: no feature {col!r} (features: {list(ex)})")
            items.append((ex[text_col], ex[label_col], where))
            if cap and len(items) >= cap:
                break
        split_ex = _library_split("data.tfds_name", f"tfds:{name}", split, items, index, cap)
        if split_ex is not None:
            splits[split] = split_ex
    return splits


def _load_hf(name: str, cols: tuple[str, str], index: dict[str, int], cap: int) -> dict[str, Examples]:
    try:
        import datasets
    except ImportError:
        raise ValueError("data.format='hf' needs Hugging Face datasets: pip install datasets") from None
    if not name:
        raise ValueError("data.hf_name is required with data.format='hf'")
    loaded = datasets.load_dataset(name)
    text_col, label_col = cols
    splits: dict[str, Examples] = {}
    for split in ("train", "validation", "test"):
        if split not in loaded:
            continue
        table = loaded[split]
        columns = list(table.column_names)
        for key, col in (("data.text_column", text_col), ("data.label_column", label_col)):
            if col not in columns:
                raise ValueError(f"{key}: hf:{name} split {split!r} has no column {col!r} (columns: {columns})")
        texts, labels = list(table[text_col]), list(table[label_col])
        if cap:
            texts, labels = texts[:cap], labels[:cap]
        items = [(t, y, f"hf:{name}:{split}:{i}") for i, (t, y) in enumerate(zip(texts, labels), 1)]
        split_ex = _library_split("data.hf_name", f"hf:{name}", split, items, index, cap)
        if split_ex is not None:
            splits[split] = split_ex
    return splits


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
        out[split] = _collect(zip(texts, labels, where), index)
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
        loaded = _load_tfds(name, cols, index, cap) if fmt == "tfds" else _load_hf(name, cols, index, cap)
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
            train, own = _load_glue(path, cols, index, cap)
        elif fmt == "aclimdb":
            _check_dir(path)
            train = _nonempty(_aclimdb_split(path, "train", values, index, cap), f"data.path: {path}/train")
            own = {"test": _nonempty(_aclimdb_split(path, "test", values, index, cap), f"data.path: {path}/test")}
        elif fmt == "posneg":
            train, own = _load_posneg(path, values, index, cap), {}
            holdouts = {"valid": (valid[0] or 0.1, valid[1]), "test": test}
        elif path.is_dir():  # csv / jsonl
            train, own = _load_table_dir(path, fmt, cols, index, cap)
            if "valid" in own:
                holdouts = {}
        else:
            train, own = _nonempty(_collect(_file_items(path, fmt, *cols), index, cap), f"data.path: {path}"), {}
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
