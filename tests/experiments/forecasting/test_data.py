"""Forecasting data: CSV and statsmodels series, Informer's feature modes and borders, scaling, windows, errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from configs.forecasting import common as forecasting_common
from experiments.forecasting import data as fd
from experiments.forecasting import series as fs
from experiments.forecasting.data import Scaler
from experiments.forecasting.series import Series
from tests.errors import one_line_error
from tests.paths import SHARED_DATA

ETTH1 = SHARED_DATA / "ett" / "ETTh1.csv"
HEADER = ["date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


def data_config(**overrides):
    """The presets' own ``config.data`` defaults (configs/forecasting/common.py), with ``overrides``."""
    config = forecasting_common.get_config().data
    config.update(overrides)
    return config


def ett_frame(n: int, freq: str = "h") -> pd.DataFrame:
    """A synthetic ETT-like table: ``n`` rows from 2016-07-01 every ``freq``, column k = k + sin(t / 7)."""
    t = np.arange(n, dtype=np.float64)
    frame = pd.DataFrame({"date": pd.date_range("2016-07-01", periods=n, freq=freq).strftime("%Y-%m-%d %H:%M:%S")})
    for k, name in enumerate(HEADER[1:]):
        frame[name] = k + np.sin(t / 7 + k)
    return frame


def write_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "ett.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def write_text(tmp_path: Path, text: str, name: str = "tiny.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


TINY = "date,a,b,OT\n2020-01-01,1,10,100\n2020-01-02,2,20,200\n2020-01-03,3,30,300\n2020-01-04,4,40,400\n"


# ------------------------------------------------------------------------------- columns
def test_features_s_m_ms(tmp_path):
    path = write_text(tmp_path, TINY)
    s = fs.load_series(data_config(path=str(path)))
    assert isinstance(s, Series)
    assert s.columns == ["OT"] and s.targets == [0]
    assert s.values.dtype == np.float64 and s.values.shape == (4, 1)
    np.testing.assert_array_equal(s.values[:, 0], [100, 200, 300, 400])
    assert s.dates.dtype == np.dtype("datetime64[s]")
    assert s.dates[1] == np.datetime64("2020-01-02T00:00:00")
    assert s.description == "tiny.csv: 4 rows x 1 column (S), daily"

    m = fs.load_series(data_config(path=str(path), features="M"))
    assert m.columns == ["a", "b", "OT"] and m.targets == [0, 1, 2]
    np.testing.assert_array_equal(m.values[2], [3, 30, 300])

    ms = fs.load_series(data_config(path=str(path), features="MS"))
    assert ms.columns == ["a", "b", "OT"] and ms.targets == [2]

    sub = fs.load_series(data_config(path=str(path), features="MS", columns="OT, a"))
    assert sub.columns == ["OT", "a"] and sub.targets == [0]
    np.testing.assert_array_equal(sub.values[0], [100, 1])


def test_only_selected_columns_are_parsed(tmp_path):
    path = write_text(tmp_path, "date,name,OT\n2020-01-01,x,1\n2020-01-02,y,2\n")
    assert fs.load_series(data_config(path=str(path))).columns == ["OT"]
    with one_line_error(ValueError, r"tiny\.csv:2: column 'name': 'x' is not a number"):
        fs.load_series(data_config(path=str(path), features="M"))


def test_ffill_and_blank_lines(tmp_path):
    text = "date,a,OT\n2020-01-01,1,10\n2020-01-02,NaN,20\n\n2020-01-03,,\n2020-01-04,4,40\n"
    path = write_text(tmp_path, text)
    s = fs.load_series(data_config(path=str(path), features="M", fill="ffill"))
    np.testing.assert_array_equal(s.values, [[1, 10], [1, 20], [1, 20], [4, 40]])
    with one_line_error(ValueError, r"data\.fill: .*tiny\.csv:3: column 'a' .*data\.fill=\"ffill\""):
        fs.load_series(data_config(path=str(path), features="M"))
    # line numbers count the blank line: the first missing OT after it is on line 5
    with one_line_error(ValueError, r"tiny\.csv:5: column 'OT'"):
        fs.load_series(data_config(path=str(path), features="M", columns="OT"))
    first = write_text(tmp_path, "date,OT\n2020-01-01,\n2020-01-02,2\n", "first.csv")
    with one_line_error(ValueError, r"first\.csv:2: column 'OT' .*first row"):
        fs.load_series(data_config(path=str(first), fill="ffill"))


