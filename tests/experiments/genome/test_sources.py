"""Genome sources: CSV/TSV tables, the UCI splice file, FASTA files and folders, checks, planted motifs."""

import collections
import gzip

import numpy as np
import pytest

from experiments.genome import sequences as sq
from experiments.genome import sources as src
from experiments.genome.sources import Records
from tests.errors import one_line_error
from tests.paths import SHARED_DATA

SPLICE = SHARED_DATA / "splice" / "splice.csv"


def write(path, text: str, gz: bool = False):
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def decoded(records: Records) -> list[str]:
    return [sq.decode(codes) for codes in records.sequences]


# ---------------------------------------------------------------------------------- tables
def test_read_table_csv_strips_fields_and_skips_blank_lines(tmp_path):
    path = write(tmp_path / "t.csv", "sequence , label\n acgt , yes\n\nGGNA,no\n")
    records = src.read_table(path)
    assert decoded(records) == ["ACGT", "GGNA"]
    assert records.labels == ["yes", "no"]
    assert records.where == [f"{path}:2", f"{path}:4"]
    assert records.names == records.where  # no name column
    assert all(codes.dtype == np.int8 for codes in records.sequences)


@pytest.mark.parametrize("name", ["t.tsv", "t.tab", "t.tsv.gz"])
def test_read_table_tsv_and_gzip_by_suffix(tmp_path, name):
    path = write(tmp_path / name, "id\tseq\tclass\nr1\tACGT\tA\nr2\tTTTT\tB\n", gz=name.endswith(".gz"))
    records = src.read_table(path, sequence_column="seq", label_column="class", name_column="id")
    assert decoded(records) == ["ACGT", "TTTT"]
    assert records.labels == ["A", "B"] and records.names == ["r1", "r2"]


def test_read_table_explicit_delimiter(tmp_path):
    path = write(tmp_path / "t.txt", "sequence;label\nACGT;x\n")
    assert src.read_table(path, delimiter=";").labels == ["x"]


@pytest.mark.parametrize(
    "text, kwargs, match",
    [
        ("seq,label\nACGT,x\n", {}, r"t\.csv:1: no column 'sequence' \(header: seq, label\)$"),
        ("sequence,label\nACGT,x\n", {"name_column": "id"}, r"t\.csv:1: no column 'id' \(header: sequence, label\)$"),
        ("sequence,label\n ,x\n", {}, r"t\.csv:2: column 'sequence' is empty$"),
        ("sequence,label\nACGT, \n", {}, r"t\.csv:2: column 'label' is empty$"),
        (
            "sequence,label\nACGT,x\n\nACXT,y\n",
            {},
            r"t\.csv:4: column 'sequence': position 3: 'X' is not an IUPAC nucleotide code",
        ),
        ("sequence,label\nACGT,x,extra\n", {}, r"t\.csv:2: 3 fields, the header has 2 \(sequence, label\)$"),
        ("sequence,label,label\nACGT,x,y\n", {}, r"t\.csv:1: the header repeats column\(s\) \['label'\]"),
        ("sequence,label\n", {}, r"t\.csv has a header but no data rows$"),
        ("\n\n", {}, r"t\.csv is empty$"),
        ('sequence,label\n"AC"GT",x\n', {}, r"t\.csv:2: cannot read as CSV"),
    ],
)
def test_read_table_errors_name_file_line_and_column(tmp_path, text, kwargs, match):
    path = write(tmp_path / "t.csv", text)
    with one_line_error(ValueError, match):
        src.read_table(path, **kwargs)


def test_unreadable_files_are_one_line_errors(tmp_path):
    with one_line_error(FileNotFoundError, r"no such file: .*missing\.csv$"):
        src.read_table(tmp_path / "missing.csv")
    with one_line_error(FileNotFoundError, "is a directory"):
        src.read_fasta(tmp_path)
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with one_line_error(ValueError, r"bad\.csv\.gz: cannot gunzip"):
        src.read_table(tmp_path / "bad.csv.gz")
    (tmp_path / "latin.csv").write_bytes(b"sequence,label\nACGT,caf\xe9\n")
    with one_line_error(ValueError, r"latin\.csv:2: not valid UTF-8 \(byte 0xe9"):
        src.read_table(tmp_path / "latin.csv")


