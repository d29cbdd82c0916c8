"""DNA codes: IUPAC encoding and its errors, one-hot profiles, reverse complements, k-mers."""

import numpy as np
import pytest

from experiments.genome import sequences as sq
from experiments.genome.sequences import COMPLEMENT, PAD, PROBS, SYMBOLS
from tests.errors import one_line_error

AMBIGUOUS = "ACGTRYSWKMBDHVN"  # every code once


def test_symbols_are_iupac_with_acgt_first():
    assert SYMBOLS == "ACGTRYSWKMBDHVN"
    assert PAD == len(SYMBOLS)
    assert sq.decode(np.arange(4, dtype=np.int8)) == "ACGT"


def test_probs_rows_are_uniform_over_their_bases():
    assert PROBS.shape == (15, 4) and PROBS.dtype == np.float32
    np.testing.assert_allclose(PROBS.sum(axis=1), 1.0, rtol=1e-6)
    expected = {
        "A": [1, 0, 0, 0],
        "T": [0, 0, 0, 1],
        "R": [0.5, 0, 0.5, 0],
        "Y": [0, 0.5, 0, 0.5],
        "S": [0, 0.5, 0.5, 0],
        "W": [0.5, 0, 0, 0.5],
        "K": [0, 0, 0.5, 0.5],
        "M": [0.5, 0.5, 0, 0],
        "B": [0, 1 / 3, 1 / 3, 1 / 3],
        "D": [1 / 3, 0, 1 / 3, 1 / 3],
        "H": [1 / 3, 1 / 3, 0, 1 / 3],
        "V": [1 / 3, 1 / 3, 1 / 3, 0],
        "N": [0.25] * 4,
    }
    for symbol, row in expected.items():
        np.testing.assert_allclose(PROBS[SYMBOLS.index(symbol)], row, rtol=1e-6, err_msg=symbol)


def test_complement_pairs_and_matches_reversed_channels():
    pairs = {"A": "T", "C": "G", "R": "Y", "K": "M", "S": "S", "W": "W", "B": "V", "D": "H", "N": "N"}
    for a, b in pairs.items():
        assert SYMBOLS[COMPLEMENT[SYMBOLS.index(a)]] == b
        assert SYMBOLS[COMPLEMENT[SYMBOLS.index(b)]] == a
    np.testing.assert_array_equal(COMPLEMENT[COMPLEMENT], np.arange(15))
    np.testing.assert_array_equal(PROBS[COMPLEMENT], PROBS[:, ::-1])


def test_encode_is_case_insensitive_reads_u_as_t_and_strips_ends():
    codes = sq.encode("  acgUNn\n\t")
    assert codes.dtype == np.int8
    assert sq.decode(codes) == "ACGTNN"
    assert sq.decode(sq.encode(AMBIGUOUS.lower())) == AMBIGUOUS


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "ACGXT",
            r"^splice\.csv:12: position 4: 'X' is not an IUPAC nucleotide code \(A C G T R Y S W K M B D H V N\)$",
        ),
        ("AC GT", r"^splice\.csv:12: position 3: ' ' is not an IUPAC"),
        ("AC-GT", r"^splice\.csv:12: position 3: '-' is not an IUPAC"),
        ("ACGé", r"^splice\.csv:12: position 4: 'é' is not an IUPAC"),
        ("AC\nGT", r"^splice\.csv:12: position 3: '\\n' is not an IUPAC"),
        ("   ", r"^splice\.csv:12: empty sequence$"),
        ("", r"^splice\.csv:12: empty sequence$"),
    ],
)
def test_encode_errors_name_where_position_and_symbol(text, match):
    with one_line_error(ValueError, match):
        sq.encode(text, where="splice.csv:12")


def test_bad_code_ids_are_refused():
    with one_line_error(ValueError, r"code id 15 is outside 0\.\.14$"):
        sq.decode(np.array([0, 15]))
    with one_line_error(ValueError, r"code id -1 is outside 0\.\.14 or PAD=15"):
        sq.one_hot(np.array([0, -1]))
    with one_line_error(ValueError, "integer code ids"):
        sq.reverse_complement(np.array([0.0, 1.0]))


