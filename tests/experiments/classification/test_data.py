"""Sentiment data: each format's loader, holdouts, caps, label mapping and one-line errors."""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from configs.classification import common as sentiment_common
from experiments.classification import data as sentiment_data
from experiments.classification.data import Examples
from tests.errors import one_line_error
from tests.paths import ROOT, SHARED_DATA

SST2 = SHARED_DATA / "sst2"


def data_config(**overrides):
    """The presets' own ``config.data`` defaults (configs/classification/common.py) for a GLUE directory, with
    no tfds/HF name and a tiny generated corpus, then ``overrides``."""
    config = sentiment_common.get_config().data
    config.update(format="glue", tfds_name="", hf_name="", synthetic_train=8, synthetic_eval=4)
    config.update(overrides)
    return config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def glue_dir(root: Path, n_train: int = 10) -> Path:
    rows = "".join(f'film {i} , "quoted" \t{i % 2}\n' for i in range(n_train))
    write(root / "train.tsv", "sentence\tlabel\n" + rows)
    write(root / "dev.tsv", "sentence\tlabel\ngood \t1\nbad \t0\n")
    write(root / "test.tsv", "index\tsentence\n0\tunlabelled\n")
    return root


# ---------------------------------------------------------------------------------- glue
def test_glue_reads_tsv_without_quoting_holds_out_valid_and_skips_unlabelled_test(tmp_path):
    root = glue_dir(tmp_path)
    splits = sentiment_data.load_splits(data_config(path=str(root)))
    assert list(splits.evals) == ["dev"] and splits.label_names == ["negative", "positive"]
    assert splits.train.texts[0] == 'film 0 , "quoted"' and splits.train.labels[:3] == [0, 1, 0]
    assert splits.train.where[0] == f"{root}/train.tsv:2"
    assert splits.evals["dev"] == Examples(["good", "bad"], [1, 0], [f"{root}/dev.tsv:2", f"{root}/dev.tsv:3"])
    assert splits.description == f"GLUE TSV {root} (train 10, dev 2)"

    held = sentiment_data.load_splits(data_config(path=str(root), valid_fraction=0.2))
    assert list(held.evals) == ["valid", "dev"]  # the holdout comes first: it picks the best checkpoint
    assert len(held.train.texts) == 8 and len(held.evals["valid"].texts) == 2

    write(root / "test.tsv", "sentence\tlabel\nfine\t1\n")  # a labelled test file is read
    assert list(sentiment_data.load_splits(data_config(path=str(root))).evals) == ["dev", "test"]


def test_glue_errors_are_one_line_and_name_file_and_line(tmp_path):
    with one_line_error(FileNotFoundError, "data.path: no such file: .*nowhere"):
        sentiment_data.load_splits(data_config(path=str(tmp_path / "nowhere")))
    root = glue_dir(tmp_path / "g")
    (root / "dev.tsv").unlink()
    with one_line_error(FileNotFoundError, r"data.path: no such file: .*dev\.tsv"):
        sentiment_data.load_splits(data_config(path=str(root)))
    cases = [
        (
            "index\tsentence\n0\tx\n",
            r"data.label_column: .*dev\.tsv has no column 'label' \(header: \['index', 'sentence'\]\)",
        ),
        (
            "text\tlabel\nx\t1\n",
            r"data.text_column: .*dev\.tsv has no column 'sentence' \(header: \['text', 'label'\]\)",
        ),
        ("sentence\tlabel\nok\t1\nbad\t2\n", r"dev\.tsv:3: label '2' is not one of \['0', '1'\] \(data.labels\)"),
        ("sentence\tlabel\nok\t1\n  \t0\n", r"dev\.tsv:3: empty text"),
        ("sentence\tlabel\nok\t1\na\tb\t1\n", r"dev\.tsv:3: 3 tab-separated fields, but the header has 2"),
        ("sentence\tlabel\nok\t1\n\nok\t0\n", r"dev\.tsv:3: empty line"),
        ("sentence\tlabel\n", r"data.path: .*dev\.tsv has no examples"),
    ]
    for text, match in cases:
        write(root / "dev.tsv", text)
        with one_line_error(ValueError, match):
            sentiment_data.load_splits(data_config(path=str(root)))
    (root / "dev.tsv").write_bytes("sentence\tlabel\nok\t1\ncaf\xe9\t0\n".encode("latin-1"))
    with one_line_error(ValueError, r"data.path: .*dev\.tsv:3: not valid UTF-8 \(byte 0xe9 at offset 23\)"):
        sentiment_data.load_splits(data_config(path=str(root)))