def test_read_splice_layout(tmp_path):
    text = (
        "Class, Donor,                          Sequence\n"
        "EI,    ATRINS-DONOR-521,               CCAGCTGCATCACAGGAGGC\n"
        "IE,    HUMSPRO-ACCEPTOR-2841,          ATACCCCTTTTCACTTTRCC\n"
        "N,     HUMMHB27B-NEG-1201,             GDGACGGGGCTGACCGCGGN\n"
    )
    records = src.read_splice(write(tmp_path / "splice.csv", text))
    assert records.labels == ["EI", "IE", "N"]
    assert records.names == ["ATRINS-DONOR-521", "HUMSPRO-ACCEPTOR-2841", "HUMMHB27B-NEG-1201"]
    assert decoded(records)[2] == "GDGACGGGGCTGACCGCGGN"
    src.check_labels(records, src.SPLICE_LABELS)
    src.check_length(records, 20)


@pytest.mark.skipif(not SPLICE.exists(), reason=f"{SPLICE} is not present")
def test_read_splice_real_file():
    records = src.read_splice(SPLICE)
    assert len(records.sequences) == 3190
    assert collections.Counter(records.labels) == {"EI": 767, "IE": 768, "N": 1655}
    src.check_labels(records, src.SPLICE_LABELS)
    src.check_length(records, 60)
    codes = np.concatenate(records.sequences)
    found = {sq.SYMBOLS[c] for c in np.unique(codes)}
    assert found == set("ACGTDNSR")
    assert records.names[0] == "ATRINS-DONOR-521" and records.where[0] == f"{SPLICE}:2"


# ---------------------------------------------------------------------------------- FASTA
FASTA = ">r1 some description EI\nACGT\nacgn\n\n>r2 IE\nTTTT\n"


@pytest.mark.parametrize("name", ["x.fa", "x.fa.gz"])
def test_read_fasta_concatenates_lines(tmp_path, name):
    path = write(tmp_path / name, FASTA, gz=name.endswith(".gz"))
    records = src.read_fasta(path)
    assert decoded(records) == ["ACGTACGN", "TTTT"]
    assert records.labels == ["EI", "IE"]
    assert records.names == ["r1", "r2"]
    assert records.where == [f"{path}:1", f"{path}:5"]


@pytest.mark.parametrize(
    "text, match",
    [
        (">r1\nACGT\n", r"x\.fa:1: the header '>r1' has no label"),
        (">\nACGT\n", r"x\.fa:1: the header '>' has no label"),
        ("ACGT\n>r1 EI\nACGT\n", r"x\.fa:1: a sequence line before the first '>' header$"),
        (">r1 EI\n>r2 IE\nACGT\n", r"x\.fa:1: record 'r1' has no sequence lines$"),
        (">r1 EI\nACGT\n\n>r2 IE\n", r"x\.fa:4: record 'r2' has no sequence lines$"),
        (">r1 EI\nACGT\nAC*T\n", r"x\.fa:3: position 3: '\*' is not an IUPAC nucleotide code"),
        ("\n\n", r"x\.fa has no FASTA records"),
    ],
)
def test_read_fasta_errors(tmp_path, text, match):
    with one_line_error(ValueError, match):
        src.read_fasta(write(tmp_path / "x.fa", text))


def test_read_fasta_folder_labels_from_file_stems(tmp_path):
    write(tmp_path / "promoter.fa", ">p1\nACGT\n>p2 extra words\nGGGG\n")
    write(tmp_path / "random.fasta.gz", ">q1\nTTAA\n", gz=True)
    write(tmp_path / "README.md", "not a FASTA file")
    records = src.read_fasta_folder(tmp_path)
    assert records.labels == ["promoter", "promoter", "random"]
    assert records.names == ["p1", "p2", "q1"]
    assert decoded(records) == ["ACGT", "GGGG", "TTAA"]
    assert records.where[2] == f"{tmp_path / 'random.fasta.gz'}:1"


