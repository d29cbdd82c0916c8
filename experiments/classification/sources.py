"""Labelled texts from data set libraries, when installed: ``tfds`` (tensorflow_datasets) and
``hf`` (Hugging Face datasets). The ``train``, ``validation`` and ``test`` splits that exist; a
``test`` split whose labels are all -1 (hidden) is skipped. Errors are one line naming the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from experiments.classification.formats import Examples, Item, collect, nonempty


def library_split(
    key: str, name: str, split: str, items: list[Item], index: dict[str, int], cap: int
) -> Examples | None:
    """Examples of one tfds/hf split; ``None`` for a ``test`` split whose labels are all -1 (hidden)."""
    hidden = [
        not isinstance(label, (bool, np.bool_)) and isinstance(label, (int, np.integer)) and int(label) == -1
        for _, label, _ in items
    ]
    if split == "test" and items and all(hidden):
        return None
    return nonempty(collect(items, index, cap), f"{key}: {name} split {split!r}")


def library_splits(
    key: str, source: str, loaded: Any, read_split: Callable[[str], list[Item]], index: dict[str, int], cap: int
) -> dict[str, Examples]:
    """The ``train``, ``validation`` and ``test`` splits of ``loaded`` that exist, each read by
    ``read_split(split) -> items`` (a hidden test split is left out)."""
    splits: dict[str, Examples] = {}
    for split in ("train", "validation", "test"):
        if split in loaded:
            examples = library_split(key, source, split, read_split(split), index, cap)
            if examples is not None:
                splits[split] = examples
    return splits


def load_tfds(name: str, cols: tuple[str, str], index: dict[str, int], cap: int) -> dict[str, Examples]:
    """The splits of ``tensorflow_datasets.load(name)`` that exist (``validation`` keeps its name)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ValueError("data.format='tfds' needs tensorflow-datasets: pip install tensorflow-datasets") from None
    if not name:
        raise ValueError("data.tfds_name is required with data.format='tfds'")
    loaded = tfds.load(name)
    text_col, label_col = cols

    def read_split(split: str) -> list[Item]:
        items: list[Item] = []
        for i, ex in enumerate(tfds.as_numpy(loaded[split]), 1):
            where = f"tfds:{name}:{split}:{i}"
            for key, col in (("data.text_column", text_col), ("data.label_column", label_col)):
                if col not in ex:
                    raise ValueError(f"{key}: {where}: no feature {col!r} (features: {list(ex)})")
            items.append((ex[text_col], ex[label_col], where))
            if cap and len(items) >= cap:
                break
        return items

    return library_splits("data.tfds_name", f"tfds:{name}", loaded, read_split, index, cap)


def load_hf(name: str, cols: tuple[str, str], index: dict[str, int], cap: int) -> dict[str, Examples]:
    """The splits of ``datasets.load_dataset(name)`` that exist (``validation`` keeps its name)."""
    try:
        import datasets
    except ImportError:
        raise ValueError("data.format='hf' needs Hugging Face datasets: pip install datasets") from None
    if not name:
        raise ValueError("data.hf_name is required with data.format='hf'")
    loaded = datasets.load_dataset(name)
    text_col, label_col = cols

    def read_split(split: str) -> list[Item]:
        table = loaded[split]
        columns = list(table.column_names)
        for key, col in (("data.text_column", text_col), ("data.label_column", label_col)):
            if col not in columns:
                raise ValueError(f"{key}: hf:{name} split {split!r} has no column {col!r} (columns: {columns})")
        texts, labels = list(table[text_col]), list(table[label_col])
        if cap:
            texts, labels = texts[:cap], labels[:cap]
        return [(t, y, f"hf:{name}:{split}:{i}") for i, (t, y) in enumerate(zip(texts, labels), 1)]

    return library_splits("data.hf_name", f"hf:{name}", loaded, read_split, index, cap)
