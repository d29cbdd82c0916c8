"""Language-modelling data: corpora, tokenization, the vocabulary, and Zaremba-style batching.

Corpora (``config.data.source``):

* ``text``: one UTF-8 file (``data.path``), split by characters: the first ``data.train_fraction``
  (0.9) trains, the rest validates (nanoGPT's tiny-shakespeare protocol; there is no test split).
* ``ptb``: PTB-style split files ``<prefix>train.txt``, ``<prefix>valid.txt``, ``<prefix>test.txt``
  (``data.path`` is their directory, holding one such triple, or the prefix itself such as
  ``data/ptb.``); word level puts ``<eos>`` at every line end and keeps ``<unk>`` as a word.
* ``stdlib``: the offline default, the ``.py`` files of this Python's standard library (tests
  and site-packages left out), sorted by path; file ``i`` goes to valid when ``i % 20 == 18``,
  to test when ``i % 20 == 19``, else to train; with ``data.max_chars``, at most 90% of it for
  train and 5% each for valid and test (files cut at the cap).
  The corpus is whatever this Python ships, so numbers depend on the Python version.
* ``tfds``: ``tensorflow_datasets.load(data.tfds_name)`` (e.g. ``tiny_shakespeare``), when the
  user has it installed; the splits' ``text`` features.

Tokens come from the shared tokenisers (:mod:`rnn_research.data.tokenize`: ``char`` is ``chars``,
``word`` is ``words``) and the shared :class:`rnn_research.data.vocab.Vocab` (:func:`build_vocab`).

Batching follows Zaremba et al.'s reader: a split's token ids are cut to a multiple of the batch
size and reshaped to ``[B, N]`` (row ``b`` is the ``b``-th contiguous chunk of the stream); window
``i`` reads columns ``[i*S, (i+1)*S)`` as inputs and the next column of each as targets.
"""

from __future__ import annotations

import sysconfig
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnn_research.data import tokenize as tokenizers
from rnn_research.data.vocab import DEFAULT_SYMBOLS, Vocab, rank_tokens
from rnn_research.io import read_utf8, require_file

EOS, UNK = tokenizers.EOS, DEFAULT_SYMBOLS["unk"]
TOKENIZER_OF_LEVEL = {"char": "chars", "word": "words"}
LEVELS = tuple(TOKENIZER_OF_LEVEL)
SOURCES = ("text", "ptb", "stdlib", "tfds")


class Corpus(NamedTuple):
    """Token lists per split (``test`` is ``None`` where the protocol has none) and a description."""

    train: list[str]
    valid: list[str]
    test: list[str] | None
    description: str


# ---------------------------------------------------------------------------------- reading
def tokenizer(level: str) -> tokenizers.Tokenizer:
    """The shared tokeniser of ``data.level`` (``char``: ``chars``, ``word``: ``words``)."""
    if level not in TOKENIZER_OF_LEVEL:
        raise ValueError(f"data.level={level!r} is not one of {list(LEVELS)}")
    return tokenizers.get(TOKENIZER_OF_LEVEL[level])


def tokenize(text: str, level: str) -> list[str]:
    """``char``: every character; ``word``: whitespace-separated words with ``<eos>`` at each line end."""
    return tokenizer(level).split(text)


def detokenize(tokens: Sequence[str], level: str) -> str:
    """Text from tokens: characters joined; words joined by spaces, ``<eos>`` as a line break."""
    return tokenizer(level).join(tokens)


def _ptb_files(path: Path) -> dict[str, Path]:
    if path.is_dir():
        trains = sorted(path.glob("*train.txt"))
        if len(trains) != 1:
            found = [p.name for p in trains] or "none"
            raise FileNotFoundError(f"data.path: {path} must hold exactly one '*train.txt' file (found: {found})")
        prefix = str(trains[0])[: -len("train.txt")]
    else:
        prefix = str(path)
    files = {split: Path(f"{prefix}{split}.txt") for split in ("train", "valid", "test")}
    for split, file in files.items():
        require_file(file, what=f"(the {split} split)")
    return files