def test_one_hot_reads_probs_and_pad_is_zero():
    codes = np.array([[0, 4, 14, PAD], [3, 1, PAD, PAD]], np.int8)
    x = sq.one_hot(codes)
    assert x.shape == (2, 4, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(x[0, 1], [0.5, 0, 0.5, 0])
    np.testing.assert_array_equal(x[0, 2], [0.25] * 4)
    np.testing.assert_array_equal(x[0, 3], 0)
    np.testing.assert_array_equal(x[1, 2:], 0)


def test_reverse_complement_hand_cases_and_involution():
    assert sq.decode(sq.reverse_complement(sq.encode("AACGTT"))) == "AACGTT"
    assert sq.decode(sq.reverse_complement(sq.encode("ACCGN"))) == "NCGGT"
    assert sq.decode(sq.reverse_complement(sq.encode("RYKMBDSW"))) == "WSHVKMRY"
    codes = sq.encode(AMBIGUOUS + "GATTACA")
    back = sq.reverse_complement(sq.reverse_complement(codes))
    assert back.dtype == np.int8
    np.testing.assert_array_equal(back, codes)


def random_batch(rng, batch=6, width=9):
    lengths = rng.integers(0, width + 1, batch)
    lengths[0], lengths[1] = width, 0
    codes = rng.integers(0, 15, (batch, width)).astype(np.int8)
    codes[np.arange(width)[None, :] >= lengths[:, None]] = PAD
    return codes, lengths


def test_reverse_complement_batch_reverses_only_the_valid_prefix():
    codes = np.stack([sq.encode("ACGRN"), np.array([0, 1, 4, PAD, PAD], np.int8)])
    out = sq.reverse_complement_batch(codes, np.array([5, 3]), pad=PAD)
    assert out.dtype == np.int8
    assert sq.decode(out[0]) == "NYCGT"
    np.testing.assert_array_equal(out[1], [SYMBOLS.index("Y"), 2, 3, PAD, PAD])
    # whatever sits after the prefix becomes pad
    junk = np.array([[0, 1, 2, 3]], np.int8)
    np.testing.assert_array_equal(sq.reverse_complement_batch(junk, np.array([2]), pad=-1), [[2, 3, -1, -1]])


def test_reverse_complement_batch_is_an_involution_and_matches_rows():
    rng = np.random.default_rng(0)
    codes, lengths = random_batch(rng)
    once = sq.reverse_complement_batch(codes, lengths, pad=PAD)
    np.testing.assert_array_equal(sq.reverse_complement_batch(once, lengths, pad=PAD), codes)
    for row, n in zip(range(len(codes)), lengths):
        if n:
            np.testing.assert_array_equal(once[row, :n], sq.reverse_complement(codes[row, :n]))
        assert (once[row, n:] == PAD).all()


def test_reverse_complement_one_hot_matches_one_hot_of_reverse_complement():
    rng = np.random.default_rng(1)
    codes, lengths = random_batch(rng, batch=8, width=12)
    x = sq.one_hot(codes)
    flipped = sq.reverse_complement_one_hot(x, lengths)
    assert flipped.shape == x.shape and flipped.dtype == np.float32
    np.testing.assert_array_equal(flipped, sq.one_hot(sq.reverse_complement_batch(codes, lengths, pad=PAD)))
    np.testing.assert_array_equal(sq.reverse_complement_one_hot(flipped, lengths), x)
    # every ambiguity code, unpadded
    full = sq.encode(AMBIGUOUS)[None]
    np.testing.assert_array_equal(
        sq.reverse_complement_one_hot(sq.one_hot(full), np.array([15])),
        sq.one_hot(sq.reverse_complement(full[0]))[None],
    )


def test_batched_reverse_complement_errors():
    codes = np.zeros((2, 4), np.int8)
    with one_line_error(ValueError, r"row 1 has length 5, outside 0\.\.4"):
        sq.reverse_complement_batch(codes, np.array([4, 5]))
    with one_line_error(ValueError, r"lengths of shape \[2\]"):
        sq.reverse_complement_one_hot(sq.one_hot(codes), np.array([4]))
    with one_line_error(ValueError, r"shape \[B, L, 4\]"):
        sq.reverse_complement_one_hot(np.zeros((2, 4)), np.array([4, 4]))
    with one_line_error(ValueError, r"code id 15 is outside"):
        sq.reverse_complement_batch(np.full((1, 3), PAD, np.int8), np.array([2]))


def test_kmers_hand_cases():
    ids = sq.kmers(sq.encode("ACGT"), k=1, stride=1)
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, [0, 1, 2, 3])
    np.testing.assert_array_equal(sq.kmers(sq.encode("ACGTAC"), k=2, stride=2), [1, 11, 1])
    np.testing.assert_array_equal(sq.kmers(sq.encode("AACGN"), k=3, stride=1), [1, 6, 64])
    np.testing.assert_array_equal(sq.kmers(sq.encode("TTT"), k=3, stride=5), [63])
    np.testing.assert_array_equal(sq.kmers(sq.encode("ACGTA"), k=2, stride=2), [1, 11])  # the last base is dropped
    assert sq.kmer_vocab_size(1) == 6 and sq.kmer_vocab_size(3) == 66


def test_kmers_count_and_range():
    codes = sq.encode("ACGTRACGTTGCAN" * 3)
    for k in (1, 2, 5):
        for stride in (1, 2, 3):
            ids = sq.kmers(codes, k, stride)
            assert len(ids) == (len(codes) - k) // stride + 1
            assert ids.min() >= 0 and ids.max() <= 4**k < sq.kmer_vocab_size(k)


def test_kmers_errors():
    with one_line_error(ValueError, r"length 3 is shorter than k=4$"):
        sq.kmers(sq.encode("ACG"), k=4, stride=1)
    with one_line_error(ValueError, r"k=0 must be an integer in 1\.\.15"):
        sq.kmers(sq.encode("ACG"), k=0, stride=1)
    with one_line_error(ValueError, r"k=16 must be"):
        sq.kmer_vocab_size(16)
    with one_line_error(ValueError, r"stride=0 must be a positive integer"):
        sq.kmers(sq.encode("ACG"), k=1, stride=0)
