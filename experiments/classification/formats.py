"""Labelled texts from files: GLUE TSV, CSV, JSONL, aclImdb directories, pos/neg line files.

Every loader yields ``(text, label value, where)`` items that :func:`collect` checks into
:class:`Examples` (``where`` is ``path:line``, or the file path for aclImdb). Files are read with
:func:`rnn_research.io.read_utf8`; errors are one line naming the config key, the file and the
line. :mod:`experiments.classification.data` documents the formats and chooses among them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnn_research.data.utf8 import decode_utf8
from rnn_research.io import read_utf8, require_file

VALID_NAMES = ("valid", "validation", "dev")

Item = tuple[Any, Any, str]  # (text, label value, where) before checking


class Examples(NamedTuple):
    """One split: texts, class ids (indices into ``Splits.label_names``) and ``path:line`` per example."""

    texts: list[str]
    labels: list[int]
    where: list[str]


def label_value(value: Any, where: str) -> str:
    """The label as a string: strings stripped, integers written out; anything else is an error."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bytes):
        return decode_utf8(value, where, f"label {value!r}").strip()
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: label {value!r} is a boolean; labels must be strings or integers (data.labels)")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    kind = type(value).__name__
    raise ValueError(f"{where}: label {value!r} is a {kind}; labels must be strings or integers (data.labels)")


def collect(items: Iterable[Item], index: dict[str, int], cap: int = 0) -> Examples:
    """Checked examples from ``(text, label, where)`` items; at most ``cap`` (0: all)."""
    ex = Examples([], [], [])
    for text, label, where in items:
        if isinstance(text, bytes):
            text = decode_utf8(text, where)
        if not isinstance(text, str):
            raise ValueError(f"{where}: text is a {type(text).__name__}, not a string (data.text_column)")
        text = text.strip()
        if not text:
            raise ValueError(f"{where}: empty text")
        value = label_value(label, where)
        if value not in index:
            raise ValueError(f"{where}: label {value!r} is not one of {list(index)} (data.labels)")
        ex.texts.append(text)
        ex.labels.append(index[value])
        ex.where.append(where)
        if cap and len(ex.texts) >= cap:
            break
    return ex


def interleave(per_class: list[list[Any]]) -> Iterator[Any]:
    """Round robin over the classes (class 0, 1, ..., 0, 1, ...), so any prefix is balanced."""
    for i in range(max((len(c) for c in per_class), default=0)):
        for items in per_class:
            if i < len(items):
                yield items[i]


def check_dir(path: Path) -> Path:
    """``path`` when it is a directory; else a one-line ``data.path`` error."""
    if not path.exists():
        raise FileNotFoundError(f"data.path: no such file: {path}")
    if not path.is_dir():
        raise ValueError(f"data.path: {path} is not a directory")
    return path


def nonempty(ex: Examples, what: str) -> Examples:
    """``ex``, or an error naming ``what`` (the config key and the file or split) when it is empty."""
    if not ex.texts:
        raise ValueError(f"{what} has no examples")
    return ex


def table_items(path: Path, fmt: str, text_col: str, label_col: str, unlabelled_ok: bool = False) -> Iterator[Item]:
    """Rows of a header-first TSV (glue: no quoting) or CSV file as items; nothing if unlabelled and allowed."""
    text = read_utf8(path, allow_empty=True)
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


def jsonl_items(path: Path, text_col: str, label_col: str) -> Iterator[Item]:
    """One item per JSON object line of ``path`` (blank lines at the end ignored)."""
    lines = read_utf8(path, allow_empty=True).split("\n")
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


def file_items(path: Path, fmt: str, text_col: str, label_col: str) -> Iterator[Item]:
    """Items of one CSV or JSONL file (``fmt``)."""
    if fmt == "jsonl":
        return jsonl_items(path, text_col, label_col)
    return table_items(path, fmt, text_col, label_col)


def load_glue(root: Path, cols: tuple[str, str], index: dict[str, int], cap: int) -> tuple[Examples, dict]:
    """GLUE ``train.tsv`` and the evals ``dev`` and (when labelled) ``test``."""
    check_dir(root)
    files = {split: root / f"{split}.tsv" for split in ("train", "dev", "test")}
    for split in ("train", "dev"):
        if not files[split].is_file():
            raise FileNotFoundError(f"data.path: no such file: {files[split]} (GLUE needs train.tsv and dev.tsv)")
    train = nonempty(collect(table_items(files["train"], "glue", *cols), index, cap), f"data.path: {files['train']}")
    evals = {
        "dev": nonempty(collect(table_items(files["dev"], "glue", *cols), index, cap), f"data.path: {files['dev']}")
    }
    if files["test"].is_file():
        test = collect(table_items(files["test"], "glue", *cols, unlabelled_ok=True), index, cap)
        if test.texts:
            evals["test"] = test
    return train, evals


def aclimdb_split(root: Path, split: str, values: list[str], index: dict[str, int], cap: int) -> Examples:
    """``root/split/<value>/*.txt`` sorted by name, the classes interleaved, ``<br />`` as a space."""
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
        for file, value in interleave(per_class):
            yield read_utf8(file, allow_empty=True).replace("<br />", " "), value, str(file)

    return collect(items(), index, cap)


def posneg_lines(path: Path, value: str) -> list[Item]:
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


def load_posneg(root: Path, values: list[str], index: dict[str, int], cap: int) -> Examples:
    """The one ``*.<value>`` file per class in ``root``, lines interleaved by class."""
    check_dir(root)
    per_class = []
    for value in values:
        files = sorted(p for p in root.glob(f"*.{value}") if p.is_file())
        if len(files) != 1:
            found = [p.name for p in files] or "none"
            raise FileNotFoundError(f"data.path: {root} must hold exactly one '*.{value}' file (found: {found})")
        per_class.append(posneg_lines(files[0], value))
    return nonempty(collect(interleave(per_class), index, cap), f"data.path: {root}/*.{{{','.join(values)}}}")


def load_table_dir(
    root: Path, fmt: str, cols: tuple[str, str], index: dict[str, int], cap: int
) -> tuple[Examples, dict[str, Examples]]:
    """``train.<ext>`` plus an optional ``valid|validation|dev`` and ``test`` file: train and evals."""
    train_file = root / f"train.{fmt}"
    require_file(train_file)
    valid_files = [root / f"{name}.{fmt}" for name in VALID_NAMES if (root / f"{name}.{fmt}").is_file()]
    if len(valid_files) > 1:
        raise ValueError(f"data.path: {root} has more than one validation file: {[p.name for p in valid_files]}")
    train = nonempty(collect(file_items(train_file, fmt, *cols), index, cap), f"data.path: {train_file}")
    evals = {}
    for name, file in (("valid", valid_files[0] if valid_files else None), ("test", root / f"test.{fmt}")):
        if file is not None and file.is_file():
            evals[name] = nonempty(collect(file_items(file, fmt, *cols), index, cap), f"data.path: {file}")
    return train, evals
