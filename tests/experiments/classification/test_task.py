"""Sentiment experiment: text pipeline, padding invariance, metrics, GloVe, training, predict mode, bad input."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs.classification import imdb as sentiment_imdb
from configs.classification import sst2 as sentiment_sst2
from configs.classification import synthetic as sentiment_synthetic
from experiments.classification import model as sentiment_model
from experiments.classification import task as sentiment
from experiments.classification import text
from rnn_research import metrics, train
from tests.errors import one_line_error
from tests.paths import SHARED_DATA
from tests.test_main import run

SST2 = SHARED_DATA / "sst2"
POSITIVE = ["a charming and often affecting journey", "good , warm and very funny", "the best film of the year"]
NEGATIVE = ["unflinchingly bleak and desperate", "a dull , boring mess", "the worst film of the year"]


def glue_fixture(root: pathlib.Path, n_train: int = 96, n_dev: int = 24) -> pathlib.Path:
    """A GLUE SST-2 layout: ``train.tsv`` and ``dev.tsv`` with header ``sentence<TAB>label``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
        lines = ["sentence\tlabel"]
        for i in range(n):
            label = i % 2
            words = [rng.choice(POSITIVE if label else NEGATIVE) for _ in range(1 + i % 3)]
            lines.append(f"{' , '.join(words)} \t{label}")
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def smoke_config(path: pathlib.Path, **data) -> ml_collections.ConfigDict:
    config = sentiment_sst2.get_config("smoke")
    config.data.path = str(path)
    config.data.update(**data)
    return config


# --------------------------------------------------------------------------- text pipeline
def digest(batches) -> str:
    h = hashlib.sha256()
    for b in batches:
        for k in sorted(b):
            h.update(k.encode())
            h.update(np.ascontiguousarray(b[k]).tobytes())
            h.update(str(b[k].dtype).encode())
    return h.hexdigest()[:16]


# Recorded from the classification pipeline before it moved onto rnn_research.data (issue #21):
# the same seed must give the same train stream (two epochs and a bit, and a resume at step 5)
# and the same eval batches, with and without subwords.
STREAM_DIGESTS = {
    0: ("51477a863af5222a", "a094ff1125d85ee2", {"valid": "a0e20ad488ee0bb0", "test": "4ba110a2de21bde8"}),
    16: ("cbc16db6647a34a6", "fa61a3fb63280ea4", {"valid": "0bb18098609d5ce3", "test": "f914594b7a0ce0a7"}),
}


@pytest.mark.parametrize("subword_buckets", sorted(STREAM_DIGESTS))
def test_train_and_eval_batches_from_a_fixed_seed_are_unchanged(subword_buckets):
    config = sentiment_synthetic.get_config("smoke")
    config.seed = 3
    config.model.subword_buckets = subword_buckets
    train_batches, eval_sets, info = sentiment.make_data(config)
    assert info["steps_per_epoch"] == 25 and info["buckets"] == (32, 64)
    stream = train_batches(0)
    first = [next(stream) for _ in range(2 * info["steps_per_epoch"] + 3)]
    resumed = train_batches(5)
    later = [next(resumed) for _ in range(3)]
    evals = {name: digest(list(batches())) for name, batches in eval_sets.items()}
    assert (digest(first), digest(later), evals) == STREAM_DIGESTS[subword_buckets]
    assert digest(later) == digest(first[5:8])


def test_vocabulary_is_pad_unk_then_sst_words_by_count():
    vocab = text.build_vocab(["B a b", "c b, a d"], max_size=5)
    assert vocab.symbols == ["<pad>", "<unk>", "b", "a", ","]  # by count, ties by token
    assert (vocab.pad_id, vocab.unk_id, vocab.level) == (0, 1, "sst")
    assert text.words_vocab(vocab.symbols) == vocab


def test_labelled_batches_pad_to_a_bucket_and_bad_buckets_are_named():
    buckets = (32, 56)
    batch = text.labelled_batch([np.array([5, 6, 7]), np.array([8])], [1, 0], buckets, 4)
    assert batch["tokens"].shape == (4, 32) and batch["tokens"].dtype == np.int32
    np.testing.assert_array_equal(batch["lengths"], [3, 1, 1, 1])
    np.testing.assert_array_equal(batch["labels"], [1, 0, 0, 0])
    np.testing.assert_array_equal(batch["weights"], [1, 1, 0, 0])
    assert batch["labels"].dtype == np.int32 and batch["weights"].dtype == np.float32
    with pytest.raises(ValueError, match="longer than the largest bucket"):
        text.labelled_batch([np.ones(200, np.int32)], [0], buckets, 1)
    config = sentiment_synthetic.get_config("smoke")
    config.data.buckets = "16,x"
    with pytest.raises(ValueError, match="data.buckets='16,x' is not a list of lengths"):
        sentiment.make_data(config)


