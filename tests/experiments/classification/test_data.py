"""Sentiment data: holdouts, caps, label mapping, library sources, synthetic data and one-line errors
(each file format: test_formats.py)."""

import subprocess
import sys
import types

import pytest

from experiments.classification import data as sentiment_data
from tests.errors import one_line_error
from tests.experiments.classification.files import data_config, glue_dir, write
from tests.paths import ROOT, SHARED_DATA

SST2 = SHARED_DATA / "sst2"


def test_holdout_is_deterministic_by_seed_and_keeps_file_order(tmp_path):
    root = glue_dir(tmp_path, n_train=100)
    config = data_config(path=str(root), valid_fraction=0.1)
    a, b = sentiment_data.load_splits(config, seed=3), sentiment_data.load_splits(config, seed=3)
    other = sentiment_data.load_splits(config, seed=4)
    assert a == b and a.evals["valid"] != other.evals["valid"]
    assert len(a.train.texts) == 90 and len(a.evals["valid"].texts) == 10
    assert set(a.train.where).isdisjoint(a.evals["valid"].where)
    assert len(set(a.train.where) | set(a.evals["valid"].where)) == 100
    line = [int(w.rsplit(":", 1)[1]) for w in a.train.where]
    assert line == sorted(line)
    assert a.description == f"GLUE TSV {root} (train 90, valid 10, dev 2)"


def test_max_examples_caps_each_split_before_the_holdout(tmp_path):
    root = glue_dir(tmp_path, n_train=50)
    splits = sentiment_data.load_splits(data_config(path=str(root), max_examples=20, valid_fraction=0.25))
    assert len(splits.train.texts) == 15 and len(splits.evals["valid"].texts) == 5
    assert set(splits.train.where + splits.evals["valid"].where) == {f"{root}/train.tsv:{n}" for n in range(2, 22)}
    assert len(sentiment_data.load_splits(data_config(path=str(root), max_examples=1)).evals["dev"].texts) == 1


def test_custom_label_values_and_names(tmp_path):
    write(tmp_path / "train.tsv", "sentence\tlabel\na\tneutral\nb\tneg\nc\tpos\n")
    write(tmp_path / "dev.tsv", "sentence\tlabel\nd\tpos\n")
    config = data_config(path=str(tmp_path), labels="neg,neutral,pos")
    splits = sentiment_data.load_splits(config)
    assert splits.train.labels == [1, 0, 2] and splits.label_names == ["neg", "neutral", "pos"]
    config.label_names = "bad, meh, good"
    assert sentiment_data.load_splits(config).label_names == ["bad", "meh", "good"]
    two = sentiment_data.load_splits(
        data_config(path=str(glue_dir(tmp_path / "g")), labels="1,0", label_names="pos,neg")
    )
    assert two.train.labels[:2] == [1, 0] and two.label_names == ["pos", "neg"]  # class ids follow data.labels
    for overrides, match in [
        (dict(label_names="a,b"), r"data.label_names has 2 names but data.labels has 3 values"),
        (dict(labels="neg,,pos"), r"data.labels='neg,,pos' has an empty entry"),
        (dict(labels="pos,pos"), r"data.labels='pos,pos' repeats an entry"),
        (dict(labels="pos"), r"data.labels='pos' needs at least 2 labels"),
    ]:
        with one_line_error(ValueError, match):
            sentiment_data.load_splits(data_config(path=str(tmp_path), **{"labels": "neg,neutral,pos", **overrides}))
    with one_line_error(ValueError, r"train\.tsv:2: label 'neutral' is not one of \['neg', 'pos'\] \(data.labels\)"):
        sentiment_data.load_splits(data_config(path=str(tmp_path), labels="neg,pos"))


def test_unknown_format_and_missing_path():
    with one_line_error(ValueError, r"data.format='xml' is not one of \["):
        sentiment_data.load_splits(data_config(format="xml"))
    with one_line_error(ValueError, r"data.path is required with data.format='csv'"):
        sentiment_data.load_splits(data_config(format="csv"))
    # The synthetic smoke presets generate their corpus: a data.path given to them was ignored.
    with one_line_error(ValueError, r"data.path='my/files' is set but data.format='synthetic' does not read it; add "):
        sentiment_data.load_splits(data_config(format="synthetic", path="my/files"))


# ------------------------------------------------------------------ synthetic, tfds and hf
def test_synthetic_calls_generate_with_the_split_seeds(monkeypatch):
    calls = []

    def generate(n, seed):
        calls.append((n, seed))
        return [f"text {seed} {i}" for i in range(n)], [i % 2 for i in range(n)]

    monkeypatch.setitem(sys.modules, "experiments.classification.synthetic", types.SimpleNamespace(generate=generate))
    splits = sentiment_data.load_splits(data_config(format="synthetic", synthetic_train=6, synthetic_eval=3), seed=5)
    assert calls == [(6, 5), (3, 5 + 1_000_003), (3, 5 + 2_000_003)]
    assert list(splits.evals) == ["valid", "test"] and splits.label_names == ["negative", "positive"]
    assert splits.train.labels == [0, 1, 0, 1, 0, 1] and splits.train.where[0] == "synthetic:train:1"
    assert (
        splits.evals["test"].where[-1] == "synthetic:test:3"
        and splits.description == "synthetic (train 6, valid 3, test 3)"
    )
    calls.clear()
    sentiment_data.load_splits(data_config(format="synthetic", synthetic_train=6, synthetic_eval=3, max_examples=2))
    assert [n for n, _ in calls] == [2, 2, 2]
    with one_line_error(ValueError, r"data.synthetic_eval must be a positive integer, got 0"):
        sentiment_data.load_splits(data_config(format="synthetic", synthetic_eval=0))


