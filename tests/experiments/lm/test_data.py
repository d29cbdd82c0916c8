"""Language-modelling data: reading, tokenization, the vocabulary, corpora and Zaremba batching."""

import ml_collections
import numpy as np
import pytest

from experiments.lm import data as lm_data
from experiments.lm.data import EOS, UNK, build_vocab
from rnn_research.data.vocab import Vocab


def data_config(**overrides):
    config = ml_collections.ConfigDict(
        dict(source="text", path="", level="char", train_fraction=0.9, max_chars=0, tfds_name="")
    )
    config.update(overrides)
    return config


def test_corpus_read_errors_name_the_key_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.path: no such file: .*missing.txt"):
        lm_data.load_corpus(data_config(path=str(tmp_path / "missing.txt")))
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(ValueError, match="empty.txt is empty"):
        lm_data.load_corpus(data_config(path=str(tmp_path / "empty.txt")))
    (tmp_path / "latin1.txt").write_bytes("one\ntwo\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt:3: not valid UTF-8 \(byte 0xe9 at offset 11\)"):
        lm_data.load_corpus(data_config(path=str(tmp_path / "latin1.txt")))


def test_word_tokens_end_lines_with_eos_and_round_trip():
    text = "the cat <unk>\n a dog \nend"
    tokens = lm_data.tokenize(text, "word")
    assert tokens == ["the", "cat", UNK, EOS, "a", "dog", EOS, "end", EOS]
    assert lm_data.detokenize(tokens, "word") == "the cat <unk>\na dog\nend\n"
    assert lm_data.detokenize(lm_data.tokenize("ab\nc", "char"), "char") == "ab\nc"


def test_vocab_is_built_from_train_only_and_round_trips_through_json(tmp_path):
    vocab = build_vocab(list("abracadabra"), "char", others=[list("cab")])
    assert vocab.symbols == ["a", "b", "c", "d", "r"] and vocab.unk is None
    with_unk = build_vocab(list("abracadabra"), "char", others=[list("zebra")])
    assert with_unk.symbols[-1] == UNK and "z" not in with_unk.symbols  # others never add symbols
    np.testing.assert_array_equal(with_unk.encode(list("zab")), [5, 0, 1])
    with pytest.raises(ValueError, match="no unk symbol"):
        vocab.encode(list("zz"))
    path = tmp_path / "vocab.json"
    with_unk.to_json(path)
    again = Vocab.from_json(path)
    assert again == with_unk and again.decode(again.encode(list("bad"))) == list("bad")
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # written atomically, no leftovers


def test_word_vocab_keeps_ptb_unk_once_orders_by_frequency_and_limits():
    words = "b a a c <unk> a b <unk>".split()
    vocab = build_vocab(words, "word")
    assert vocab.symbols == ["a", "b", "c", UNK] and vocab.unk == UNK and vocab.unk_id == 3
    with_eos = build_vocab(lm_data.tokenize("a b\nb", "word"), "word")
    assert with_eos.symbols == [EOS, "b", "a", UNK] and with_eos.eos_id == 0  # ties by symbol
    assert build_vocab(words, "word", min_count=2).symbols == ["a", "b", UNK]
    assert build_vocab(words, "word", max_size=2).symbols == ["a", UNK]
    assert build_vocab(list("aab"), "char", min_count=2).symbols == ["a", UNK]


def test_vocab_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no vocabulary at"):
        Vocab.from_json(tmp_path / "vocab.json")
    (tmp_path / "vocab.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not a vocabulary file"):
        Vocab.from_json(tmp_path / "vocab.json")


def test_ptb_split_files_by_directory_or_prefix(tmp_path):
    texts = {"train": " the cat sat \n a <unk> sat \n", "valid": " the dog \n", "test": " a cat \n"}
    for split, text in texts.items():
        (tmp_path / f"ptb.{split}.txt").write_text(text)
    for path in (tmp_path, f"{tmp_path}/ptb."):
        corpus = lm_data.load_corpus(data_config(source="ptb", path=str(path), level="word"))
        assert corpus.train == ["the", "cat", "sat", EOS, "a", UNK, "sat", EOS]
        assert corpus.valid == ["the", "dog", EOS] and corpus.test == ["a", "cat", EOS]
    (tmp_path / "ptb.test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"no such file: .*ptb.test.txt \(the test split\)"):
        lm_data.load_corpus(data_config(source="ptb", path=str(tmp_path), level="word"))


def test_text_file_splits_ninety_ten_by_characters(tmp_path):
    (tmp_path / "input.txt").write_text("abcdefghij" * 10)
    corpus = lm_data.load_corpus(data_config(path=str(tmp_path / "input.txt")))
    assert "".join(corpus.train) == ("abcdefghij" * 10)[:90] and "".join(corpus.valid) == "abcdefghij"
    assert corpus.test is None


def test_stdlib_corpus_is_sorted_split_and_capped():
    files = lm_data.stdlib_files()
    assert files == sorted(files) and all(p.suffix == ".py" for p in files)
    assert not any("site-packages" in p.parts or "test" in p.parts for p in files)
    corpus = lm_data.load_corpus(data_config(source="stdlib", max_chars=20_000))
    assert 17_000 <= len(corpus.train) <= 18_001 and 900 <= len(corpus.valid) <= 1_001
    assert 900 <= len(corpus.test) <= 1_001
    assert corpus == lm_data.load_corpus(data_config(source="stdlib", max_chars=20_000))


def test_unknown_level_and_source_name_the_key():
    with pytest.raises(ValueError, match="data.level='byte'"):
        lm_data.load_corpus(data_config(level="byte"))
    with pytest.raises(ValueError, match="data.source='web'"):
        lm_data.load_corpus(data_config(source="web"))


def test_a_path_the_source_does_not_read_is_refused(tmp_path):
    """lm/char.py:smoke reads the stdlib corpus: a data.path given to it was silently ignored."""
    with pytest.raises(
        ValueError, match=r"data.path='.*mine.txt' is set but data.source='stdlib' does not read it; add "
    ):
        lm_data.load_corpus(data_config(source="stdlib", path=str(tmp_path / "mine.txt"), max_chars=1000))


def test_batching_is_zaremba_reader():
    ids = np.arange(23, dtype=np.int32)
    stream = lm_data.batchify(ids, 2)  # 11 columns, the last id dropped
    np.testing.assert_array_equal(stream[1], np.arange(11, 22))
    assert lm_data.num_windows(stream, 3, "train") == 3  # (11 - 1) // 3
    second = lm_data.window(stream, 1, 3)
    np.testing.assert_array_equal(second["inputs"], [[3, 4, 5], [14, 15, 16]])
    np.testing.assert_array_equal(second["targets"], [[4, 5, 6], [15, 16, 17]])
    with pytest.raises(ValueError, match="the valid split is too short: 10 tokens make 2 rows of 5"):
        lm_data.num_windows(lm_data.batchify(np.arange(10), 2), 5, "valid")
    # Fewer tokens than rows: the count is the split's own, not the 0 left after cutting into rows.
    with pytest.raises(ValueError, match=r"the train split of corpus\.txt is too short: 9 tokens make 16 rows of 0"):
        lm_data.num_windows(lm_data.batchify(np.arange(9), 16), 5, "train", 9, "corpus.txt")


def test_tfds_source_without_tensorflow_datasets_says_how_to_get_it():
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorflow-datasets is installed")
    with pytest.raises(ValueError, match=r"needs tensorflow-datasets \(pip install tensorflow-datasets\)"):
        lm_data.load_corpus(data_config(source="tfds", tfds_name="tiny_shakespeare"))