# --------------------------------------------------------------------------------- model
def tiny_model(pooling: str, bidirectional: bool, encoder: str = "rnn", num_layers: int = 1, cell: str = "lstm"):
    config = sentiment_synthetic.get_config("smoke")
    config.model.update(pooling=pooling, bidirectional=bidirectional, encoder=encoder, num_layers=num_layers, cell=cell)
    model = sentiment.make_model(config, {"vocab_size": 30, "num_classes": 3})
    tokens = jnp.zeros((1, 8), jnp.int32)
    params = model.init(jax.random.key(0), tokens, jnp.ones(1, jnp.int32))["params"]
    return model, params


@pytest.mark.parametrize(
    "pooling,bidirectional,encoder,num_layers,cell",
    [("last", True, "rnn", 2, "lstm"), ("last", False, "rnn", 1, "lstm"), ("mean", True, "rnn", 1, "lstm"),
     ("attention", True, "rnn", 1, "lstm"), ("max", False, "bow", 1, "lstm"), ("last", False, "rnn", 1, "minlstm"),
     ("mean", False, "rnn", 1, "layernorm_gru")],
)  # fmt: skip
def test_padding_bucket_and_batch_neighbours_do_not_change_a_prediction(
    pooling, bidirectional, encoder, num_layers, cell
):
    model, params = tiny_model(pooling, bidirectional, encoder, num_layers, cell)
    rng = np.random.default_rng(0)
    sentences = [rng.integers(2, 30, n).astype(np.int32) for n in (5, 11, 2)]
    alone = []
    for s in sentences:  # each sentence by itself, no padding at all
        padded = text.labelled_batch([s], [0], [s.size], 1)
        alone.append(model.apply({"params": params}, padded["tokens"], padded["lengths"])[0])
    padded = text.labelled_batch(sentences, [0] * 3, [40], 8)  # a larger bucket, padding rows as neighbours
    tokens = padded["tokens"].copy()
    tokens[padded["tokens"] == 0] = 7  # whatever lies in the padding must not matter
    logits = model.apply({"params": params}, tokens, padded["lengths"])
    np.testing.assert_allclose(logits[:3], np.stack(alone), atol=1e-5)


def test_last_pooling_reads_each_directions_final_state():
    ys = jnp.arange(2 * 5 * 4, dtype=jnp.float32).reshape(2, 5, 4)
    lengths = jnp.array([3, 5])
    out = sentiment_model.pool(ys, lengths, "last", bidirectional=True)
    np.testing.assert_array_equal(out[0], jnp.concatenate([ys[0, 2, :2], ys[0, 0, 2:]]))
    np.testing.assert_array_equal(out[1], jnp.concatenate([ys[1, 4, :2], ys[1, 0, 2:]]))
    np.testing.assert_array_equal(sentiment_model.pool(ys, lengths, "max", False)[0], ys[0, 2])
    np.testing.assert_allclose(sentiment_model.pool(ys, lengths, "mean", False)[0], ys[0, :3].mean(0))


def test_word_dropout_replaces_words_with_unk_in_training_only():
    tokens = jnp.concatenate([jnp.full((2, 400), 5, jnp.int32), jnp.zeros((2, 100), jnp.int32)], axis=1)
    dropped = sentiment_model.drop_words(jax.random.key(1), 0.5, tokens)
    assert set(np.unique(dropped[:, :400]).tolist()) == {1, 5}  # words become <unk> (1)...
    assert 0.4 < float(jnp.mean(dropped[:, :400] == 1)) < 0.6  # ...about half of them
    np.testing.assert_array_equal(dropped[:, 400:], 0)  # <pad> stays <pad>

    config = sentiment_synthetic.get_config("smoke")
    config.model.update(word_dropout=1.0, dropout=0.0)
    model = sentiment.make_model(config, {"vocab_size": 30, "num_classes": 2})
    lengths = jnp.full(2, 400)
    params = model.init(jax.random.key(0), tokens, lengths)["params"]
    rngs = {"dropout": jax.random.key(2)}
    train_out = model.apply({"params": params}, tokens, lengths, deterministic=False, rngs=rngs)
    all_unk = jnp.where(tokens > 1, 1, tokens)
    np.testing.assert_allclose(train_out, model.apply({"params": params}, all_unk, lengths), atol=1e-6)
    eval_out = model.apply({"params": params}, tokens, lengths)  # no word dropout in evaluation
    assert not np.allclose(train_out, eval_out)