# ------------------------------------------------------------------------------- aclimdb
def test_aclimdb_sorted_interleaved_br_replaced_and_extras_ignored(tmp_path):
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            for i in range(3):
                write(
                    tmp_path / split / label / f"{i}_{7 if label == 'pos' else 2}.txt", f"{split} {label} {i}<br />end"
                )
    write(tmp_path / "train" / "unsup" / "0_0.txt", "never read")
    write(tmp_path / "train" / "labeledBow.feat", "0:1")
    write(tmp_path / "train" / "urls_pos.txt", "http://x")
    splits = sentiment_data.load_splits(data_config(format="aclimdb", path=str(tmp_path)))
    assert list(splits.evals) == ["test"]
    assert splits.train.texts[:3] == ["train neg 0 end", "train pos 0 end", "train neg 1 end"]
    assert splits.train.labels == [0, 1] * 3
    assert splits.train.where[:2] == [f"{tmp_path}/train/neg/0_2.txt", f"{tmp_path}/train/pos/0_7.txt"]
    assert len(splits.evals["test"].texts) == 6

    capped = sentiment_data.load_splits(
        data_config(format="aclimdb", path=str(tmp_path), max_examples=4, valid_fraction=0.25)
    )
    assert list(capped.evals) == ["valid", "test"]
    assert (
        len(capped.train.texts) == 3 and len(capped.evals["valid"].texts) == 1 and len(capped.evals["test"].texts) == 4
    )
    assert sorted(capped.train.labels + capped.evals["valid"].labels) == [
        0,
        0,
        1,
        1,
    ]  # the interleaved prefix is balanced

    (tmp_path / "test" / "pos" / "1_7.txt").write_bytes(b"fine\nbad \xff byte")
    with one_line_error(ValueError, r"pos/1_7\.txt:2: not valid UTF-8 \(byte 0xff"):
        sentiment_data.load_splits(data_config(format="aclimdb", path=str(tmp_path)))
    write(tmp_path / "test" / "pos" / "1_7.txt", " <br /> ")
    with one_line_error(ValueError, r"pos/1_7\.txt: empty text"):
        sentiment_data.load_splits(data_config(format="aclimdb", path=str(tmp_path)))
    for file in (tmp_path / "test" / "neg").iterdir():
        file.unlink()
    with one_line_error(FileNotFoundError, r"data.path: no \.txt files in .*test/neg"):
        sentiment_data.load_splits(data_config(format="aclimdb", path=str(tmp_path)))
    (tmp_path / "test" / "neg").rmdir()
    with one_line_error(FileNotFoundError, r"data.path: no such file: .*test/neg"):
        sentiment_data.load_splits(data_config(format="aclimdb", path=str(tmp_path)))


