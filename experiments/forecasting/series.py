"""Time-series forecasting data: reading one multivariate series from a CSV file or statsmodels.

``load_series(config.data)`` reads one series (``data.source``):

* ``csv``: a header-first CSV file (``data.path``), one row per time step, e.g. the ETT benchmark of
  Informer (Zhou et al., 2021): ``date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT`` (``ETTh1.csv`` hourly,
  ``ETTm1.csv`` every 15 minutes). The date column is ``data.date_column`` ("" means ``date``); dates
  are parsed by pandas (the format is inferred from the first date; a UTC offset is converted to UTC
  and dropped; sub-second parts are dropped) and must strictly increase. Value cells are numbers;
  ``""``, ``nan``, ``NaN`` are missing (any other text, and an infinite number, is an error). Blank
  lines are skipped. Only the selected columns are parsed, so other columns may hold text.
  With ``data.header=False`` the file is numbers only, as in LSTNet's multivariate benchmarks
  (``electricity.txt``, ``exchange_rate.txt``...: comma-separated, one row per time step, no
  header and no dates): the columns are named by their 0-based index (``data.target="0"``,
  ``data.columns="0,3"``), error lines are numbered from 1 as in the file, ``Series.dates``
  holds the data rows' numbers from 0 (``row N`` in ``--mode=predict``; blank lines skipped), and
  the split must be ``ratio`` (LSTNet's 60/20/20: ``data.split_ratios="0.6,0.2,0.2"``).
* ``statsmodels``: a series that statsmodels ships (``data.dataset``): ``sunspots`` (yearly
  1700-2008, ``SUNACTIVITY``), ``nile`` (yearly 1871-1970, ``volume``) and ``co2`` (weekly
  1958-2001, ``co2``, 59 missing weeks: it needs ``data.fill="ffill"``). Dates are January 1 of the
  ``YEAR`` / ``year`` column, or the co2 index; ``data.date_column`` is ignored.

Columns follow Informer's ``features`` modes (``data.features``), with ``data.target`` the target
column (``OT`` for ETT; "" with statsmodels is the dataset's value column):

* ``S``: inputs = targets = ``[target]`` (``data.columns`` is ignored).
* ``M``: inputs = targets = every column but the date (columns with an empty header name are left
  out), in file order, or ``data.columns`` (comma-separated, in that order). A non-empty target must
  be among them; with ``csv`` and ``M`` the target may be "".
* ``MS``: inputs as for ``M``, targets = ``[target]``.

``Series.values`` is ``[N, C]`` float64 in the original scale, ``Series.targets`` indexes
``Series.columns``. Missing values (``data.fill``): ``error`` (the default) names the first missing
cell; ``ffill`` copies the last value forward (a missing cell in the first row is still an error).
A value of magnitude :data:`MAX_ABS` or more is refused: the model and the metrics work in float32,
where the square of such a value (a squared error, a variance) is infinite.

Chronological splits, scaling and windows are in ``experiments/forecasting/data.py``. Errors are one line and name the config key, the file, the line (the header is line 1) and the
column where there is one.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from rnn_research import io
from rnn_research.data.fields import comma_list

if TYPE_CHECKING:
    import ml_collections

SOURCES = ("csv", "statsmodels")
FEATURES = ("S", "M", "MS")
FILLS = ("error", "ffill")
# dataset -> (date column or None for the index, value column)
STATSMODELS = {"sunspots": ("YEAR", "SUNACTIVITY"), "co2": (None, "co2"), "nile": ("year", "volume")}
MISSING = ("", "nan", "NaN", "NAN")
MAX_ABS = 1e18  # below sqrt(float32 max) = 1.8e19: squares stay finite in float32
DAY = 86_400


class Series(NamedTuple):
    """A series: values ``[N, C]`` (float64, original scale), dates ``[N]`` (datetime64[s]; for a
    headerless file int64 data-row numbers from 0, blank lines not counted), the input column
    names, the target indices into them and a one-line description."""

    values: np.ndarray
    dates: np.ndarray
    columns: list[str]
    targets: list[int]
    description: str


# ---------------------------------------------------------------------------------- columns
def _select(data: ml_collections.ConfigDict, header: list[str], date: str | None, name: str, default: str = ""):
    """Input column names and target indices for ``data.features`` (see the module docstring)."""
    features, target = data.features, str(data.target).strip() or default
    if features not in FEATURES:
        raise ValueError(f"data.features={features!r} is not one of {list(FEATURES)}")
    shown = ", ".join(header)
    if target and target not in header:
        raise ValueError(f"data.target: {name} has no column {target!r} (header: {shown})")
    if target and target == date:
        raise ValueError(f"data.target={target!r} is the date column of {name}")
    if features == "S":
        if not target:
            raise ValueError("data.target is required with data.features='S'")
        return [target], [0]
    if data.columns:
        columns = comma_list(data.columns, "data.columns")
        for column in columns:
            if column not in header:
                raise ValueError(f"data.columns: {name} has no column {column!r} (header: {shown})")
            if column == date:
                raise ValueError(f"data.columns: {column!r} is the date column of {name}")
    else:
        columns = [c for c in header if c != date and c]
    if not columns:
        raise ValueError(f"data.columns: {name} has no value column besides the date (header: {shown})")
    if target and target not in columns:
        raise ValueError(f"data.columns={data.columns!r} does not include data.target={target!r}")
    if features == "M":
        return columns, list(range(len(columns)))
    if not target:
        raise ValueError("data.target is required with data.features='MS'")
    return columns, [columns.index(target)]


def _fill(values: np.ndarray, fill: str, where: Callable[[int], str], columns: list[str]) -> np.ndarray:
    """``values`` with missing (NaN) cells checked or forward-filled."""
    if fill not in FILLS:
        raise ValueError(f"data.fill={fill!r} is not one of {list(FILLS)}")
    missing = np.isnan(values)
    if not missing.any():
        return values
    if fill == "error":
        row, col = np.argwhere(missing)[0]
        raise ValueError(
            f'data.fill: {where(row)}: column {columns[col]!r} is empty or NaN; set data.fill="ffill" to forward-fill'
        )
    if missing[0].any():
        col = int(np.flatnonzero(missing[0])[0])
        raise ValueError(
            f"data.fill: {where(0)}: column {columns[col]!r} is empty or NaN in the first row (nothing to forward-fill)"
        )
    return pd.DataFrame(values).ffill().to_numpy(np.float64)


def median_spacing(dates: np.ndarray) -> int | None:
    """The median spacing of the dates in seconds (None for fewer than two dates)."""
    if len(dates) < 2:
        return None
    return int(np.median(np.diff(dates).astype(np.int64)))


def dated(dates: np.ndarray) -> bool:
    """Whether a series has dates (``datetime64``) rather than row numbers (a headerless file)."""
    return np.issubdtype(np.asarray(dates).dtype, np.datetime64)


def stamp(value: Any) -> str:
    """A date as ``YYYY-MM-DD hh:mm:ss``, or ``row N`` for a series without dates."""
    if isinstance(value, (int, np.integer)):
        return f"row {int(value)}"
    return str(np.datetime_as_string(value, unit="s")).replace("T", " ")


def _frequency(dates: np.ndarray) -> str:
    if not dated(dates):
        return "no dates (rows numbered)"
    seconds = median_spacing(dates)
    if seconds is None:
        return "a single date"
    if seconds % DAY == 0:
        days = seconds // DAY
        named = {1: "daily", 7: "weekly", 365: "yearly", 366: "yearly"}
        if days in named:
            return named[days]
        return "monthly" if 28 <= days <= 31 else "quarterly" if 89 <= days <= 92 else f"every {days} days"
    if seconds % 3600 == 0:
        return "hourly" if seconds == 3600 else f"every {seconds // 3600} hours"
    if seconds % 60 == 0:
        return f"{seconds // 60}-minute"
    return f"every {seconds} s"


def _check_increasing(dates: np.ndarray, where: Callable[[int], str]) -> None:
    bad = np.flatnonzero(np.diff(dates) <= np.timedelta64(0, "s"))
    if len(bad):
        i = int(bad[0]) + 1
        raise ValueError(
            f"data.date_column: {where(i)}: date {dates[i]} is not after the previous date {dates[i - 1]} "
            "(dates must strictly increase)"
        )


def _describe(name: str, values: np.ndarray, dates: np.ndarray, features: str) -> str:
    n, c = values.shape
    return f"{name}: {n:,} rows x {c} column{'s' if c != 1 else ''} ({features}), {_frequency(dates)}"


# ---------------------------------------------------------------------------------- sources
def _to_float(cells: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Floats of string cells (missing cells NaN) and the index of the first non-number (or None);
    a number too large for float64 (or ``inf``) reads as infinity, for the caller's range check."""
    try:
        values = cells.astype(np.float64)
    except ValueError:
        stripped = pd.Series(cells, dtype=object).str.strip()
        values = pd.to_numeric(stripped, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        wrong = np.isnan(values) & ~stripped.isin(MISSING).to_numpy()
    else:
        wrong = np.zeros(len(values), bool)
    bad = np.flatnonzero(wrong)
    return values, (int(bad[0]) if len(bad) else None)


def _shown(cell: str, limit: int = 40) -> str:
    """A cell for an error line, cut to ``limit`` characters (a 20 MB cell is not echoed)."""
    text = str(cell).strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _parse_dates(cells: np.ndarray, date: str, where: Callable[[int], str]) -> np.ndarray:
    """The date column's cells as ``datetime64[s]`` (UTC, offset dropped), checked to strictly increase."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": parsed one by one
        parsed = pd.to_datetime(pd.Series(cells, dtype=object).str.strip(), errors="coerce", utc=True)
    dates = parsed.dt.tz_convert(None).to_numpy().astype("datetime64[s]")
    bad = np.flatnonzero(np.isnat(dates))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"data.date_column: {where(i)}: column {date!r}: {_shown(cells[i])} is not a date")
    _check_increasing(dates, where)
    return dates


def _load_csv(data: ml_collections.ConfigDict) -> Series:
    if not data.path:
        raise ValueError("data.path is required with data.source='csv'")
    path = io.require_file(data.path)
    try:
        frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"data.path: {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        detail = " ".join(str(e).split())
        raise ValueError(f"data.path: {path}: cannot read as CSV: {detail}") from None
    table = frame.to_numpy(dtype=object)
    headed = bool(data.get("header", True))
    if headed:
        header = [str(h).strip() for h in table[0]]
        repeated = sorted({h for h in header if h and header.count(h) > 1})
        if repeated:
            raise ValueError(
                f"data.path: {path}: the header repeats column(s) {repeated} (header: {', '.join(header)})"
            )
        lines = np.arange(2, len(table) + 1)  # the header is line 1
        body = table[1:]
    else:  # LSTNet's layout: numbers only, columns named by their 0-based index
        header = [str(j) for j in range(table.shape[1])]
        lines = np.arange(1, len(table) + 1)
        body = table
    keep = ~(body == "").all(axis=1)  # blank lines
    body, lines = body[keep], lines[keep]
    if not len(body):
        raise ValueError(
            f"data.path: {path} has a header but no data rows" if headed else f"data.path: {path} is empty"
        )

    def where(i: int) -> str:
        return f"{path}:{lines[i]}"

    if headed:
        date = str(data.date_column).strip() or "date"
        if date not in header:
            raise ValueError(f"data.date_column: {path} has no column {date!r} (header: {', '.join(header)})")
        columns, targets = _select(data, header, date, str(path))
        dates = _parse_dates(body[:, header.index(date)], date, where)
    else:
        columns, targets = _select(data, header, None, f"{path} (no header: columns 0 to {len(header) - 1})")
        dates = np.arange(len(body), dtype=np.int64)  # row numbers: the file has no dates

    values = np.empty((len(body), len(columns)), np.float64)
    for j, column in enumerate(columns):
        cells = body[:, header.index(column)]
        values[:, j], bad_row = _to_float(cells)
        if bad_row is not None:
            raise ValueError(
                f"data.path: {where(bad_row)}: column {column!r}: {_shown(cells[bad_row])} is not a number"
            )
        large = np.flatnonzero(np.abs(values[:, j]) >= MAX_ABS)  # NaN (missing) compares False
        if len(large):
            i = int(large[0])
            raise ValueError(
                f"data.path: {where(i)}: column {column!r}: {_shown(cells[i])} is too large: values must be below "
                f"{MAX_ABS:g} in magnitude (their squares overflow float32); rescale the column"
            )
    values = _fill(values, data.fill, where, columns)
    return Series(values, dates, columns, targets, _describe(path.name, values, dates, data.features))


def _load_statsmodels(data: ml_collections.ConfigDict) -> Series:
    name = data.dataset
    if name not in STATSMODELS:
        raise ValueError(f"data.dataset={name!r} is not one of {list(STATSMODELS)}")
    module = importlib.import_module(f"statsmodels.datasets.{name}")
    frame = module.load_pandas().data
    date, value = STATSMODELS[name]
    label = f"statsmodels.datasets.{name}"
    header = [str(c) for c in frame.columns]
    columns, targets = _select(data, header, date, label, default=value)
    if date is None:
        dates = pd.DatetimeIndex(frame.index).to_numpy().astype("datetime64[s]")
    else:
        years = frame[date].to_numpy().astype(np.int64).astype(str)
        dates = years.astype("datetime64[Y]").astype("datetime64[s]")

    def where(i: int) -> str:
        return f"{label}:{i + 1} ({np.datetime_as_string(dates[i], unit='D')})"

    _check_increasing(dates, where)
    values = frame[columns].to_numpy(np.float64)
    values = _fill(values, data.fill, where, columns)
    return Series(values, dates, columns, targets, _describe(f"statsmodels {name}", values, dates, data.features))


def load_series(data: ml_collections.ConfigDict) -> Series:
    """The series ``config.data`` describes (see the module docstring)."""
    if data.source == "csv":
        return _load_csv(data)
    if data.source == "statsmodels":
        if data.get("path"):  # e.g. the sunspots presets, which read statsmodels' copy
            raise ValueError(
                f"data.path={data.path!r} is set but data.source='statsmodels' does not read it; "
                "add --config.data.source=csv"
            )
        return _load_statsmodels(data)
    raise ValueError(f"data.source={data.source!r} is not one of {list(SOURCES)}")