def test_metrics_from_summed_counts_give_accuracy_macro_f1_and_the_confusion_matrix():
    labels = jnp.array([0, 0, 1, 1, 1, 0])
    logits = jax.nn.one_hot(jnp.array([0, 1, 1, 1, 0, 0]), 2) * 3.0
    weights = jnp.array([1, 1, 1, 1, 1, 0.0])  # the last row is padding

    class Fixed:
        def apply(self, variables, tokens, lengths, **kw):
            return logits

    batch = {"tokens": None, "lengths": None, "labels": labels, "weights": weights}
    loss, (values, _) = sentiment.loss_and_metrics(Fixed(), {}, batch, {}, jax.random.key(0), False)
    summed = train.mean_metrics([values, values])  # two identical batches: counts add up
    out = sentiment.finalize_metrics(None, summed)
    assert out["examples"] == 10 and out["accuracy"] == pytest.approx(0.6)
    assert (out["confusion_0_0"], out["confusion_0_1"], out["confusion_1_0"], out["confusion_1_1"]) == (2, 2, 2, 4)
    f1_neg, f1_pos = 2 * 2 / (4 + 4), 2 * 4 / (6 + 6)
    assert out["macro_f1"] == pytest.approx((f1_neg + f1_pos) / 2)
    assert out["nll"] == pytest.approx(float(loss))
    assert not any(k.startswith("total_") for k in out)


