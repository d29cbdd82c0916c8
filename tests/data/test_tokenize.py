"""Tokenisers by name: chars, words (with <eos>), sst, kmers:K[:S]; joins; one-line errors."""

import pytest

from rnn_research.data import tokenize
from rnn_research.data.utf8 import decode_utf8
from tests.errors import one_line_error


def test_chars_round_trip_exactly():
    chars = tokenize.get("chars")
    assert chars("ab\nc") == ["a", "b", "\n", "c"] and chars.join(chars("ab\nc")) == "ab\nc"


def test_words_end_each_line_with_eos_and_join_lines():
    words = tokenize.get("words")
    tokens = words("the cat <unk>\n a dog \nend")
    assert tokens == ["the", "cat", "<unk>", "<eos>", "a", "dog", "<eos>", "end", "<eos>"]
    assert words.join(tokens) == "the cat <unk>\na dog\nend\n"
    assert words("") == []


def test_sst_splits_clitics_and_punctuation_and_matches_sst_own_tokenisation():
    sst = tokenize.get("sst")
    typed = sst("It's GREAT, isn't it?! I can't")
    assert typed == ["it", "'s", "great", ",", "is", "n't", "it", "?", "!", "i", "ca", "n't"]
    assert sst("it 's great , is n't it ? ! i ca n't") == typed
    assert sst("  ") == [] and sst.join(["a", "b"]) == "a b"


def test_kmers_with_stride_and_join():
    assert tokenize.get("kmers:3")("ACGTAC GTA\nC") == ["ACG", "TAC", "GTA"]  # whitespace dropped, tail dropped
    overlapping = tokenize.get("kmers:3:1")
    tokens = overlapping("ACGTA")
    assert tokens == ["ACG", "CGT", "GTA"] and overlapping.join(tokens) == "ACGTA"
    assert tokenize.get("kmers:2:2").join(["AC", "GT"]) == "ACGT" and overlapping("AC") == []


@pytest.mark.parametrize(
    "name,message",
    [
        ("bytes", r"unknown tokenizer 'bytes'; known: \['chars', 'words', 'sst', 'kmers'\]"),
        ("kmers", "expected 'kmers:K' or 'kmers:K:STRIDE'"),
        ("kmers:x", "expected 'kmers:K'"),
        ("kmers:0", "positive integers"),
        ("kmers:2:3", r"the stride \(3\) must be at most k \(2\)"),
        ("words:2", "tokenizer 'words:2' takes no arguments"),
    ],
)
def test_bad_names_are_one_line_errors(name, message):
    with one_line_error(ValueError, message):
        tokenize.get(name)


def test_decode_utf8_names_where_and_the_byte():
    assert decode_utf8("café".encode(), "f:1") == "café"
    with one_line_error(ValueError, r"f:2: text is not valid UTF-8 \(byte 0xe9 at offset 3\)"):
        decode_utf8(b"caf\xe9", "f:2")
    with one_line_error(ValueError, r"^f:3: not valid UTF-8"):
        decode_utf8(b"\xff", "f:3", "")
