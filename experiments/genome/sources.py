"""Labelled DNA sequences: CSV/TSV tables, FASTA files and folders, and a synthetic motif task.

Every reader returns :class:`Records`: parallel lists of code arrays (``int8 [L_i]``, see
``experiments/genome/sequences.py``), labels, names and ``where`` (``file:line`` of the record, for
error messages). Files may be gzipped (``.gz``). Errors are one line naming the file and line, and
the column where there is one.

* :func:`read_table`: a CSV (or TSV: ``.tsv``/``.tab``) with a header; fields are stripped of
  spaces; blank lines are skipped; every row has the header's number of fields.
* :func:`read_splice`: the UCI splice-junction layout (Towell, Shavlik & Noordewier 1992): header
  ``Class, Donor, Sequence``, fields padded with spaces, labels EI, IE and N, 60 nucleotides each.
* :func:`read_fasta`: ``>name label`` headers (the label is the header's last word, the name its
  first), sequence lines concatenated until the next header; blank lines are skipped.
* :func:`read_fasta_folder`: one FASTA file per class, ``<label>.fa`` (``.fasta``, ``.fna``,
  optionally ``.gz``); the label is the file's stem and headers need no label.
* :func:`generate_motifs`: the offline default, a planted-motif task on Markov background.

:func:`check_labels` and :func:`check_length` check records against a declared label set and a
fixed length.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from experiments.genome.sequences import BASES, encode, reverse_complement

SPLICE_COLUMNS = ("Class", "Donor", "Sequence")  # label, name, sequence
SPLICE_LABELS = ("EI", "IE", "N")
FASTA_SUFFIXES = (".fa", ".fasta", ".fna")

# Background chain of generate_motifs: P(next base | current base), rows and columns A, C, G, T.
# Mildly GC-rich (stationary GC about 52%) with the CpG depletion of vertebrate DNA (C -> G is 0.10).
TRANSITIONS = np.array(
    [
        [0.28, 0.22, 0.30, 0.20],
        [0.28, 0.30, 0.10, 0.32],
        [0.22, 0.30, 0.30, 0.18],
        [0.16, 0.24, 0.32, 0.28],
    ]
)
TRANSITIONS.flags.writeable = False
MAX_REDRAWS = 1000


class Records(NamedTuple):
    """Labelled sequences: code arrays (``int8 [L_i]``), labels, names, and ``where`` (``file:line``)."""

    sequences: list[np.ndarray]
    labels: list[str]
    names: list[str]
    where: list[str]


# ---------------------------------------------------------------------------------- files
def _read_text(path: Path) -> str:
    """The UTF-8 text of ``path`` (gunzipped for ``.gz``; a leading BOM dropped)."""
    if path.is_dir():
        raise FileNotFoundError(f"{path}: is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: cannot gunzip: {' '.join(str(e).split())}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    return text.removeprefix("\ufeff")


def _stem(path: Path) -> tuple[str, str]:
    """``(stem, suffix)`` of a file name without ``.gz``: ``EI.fa.gz`` -> ``("EI", ".fa")``."""
    name = path.name.removesuffix(".gz")
    stem, dot, suffix = name.rpartition(".")
    return (stem, dot + suffix) if dot else (name, "")


# ---------------------------------------------------------------------------------- tables
def read_table(
    path: str | Path,
    sequence_column: str = "sequence",
    label_column: str = "label",
    delimiter: str | None = None,
    name_column: str | None = None,
) -> Records:
    """Records of a CSV/TSV file with a header (see the module docstring).

    ``delimiter`` None picks a tab for ``.tsv``/``.tab`` (before any ``.gz``) and a comma otherwise.
    Column names are matched after stripping spaces. Names come from ``name_column``; without one a
    record's name is its ``file:line``.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if _stem(path)[1] in (".tsv", ".tab") else ","
    text = _read_text(path)
    reader = csv.reader(text.splitlines(), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []  # (line, stripped fields), blank lines left out
    try:
        for fields in reader:
            if len(fields) > 1 or (fields and fields[0].strip()):
                rows.append((reader.line_num, [f.strip() for f in fields]))
    except csv.Error as e:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise ValueError(f"{path}:{reader.line_num}: cannot read as {kind}: {e}") from None
    if not rows:
        raise ValueError(f"{path} is empty")
    header_line, header = rows[0]
    shown = ", ".join(header)
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValueError(f"{path}:{header_line}: the header repeats column(s) {repeated} (header: {shown})")
    wanted = [sequence_column, label_column] + ([name_column] if name_column is not None else [])
    for column in wanted:
        if column not in header:
            raise ValueError(f"{path}:{header_line}: no column {column!r} (header: {shown})")
    if len(rows) == 1:
        raise ValueError(f"{path} has a header but no data rows")
    seq_j, label_j = header.index(sequence_column), header.index(label_column)
    name_j = header.index(name_column) if name_column is not None else None
    records = Records([], [], [], [])
    for line, fields in rows[1:]:
        where = f"{path}:{line}"
        if len(fields) != len(header):
            raise ValueError(f"{where}: {len(fields)} fields, the header has {len(header)} ({shown})")
        for column, j in ((sequence_column, seq_j), (label_column, label_j)):
            if not fields[j]:
                raise ValueError(f"{where}: column {column!r} is empty")
        records.sequences.append(encode(fields[seq_j], where=f"{where}: column {sequence_column!r}"))
        records.labels.append(fields[label_j])
        records.names.append(fields[name_j] if name_j is not None else where)
        records.where.append(where)
    return records


def read_splice(path: str | Path) -> Records:
    """Records of the UCI splice-junction file (``Class, Donor, Sequence``; labels EI, IE, N; names from Donor)."""
    label, name, sequence = SPLICE_COLUMNS
    return read_table(path, sequence_column=sequence, label_column=label, delimiter=",", name_column=name)


# ---------------------------------------------------------------------------------- FASTA
def _parse_fasta(path: Path, label: str | None) -> Records:
    """Records of one FASTA file; ``label`` None reads each record's label from its header's last word."""
    records = Records([], [], [], [])
    header_where: str | None = None
    parts: list[np.ndarray] = []

    def close() -> None:
        if header_where is None:
            return
        if not parts:
            raise ValueError(f"{header_where}: record {records.names[-1]!r} has no sequence lines")
        records.sequences.append(np.concatenate(parts))

    for number, line in enumerate(_read_text(path).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        where = f"{path}:{number}"
        if line.startswith(">"):
            close()
            words = line[1:].split()
            if label is None:
                if len(words) < 2:
                    raise ValueError(
                        f"{where}: the header {line!r} has no label (write '>name label'; the label is the last word)"
                    )
                records.labels.append(words[-1])
            else:
                records.labels.append(label)
            records.names.append(words[0] if words else where)
            records.where.append(where)
            header_where, parts = where, []
        elif header_where is None:
            raise ValueError(f"{where}: a sequence line before the first '>' header")
        else:
            parts.append(encode(line, where=where))
    close()
    if not records.sequences:
        raise ValueError(f"{path} has no FASTA records (no '>' header)")
    return records


def read_fasta(path: str | Path) -> Records:
    """Records of a FASTA file whose headers read ``>name label`` (see the module docstring)."""
    return _parse_fasta(Path(path), label=None)


def read_fasta_folder(path: str | Path) -> Records:
    """Records of a folder holding one FASTA file per class (``<label>.fa``, ``.fasta``, ``.fna``, optionally
    ``.gz``), files in label order; other files are ignored."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder" if path.exists() else f"no such folder: {path}")
    files: dict[str, Path] = {}
    for file in sorted(path.iterdir()):
        stem, suffix = _stem(file)
        if not file.is_file() or suffix not in FASTA_SUFFIXES or not stem:
            continue
        if stem in files:
            raise ValueError(f"{path}: two files for label {stem!r}: {files[stem].name} and {file.name}")
        files[stem] = file
    if not files:
        shown = ", ".join(f"<label>{s}" for s in FASTA_SUFFIXES)
        raise ValueError(f"{path}: no FASTA files ({shown}, optionally .gz), one per class")
    records = Records([], [], [], [])
    for stem in sorted(files):
        for mine, theirs in zip(records, _parse_fasta(files[stem], label=stem)):
            mine.extend(theirs)
    return records


# ---------------------------------------------------------------------------------- checks
def check_labels(records: Records, allowed: Sequence[str] | None) -> Records:
    """``records`` unchanged when every label is in ``allowed`` (None: any label); else a one-line error
    naming the record's ``file:line``."""
    if allowed is None:
        return records
    known = set(allowed)
    for label, where in zip(records.labels, records.where):
        if label not in known:
            raise ValueError(f"{where}: label {label!r} is not one of the declared labels [{', '.join(allowed)}]")
    return records


def check_length(records: Records, length: int | None) -> Records:
    """``records`` unchanged when every sequence has ``length`` codes (None: any length); else a one-line
    error naming the record's ``file:line``, the length found and the one expected."""
    if length is None:
        return records
    for codes, where in zip(records.sequences, records.where):
        if len(codes) != length:
            raise ValueError(f"{where}: a sequence of length {len(codes)}, expected {length}")
    return records


# ---------------------------------------------------------------------------------- synthetic
def _stationary(transitions: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(transitions.T)
    vector = np.real(vectors[:, np.argmax(np.real(values))])
    return vector / vector.sum()


def _markov(rng: np.random.Generator, num: int, length: int) -> np.ndarray:
    """``[num, length]`` int8 ACGT codes from the :data:`TRANSITIONS` chain (first base from its
    stationary distribution)."""
    cumulative = np.cumsum(TRANSITIONS, axis=1)
    first = np.cumsum(_stationary(TRANSITIONS))
    uniform = rng.random((num, length))
    out = np.empty((num, length), np.int8)
    out[:, 0] = np.minimum((uniform[:, :1] > first[None, :]).sum(axis=1), 3)
    for t in range(1, length):
        out[:, t] = np.minimum((uniform[:, t : t + 1] > cumulative[out[:, t - 1]]).sum(axis=1), 3)
    return out


def _contains(batch: np.ndarray, motif: np.ndarray) -> np.ndarray:
    """``[N]`` bool: whether each row of ``batch: [N, L]`` holds ``motif: [M]`` anywhere."""
    windows = np.lib.stride_tricks.sliding_window_view(batch, len(motif), axis=1)
    return (windows == motif).all(axis=-1).any(axis=-1)


def generate_motifs(num: int, length: int = 100, motif: str = "TATAAT", seed: int = 0) -> tuple[Records, np.ndarray]:
    """A planted-motif task: ``(records, starts [num])``, deterministic by ``seed``.

    Every sequence is drawn from an order-1 Markov chain over ACGT (:data:`TRANSITIONS`: rows are
    the current base A, C, G, T, columns the next one)::

        A  0.28 0.22 0.30 0.20
        C  0.28 0.30 0.10 0.32
        G  0.22 0.30 0.30 0.18
        T  0.16 0.24 0.32 0.28

    its first base from the chain's stationary distribution (about 52% GC). ``num // 2`` sequences,
    chosen by the seeded RNG, are labelled ``"motif"`` and have ``motif`` (ACGT only) written at a
    uniformly random start, fully inside; ``starts`` holds it, ``-1`` for the others, labelled
    ``"background"``, which are drawn again until neither strand holds the motif (an error after
    :data:`MAX_REDRAWS` rounds: a motif too short for the length). Names are ``generated-<i>``.
    """
    if not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"generate_motifs: num={num!r} must be a positive integer")
    pattern = encode(motif, where="generate_motifs: motif")
    if (pattern >= len(BASES)).any():
        raise ValueError(f"generate_motifs: motif {motif!r} must be written in A, C, G, T only")
    if not isinstance(length, (int, np.integer)) or length < len(pattern):
        raise ValueError(f"generate_motifs: length={length!r} is shorter than the motif {motif!r}")
    rng = np.random.default_rng(seed)
    batch = _markov(rng, num, length)
    positive = np.zeros(num, bool)
    positive[rng.permutation(num)[: num // 2]] = True
    starts = np.where(positive, rng.integers(0, length - len(pattern) + 1, num), -1)
    strands = (pattern, reverse_complement(pattern))
    negative = np.flatnonzero(~positive)
    for _ in range(MAX_REDRAWS):
        hit = negative[_contains(batch[negative], strands[0]) | _contains(batch[negative], strands[1])]
        if not len(hit):
            break
        batch[hit] = _markov(rng, len(hit), length)
        negative = hit
    else:
        raise ValueError(
            f"generate_motifs: after {MAX_REDRAWS} draws some background sequences of length {length} still hold "
            f"motif {motif!r}; use a longer motif or shorter sequences"
        )
    for i in np.flatnonzero(positive):
        batch[i, starts[i] : starts[i] + len(pattern)] = pattern
    labels = ["motif" if p else "background" for p in positive]
    names = [f"generated-{i}" for i in range(num)]
    where = [f"generate_motifs(seed={seed}):{i}" for i in range(num)]
    return Records([row.copy() for row in batch], labels, names, where), starts.astype(np.int64)