# -------------------------------------------------------------------------------- posneg
def test_posneg_latin1_fallback_trailing_blanks_and_default_holdouts(tmp_path):
    (tmp_path / "rt-polarity.pos").write_bytes(
        b"".join(f"good {i}\n".encode() for i in range(9)) + "caf\xe9 ok\n".encode("latin-1") + b"\n\n"
    )
    (tmp_path / "rt-polarity.neg").write_bytes(
        b"".join(f"bad {i}\r\n".encode() for i in range(9)) + "na\u00efve\n".encode()
    )
    splits = sentiment_data.load_splits(data_config(format="posneg", path=str(tmp_path)))
    assert list(splits.evals) == ["valid", "test"]  # valid_fraction 0 means 0.1 here
    assert [len(splits.train.texts), len(splits.evals["valid"].texts), len(splits.evals["test"].texts)] == [16, 2, 2]
    everything = dict(zip(splits.train.where, splits.train.texts))
    for ex in splits.evals.values():
        everything.update(zip(ex.where, ex.texts))
    assert everything[f"{tmp_path}/rt-polarity.pos:10"] == "caf\xe9 ok"  # latin-1 for that line only
    assert everything[f"{tmp_path}/rt-polarity.neg:10"] == "na\u00efve"  # UTF-8 where it decodes
    assert everything[f"{tmp_path}/rt-polarity.neg:1"] == "bad 0" and len(everything) == 20

    (tmp_path / "rt-polarity.neg").write_bytes(b"bad\n\nworse\n")
    with one_line_error(ValueError, r"rt-polarity\.neg:2: empty text"):
        sentiment_data.load_splits(data_config(format="posneg", path=str(tmp_path)))
    (tmp_path / "rt-polarity.neg").unlink()
    with one_line_error(FileNotFoundError, r"data.path: .* must hold exactly one '\*\.neg' file \(found: none\)"):
        sentiment_data.load_splits(data_config(format="posneg", path=str(tmp_path)))


# ------------------------------------------------------------------------------ csv / jsonl
def test_csv_directory_uses_its_own_valid_file_and_no_holdout(tmp_path):
    write(
        tmp_path / "train.csv",
        'id,text,label\n1,"a, quoted ""text""",pos\n2,plain,neg\n3,"two\nlines",pos\n4,last,neg\n',
    )
    write(tmp_path / "dev.csv", "text,label\nfine,pos\n")
    write(tmp_path / "test.csv", "text,label\nmeh,neg\n")
    config = data_config(format="csv", path=str(tmp_path), labels="neg,pos", valid_fraction=0.5)
    splits = sentiment_data.load_splits(config)
    assert list(splits.evals) == ["valid", "test"] and len(splits.train.texts) == 4  # dev.csv is "valid"
    assert splits.train.texts[:3] == ['a, quoted "text"', "plain", "two\nlines"]
    assert splits.train.labels == [1, 0, 1, 0]
    assert splits.train.where == [f"{tmp_path}/train.csv:{n}" for n in (2, 3, 4, 6)]  # a record's first line
    assert splits.evals["valid"].texts == ["fine"] and splits.evals["test"].labels == [0]

    write(tmp_path / "valid.csv", "text,label\nfine,pos\n")
    with one_line_error(ValueError, r"more than one validation file: \['valid\.csv', 'dev\.csv'\]"):
        sentiment_data.load_splits(config)
    (tmp_path / "valid.csv").unlink()
    write(tmp_path / "test.csv", "txt,label\nmeh,neg\n")
    with one_line_error(
        ValueError, r"data.text_column: .*test\.csv has no column 'text' \(header: \['txt', 'label'\]\)"
    ):
        sentiment_data.load_splits(config)
    (tmp_path / "train.csv").unlink()
    with one_line_error(FileNotFoundError, r"data.path: no such file: .*train\.csv"):
        sentiment_data.load_splits(config)


def test_csv_single_file_holds_out_valid_and_test(tmp_path):
    path = write(tmp_path / "reviews.csv", "body,stars\n" + "".join(f"review {i},{i % 2}\n" for i in range(20)))
    config = data_config(format="csv", path=str(path), text_column="body", label_column="stars", valid_fraction=0.2)
    splits = sentiment_data.load_splits(config)
    assert list(splits.evals) == ["valid", "test"]
    sizes = [len(splits.train.texts), len(splits.evals["valid"].texts), len(splits.evals["test"].texts)]
    assert sizes == [14, 4, 2]
    rows = splits.train.where + splits.evals["valid"].where + splits.evals["test"].where
    assert sorted(rows) == sorted(f"{path}:{n}" for n in range(2, 22))  # a partition of the file
    assert splits.evals["valid"].where == sorted(splits.evals["valid"].where, key=lambda w: int(w.rsplit(":", 1)[1]))
    with one_line_error(ValueError, r"data.valid_fraction must be in \[0, 1\), got 1.5"):
        sentiment_data.load_splits(
            data_config(format="csv", path=str(path), text_column="body", label_column="stars", valid_fraction=1.5)
        )
    with one_line_error(ValueError, r"no eval split \(set data.valid_fraction > 0\)"):
        sentiment_data.load_splits(
            data_config(format="csv", path=str(path), text_column="body", label_column="stars", test_fraction=0.0)
        )
    write(path, "body,stars\nonly one,1\n")
    with one_line_error(ValueError, r"holding out 2 of 1 examples leaves the train split empty"):
        sentiment_data.load_splits(config)
    write(path, "body,stars\n")
    with one_line_error(ValueError, r"data.path: .*reviews\.csv has no examples"):
        sentiment_data.load_splits(config)
    write(path, "body,stars\nok,1\nnot,1,2\n")
    with one_line_error(ValueError, r"reviews\.csv:3: 3 comma-separated fields, but the header has 2"):
        sentiment_data.load_splits(config)