# --------------------------------------------------------------------------------- splits
@pytest.mark.parametrize("freq,borders", [("h", (8640, 11520, 14400)), ("15min", (34560, 46080, 57600))])
def test_ett_borders_match_informer(tmp_path, freq, borders):
    per_day = 24 if freq == "h" else 96
    path = write_csv(tmp_path, ett_frame(600 * per_day + 5, freq))
    s = fs.load_series(data_config(path=str(path), features="M"))
    assert s.description.endswith("hourly" if freq == "h" else "15-minute")
    a, b, c = borders
    assert fd.split_borders(s, data_config()) == {"train": (0, a), "valid": (a, b), "test": (b, c)}


def test_ett_split_errors(tmp_path):
    short = fs.load_series(data_config(path=str(write_csv(tmp_path, ett_frame(24 * 30 * 19)))))
    with one_line_error(ValueError, r"data\.split='ett': .*13,680 rows, fewer than the 14,400"):
        fd.split_borders(short, data_config())
    odd = fs.load_series(data_config(path=str(write_csv(tmp_path, ett_frame(50, "7h"), "odd.csv"))))
    with one_line_error(ValueError, r"data\.split='ett': .*25200 s\) does not divide a day"):
        fd.split_borders(odd, data_config())


def test_ratio_and_dates_splits(tmp_path):
    s = fs.load_series(data_config(path=str(write_csv(tmp_path, ett_frame(100, "D")))))
    assert fd.split_borders(s, data_config(split="ratio")) == {"train": (0, 70), "valid": (70, 80), "test": (80, 100)}
    assert fd.split_borders(s, data_config(split="ratio", split_ratios="0.5,0,0.5"))["valid"] == (50, 50)
    with one_line_error(ValueError, r"data\.split_ratios='0\.7,0\.2,0\.2'"):
        fd.split_borders(s, data_config(split="ratio", split_ratios="0.7,0.2,0.2"))

    # 2016-07-01 + 60 days = 2016-08-30; 2016-09-15 is row 76
    dates = data_config(split="dates", valid_start="2016-08-30", test_start="2016-09-15")
    assert fd.split_borders(s, dates) == {"train": (0, 60), "valid": (60, 76), "test": (76, 100)}
    no_valid = fd.split_borders(s, data_config(split="dates", test_start="2016-09-15"))
    assert no_valid == {"train": (0, 76), "valid": (76, 76), "test": (76, 100)}
    with one_line_error(ValueError, r"data\.test_start='2030'"):
        fd.split_borders(s, data_config(split="dates", test_start="2030"))
    with one_line_error(ValueError, r"data\.valid_start='2016-10-01' is not before"):
        fd.split_borders(s, data_config(split="dates", valid_start="2016-10-01", test_start="2016-09-15"))
    with one_line_error(ValueError, r"data\.test_start='tomorrow'"):
        fd.split_borders(s, data_config(split="dates", test_start="tomorrow"))


# -------------------------------------------------------------------------------- scaling
def test_scaler_is_fit_on_train_only(tmp_path):
    frame = ett_frame(100, "D")
    s = fs.load_series(data_config(path=str(write_csv(tmp_path, frame)), features="M", split="ratio"))
    train = fd.split_borders(s, data_config(split="ratio"))["train"]
    scaler = Scaler.fit(s.values[slice(*train)])
    frame.loc[70:, "OT"] = 1e6  # valid and test change
    changed = fs.load_series(data_config(path=str(write_csv(tmp_path, frame, "b.csv")), features="M"))
    again = Scaler.fit(changed.values[slice(*train)])
    np.testing.assert_array_equal(scaler.mean, again.mean)
    np.testing.assert_array_equal(scaler.std, again.std)
    np.testing.assert_allclose(scaler.mean, s.values[:70].mean(0))
    z = scaler.transform(s.values[:70])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-12)


