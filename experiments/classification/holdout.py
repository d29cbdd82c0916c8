"""Holding out whole sentences from a phrase-level corpus (SST's train split holds every phrase of
every train sentence, each labelled).

A random holdout of phrases makes a poor validation set there: its phrases are short, and most of
them are sub-phrases (or super-phrases) of phrases that stay in train, so validation accuracy runs
far above dev accuracy and picks checkpoints badly. :func:`hold_out_sentences` instead holds out a
fraction of the *root* texts (those that are not a contiguous word span of another text) and
removes from train every text that is a span of a held-out root, so that validation sentences are
whole sentences that training never saw, as dev sentences are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _spans(words: Sequence[str]) -> set[str]:
    """Every contiguous word span of ``words`` (itself included), space-joined."""
    return {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def sentence_holdout(texts: Sequence[str], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_rows, valid_rows)``, ascending row indices of ``texts``.

    ``valid_rows``: ``round(fraction * roots)`` (at least 1) random root texts, one row per
    distinct text; ``train_rows``: every row that is neither a held-out root nor a word span of one.
    Words are whitespace-separated, compared exactly.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"data.valid_fraction must be in (0, 1) with data.holdout='sentences', got {fraction}")
    words = [t.split() for t in texts]
    norm = [" ".join(w) for w in words]
    known = set(norm)
    inner: set[str] = set()  # texts that are a proper span of another text
    for w, whole in zip(words, norm):
        if len(w) > 1:
            inner.update(s for s in _spans(w) if s != whole and s in known)
    first: dict[str, int] = {}
    for row, text in enumerate(norm):
        if text not in inner:
            first.setdefault(text, row)
    roots = np.array(sorted(first.values()), dtype=np.int64)
    size = max(1, int(np.floor(fraction * len(roots) + 0.5)))
    if size >= len(roots):
        raise ValueError(f"data.valid_fraction={fraction}: holding out {size} of {len(roots)} sentences leaves none")
    valid = np.sort(np.random.default_rng(seed).permutation(roots)[:size])
    leaked: set[str] = set()
    for row in valid:
        leaked |= _spans(words[row])
    train = np.array([row for row, text in enumerate(norm) if text not in leaked], dtype=np.int64)
    return train, valid