def stdlib_files() -> list[Path]:
    """The standard library's ``.py`` files, sorted, without tests and site-packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
    return sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))


def _stdlib_texts(max_chars: int) -> tuple[str, str, str]:
    """Train, valid, test text; with ``max_chars``, at most 90% / 5% / 5% of it per split."""
    caps = {"train": 0.9 * max_chars, "valid": 0.05 * max_chars, "test": 0.05 * max_chars}
    parts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    sizes = dict.fromkeys(parts, 0)
    for i, path in enumerate(stdlib_files()):
        split = "valid" if i % 20 == 18 else "test" if i % 20 == 19 else "train"
        if max_chars and sizes[split] >= caps[split]:
            if all(sizes[s] >= caps[s] for s in parts):
                break
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a few legacy files are not UTF-8; the corpus is defined without them
        if max_chars:
            text = text[: int(caps[split] - sizes[split]) + 1]
        parts[split].append(text)
        sizes[split] += len(text)
    return tuple("".join(parts[s]) for s in ("train", "valid", "test"))  # type: ignore[return-value]


def _tfds_texts(name: str) -> tuple[str, str, str | None]:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ValueError("data.source='tfds' needs tensorflow-datasets (pip install tensorflow-datasets)") from None
    builder = tfds.builder(name)
    builder.download_and_prepare()
    splits = builder.info.splits

    def text(split: str) -> str:
        return "".join(ex["text"].decode("utf-8") for ex in tfds.as_numpy(builder.as_dataset(split=split)))

    valid = "validation" if "validation" in splits else "test"
    return text("train"), text(valid), text("test") if "test" in splits and valid != "test" else None


def load_corpus(data: Any) -> Corpus:
    """Tokens of each split as ``config.data`` describes (see the module docstring)."""
    level = data.level
    if level not in LEVELS:
        raise ValueError(f"data.level={level!r} is not one of {list(LEVELS)}")
    if data.source in ("stdlib", "tfds") and data.get("path"):  # e.g. a smoke variant, which reads stdlib
        raise ValueError(
            f"data.path={data.path!r} is set but data.source={data.source!r} does not read it; "
            "add --config.data.source=text (one file) or --config.data.source=ptb (a PTB-style directory)"
        )
    if data.source == "text":
        if not data.path:
            raise ValueError("data.path is required with data.source='text'")
        text = read_utf8(data.path)
        if not 0.0 < data.train_fraction < 1.0:
            raise ValueError(f"data.train_fraction must be in (0, 1), got {data.train_fraction}")
        cut = int(len(text) * data.train_fraction)
        train, valid = tokenize(text[:cut], level), tokenize(text[cut:], level)
        return Corpus(train, valid, None, f"{data.path} (first {data.train_fraction:.0%} of characters train)")
    if data.source == "ptb":
        if not data.path:
            raise ValueError("data.path is required with data.source='ptb'")
        files = _ptb_files(Path(data.path))
        splits = [tokenize(read_utf8(files[s], f"data.path ({s})"), level) for s in ("train", "valid", "test")]
        return Corpus(
            *splits, f"{files['train'].parent}/{files['train'].name[: -len('train.txt')]}{{train,valid,test}}.txt"
        )
    if data.source == "stdlib":
        texts = _stdlib_texts(data.max_chars)
        return Corpus(*(tokenize(t, level) for t in texts), f"Python {sysconfig.get_python_version()} stdlib .py files")
    if data.source == "tfds":
        train, valid, test = _tfds_texts(data.tfds_name)
        return Corpus(
            tokenize(train, level),
            tokenize(valid, level),
            None if test is None else tokenize(test, level),
            f"tfds:{data.tfds_name}",
        )
    raise ValueError(f"data.source={data.source!r} is not one of {list(SOURCES)}")


# ------------------------------------------------------------------------------- vocabulary
def build_vocab(
    train: Iterable[str], level: str, *, min_count: int = 1, max_size: int = 0, others: Iterable[Iterable[str]] = ()
) -> Vocab:
    """From the train tokens only: by frequency (ties by symbol), ``min_count``, ``max_size``.

    ``unk`` is ``<unk>``, the LAST id: always at word level (PTB's own ``<unk>`` is kept as that
    word); at char level only when a character is dropped by the limits or occurs in ``others``
    (valid/test) but not in train. ``others`` never adds a symbol. Characters are sorted. Word
    level marks ``<eos>`` as the eos symbol when present. (This order predates the shared
    :meth:`Vocab.build`; it is kept so that earlier workdirs resume with the same ids.)
    """
    counts = Counter(train)
    kept = rank_tokens(counts, min_count=min_count, exclude=[UNK])
    if max_size:  # at word level one place is kept for <unk>
        kept = kept[: max_size - 1] if level == "word" else kept[:max_size]
    known = set(kept)
    needs_unk = level == "word" or len(known) < len(counts) or any(t not in known for o in others for t in o)
    symbols = sorted(kept) if level == "char" else kept
    eos = EOS if level == "word" and EOS in known else None
    if len(symbols) + needs_unk < 2:  # one symbol: every prediction is right, loss 0 (a fake perfect model)
        raise ValueError(
            f"the vocabulary would hold {len(symbols) + needs_unk} symbol ({[*symbols, UNK][:1]}): nothing to predict; "
            "raise data.max_vocab or lower data.min_count"
        )
    return Vocab([*symbols, UNK] if needs_unk else symbols, level, unk=UNK if needs_unk else None, eos=eos)


# --------------------------------------------------------------------------------- batching
def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """``[N]`` ids -> ``[B, N // B]``: row ``b`` is the ``b``-th contiguous chunk (the tail is dropped)."""
    cols = len(ids) // batch_size
    return np.asarray(ids[: cols * batch_size], np.int32).reshape(batch_size, cols)


def num_windows(stream: np.ndarray, num_steps: int, split: str, tokens: int | None = None, source: str = "") -> int:
    """Windows of ``num_steps`` inputs (plus one target column) in ``stream [B, N]``; errors if none.
    ``tokens`` (the split's length before it was cut into rows) and ``source`` (the corpus) are
    for the message."""
    batch, cols = stream.shape
    windows = (cols - 1) // num_steps
    if windows < 1:
        total = batch * cols if tokens is None else tokens
        where = f" of {source}" if source else ""
        raise ValueError(
            f"the {split} split{where} is too short: {total} tokens make {batch} rows of {cols}, but one window "
            f"needs {num_steps + 1} per row (a longer data.path, or a lower train.batch_size or data.num_steps)"
        )
    return windows


def window(stream: np.ndarray, index: int, num_steps: int) -> dict[str, np.ndarray]:
    """Window ``index`` of ``stream [B, N]``: ``inputs`` and next-token ``targets``, both ``[B, S]``."""
    start = index * num_steps
    return {
        "inputs": stream[:, start : start + num_steps],
        "targets": stream[:, start + 1 : start + num_steps + 1],
    }
