"""The shared vocabulary: specials first, ranking and limits, encode/decode, one JSON format,
both earlier formats loaded with the same ids, one-line errors, and no JAX on import."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rnn_research.data.vocab import SPECIALS, Vocab, count_tokens, rank_tokens
from tests.errors import one_line_error
from tests.paths import ROOT

TOKENS = [["b", "a", "b"], ["c", "b", "a", "d"]]


def test_ranking_by_count_ties_by_token_with_min_count_and_max_size():
    counts = count_tokens(TOKENS)
    assert rank_tokens(counts) == ["b", "a", "c", "d"]
    assert rank_tokens(counts, min_count=2) == ["b", "a"]
    assert rank_tokens(counts, max_size=3, exclude=["a"]) == ["b", "c", "d"]


def test_specials_come_first_in_the_stated_order_and_count_towards_max_size():
    vocab = Vocab.build(TOKENS, ("blank", "eos", "pad", "unk", "bos"))
    assert SPECIALS == ("pad", "unk", "bos", "eos", "blank")
    assert vocab.symbols[:5] == ["<pad>", "<unk>", "<bos>", "<eos>", "<blank>"]
    ids = (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id, vocab.blank_id)
    assert ids == (0, 1, 2, 3, 4) and vocab.symbols[5:] == ["b", "a", "c", "d"]
    small = Vocab.build(TOKENS, ("pad", "unk"), max_size=3, level="sst")
    assert small.symbols == ["<pad>", "<unk>", "b"] and len(small) == 3
    assert Vocab.build(TOKENS, ("pad", "unk"), min_count=2).symbols == ["<pad>", "<unk>", "b", "a"]
    plain = Vocab.build(TOKENS, ("eos",), symbols={"eos": "</s>"})
    assert plain.symbols[0] == "</s>" and (plain.eos_id, plain.pad_id, plain.unk_id) == (0, None, None)
    with one_line_error(ValueError, r"unknown special symbol names \['mask'\]"):
        Vocab.build(TOKENS, ("mask",))


def test_encode_decode_unknowns_and_equality():
    vocab = Vocab.build(TOKENS, ("pad", "unk"))
    np.testing.assert_array_equal(vocab.encode(["a", "zzz", "d"]), [3, 1, 5])
    assert vocab.encode(["a"]).dtype == np.int32 and vocab.decode(np.array([2, 1])) == ["b", "<unk>"]
    strict = Vocab(["x", "y"])
    with one_line_error(ValueError, r"no unk symbol: \['z'\]"):
        strict.encode(["x", "z"])
    assert vocab == Vocab.build(TOKENS, ("pad", "unk")) and vocab != Vocab.build(TOKENS, ("pad", "unk"), level="w")
    assert Vocab(["a", "b"], unk="b") != Vocab(["a", "b"])
    with one_line_error(ValueError, "distinct"):
        Vocab(["a", "a"])
    with one_line_error(ValueError, "unk symbol '<unk>' is not in the vocabulary"):
        Vocab(["a"], unk="<unk>")


def test_json_round_trip_is_atomic_and_the_one_format(tmp_path):
    vocab = Vocab.build(TOKENS, ("pad", "unk", "eos"), level="words")
    path = tmp_path / "vocab.json"
    vocab.to_json(path)
    assert json.loads(path.read_text()) == {
        "symbols": ["<pad>", "<unk>", "<eos>", "b", "a", "c", "d"],
        "specials": {"pad": "<pad>", "unk": "<unk>", "eos": "<eos>"},
        "level": "words",
    }
    assert Vocab.from_json(path) == vocab and [p.name for p in tmp_path.iterdir()] == ["vocab.json"]


def test_old_classification_words_format_loads_with_the_same_ids(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"words": ["<pad>", "<unk>", "b", "a", "c"]}))
    vocab = Vocab.from_json(path)
    assert (vocab.pad_id, vocab.unk_id, vocab.level) == (0, 1, "sst")
    np.testing.assert_array_equal(vocab.encode(["a", "c", "new"]), [3, 4, 1])
    assert vocab == Vocab.build([["b", "b", "b", "a", "a", "c"]], ("pad", "unk"), level="sst")  # what training builds


def test_old_language_model_format_loads_with_the_same_ids(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"level": "word", "unk": "<unk>", "symbols": ["the", "<eos>", "cat", "<unk>"]}))
    vocab = Vocab.from_json(path)
    assert (vocab.level, vocab.unk, vocab.unk_id, vocab.eos_id, vocab.pad_id) == ("word", "<unk>", 3, 1, None)
    np.testing.assert_array_equal(vocab.encode(["cat", "dog", "the"]), [2, 3, 0])
    path.write_text(json.dumps({"level": "char", "unk": None, "symbols": list("abc")}))
    chars = Vocab.from_json(path)
    assert (chars.level, chars.unk, chars.eos_id) == ("char", None, None) and chars.decode([2, 0]) == ["c", "a"]


@pytest.mark.parametrize(
    "content,reason",
    [
        ("{not json", "JSONDecodeError"),
        ("[1, 2]", "a JSON object is expected"),
        ('{"tokens": ["a"]}', r"keys \['tokens'\], expected"),
        ('{"words": ["a", "<unk>"]}', "a words list starts with '<pad>', '<unk>'"),
        ('{"level": "char", "unk": "?", "symbols": ["a"]}', "unk symbol '\\?' is not in the vocabulary"),
        ('{"symbols": [1, 2], "specials": {}, "level": null}', "symbols must be strings"),
    ],
)
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "vocab.json"
    path.write_text(content)
    with one_line_error(ValueError, rf"{path} is not a vocabulary file \(.*{reason}"):
        Vocab.from_json(path)


def test_missing_file_names_it(tmp_path):
    with one_line_error(FileNotFoundError, f"no vocabulary at {tmp_path / 'none.json'}"):
        Vocab.from_json(tmp_path / "none.json")


def test_the_data_toolkit_imports_without_jax():
    code = (
        "import sys\n"
        "import rnn_research.data.vocab, rnn_research.data.tokenize, rnn_research.data.batching\n"
        "import rnn_research.data.utf8, rnn_research.data.fields\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'optax'))\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