def test_scaler_round_trip_columns_and_constant():
    rng = np.random.default_rng(0)
    values = rng.normal(5, 3, size=(50, 3))
    values[:, 1] = 2.5
    scaler = Scaler.fit(values)
    assert scaler.std[1] == 1.0
    np.testing.assert_allclose(scaler.transform(values)[:, 1], 0)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values)
    y = values[None, :, [2]].astype(np.float32)  # [1, 50, 1]: the target column only
    z = scaler.transform(y, columns=[2])
    assert z.dtype == np.float32 and z.shape == y.shape
    np.testing.assert_allclose(z[0, :, 0], (values[:, 2] - scaler.mean[2]) / scaler.std[2], rtol=1e-5)
    np.testing.assert_allclose(scaler.inverse(z, columns=[2]), y, rtol=1e-5)
    with pytest.raises(ValueError, match="last axis has 3 entries but 1 columns"):
        scaler.transform(values, columns=[0])


# -------------------------------------------------------------------------------- windows
def test_window_origins_borders_and_context():
    lookback, horizon = 5, 3
    o = fd.window_origins((0, 20), lookback, horizon, 1, context=lookback)
    assert o[0] == lookback and o[-1] == 20 - horizon and o.dtype == np.int64
    o = fd.window_origins((20, 40), lookback, horizon, 1)
    assert o[0] - lookback == 20 and o[-1] + horizon == 40  # context 0: nothing crosses
    o = fd.window_origins((20, 40), lookback, horizon, 1, context=lookback)
    assert o[0] == 20 and o[-1] + horizon == 40  # Informer: inputs from the previous split, targets never
    o = fd.window_origins((20, 40), lookback, horizon, 4, context=2)
    assert list(o) == [23, 27, 31, 35] and (o - lookback >= 18).all() and (o + horizon <= 40).all()
    o = fd.window_origins((2, 40), lookback, horizon, 1, context=100)
    assert o[0] == lookback  # never below row 0
    with one_line_error(ValueError, r"valid: the split has 7 rows .*lookback\+horizon = 5\+3 = 8"):
        fd.window_origins((20, 27), lookback, horizon, 1, key="valid")
    assert len(fd.window_origins((20, 27), lookback, horizon, 1, context=lookback)) == 5


