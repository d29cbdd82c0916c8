"""One vocabulary for every experiment: symbols by id, optional special symbols, one JSON format.

* Specials (each optional): ``pad``, ``unk``, ``bos``, ``eos`` and the CTC ``blank``.
  :meth:`Vocab.build` places the ones asked for first, in that order (``SPECIALS``), then the
  counted tokens by count (ties by token), kept when seen ``min_count`` times, at most
  ``max_size`` ids in all. A vocabulary loaded from disk may hold its specials anywhere.
* ``level`` records what a token is (``"char"``, ``"word"``, a tokeniser name such as ``"sst"``),
  so that inference tokenises as training did; it is saved and compared, never interpreted.
* On disk (:meth:`Vocab.to_json`, atomic): ``{"symbols": [...], "specials": {"unk": "<unk>", ...},
  "level": ...}``. :meth:`Vocab.from_json` also reads the two earlier formats with the same ids:
  ``{"words": [...]}`` (classification: ``<pad>`` id 0, ``<unk>`` id 1, level ``"sst"``) and
  ``{"level", "unk", "symbols"}`` (language model; at word level ``<eos>`` is marked eos).
  Errors are one line naming the file.

No JAX here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnn_research.io import atomic_write_json

SPECIALS = ("pad", "unk", "bos", "eos", "blank")
DEFAULT_SYMBOLS = {"pad": "<pad>", "unk": "<unk>", "bos": "<bos>", "eos": "<eos>", "blank": "<blank>"}
CLASSIFICATION_LEVEL = "sst"  # the level of a vocabulary saved as {"words": [...]}

__all__ = ["DEFAULT_SYMBOLS", "SPECIALS", "Vocab", "count_tokens", "rank_tokens"]


def count_tokens(token_lists: Iterable[Iterable[str]]) -> Counter:
    """Occurrences of each token over all ``token_lists``."""
    return Counter(t for tokens in token_lists for t in tokens)


def rank_tokens(
    counts: Mapping[str, int], *, min_count: int = 1, max_size: int = 0, exclude: Iterable[str] = ()
) -> list[str]:
    """Tokens by count (ties by token: the same order on every machine), those seen at least
    ``min_count`` times and not in ``exclude``, at most ``max_size`` of them (0: all)."""
    skip = set(exclude)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [t for t, c in ranked if c >= min_count and t not in skip]
    return kept[:max_size] if max_size else kept


class Vocab:
    """Symbols by id; ``specials`` maps a name of ``SPECIALS`` to its symbol (which is in ``symbols``)."""

    def __init__(
        self,
        symbols: Sequence[str],
        level: str | None = None,
        *,
        specials: Mapping[str, str] | None = None,
        **named: str,
    ) -> None:
        """``Vocab(symbols, level, unk="<unk>")``: specials by keyword or as a ``specials`` mapping."""
        self.symbols, self.level = list(symbols), level
        if not all(isinstance(s, str) for s in self.symbols):
            raise TypeError("vocabulary symbols must be strings")
        given = {**(specials or {}), **named}
        unknown = sorted(set(given) - set(SPECIALS))
        if unknown:
            raise ValueError(f"unknown special symbol names {unknown}; known: {list(SPECIALS)}")
        self.specials = {k: given[k] for k in SPECIALS if given.get(k) is not None}
        self._ids = {s: i for i, s in enumerate(self.symbols)}
        if len(self._ids) != len(self.symbols):
            raise ValueError("vocabulary symbols must be distinct")
        for name, symbol in self.specials.items():
            if symbol not in self._ids:
                raise ValueError(f"{name} symbol {symbol!r} is not in the vocabulary")

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Iterable[str]],
        specials: Sequence[str] = (),
        *,
        min_count: int = 1,
        max_size: int = 0,
        level: str | None = None,
        symbols: Mapping[str, str] | None = None,
    ) -> Vocab:
        """``specials`` (names from ``SPECIALS``, placed first in that order; their symbols from
        ``symbols`` else ``DEFAULT_SYMBOLS``), then the tokens of ``token_lists`` ranked by
        :func:`rank_tokens`; ``max_size`` (0: no limit) counts the specials too."""
        unknown = [s for s in specials if s not in SPECIALS]
        if unknown:
            raise ValueError(f"unknown special symbol names {unknown}; known: {list(SPECIALS)}")
        named = {name: (symbols or {}).get(name, DEFAULT_SYMBOLS[name]) for name in SPECIALS if name in specials}
        first = list(named.values())
        room = max(max_size - len(first), 0) if max_size else 0
        kept = rank_tokens(count_tokens(token_lists), min_count=min_count, exclude=first)
        if max_size:
            kept = kept[:room]
        return cls([*first, *kept], level, specials=named)

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return (self.symbols, self.specials, self.level) == (other.symbols, other.specials, other.level)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} symbols, level={self.level!r}, specials={self.specials})"

    def _special_id(self, name: str) -> int | None:
        symbol = self.specials.get(name)
        return None if symbol is None else self._ids[symbol]

    @property
    def pad_id(self) -> int | None:
        return self._special_id("pad")

    @property
    def unk_id(self) -> int | None:
        return self._special_id("unk")

    @property
    def bos_id(self) -> int | None:
        return self._special_id("bos")

    @property
    def eos_id(self) -> int | None:
        return self._special_id("eos")

    @property
    def blank_id(self) -> int | None:
        return self._special_id("blank")

    @property
    def unk(self) -> str | None:
        """The unknown-token symbol, or None."""
        return self.specials.get("unk")

    def id_of(self, symbol: str) -> int | None:
        """The id of ``symbol``, None when it is not in the vocabulary."""
        return self._ids.get(symbol)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids ``[len(tokens)] int32``; unknown tokens get ``unk_id``, an error when there is none."""
        unk = self.unk_id
        missing = -1 if unk is None else unk
        ids = np.fromiter((self._ids.get(t, missing) for t in tokens), np.int32, count=len(tokens))
        if unk is None and (ids < 0).any():
            absent = sorted({t for t, i in zip(tokens, ids) if i < 0})[:5]
            raise ValueError(f"tokens not in the vocabulary and no unk symbol: {absent}")
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The symbols of ``ids`` (any iterable of ints, e.g. ``[T]`` int array)."""
        return [self.symbols[int(i)] for i in ids]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object :meth:`to_json` writes."""
        return {"symbols": self.symbols, "specials": self.specials, "level": self.level}

    def to_json(self, path: str | Path) -> None:
        """Writes :meth:`to_dict` to ``path`` atomically."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any) -> Vocab:
        """A vocabulary from the current JSON object or either earlier one (see the module docstring)."""
        if not isinstance(obj, dict):
            raise TypeError(f"a JSON object is expected, found a {type(obj).__name__}")
        keys = set(obj)
        if keys == {"words"}:
            words = obj["words"]
            if list(words[:2]) != [DEFAULT_SYMBOLS["pad"], DEFAULT_SYMBOLS["unk"]]:
                raise ValueError(f"a words list starts with '<pad>', '<unk>', got {list(words[:2])}")
            return cls(words, CLASSIFICATION_LEVEL, pad=words[0], unk=words[1])
        if keys == {"level", "unk", "symbols"}:  # word level: "<eos>" ends each line
            eos = DEFAULT_SYMBOLS["eos"]
            marked = eos if obj["level"] == "word" and eos in obj["symbols"] else None
            return cls(obj["symbols"], obj["level"], unk=obj["unk"], eos=marked)
        if keys == {"symbols", "specials", "level"}:
            return cls(obj["symbols"], obj["level"], specials=obj["specials"])
        raise KeyError(f"keys {sorted(keys)}, expected ['level', 'specials', 'symbols']")

    @classmethod
    def from_json(cls, path: str | Path) -> Vocab:
        """Reads :meth:`to_json`'s file, or an earlier format; one-line errors naming ``path``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no vocabulary at {path} (train first, or check --workdir)")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            reason = str(e).strip("'\"").splitlines()[0] if str(e) else ""
            raise ValueError(f"{path} is not a vocabulary file ({type(e).__name__}: {reason})") from None