def test_read_fasta_folder_errors(tmp_path):
    write(tmp_path / "notes.txt", "nothing")
    with one_line_error(ValueError, r"no FASTA files \(<label>\.fa, <label>\.fasta, <label>\.fna"):
        src.read_fasta_folder(tmp_path)
    with one_line_error(ValueError, "no such folder"):
        src.read_fasta_folder(tmp_path / "absent")
    with one_line_error(ValueError, "not a folder"):
        src.read_fasta_folder(tmp_path / "notes.txt")
    write(tmp_path / "a.fa", ">x\nACGT\n")
    write(tmp_path / "a.fna", ">y\nACGT\n")
    with one_line_error(ValueError, r"two files for label 'a': a\.fa and a\.fna"):
        src.read_fasta_folder(tmp_path)


# ---------------------------------------------------------------------------------- checks
def test_check_labels_and_length(tmp_path):
    path = write(tmp_path / "t.csv", "sequence,label\nACGT,EI\nACGTA,XX\n")
    records = src.read_table(path)
    assert src.check_labels(records, None) is records
    assert src.check_length(records, None) is records
    with one_line_error(ValueError, r"t\.csv:3: label 'XX' is not one of the declared labels \[EI, IE, N\]$"):
        src.check_labels(records, ["EI", "IE", "N"])
    with one_line_error(ValueError, r"t\.csv:3: a sequence of length 5, expected 4$"):
        src.check_length(records, 4)


# ---------------------------------------------------------------------------------- motifs
def has(codes: np.ndarray, motif: np.ndarray) -> bool:
    windows = np.lib.stride_tricks.sliding_window_view(codes, len(motif))
    return bool((windows == motif).all(axis=1).any())


def test_generate_motifs_plants_the_motif_and_keeps_background_clean():
    records, starts = src.generate_motifs(400, length=60, motif="TATAAT", seed=3)
    counts = collections.Counter(records.labels)
    assert set(counts) == {"motif", "background"}
    assert abs(counts["motif"] - counts["background"]) <= 0.1 * 400
    motif = sq.encode("TATAAT")
    reverse = sq.reverse_complement(motif)
    assert starts.shape == (400,)
    for codes, label, start in zip(records.sequences, records.labels, starts):
        assert codes.shape == (60,) and codes.dtype == np.int8 and codes.max() < 4
        if label == "motif":
            assert 0 <= start <= 60 - 6
            np.testing.assert_array_equal(codes[start : start + 6], motif)
        else:
            assert start == -1
            assert not has(codes, motif) and not has(codes, reverse)


def test_generate_motifs_is_deterministic_by_seed():
    a, starts_a = src.generate_motifs(50, length=40, seed=7)
    b, starts_b = src.generate_motifs(50, length=40, seed=7)
    c, starts_c = src.generate_motifs(50, length=40, seed=8)
    assert decoded(a) == decoded(b) and a.labels == b.labels
    np.testing.assert_array_equal(starts_a, starts_b)
    assert decoded(a) != decoded(c)


def test_generate_motifs_background_follows_the_chain():
    records, _ = src.generate_motifs(200, length=200, seed=0)
    background = np.stack([c for c, label in zip(records.sequences, records.labels) if label == "background"])
    pairs = np.zeros((4, 4))
    np.add.at(pairs, (background[:, :-1].ravel(), background[:, 1:].ravel()), 1)
    # loose: rejecting TATAAT barely moves the transition frequencies
    np.testing.assert_allclose(pairs / pairs.sum(axis=1, keepdims=True), src.TRANSITIONS, atol=0.03)


def test_generate_motifs_errors():
    with one_line_error(ValueError, r"motif 'TANA' must be written in A, C, G, T only"):
        src.generate_motifs(4, motif="TANA")
    with one_line_error(ValueError, r"generate_motifs: motif: position 2: 'X'"):
        src.generate_motifs(4, motif="TXT")
    with one_line_error(ValueError, r"length=3 is shorter than the motif 'TATAAT'"):
        src.generate_motifs(4, length=3)
    with one_line_error(ValueError, r"num=0 must be a positive integer"):
        src.generate_motifs(0)
    with one_line_error(ValueError, r"still hold motif 'A'"):
        src.generate_motifs(4, length=20, motif="A")
