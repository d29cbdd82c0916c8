"""Subword (hashed character n-gram) embeddings for sentiment: ids, padding, OOV words, word dropout, predict."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.classification import synthetic as sentiment_synthetic
from experiments.classification import task as sentiment
from experiments.classification import text
from rnn_research import train
from tests.experiments.classification.test_task import glue_fixture, smoke_config

SUBWORDS = text.Subwords((3, 4), 50, 6)


def test_fnv1a_matches_the_published_test_vectors():
    assert text.fnv1a(b"") == 0x811C9DC5
    assert text.fnv1a(b"a") == 0xE40C292C
    assert text.fnv1a(b"foobar") == 0xBF9CF968


def test_subword_ids_are_the_hashed_ngrams_of_the_marked_word_shorter_first():
    grams = ["<ab", "ab>", "<ab>"]  # n = 3, then n = 4, of "<ab>"
    expected = [1 + text.fnv1a(g.encode()) % 50 for g in grams] + [0, 0, 0]
    np.testing.assert_array_equal(SUBWORDS.ids("ab"), expected)
    long = SUBWORDS.ids("wonderful")  # 9 three-grams and 8 four-grams: the first 6 three-grams kept
    np.testing.assert_array_equal(
        long, [1 + text.fnv1a(g.encode()) % 50 for g in ["<wo", "won", "ond", "nde", "der", "erf"]]
    )
    assert (long >= 1).all() and (long <= 50).all()
    with pytest.raises(ValueError, match="1 <= min <= max"):
        text.Subwords((4, 3), 50, 6)


def test_encode_all_puts_the_word_id_then_its_ngrams_and_keeps_the_spelling_of_unknown_words():
    vocab = text.words_vocab(["<pad>", "<unk>", "funny"])
    funny, unfunny, empty = text.encode_all(vocab, ["funny", "unfunny film", ""], 0, SUBWORDS)
    assert funny.shape == (1, 7) and unfunny.shape == (2, 7) and empty.shape == (1, 7)
    assert unfunny[0, 0] == 1 and (unfunny[0, 1:] > 0).all()  # <unk>, but spelled
    assert set(unfunny[0, 1:]) & set(funny[0, 1:])  # "unn", "nny", ... shared with "funny"
    np.testing.assert_array_equal(empty, [[1, 0, 0, 0, 0, 0, 0]])
    (cut,) = text.encode_all(vocab, ["unfunny film indeed"], 2, SUBWORDS)
    assert cut.shape == (2, 7)


def subword_model(**model):
    config = sentiment_synthetic.get_config("smoke")
    config.model.update(subword_buckets=50, subword_ngrams="3,4", subword_width=6, **model)
    net = sentiment.make_model(config, {"vocab_size": 30, "num_classes": 2})
    params = net.init(jax.random.key(0), jnp.zeros((1, 4, 7), jnp.int32), jnp.ones(1, jnp.int32))["params"]
    return net, params, sentiment.make_subwords(config.model)


def test_padding_and_batch_neighbours_do_not_change_a_prediction_with_subwords():
    net, params, subwords = subword_model(pooling="attention", bidirectional=True)
    vocab = text.words_vocab(["<pad>", "<unk>", "good", "film", "dull"])
    rows = text.encode_all(vocab, ["a good film", "dull , unwatchable and overlong film", "meh"], 0, subwords)
    apply = jax.jit(lambda tokens, lengths: net.apply({"params": params}, tokens, lengths))
    alone = [
        apply(*(lambda b: (b["tokens"], b["lengths"]))(text.labelled_batch([r], [0], [len(r)], 1)))[0] for r in rows
    ]
    padded = text.labelled_batch(rows, [0] * 3, [16], 8)
    tokens = padded["tokens"].copy()
    beyond = np.arange(tokens.shape[1])[None, :] >= padded["lengths"][:, None]
    tokens[beyond] = 7  # garbage in the padded steps, words and n-grams alike
    np.testing.assert_allclose(apply(tokens, padded["lengths"])[:3], np.stack(alone), atol=1e-5)


def test_unknown_words_are_told_apart_by_their_spelling_only_with_subwords():
    vocab = text.words_vocab(["<pad>", "<unk>", "film"])
    net, params, subwords = subword_model()
    a, b = (text.encode_all(vocab, [s], 0, subwords)[0][None] for s in ("splendid film", "dreadful film"))
    assert a[0, 0, 0] == b[0, 0, 0] == 1  # both <unk>
    lengths = jnp.array([2])
    assert not np.allclose(net.apply({"params": params}, a, lengths), net.apply({"params": params}, b, lengths))


def test_word_dropout_drops_the_word_but_keeps_its_ngrams():
    net, params, _ = subword_model(word_dropout=1.0, dropout=0.0)
    rng = np.random.default_rng(0)
    tokens = np.concatenate([rng.integers(2, 30, (2, 5, 1)), rng.integers(1, 51, (2, 5, 6))], axis=2).astype(np.int32)
    lengths = jnp.array([5, 3])
    dropped = net.apply({"params": params}, tokens, lengths, deterministic=False, rngs={"dropout": jax.random.key(1)})
    as_unk = tokens.copy()
    as_unk[..., 0] = 1
    np.testing.assert_allclose(dropped, net.apply({"params": params}, as_unk, lengths), atol=1e-6)


def test_mismatched_inputs_and_bad_settings_are_refused_in_one_line():
    net, params, _ = subword_model()
    with pytest.raises(ValueError, match=r"expected \[B, T, 1 \+ K\] with model.subword_buckets > 0"):
        net.apply({"params": params}, jnp.ones((1, 4), jnp.int32), jnp.ones(1, jnp.int32))
    config = sentiment_synthetic.get_config("smoke")
    config.model.update(subword_buckets=50, subword_ngrams="5,3")
    with pytest.raises(ValueError, match="model.subword_ngrams='5,3'") as err:
        sentiment.make_subwords(config.model)
    assert "\n" not in str(err.value)


def test_training_and_predict_with_subwords_end_to_end(tmp_path, capsys):
    config = smoke_config(glue_fixture(tmp_path / "sst2"))
    config.model.subword_buckets = 200
    config.train.num_steps = 40
    final = train.train_and_evaluate(config, tmp_path / "run", sentiment)
    assert final["dev"]["accuracy"] > 0.9
    sentences = tmp_path / "in.txt"
    sentences.write_text("the best film of the year\na dull , boring mess\nan unwatchably dull mess\n")
    config.predict.input = str(sentences)
    capsys.readouterr()
    result = sentiment.predict(config, tmp_path / "run")
    labels = [line.split("\t")[0] for line in capsys.readouterr().out.strip().splitlines()]
    assert result["predictions"] == 3 and labels[:2] == ["positive", "negative"]
    config.model.subword_buckets = 0  # another model than the one trained: refused
    with pytest.raises(ValueError, match="model.subword_buckets: 200 -> 0"):
        sentiment.predict(config, tmp_path / "run")