def test_glove_vectors_start_the_embedding_and_bad_files_are_named(tmp_path):
    vocab = text.words_vocab(["<pad>", "<unk>", "good", "bad", "rare", ". . ."])
    path = tmp_path / "glove.txt"
    path.write_text("good 1 2 3\nunseen 4 5 6\nbad -1 -2 -3\n. . . 7 8 9\n")
    table, found = sentiment.load_embeddings(path, vocab, 3, seed=0)
    assert found == 3
    np.testing.assert_array_equal(table[5], [7, 8, 9])  # a several-word entry
    np.testing.assert_array_equal(table[2], [1, 2, 3])
    np.testing.assert_array_equal(table[3], [-1, -2, -3])
    np.testing.assert_array_equal(table[0], 0.0)
    assert np.abs(table[4]).max() < 1.0 and np.abs(table[4]).max() > 0
    for line, values in (("bad 1 2", 2), ("bad 1 2 3 4", 4)):
        path.write_text(f"good 1 2 3\n{line}\n")
        with pytest.raises(ValueError, match=rf"glove.txt:2: {values} values, but model.embed_size=3"):
            sentiment.load_embeddings(path, vocab, 3, seed=0)
    with pytest.raises(FileNotFoundError, match="data.embeddings: no such file"):
        sentiment.load_embeddings(tmp_path / "none.txt", vocab, 3, seed=0)
    # Values that would overflow float32 (or the model's products) are refused, naming line and value.
    for value in ("1e200", "nan", "inf"):
        path.write_text(f"good 1 2 3\nbad 1 {value} 3\n")
        with one_line_error(
            ValueError, rf"glove.txt:2: value 2 of 'bad' \({value}\) is not a finite number below 1e\+06"
        ):
            sentiment.load_embeddings(path, vocab, 3, seed=0)


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run of the smoke preset on a GLUE fixture, shared by the tests that read its workdir;
    trained as the full preset is, with adversarial embeddings and a moving average of the weights
    (which evaluation and prediction then read)."""
    root = tmp_path_factory.mktemp("trained")
    data = glue_fixture(root / "sst2")
    config = smoke_config(data)
    config.train.update(num_steps=60, eval_every=30, checkpoint_every=30, plots=False)  # curves: tested elsewhere
    config.model.adversarial_eps = 0.05
    config.optim.ema_decay = 0.9
    final = train.train_and_evaluate(config, root / "run", sentiment)
    return config, data, root / "run", final


def test_training_learns_the_fixture_and_uses_glove_rows(trained, tmp_path):
    config, _, workdir, final = trained
    assert set(final) == {"valid", "dev"}
    assert final["dev"]["accuracy"] > 0.9 and final["dev"]["examples"] == 24
    records = metrics.read_jsonl(workdir / "metrics.jsonl")
    dev = [r for r in records if r["split"] == "dev"]
    assert {"accuracy", "macro_f1", "nll", "confusion_0_0", "confusion_1_1"} <= set(dev[-1])
    # loss = clean + adversarial, the adversarial part about half. (nll, the clean part, averages
    # over real rows and loss over batches, which hold different numbers of real rows: hence 5%.)
    for r in (r for r in records if r["split"] == "train"):
        assert r["loss"] == pytest.approx(r["nll"] + r["adversarial_loss"], rel=0.05)
        assert r["adversarial_loss"] > 0.3 * r["loss"]
    vocab_words = json.loads((workdir / "vocab.json").read_text())["symbols"]
    assert vocab_words[:2] == ["<pad>", "<unk>"] and "charming" in vocab_words
    assert json.loads((workdir / "labels.json").read_text()) == {"labels": ["negative", "positive"]}

    # The same data with a GloVe file: the embedding starts from its vectors.
    glove = tmp_path / "glove.txt"
    glove.write_text("".join(f"{w} " + " ".join(["0.5"] * 16) + "\n" for w in ("charming", "dull")))
    config = ml_collections.ConfigDict(config.to_dict())
    config.data.embeddings = str(glove)
    data_fn = sentiment.make_data(config)
    model = sentiment.make_model(config, data_fn[2])
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32), jnp.ones(1, jnp.int32))["params"]
    np.testing.assert_array_equal(params["embedding"][vocab_words.index("charming")], 0.5)


def test_predict_mode_through_the_launcher_and_its_refusals(trained, tmp_path):
    _, data, workdir, _ = trained
    args = (f"--config.data.path={data}", "--config.train.num_steps=60")
    sentences = tmp_path / "in.txt"
    sentences.write_text("the best film of the year\n\na dull , boring mess\n")
    code, out, err = run(
        workdir,
        "--mode=predict",
        f"--config.predict.input={sentences}",
        f"--config.predict.output={tmp_path / 'out.tsv'}",
        *args,
        config="configs/classification/sst2.py:smoke",
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split("\t")[0] == "positive" and lines[1].split("\t")[0] == "negative"
    assert float(lines[0].split("\t")[1]) > 0.5 and lines[1].split("\t")[2] == "a dull , boring mess"
    assert json.loads(lines[-1])["final"]["predictions"] == 2
    written = (tmp_path / "out.tsv").read_text().splitlines()
    assert written[0] == "label\tprobability\ttext" and len(written) == 3

    # A model config or text length other than the trained one is refused in one line.
    code, out, err = run(
        workdir, "--mode=predict", "--config.model.hidden_size=8", *args, config="configs/classification/sst2.py:smoke"
    )
    assert code == 1 and err.count("\n") == 1 and "model.hidden_size: 16 -> 8" in err
    code, out, err = run(
        workdir, "--mode=predict", "--config.data.max_length=5", *args, config="configs/classification/sst2.py:smoke"
    )
    assert code == 1 and err.count("\n") == 1 and "data.max_length=0, not 5" in err


def test_predict_reads_stdin(trained, monkeypatch, capsys):
    config, _, workdir, _ = trained
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("the worst film of the year\ngood , warm and very funny\n"))
    result = sentiment.predict(config, workdir)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in printed] == ["negative", "positive"]
    assert result["predictions"] == 2 and result["counts"] == {"negative": 1, "positive": 1}


def test_an_edited_labels_or_vocabulary_file_is_refused_by_predict_and_eval(trained, monkeypatch, tmp_path):
    """Swapped label names made predict call "the worst film of the year" positive; the files are
    fingerprinted with each checkpoint."""
    config, _, trained_dir, _ = trained
    workdir = tmp_path / "run"
    shutil.copytree(trained_dir, workdir)
    labels = workdir / "labels.json"
    original = labels.read_text()
    labels.write_text(json.dumps({"labels": ["positive", "negative"]}))
    monkeypatch.setattr("sys.stdin", io.StringIO("the worst film of the year\n"))
    message = r"labels\.json is not the file checkpoint step \d+ was saved with \(its SHA-256 differs\)"
    with pytest.raises(ValueError, match=message):
        sentiment.predict(config, workdir)
    with pytest.raises(ValueError, match=r"labels\.json has labels \['positive', 'negative'\], the data"):
        train.evaluate_checkpoint(config, workdir, sentiment)  # prepare() compares it with the data first
    labels.write_text(original)
    vocab = workdir / "vocab.json"
    words = json.loads(vocab.read_text())
    words["symbols"][2], words["symbols"][3] = words["symbols"][3], words["symbols"][2]
    vocab.write_text(json.dumps(words))
    with pytest.raises(ValueError, match=r"vocab\.json is not the file checkpoint step"):
        sentiment.predict(config, workdir)


def test_a_workdir_refuses_data_with_another_vocabulary_and_keeps_its_own(tmp_path):
    data = glue_fixture(tmp_path / "sst2")
    config = smoke_config(data)
    (tmp_path / "run").mkdir()
    sentiment.prepare(config, tmp_path / "run", sentiment.make_data(config)[2])  # as a first run does
    (tmp_path / "run" / "checkpoints" / "latest" / "12").mkdir(parents=True)  # and a saved step binds it
    before = (tmp_path / "run" / "vocab.json").read_bytes()
    (data / "train.tsv").write_text("sentence\tlabel\n" + "entirely new words here \t1\nand more \t0\n" * 20)
    with pytest.raises(ValueError, match="vocab.json .* does not match"):
        train.train_and_evaluate(config, tmp_path / "run", sentiment)
    assert (tmp_path / "run" / "vocab.json").read_bytes() == before


def test_launcher_reports_bad_input_in_one_line_naming_file_and_line(tmp_path):
    data = glue_fixture(tmp_path / "sst2")
    with open(data / "train.tsv", "a") as f:
        f.write("a fine film \t7\n")
    code, out, err = run(tmp_path / "run", f"--config.data.path={data}", config="configs/classification/sst2.py:smoke")
    assert code == 1 and err.count("\n") == 1
    assert "train.tsv:98" in err and "'7'" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_presets_build_every_variant_and_refuse_unknown_ones():
    for module, variants in (
        (sentiment_sst2, ("bilstm", "flax", "smoke")),
        (sentiment_imdb, ("bilstm", "smoke")),
        (sentiment_synthetic, ("bilstm", "gru", "bow", "smoke")),
    ):
        for variant in variants:
            assert module.get_config(variant).experiment == "classification"
        with pytest.raises(ValueError, match="unknown variant"):
            module.get_config("nope")
    flax_like = sentiment_sst2.get_config("flax")  # Flax's examples/sst2: BiLSTM, attention, MLP, SGD
    m = flax_like.model
    assert (m.embed_size, m.hidden_size, m.bidirectional, m.num_layers, m.pooling) == (300, 256, True, 1, "attention")
    assert (m.head_hidden, m.dropout, m.word_dropout, m.subword_buckets) == (256, 0.5, 0.1, 0)
    assert (flax_like.optim.name, flax_like.optim.momentum, flax_like.train.num_epochs) == ("sgd", 0.9, 10)
    default = sentiment_sst2.get_config()
    assert (default.model.num_layers, default.model.pooling, default.model.subword_buckets) == (1, "max", 20000)


def test_synthetic_corpus_defeats_bag_of_words(tmp_path):
    """An order-blind model stays near chance on the generated corpus. (That the BiLSTM preset
    solves it, 99.95% test accuracy after 1,000 steps, is a result in
    docs/experiments/classification.md with its command: about 90 s of training, too much for
    the suite; the corpus's label rules are checked in test_synthetic.py.)"""
    config = sentiment_synthetic.get_config("bow")
    config.data.synthetic_eval = 500
    config.train.update(num_epochs=0, num_steps=250, eval_every=250, checkpoint_every=250, plots=False)
    bow = train.train_and_evaluate(config, tmp_path / "bow", sentiment)["test"]["accuracy"]
    assert bow < 0.7, bow


@pytest.mark.skipif(not SST2.is_dir(), reason="../shared/data/sst2 is not here")
def test_sst2_smoke_preset_reads_the_real_files(tmp_path):
    config = smoke_config(SST2)
    _, eval_sets, info = sentiment.make_data(config)
    assert info["label_names"] == ["negative", "positive"] and info["vocab_size"] > 100
    dev_rows = sum(float(batch["weights"].sum()) for batch in eval_sets["dev"]())
    assert dev_rows == min(872, config.data.max_examples)


def test_imdb_smoke_preset_trains_on_the_aclimdb_layout(tmp_path):
    root = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
            (root / split / label).mkdir(parents=True)
            for i in range(12):
                review = "<br /><br />".join(words[(i + j) % 3] for j in range(1 + i % 3))
                (root / split / label / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(review)
    config = sentiment_imdb.get_config("smoke")
    config.data.path = str(root)
    config.train.update(num_steps=6, eval_every=6, checkpoint_every=6, plots=False)
    final = train.train_and_evaluate(config, tmp_path / "imdb", sentiment)
    assert set(final) == {"valid", "test"} and final["test"]["examples"] == 24
