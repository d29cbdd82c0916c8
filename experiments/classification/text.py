"""Text pipeline for classification, on the shared toolkit (:mod:`rnn_research.data`).

* Tokens: the ``sst`` tokeniser (:func:`rnn_research.data.tokenize.sst_words`): lowercase words
  with punctuation and clitics split off, so sentences typed at ``--mode=predict`` meet the
  training vocabulary.
* :func:`build_vocab`: ``<pad>`` is id 0, ``<unk>`` id 1, then the train words by frequency (ties
  by word) kept when seen ``min_count`` times, at most ``max_size`` ids in all.
* :func:`labelled_batch`: rows padded to the smallest bucket that holds the longest and to the
  batch size with weight-0 rows (:func:`rnn_research.data.batching.pad_batch`).
* :class:`Subwords`: the hashed character n-grams of each token (fastText's subword units,
  Bojanowski et al. 2017), so that a word never seen in train (``<unk>``) still has a spelling
  the model can read: ``unfunny`` shares ``<un``, ``fun``, ``unny>``... with words it has seen.

A batch is ``{"tokens": [B, L] int32, "lengths": [B] int32, "labels": [B] int32, "weights": [B] float32}``;
with subwords, ``tokens`` is ``[B, L, 1 + K]``: the word id, then K n-gram ids (0: none).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnn_research.data import batching
from rnn_research.data.tokenize import sst_words
from rnn_research.data.vocab import Vocab

LEVEL = "sst"  # the tokeniser of the vocabulary (``Vocab.level``)
SPECIALS = ("pad", "unk")


def build_vocab(texts: Iterable[str], *, min_count: int = 1, max_size: int = 0) -> Vocab:
    """``<pad>`` (0), ``<unk>`` (1), then the ``sst`` tokens of ``texts`` (train only) by count;
    a vocabulary of no word beyond those two (every text all ``<unk>``) is a ``ValueError``."""
    vocab = Vocab.build((sst_words(t) for t in texts), SPECIALS, min_count=min_count, max_size=max_size, level=LEVEL)
    if len(vocab) <= len(SPECIALS):
        raise ValueError(
            f"the vocabulary holds no word beyond {list(vocab.symbols)} (data.max_vocab={max_size}, "
            f"data.min_count={min_count}): every text would read as <unk>; raise data.max_vocab or lower data.min_count"
        )
    return vocab


def words_vocab(words: Sequence[str]) -> Vocab:
    """A vocabulary of exactly ``words`` (``<pad>``, ``<unk>`` first), as :func:`build_vocab` makes."""
    return Vocab(words, LEVEL, pad=words[0], unk=words[1])


def fnv1a(data: bytes) -> int:
    """32-bit FNV-1a hash: the same on every machine and run (Python's ``hash`` is salted)."""
    h = 2166136261
    for byte in data:
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


@dataclass(frozen=True)
class Subwords:
    """Character n-grams of ``<word>`` for ``n`` in ``ngrams`` (inclusive), hashed into ``buckets``.

    :meth:`ids` gives ``width`` ids in ``1..buckets`` (shorter n-grams first, left to right),
    padded with 0; a word with more n-grams keeps the first ``width``.
    """

    ngrams: tuple[int, int]
    buckets: int
    width: int
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        low, high = self.ngrams
        if not 1 <= low <= high:
            raise ValueError(f"subword n-gram range must be 1 <= min <= max, got {self.ngrams}")
        if self.buckets < 1 or self.width < 1:
            raise ValueError(f"subword buckets and width must be positive, got {self.buckets}, {self.width}")

    def ids(self, word: str) -> np.ndarray:
        """``[width] int32`` n-gram ids of ``word``."""
        found = self._cache.get(word)
        if found is None:
            marked = f"<{word}>"
            grams = [
                marked[i : i + n] for n in range(self.ngrams[0], self.ngrams[1] + 1) for i in range(len(marked) - n + 1)
            ]
            found = np.zeros(self.width, np.int32)
            hashed = [1 + fnv1a(g.encode("utf-8")) % self.buckets for g in grams[: self.width]]
            found[: len(hashed)] = hashed
            self._cache[word] = found
        return found


def encode_all(
    vocab: Vocab, texts: Sequence[str], max_length: int, subwords: Subwords | None = None
) -> list[np.ndarray]:
    """Token ids of each text, cut to ``max_length`` (0: no cut); an empty text gives one ``<unk>``.

    Each row is ``[L]`` ids, or with ``subwords`` ``[L, 1 + K]``: the word id, then its n-gram ids.
    """
    out = []
    for text in texts:
        words = sst_words(text)
        if max_length:
            words = words[:max_length]
        ids = vocab.encode(words) if words else np.full(1, vocab.unk_id, np.int32)
        if subwords is not None:
            grams = [subwords.ids(w) for w in words] or [np.zeros(subwords.width, np.int32)]
            ids = np.concatenate([ids[:, None], np.stack(grams)], axis=1)
        out.append(ids)
    return out


def labelled_batch(
    rows: Sequence[np.ndarray], labels: Sequence[int], buckets: Sequence[int], batch_size: int
) -> dict[str, np.ndarray]:
    """``rows`` (at most ``batch_size``, ``[L_i]`` or ``[L_i, 1 + K]`` ids) and their labels as one batch."""
    tokens = [np.asarray(r, np.int32) for r in rows]
    return batching.pad_batch({"tokens": tokens}, buckets, batch_size, per_row={"labels": np.asarray(labels, np.int32)})


def labelled_eval_batches(
    ids: Sequence[np.ndarray], labels: Sequence[int], buckets: Sequence[int], batch_size: int
) -> Iterator[dict[str, np.ndarray]]:
    """Every example once, sorted by length, the last batch padded with weight-0 rows."""
    tokens = [np.asarray(r, np.int32) for r in ids]
    per_row = {"labels": np.asarray(labels, np.int32)}
    return batching.eval_batches({"tokens": tokens}, buckets, batch_size, per_row=per_row)