def test_make_windows_equals_slicing():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(60, 4))
    origins = fd.window_origins((10, 60), 7, 3, 2, context=7)
    x, y = fd.make_windows(values, origins, 7, 3, inputs=[0, 2, 3], targets=[3])
    assert x.shape == (len(origins), 7, 3) and y.shape == (len(origins), 3, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    for w, t in enumerate(origins):
        np.testing.assert_array_equal(x[w], values[t - 7 : t][:, [0, 2, 3]].astype(np.float32))
        np.testing.assert_array_equal(y[w], values[t : t + 3][:, [3]].astype(np.float32))
    with pytest.raises(ValueError, match="origins must lie in"):
        fd.make_windows(values, np.array([3]), 7, 3, [0], [0])


# --------------------------------------------------------------------------------- errors
def test_bad_inputs_are_one_line_errors(tmp_path):
    with one_line_error(FileNotFoundError, r"data\.path: no such file: .*nope\.csv"):
        fs.load_series(data_config(path=str(tmp_path / "nope.csv")))
    path = write_text(tmp_path, TINY)
    with one_line_error(ValueError, r"data\.date_column: .*tiny\.csv has no column 'time' \(header: date, a, b, OT\)"):
        fs.load_series(data_config(path=str(path), date_column="time"))
    with one_line_error(ValueError, r"data\.target: .*tiny\.csv has no column 'y' \(header: date, a, b, OT\)"):
        fs.load_series(data_config(path=str(path), target="y"))
    with one_line_error(ValueError, r"data\.columns: .*tiny\.csv has no column 'c' \(header: date, a, b, OT\)"):
        fs.load_series(data_config(path=str(path), features="M", columns="a,c"))
    with one_line_error(ValueError, r"data\.columns='a,b' does not include data\.target='OT'"):
        fs.load_series(data_config(path=str(path), features="MS", columns="a,b"))

    cases = {
        "number": ("2020-01-02,abc", r"bad\.csv:3: column 'OT': 'abc' is not a number"),
        "date": ("2020-13-45,2", r"data\.date_column: .*bad\.csv:3: column 'date': '2020-13-45' is not a date"),
        "order": ("2020-01-01,2", r"data\.date_column: .*bad\.csv:3: date .* is not after the previous date"),
        "empty": ("2020-01-02,", r"data\.fill: .*bad\.csv:3: column 'OT' is empty or NaN; set data\.fill=\"ffill\""),
        # Its variance would overflow: the scaler then divided by infinity and trained on zeros.
        "large": ("2020-01-02,-1e200", r"bad\.csv:3: column 'OT': '-1e200' is too large: values must be below 1e\+18"),
        "long": ("2020-01-02," + "x" * 10_000, r"bad\.csv:3: column 'OT': 'x{40}\.\.\.' is not a number$"),
        # Beyond float64 it parses as infinity: too large, not "not a number".
        "huge": ("2020-01-02," + "9" * 10_000, r"bad\.csv:3: column 'OT': '9{40}\.\.\.' is too large: values must be"),
    }
    for row, match in cases.values():
        bad = write_text(tmp_path, f"date,OT\n2020-01-01,1\n{row}\n2020-01-03,3\n", "bad.csv")
        with one_line_error(ValueError, match):
            fs.load_series(data_config(path=str(bad)))


# ---------------------------------------------------------------------------- statsmodels
def test_a_path_statsmodels_does_not_read_is_refused():
    with one_line_error(ValueError, r"data.path='mine.csv' is set but data.source='statsmodels' does not read it"):
        fs.load_series(data_config(source="statsmodels", dataset="sunspots", path="mine.csv"))


def test_statsmodels_series():
    sunspots = fs.load_series(data_config(source="statsmodels", dataset="sunspots", target=""))
    assert sunspots.columns == ["SUNACTIVITY"] and sunspots.targets == [0] and sunspots.values.shape == (309, 1)
    assert sunspots.dates[0] == np.datetime64("1700-01-01") and sunspots.dates[-1] == np.datetime64("2008-01-01")
    assert sunspots.description == "statsmodels sunspots: 309 rows x 1 column (S), yearly"
    nile = fs.load_series(data_config(source="statsmodels", dataset="nile", target="", features="M"))
    assert nile.columns == ["volume"] and nile.values.shape == (100, 1) and nile.dates[0] == np.datetime64("1871")
    split = fd.split_borders(nile, data_config(split="dates", valid_start="1940", test_start="1960"))
    assert split == {"train": (0, 69), "valid": (69, 89), "test": (89, 100)}
    with one_line_error(ValueError, r"data\.fill: statsmodels\.datasets\.co2:7 \(1958-05-10\): column 'co2' .*ffill"):
        fs.load_series(data_config(source="statsmodels", dataset="co2", target=""))
    co2 = fs.load_series(data_config(source="statsmodels", dataset="co2", target="", fill="ffill"))
    assert co2.values.shape == (2284, 1) and np.isfinite(co2.values).all()
    assert co2.values[6, 0] == co2.values[5, 0] and co2.description.endswith("weekly")
    with one_line_error(ValueError, r"data\.target: statsmodels\.datasets\.nile has no column 'OT'"):
        fs.load_series(data_config(source="statsmodels", dataset="nile"))


# ------------------------------------------------------------------------------ ETTh1.csv
def test_etth1_when_present():
    if not ETTH1.is_file():
        pytest.skip(f"{ETTH1} is not present")
    s = fs.load_series(data_config(path=str(ETTH1), features="M"))
    assert s.values.shape == (17_420, 7) and s.columns == HEADER[1:] and s.targets == list(range(7))
    assert s.description == "ETTh1.csv: 17,420 rows x 7 columns (M), hourly"
    borders = fd.split_borders(s, data_config())
    assert borders == {"train": (0, 8640), "valid": (8640, 11520), "test": (11520, 14400)}
    origins = fd.window_origins(borders["test"], 96, 24, 1, context=96, key="test")
    assert origins[0] == 11520 and len(origins) == 14400 - (11520 - 96) - 96 - 24 + 1  # Informer's test length
