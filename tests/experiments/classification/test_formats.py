"""Sentiment data formats: GLUE TSV, aclImdb, pos/neg lines, CSV and JSONL loaders and their one-line errors."""

import json

from experiments.classification import data as sentiment_data
from experiments.classification.data import Examples
from tests.errors import one_line_error
from tests.experiments.classification.files import data_config, glue_dir, write


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