def test_jsonl_accepts_string_and_int_labels_and_rejects_the_rest(tmp_path):
    lines = [{"text": "good", "label": 1}, {"text": "bad", "label": "0"}, {"text": " fine ", "label": 1, "extra": None}]
    path = write(tmp_path / "all.jsonl", "".join(json.dumps(x) + "\n" for x in lines) + "\n")
    splits = sentiment_data.load_splits(data_config(format="jsonl", path=str(path), test_fraction=0.34))
    everything = sorted(zip(*splits.train)) + sorted(zip(*splits.evals["test"]))
    assert sorted(everything) == [("bad", 0, f"{path}:2"), ("fine", 1, f"{path}:3"), ("good", 1, f"{path}:1")]

    write(
        tmp_path / "d" / "train.jsonl",
        json.dumps({"text": "a", "label": 0}) + "\n" + json.dumps({"text": "b", "label": 1}),
    )
    write(tmp_path / "d" / "validation.jsonl", json.dumps({"text": "c", "label": 1}) + "\n")
    splits = sentiment_data.load_splits(data_config(format="jsonl", path=str(tmp_path / "d")))
    assert list(splits.evals) == ["valid"] and splits.evals["valid"].where == [f"{tmp_path}/d/validation.jsonl:1"]

    good = json.dumps({"text": "ok", "label": 0})
    cases = [
        ('{"text": "x", "label": 1.0}', r"all\.jsonl:2: label 1\.0 is a float; labels must be strings or integers"),
        ('{"text": "x", "label": true}', r"all\.jsonl:2: label True is a boolean"),
        ('{"text": "x", "label": 2}', r"all\.jsonl:2: label '2' is not one of \['0', '1'\] \(data.labels\)"),
        ('{"text": 5, "label": 1}', r"all\.jsonl:2: text is a int, not a string \(data.text_column\)"),
        ('{"text": "  ", "label": 1}', r"all\.jsonl:2: empty text"),
        ('{"body": "x", "label": 1}', r"data.text_column: .*all\.jsonl:2: no key 'text' \(keys: \['body', 'label'\]\)"),
        ('{"text": "x"}', r"data.label_column: .*all\.jsonl:2: no key 'label' \(keys: \['text'\]\)"),
        ('["text", 1]', r"all\.jsonl:2: not a JSON object \(found a list\)"),
        ('{"text": "x",', r"all\.jsonl:2: not a JSON object \(.* at column \d+\)"),
        ("", r"all\.jsonl:2: not a JSON object"),
    ]
    for line, match in cases:
        write(path, f"{good}\n{line}\n{good}\n")
        with one_line_error(ValueError, match):
            sentiment_data.load_splits(data_config(format="jsonl", path=str(path), valid_fraction=0.3))
    path.write_bytes(good.encode() + b'\n{"text": "\xe9", "label": 1}\n')
    with one_line_error(ValueError, r"data.path: .*all\.jsonl:2: not valid UTF-8 \(byte 0xe9"):
        sentiment_data.load_splits(data_config(format="jsonl", path=str(path), valid_fraction=0.3))


# ------------------------------------------------------------------- holdout, caps, labels
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
        "import sys, experiments.classification.data\n"
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
