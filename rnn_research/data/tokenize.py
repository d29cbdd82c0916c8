"""Tokenisers chosen by name: ``get("words")``, ``get("kmers:3")``; :data:`TOKENIZERS` lists them.

* ``chars``: every character (line breaks included); joins back exactly.
* ``words``: whitespace-separated words with ``<eos>`` at each line end (the language model's
  word level); joins words by spaces, ``<eos>`` as a line break.
* ``sst``: lowercase words with clitics and punctuation split off, Penn Treebank style
  (``"It's great, isn't it!"`` -> ``it 's great , is n't it !``); already-tokenised text such as
  SST's ``it 's`` gives the same tokens. Joins by spaces (lowercase; not the original text).
* ``kmers:K`` or ``kmers:K:S``: the length-``K`` substrings of a DNA-like string at stride ``S``
  (default ``K``: non-overlapping), whitespace removed first; a tail shorter than ``K`` is
  dropped. Joins back the covered string when ``S <= K``.

No JAX here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

EOS = "<eos>"
_SST_TOKEN = re.compile(r"\w+(?=n't)|n't|'\w+|\w+|[^\w\s]")

__all__ = ["EOS", "TOKENIZERS", "Tokenizer", "chars", "get", "join_kmers", "join_words", "kmers", "sst_words", "words"]


@dataclass(frozen=True)
class Tokenizer:
    """``split(text) -> tokens`` and ``join(tokens) -> text`` under a ``name`` that :func:`get` accepts."""

    name: str
    split: Callable[[str], list[str]]
    join: Callable[[Sequence[str]], str]

    def __call__(self, text: str) -> list[str]:
        return self.split(text)


def chars(text: str) -> list[str]:
    """Every character of ``text``."""
    return list(text)


def words(text: str) -> list[str]:
    """Whitespace-separated words with ``<eos>`` after each line."""
    tokens: list[str] = []
    for line in text.splitlines():
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def join_words(tokens: Sequence[str]) -> str:
    """Words joined by spaces, ``<eos>`` as a line break (no line break after the last line)."""
    lines, line = [], []
    for token in tokens:
        if token == EOS:
            lines.append(" ".join(line))
            line = []
        else:
            line.append(token)
    return "\n".join([*lines, " ".join(line)])


def sst_words(text: str) -> list[str]:
    """Lowercase words, clitics (``'s``, ``n't``) and single punctuation marks."""
    return _SST_TOKEN.findall(text.lower())


def kmers(text: str, k: int, stride: int | None = None) -> list[str]:
    """The length-``k`` substrings of ``text`` (whitespace removed) starting every ``stride`` (default ``k``)."""
    step = k if stride is None else stride
    seq = "".join(text.split())
    return [seq[i : i + k] for i in range(0, len(seq) - k + 1, step)]


def join_kmers(tokens: Sequence[str], stride: int) -> str:
    """The string ``tokens`` cover, for k-mers taken at ``stride`` (at most their length)."""
    if not tokens:
        return ""
    k = len(tokens[0])
    return tokens[0] + "".join(t[k - stride :] for t in tokens[1:])


def _kmer_tokenizer(name: str, args: list[str]) -> Tokenizer:
    try:
        sizes = [int(a) for a in args]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise ValueError(f"tokenizer {name!r}: expected 'kmers:K' or 'kmers:K:STRIDE' with positive integers")
    k, stride = sizes[0], sizes[-1] if len(sizes) == 2 else sizes[0]
    if stride > k:
        raise ValueError(f"tokenizer {name!r}: the stride ({stride}) must be at most k ({k})")
    return Tokenizer(name, lambda text: kmers(text, k, stride), lambda tokens: join_kmers(tokens, stride))


def _plain(split: Callable[[str], list[str]], join: Callable[[Sequence[str]], str]) -> Callable:
    def make(name: str, args: list[str]) -> Tokenizer:
        if args:
            raise ValueError(f"tokenizer {name!r} takes no arguments")
        return Tokenizer(name, split, join)

    return make


TOKENIZERS: dict[str, Callable[[str, list[str]], Tokenizer]] = {
    "chars": _plain(chars, "".join),
    "words": _plain(words, join_words),
    "sst": _plain(sst_words, " ".join),
    "kmers": _kmer_tokenizer,
}


def get(name: str) -> Tokenizer:
    """The tokeniser ``name`` (``"chars"``, ``"words"``, ``"sst"``, ``"kmers:K[:STRIDE]"``);
    an unknown name is a one-line error listing the known ones."""
    base, *args = str(name).split(":")
    make = TOKENIZERS.get(base)
    if make is None:
        raise ValueError(f"unknown tokenizer {name!r}; known: {list(TOKENIZERS)} (kmers as 'kmers:K[:STRIDE]')")
    return make(name, args)
