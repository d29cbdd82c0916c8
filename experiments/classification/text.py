"""Text pipeline for classification: word tokenizer, vocabulary, and length-bucketed batches.

* :func:`tokenize`: lowercase words with punctuation and clitics split off, Penn Treebank style
  (``"It's great, isn't it!"`` -> ``it 's great , is n't it !``); already-tokenized text such as
  SST's ``it 's`` and ``is n't`` gives the same tokens, so sentences typed at ``--mode=predict``
  meet the training vocabulary.
* :class:`Vocab`: ``<pad>`` is id 0, ``<unk>`` id 1, then the train words by frequency (ties by
  word) kept when seen ``min_count`` times, at most ``max_size`` ids in all; JSON on disk.
* Bucketing: every batch is padded to the smallest of a few fixed lengths (:func:`bucket_lengths`)
  that holds its longest row, so a run compiles at most one program per bucket, and rows of a
  batch have similar lengths (little padding). Missing rows of the last batch of an epoch or of
  an evaluation set are padding rows with ``weights == 0``.
* :class:`Subwords`: the hashed character n-grams of each token (fastText's subword units,
  Bojanowski et al. 2017), so that a word never seen in train (``<unk>``) still has a spelling
  the model can read: ``unfunny`` shares ``<un``, ``fun``, ``unny>``... with words it has seen.

A batch is ``{"tokens": [B, L] int32, "lengths": [B] int32, "labels": [B] int32, "weights": [B] float32}``;
with subwords, ``tokens`` is ``[B, L, 1 + K]``: the word id, then K n-gram ids (0: none).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"\w+(?=n't)|n't|'\w+|\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lowercase words, clitics (``'s``, ``n't``) and single punctuation marks."""
    return _TOKEN.findall(text.lower())


class Vocab:
    """Words by id: ``<pad>`` = 0, ``<unk>`` = 1, then the kept words."""

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {words[:2]}")
        self.words = words
        self._ids = {w: i for i, w in enumerate(words)}
        if len(self._ids) != len(words):
            raise ValueError("vocabulary words must be distinct")

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int = 0) -> Vocab:
        """From the train split's tokens only: by frequency (ties by word), then the limits."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [w for w, c in ranked if c >= min_count and w not in (PAD, UNK)]
        if max_size:
            kept = kept[: max(max_size - 2, 0)]
        return cls([PAD, UNK, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.words == other.words

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids ``[len(tokens)]``, ``<unk>`` (1) for unknown words."""
        return np.fromiter((self._ids.get(t, 1) for t in tokens), np.int32, count=len(tokens))

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def to_json(self, path: str | Path) -> None:
        """Writes ``{"words": [...]}`` atomically (a temporary file, then a rename)."""
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"words": self.words}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def from_json(cls, path: str | Path) -> Vocab:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no vocabulary at {path} (train first, or check --workdir)")
        try:
            return cls(json.loads(path.read_text(encoding="utf-8"))["words"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path} is not a vocabulary file ({type(e).__name__}: {e})") from None


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
        words = tokenize(text)
        if max_length:
            words = words[:max_length]
        ids = vocab.encode(words) if words else np.ones(1, np.int32)
        if subwords is not None:
            grams = [subwords.ids(w) for w in words] or [np.zeros(subwords.width, np.int32)]
            ids = np.concatenate([ids[:, None], np.stack(grams)], axis=1)
        out.append(ids)
    return out


def bucket_lengths(lengths: Sequence[int], num_buckets: int, *, multiple: int = 8) -> tuple[int, ...]:
    """A few padded lengths: the quantiles ``(i + 1) / num_buckets`` of ``lengths`` rounded up to
    ``multiple``; the last always holds the longest row."""
    if not len(lengths):
        raise ValueError("no sequences to bucket")
    qs = np.quantile(np.asarray(lengths), [(i + 1) / max(num_buckets, 1) for i in range(max(num_buckets, 1))])
    edges = {int(-(-int(np.ceil(q)) // multiple) * multiple) for q in qs}
    edges.add(int(-(-max(lengths) // multiple) * multiple))
    return tuple(sorted(e for e in edges if e > 0))


def pad_batch(
    rows: Sequence[np.ndarray], labels: Sequence[int], buckets: Sequence[int], batch_size: int
) -> dict[str, np.ndarray]:
    """``rows`` (at most ``batch_size``) padded to the smallest bucket that holds the longest,
    and to ``batch_size`` rows with weight-0 padding rows."""
    longest = max(len(r) for r in rows)
    fits = [b for b in buckets if b >= longest]
    if not fits:
        raise ValueError(f"a row of {longest} tokens is longer than the largest bucket ({max(buckets)})")
    tokens = np.zeros((batch_size, fits[0], *rows[0].shape[1:]), np.int32)
    lengths = np.zeros(batch_size, np.int32)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = r
        lengths[i] = len(r)
    lengths[len(rows) :] = 1  # padding rows read one <pad> token; their weight is 0
    out_labels = np.zeros(batch_size, np.int32)
    out_labels[: len(rows)] = labels
    weights = np.zeros(batch_size, np.float32)
    weights[: len(rows)] = 1.0
    return {"tokens": tokens, "lengths": lengths, "labels": out_labels, "weights": weights}


def epoch_plan(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """One epoch's batches of example indices: shuffled, then sorted by length within pools of
    ``pool`` batches (batches of similar lengths), batches in random order; every example once."""
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    size = batch_size * pool
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def eval_batches(
    ids: Sequence[np.ndarray], labels: Sequence[int], buckets: Sequence[int], batch_size: int
) -> Iterator[dict[str, np.ndarray]]:
    """Every example once, sorted by length (least padding), the last batch padded with weight-0 rows."""
    order = np.argsort([len(r) for r in ids], kind="stable")
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        yield pad_batch([ids[i] for i in chunk], [labels[i] for i in chunk], buckets, batch_size)
