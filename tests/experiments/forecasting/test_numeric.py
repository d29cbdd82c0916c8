"""Headerless numeric files (LSTNet's layout, ``data.header=False``): loading, the ratio split, bad input,
and the launcher end to end with ``configs/forecasting/numeric.py``."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from configs.forecasting import common as forecasting_common
from configs.forecasting import numeric
from experiments.forecasting import data as fd
from experiments.forecasting import series as fs
from rnn_research import metrics
from tests.errors import one_line_error
from tests.test_main import run

ROWS = 300


def data_config(**overrides):
    """``config.data`` as numeric.py sets it (header=False, ratio 0.6/0.2/0.2, features M), with ``overrides``."""
    config = forecasting_common.get_config().data
    config.update(header=False, split="ratio", split_ratios="0.6,0.2,0.2", features="M", target="")
    config.update(overrides)
    return config


def numbers(n: int = ROWS) -> np.ndarray:
    """``[n, 3]``: column k = 10 k + sin(t / 5 + k), t the row number."""
    t = np.arange(n, dtype=np.float64)[:, None]
    return 10 * np.arange(3) + np.sin(t / 5 + np.arange(3))


def write_numbers(tmp_path: Path, values: np.ndarray, name: str = "numbers.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(",".join(repr(float(v)) for v in row) + "\n" for row in values), encoding="utf-8")
    return path


def write_text(tmp_path: Path, text: str, name: str = "tiny.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


TINY = "1,10,100\n2,20,200\n3,30,300\n4,40,400\n"


# ------------------------------------------------------------------------------- loading
def test_headerless_file_loads_with_row_numbers(tmp_path):
    values = numbers()
    path = write_numbers(tmp_path, values)
    m = fs.load_series(data_config(path=str(path)))
    np.testing.assert_array_equal(m.values, values)  # repr() round-trips float64 exactly
    assert m.values.dtype == np.float64 and m.values.shape == (ROWS, 3)
    assert m.columns == ["0", "1", "2"] and m.targets == [0, 1, 2]
    assert m.dates.dtype == np.int64 and not fs.dated(m.dates)
    np.testing.assert_array_equal(m.dates, np.arange(ROWS))
    assert m.description == "numbers.txt: 300 rows x 3 columns (M), no dates (rows numbered)"

    s = fs.load_series(data_config(path=str(path), features="S", target="1"))
    assert s.columns == ["1"] and s.targets == [0]
    np.testing.assert_array_equal(s.values[:, 0], values[:, 1])
    assert s.description == "numbers.txt: 300 rows x 1 column (S), no dates (rows numbered)"

    ms = fs.load_series(data_config(path=str(path), features="MS", target="2", columns="2,0"))
    assert ms.columns == ["2", "0"] and ms.targets == [0]


def test_blank_lines_are_skipped_and_lines_count_from_one(tmp_path):
    path = write_text(tmp_path, "1,10,100\n\n2,20,200\n3,30,300\n")
    s = fs.load_series(data_config(path=str(path)))
    np.testing.assert_array_equal(s.values[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(s.dates, [0, 1, 2])  # rows, not lines
    bad = write_text(tmp_path, "1,10,100\n\n2,abc,200\n")
    with one_line_error(ValueError, r"tiny\.txt:3: column '1': 'abc' is not a number"):
        fs.load_series(data_config(path=str(bad)))


def test_stamp_and_dated():
    assert fs.stamp(np.int64(5)) == "row 5" and fs.stamp(7) == "row 7"
    assert fs.stamp(np.datetime64("2016-07-01T13:45:00", "s")) == "2016-07-01 13:45:00"
    assert fs.dated(np.array(["2016-07-01"], dtype="datetime64[s]"))
    assert not fs.dated(np.arange(3, dtype=np.int64))


def test_header_defaults_to_true(tmp_path):
    """Without data.header a file keeps its header and dates, as before."""
    config = forecasting_common.get_config().data
    assert config.header is True
    config.path = str(write_text(tmp_path, "date,a,OT\n2020-01-01,1,10\n2020-01-02,2,20\n", name="dated.csv"))
    s = fs.load_series(config)
    assert fs.dated(s.dates) and s.columns == ["OT"]
    assert fs.stamp(s.dates[1]) == "2020-01-02 00:00:00"


# ------------------------------------------------------------------------------- split
def test_ratio_split_and_dated_splits_refused(tmp_path):
    s = fs.load_series(data_config(path=str(write_numbers(tmp_path, numbers()))))
    assert fd.split_borders(s, data_config()) == {"train": (0, 180), "valid": (180, 240), "test": (240, 300)}
    odd = s._replace(values=s.values[:101], dates=s.dates[:101])  # int(101 * 0.6) = 60, int(101 * 0.2) = 20
    assert fd.split_borders(odd, data_config()) == {"train": (0, 60), "valid": (60, 81), "test": (81, 101)}
    for split in ("ett", "dates"):
        with one_line_error(ValueError, rf"data\.split='{split}' needs dates.*data\.header=False.*data\.split='ratio'"):
            fd.split_borders(s, data_config(split=split, test_start="2016-01-01"))


# ------------------------------------------------------------------------------- bad input
def test_bad_cells_name_the_file_line_and_column(tmp_path):
    path = write_text(tmp_path, "1,10,100\n2,20,200\n3,abc,300\n4,40,400\n")
    with one_line_error(ValueError, r"data\.path: .*tiny\.txt:3: column '1': 'abc' is not a number"):
        fs.load_series(data_config(path=str(path)))

    path = write_text(tmp_path, "1,10,100\n2,,200\n3,30,300\n")
    with one_line_error(ValueError, r"data\.fill: .*tiny\.txt:2: column '1' is empty or NaN; set data\.fill=\"ffill\""):
        fs.load_series(data_config(path=str(path)))
    filled = fs.load_series(data_config(path=str(path), fill="ffill"))
    np.testing.assert_array_equal(filled.values[:, 1], [10, 10, 30])

    path = write_text(tmp_path, "1,,100\n2,20,200\n")
    with one_line_error(ValueError, r"tiny\.txt:1: column '1' is empty or NaN in the first row"):
        fs.load_series(data_config(path=str(path), fill="ffill"))

    path = write_text(tmp_path, "1,10,100\n2,20,1e300\n")
    with one_line_error(ValueError, r"tiny\.txt:2: column '2': '1e300' is too large"):
        fs.load_series(data_config(path=str(path)))

    # A headed file read with header=False: its header is line 1 and is not numbers.
    path = write_text(tmp_path, "a,b,c\n1,2,3\n")
    with one_line_error(ValueError, r"tiny\.txt:1: column '0': 'a' is not a number"):
        fs.load_series(data_config(path=str(path)))


def test_ragged_rows(tmp_path):
    # A row longer than the first: pandas' tokenizer refuses it and names the line.
    path = write_text(tmp_path, "1,10,100\n2,20,200,2000\n3,30,300\n")
    with one_line_error(ValueError, r"data\.path: .*tiny\.txt: cannot read as CSV: .*line 2, saw 4"):
        fs.load_series(data_config(path=str(path)))
    # A shorter row: pandas pads it, so its last cell reads as missing.
    path = write_text(tmp_path, "1,10,100\n2,20\n3,30,300\n")
    with one_line_error(ValueError, r"data\.fill: .*tiny\.txt:2: column '2' is empty or NaN"):
        fs.load_series(data_config(path=str(path)))


def test_empty_files_and_unknown_columns(tmp_path):
    for text in ("", "\n\n\n"):
        path = write_text(tmp_path, text)
        with one_line_error(ValueError, r"data\.path: .*tiny\.txt is empty"):
            fs.load_series(data_config(path=str(path)))

    path = write_text(tmp_path, TINY)
    shown = r"tiny\.txt \(no header: columns 0 to 2\) has no column"
    with one_line_error(ValueError, rf"data\.target: .*{shown} 'OT' \(header: 0, 1, 2\)"):
        fs.load_series(data_config(path=str(path), target="OT"))
    with one_line_error(ValueError, rf"data\.target: .*{shown} 'OT'"):
        fs.load_series(data_config(path=str(path), features="S", target="OT"))
    with one_line_error(ValueError, rf"data\.columns: .*{shown} '3'"):
        fs.load_series(data_config(path=str(path), columns="0,3"))
    with one_line_error(ValueError, r"data\.target is required with data\.features='S'"):
        fs.load_series(data_config(path=str(path), features="S"))


# ------------------------------------------------------------------------------- preset
def test_numeric_preset_variants():
    config = numeric.get_config()
    assert config.data.header is False and config.data.split == "ratio" and config.data.split_ratios == "0.6,0.2,0.2"
    assert config.data.features == "M" and config.data.horizon == 24 and config.model.decoder == "segment"
    assert numeric.get_config("h720").data.horizon == 720
    smoke = numeric.get_config("smoke")
    assert smoke.data.lookback % smoke.model.segment_length == 0
    with pytest.raises(ValueError, match=r"unknown variant 'h5' of configs/forecasting/numeric\.py"):
        numeric.get_config("h5")


@pytest.mark.slow
def test_launcher_trains_and_predicts_on_a_headerless_file(tmp_path):
    path = write_numbers(tmp_path, numbers())
    workdir = tmp_path / "run"
    args = ["--config=configs/forecasting/numeric.py:smoke", f"--config.data.path={path}"]
    code, out, err = run(workdir, *args, config=None, devices=1)  # 8 fake devices slow every checkpoint save
    assert code == 0, err[-2000:]
    records = metrics.read_jsonl(workdir / "metrics.jsonl")
    (best,) = [r for r in records if r["split"] == "best_test"]
    assert np.isfinite(best["mse"]) and np.isfinite(best["mae"])
    assert "no dates (rows numbered)" in out + err

    code, out, err = run(workdir, *args, "--mode=predict", config=None, devices=1)
    assert code == 0, err[-2000:]
    with open(workdir / "predictions_test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["column"] for r in rows} == {"0", "1", "2"}
    assert all(r["origin"].startswith("row ") and r["date"].startswith("row ") for r in rows)
    origins = sorted({int(r["origin"][4:]) for r in rows})
    assert origins[0] >= 240 and origins[-1] < ROWS  # the test split's rows (0-based)
    first = rows[0]
    assert int(first["date"][4:]) == int(first["origin"][4:]) + int(first["step"]) - 1
    assert json.loads(out.strip().splitlines()[-1])
