"""A user's own speech data: a folder of audio files listed with their transcripts in a table.

The table is CSV (``.csv``) or TSV (``.tsv`` or ``.txt``), UTF-8, with a header line naming at least
the columns ``path`` and ``text`` (found by name, case-insensitive; other columns are ignored).
Fields may be quoted (``"one, two"``) as Python's ``csv`` module reads them; lines holding only
whitespace are skipped. A relative path is resolved against the table's folder::

    path,text,speaker
    clips/0001.wav,"call home, now",ann
    /data/other/0002.wav,stop,bob

Every error is one line naming the table and the line (1-based, the header is line 1): no
header naming ``path`` and ``text``, a row with the wrong number of fields, an empty path, an empty
text ("missing transcript"), a path that is not a file, the same file twice, no rows at all; and,
from :func:`check_vocabulary`, a transcript symbol outside the model's vocabulary.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from rnn_research.io import read_utf8

DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


class Row(tuple):
    """One utterance: a ``(path, text)`` pair (it unpacks as two) that also knows its table ``line``."""

    path = property(lambda self: self[0], doc="The audio file.")
    text = property(lambda self: self[1], doc="Its transcript.")

    def __new__(cls, path: Path, text: str, line: int) -> Row:
        row = super().__new__(cls, (path, text))
        row.line = line
        return row

    def __getnewargs__(self) -> tuple[Path, str, int]:
        return self[0], self[1], self.line

    def __repr__(self) -> str:
        return f"Row({self[0]!r}, {self[1]!r}, line={self.line})"


def _records(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """``(first line number, fields)`` per non-blank record of the CSV/TSV ``text``."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[path.suffix.lower()])
    records, start = [], 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                records.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as e:
        raise ValueError(f"{path}:{reader.line_num}: {e}") from None
    return records


def _columns(path: Path, header: list[str]) -> tuple[int, int]:
    """The positions of the ``path`` and ``text`` columns in the header (line 1), or a one-line error."""
    names = [h.strip().lower() for h in header]
    for name in ("path", "text"):
        if names.count(name) != 1:
            found = "twice" if names.count(name) > 1 else "no"
            raise ValueError(
                f"{path}:1: {found} column {name!r} in the header {header!r} (the first line must name path and text)"
            )
    return names.index("path"), names.index("text")


def read_table(path: str | Path) -> list[Row]:
    """``(audio path, transcript)`` per row of the table at ``path``, in file order, each checked.

    Relative paths are resolved against the table's folder; each :class:`Row` keeps its line for later errors.
    """
    path = Path(path)
    if path.suffix.lower() not in DELIMITERS:
        raise ValueError(f"{path}: a transcript table must be .csv, .tsv or .txt, not {path.suffix or 'no suffix'!r}")
    records = _records(path, read_utf8(path, "transcript table", allow_empty=True))
    if not records:
        raise ValueError(f"{path}: empty table (the first line must name the columns path and text)")
    (_, header), rows = records[0], records[1:]
    path_at, text_at = _columns(path, header)
    if not rows:
        raise ValueError(f"{path}: the table has a header but no rows")
    out, seen = [], {}
    for line, fields in rows:
        where = f"{path}:{line}"
        if len(fields) != len(header):
            kind = "comma" if path.suffix.lower() == ".csv" else "tab"
            raise ValueError(
                f"{where}: {len(fields)} {kind}-separated fields, the header has {len(header)} (quote fields with {kind}s)"
            )
        audio, text = fields[path_at].strip(), fields[text_at].strip()
        if not audio:
            raise ValueError(f"{where}: empty path")
        if not text:
            raise ValueError(f"{where}: missing transcript for {audio}")
        file = Path(audio).expanduser()
        file = file if file.is_absolute() else path.parent / file
        if not file.is_file():
            raise FileNotFoundError(f"{where}: {'is a directory' if file.is_dir() else 'no such file'}: {file}")
        key = file.resolve()
        if key in seen:
            raise ValueError(f"{where}: {audio} is listed twice (first on line {seen[key]})")
        seen[key] = line
        out.append(Row(file, text, line))
    return out


def symbols(rows: Sequence[tuple[Path, str] | Row]) -> str:
    """Every symbol used in the transcripts, sorted, as one string."""
    return "".join(sorted({ch for row in rows for ch in row[1]}))


def check_vocabulary(rows: Sequence[tuple[Path, str] | Row], alphabet: str, where: str | Path) -> None:
    """A one-line error naming ``where`` (the table), the line and the symbol if a transcript leaves ``alphabet``.

    Rows from :func:`read_table` give their table line (in any order or subset); plain pairs their audio file.
    """
    allowed = set(alphabet)
    for row in rows:
        for ch in row[1]:
            if ch not in allowed:
                at = f"{where}:{row.line}" if isinstance(row, Row) else f"{where}: {row[0]}"
                raise ValueError(f"{at}: symbol {ch!r} of {row[1]!r} is not in the vocabulary {alphabet!r}")