def test_tfds_and_hf_without_their_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    monkeypatch.setitem(sys.modules, "datasets", None)
    message = r"^data.format='tfds' needs tensorflow-datasets: pip install tensorflow-datasets$"
    with one_line_error(ValueError, message):
        sentiment_data.load_splits(data_config(format="tfds", tfds_name="imdb_reviews"))
    with one_line_error(ValueError, r"^data.format='hf' needs Hugging Face datasets: pip install datasets$"):
        sentiment_data.load_splits(data_config(format="hf", hf_name="sst2"))


def test_tfds_and_hf_loaders_with_stand_in_modules(monkeypatch):
    tfds_splits = {
        "train": [{"text": f"t{i}".encode(), "label": i % 2} for i in range(10)],
        "test": [{"text": b"hidden", "label": -1}],
    }
    tfds = types.SimpleNamespace(load=lambda name: tfds_splits, as_numpy=lambda ds: ds)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", tfds)
    splits = sentiment_data.load_splits(data_config(format="tfds", tfds_name="imdb", valid_fraction=0.2))
    assert list(splits.evals) == ["valid"] and len(splits.train.texts) == 8  # the unlabelled test is skipped
    assert splits.description == "tfds:imdb (train 8, valid 2)" and splits.train.where[0] == "tfds:imdb:train:1"

    class Table(dict):
        column_names = property(lambda self: list(self))

    hf_splits = {
        "train": Table(sentence=["a", "b", "c"], label=[0, 1, 1]),
        "validation": Table(sentence=["d"], label=[1]),
        "test": Table(sentence=["e"], label=[-1]),
    }
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda name: hf_splits))
    splits = sentiment_data.load_splits(
        data_config(format="hf", hf_name="sst2", text_column="sentence", valid_fraction=0.5)
    )
    assert list(splits.evals) == ["valid"] and splits.train.texts == ["a", "b", "c"]  # its own validation: no holdout
    assert splits.evals["valid"].where == ["hf:sst2:validation:1"]
    with one_line_error(
        ValueError, r"data.text_column: hf:sst2 split 'train' has no column 'text' \(columns: \['sentence', 'label'\]\)"
    ):
        sentiment_data.load_splits(data_config(format="hf", hf_name="sst2"))


def test_module_imports_no_jax_flax_or_tensorflow():
    code = (
        "import sys, experiments.classification.data, experiments.classification.formats\n"
        "import experiments.classification.sources, experiments.classification.text\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax', 'tensorflow'))\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_real_sst2_if_present():
    if not (SST2 / "train.tsv").is_file():
        pytest.skip(f"no SST-2 copy at {SST2}")
    splits = sentiment_data.load_splits(data_config(path=str(SST2), valid_fraction=0.02))
    assert len(splits.train.texts) + len(splits.evals["valid"].texts) == 67_349
    assert len(splits.evals["valid"].texts) == 1_347 and len(splits.evals["dev"].texts) == 872
    assert list(splits.evals) == ["valid", "dev"] and len(splits.label_names) == 2
    assert set(splits.train.labels) == {0, 1} and not any(t != t.strip() for t in splits.evals["dev"].texts)


def test_sentence_holdout_keeps_whole_sentences_out_with_their_sub_phrases(tmp_path):
    from experiments.classification.holdout import sentence_holdout

    sentences = [f"film number {i} was really good" for i in range(20)]
    phrases = [*sentences, "really good", "was really good", "film number 3", "good"]
    train, valid = sentence_holdout(phrases, 0.25, seed=0)
    assert len(valid) == 5 and all(v < 20 for v in valid)  # only the 20 roots are candidates
    held = {phrases[v] for v in valid}
    kept = [phrases[t] for t in train]
    assert not held & set(kept)
    assert "really good" not in kept and "good" not in kept  # spans of a held-out sentence leave train
    assert len(train) + len(valid) < len(phrases)
    assert list(sentence_holdout(phrases, 0.25, seed=0)[1]) == list(valid)  # deterministic

    root = tmp_path / "glue"
    root.mkdir()
    lines = ["sentence\tlabel", *(f"{p} \t{i % 2}" for i, p in enumerate(phrases))]
    (root / "train.tsv").write_text("\n".join(lines) + "\n")
    (root / "dev.tsv").write_text("sentence\tlabel\na fine film \t1\n")
    splits = sentiment_data.load_splits(data_config(path=str(root), valid_fraction=0.25, holdout="sentences"))
    assert list(splits.evals) == ["valid", "dev"] and len(splits.evals["valid"].texts) == 5
    assert set(splits.evals["valid"].texts) <= set(sentences)
    with one_line_error(ValueError, "data.holdout='rows' is not one of"):
        sentiment_data.load_splits(data_config(path=str(root), valid_fraction=0.25, holdout="rows"))
