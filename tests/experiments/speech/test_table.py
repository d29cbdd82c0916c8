"""Transcript tables: good CSV and TSV tables, and a one-line error naming file and line for each bad one."""

import pickle

import pytest

from experiments.speech import table
from tests.errors import one_line_error


@pytest.fixture
def folder(tmp_path):
    """A folder with clips/a.wav, clips/b.wav, c.wav (the tables only need the files to exist)."""
    (tmp_path / "clips").mkdir()
    for name in ("clips/a.wav", "clips/b.wav", "c.wav"):
        (tmp_path / name).write_bytes(b"RIFF")
    return tmp_path


def write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_csv_with_quotes_extra_columns_and_absolute_paths(folder):
    text = (
        'Speaker,PATH,Text\nann,clips/a.wav,"call home, now"\n\n'
        f'bob,{folder / "c.wav"},"say ""stop"""\ncid,clips/../clips/b.wav,  five  \n\n'
    )
    rows = table.read_table(write(folder, "t.csv", text))
    assert rows == [
        (folder / "clips/a.wav", "call home, now"),
        (folder / "c.wav", 'say "stop"'),
        (folder / "clips/../clips/b.wav", "five"),
    ]
    assert [r.line for r in rows] == [2, 4, 5]
    path, text = rows[0]
    assert path == rows[0].path and text == rows[0].text
    assert pickle.loads(pickle.dumps(rows))[2].line == 5


@pytest.mark.parametrize("name", ["t.tsv", "t.txt"])
def test_good_tsv(folder, name):
    rows = table.read_table(write(folder, name, 'text\tpath\none, two\tclips/a.wav\n"tab\there"\tc.wav\n'))
    assert rows == [(folder / "clips/a.wav", "one, two"), (folder / "c.wav", "tab\there")]


def test_multiline_quoted_field_keeps_line_numbers(folder):
    path = write(folder, "t.csv", 'path,text\nclips/a.wav,"two\nlines"\nmissing.wav,x\n')
    with one_line_error(FileNotFoundError, r"t.csv:4: no such file: .*missing.wav"):
        table.read_table(path)


@pytest.mark.parametrize(
    "text, exc, match",
    [
        ("", ValueError, "t.csv: empty table"),
        ("clips/a.wav,hello\n", ValueError, r"t.csv:1: no column 'path' in the header"),
        ("path,transcript\nclips/a.wav,hi\n", ValueError, r"t.csv:1: no column 'text'"),
        ("path,text,Path\nclips/a.wav,hi,x\n", ValueError, r"t.csv:1: twice column 'path'"),
        ("path,text\n", ValueError, "t.csv: the table has a header but no rows"),
        ("path,text\nclips/a.wav,hi\n,hello\n", ValueError, "t.csv:3: empty path"),
        ("path,text\nclips/a.wav,\n", ValueError, "t.csv:2: missing transcript for clips/a.wav"),
        ("path,text\nclips/a.wav,  \n", ValueError, "t.csv:2: missing transcript"),
        ("path,text\nclips/zzz.wav,hi\n", FileNotFoundError, r"t.csv:2: no such file: .*zzz.wav"),
        ("path,text\nclips,hi\n", FileNotFoundError, "t.csv:2: is a directory"),
        ("path,text\nclips/a.wav,hi\nc.wav,x\n./clips/a.wav,hi\n", ValueError, r"t.csv:4: .* listed twice .*line 2"),
        ("path,text\nclips/a.wav,one, two\n", ValueError, "t.csv:2: 3 comma-separated fields, the header has 2"),
        ("path,text\nclips/a.wav\n", ValueError, "t.csv:2: 1 comma-separated fields"),
    ],
)
def test_bad_tables_are_one_line_errors(folder, text, exc, match):
    with one_line_error(exc, match):
        table.read_table(write(folder, "t.csv", text))


def test_bad_files(folder):
    with one_line_error(FileNotFoundError, "no such file"):
        table.read_table(folder / "absent.csv")
    with one_line_error(ValueError, "must be .csv, .tsv or .txt, not '.json'"):
        table.read_table(write(folder, "t.json", "path,text\n"))
    path = folder / "t.tsv"
    path.write_bytes(b"path\ttext\nc.wav\t\xff\n")
    with one_line_error(ValueError, r"t.tsv:2: not valid UTF-8"):
        table.read_table(path)


def test_check_vocabulary_names_file_line_and_symbol(folder):
    path = write(folder, "t.csv", "path,text\nclips/a.wav,call home\nc.wav,dial 9\n")
    rows = table.read_table(path)
    assert table.symbols(rows) == " 9acdehilmo"
    table.check_vocabulary(rows, "abcdefghijklmnopqrstuvwxyz 0123456789", path)
    with one_line_error(ValueError, r"t.csv:3: symbol '9' of 'dial 9' is not in the vocabulary"):
        table.check_vocabulary(rows[::-1], "abcdefghijklmnopqrstuvwxyz ", path)
    with one_line_error(ValueError, r"t.csv: .*c.wav: symbol '9'"):
        table.check_vocabulary([tuple(r) for r in rows], "abcdefghijklmnopqrstuvwxyz ", path)
