"""benchmarks/long_horizon.py: the runs, their commands, results read from metrics.jsonl, the table, and
the benchmark end to end on a tiny ETTh1-like file."""

import json
import os
import pathlib
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from absl import app

from benchmarks import long_horizon as lh
from tests import xla
from tests.paths import HANG

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA_DOCS = "(see docs/experiments/forecasting.md#getting-the-data)"
HEADER = ["date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


# ------------------------------------------------------------------------------- runs and commands
def test_runs_name_the_preset_variants():
    assert lh.runs(["etth1", "ettm1"], [96, 720], "segrnn") == [
        ("etth1_m_96", "etth1", 96, "etth1_m_96"),
        ("etth1_m_720", "etth1", 720, "etth1_m_720"),
        ("ettm1_m_96", "ettm1", 96, "ettm1_m_96"),
        ("ettm1_m_720", "ettm1", 720, "ettm1_m_720"),
    ]
    assert lh.runs(["ettm1"], [192], "lstm") == [("ettm1_m_192_lstm", "ettm1", 192, "ettm1_m_192_lstm")]
    defaults = lh.runs(list(lh.FILES), lh.HORIZONS, "segrnn")
    assert len(defaults) == 8 and [r[0] for r in defaults][:4] == [f"etth1_m_{h}" for h in (96, 192, 336, 720)]


def test_every_run_names_a_variant_the_preset_knows():
    from configs.forecasting import ett

    for model in ("segrnn", "lstm"):
        for _, _, horizon, variant in lh.runs(list(lh.FILES), lh.HORIZONS, model):
            config = ett.get_config(variant)
            assert config.data.features == "M" and config.data.horizon == horizon and config.data.lookback == 96
            assert config.data.split == "ett"


def test_command_names_the_variant_the_file_and_no_ar_baseline(tmp_path):
    cmd = lh.command("ettm1_m_336_lstm", "ettm1", tmp_path / "run", tmp_path / "data", ["--config.seed=1", "--x=2"])
    assert cmd[:3] == [sys.executable, "-m", "experiments.main"]
    assert cmd[3:] == [
        "--config=configs/forecasting/ett.py:ettm1_m_336_lstm",
        f"--workdir={tmp_path / 'run'}",
        f"--config.data.path={tmp_path / 'data' / 'ETTm1.csv'}",
        "--config.forecast.ar_lags=0",
        "--config.seed=1",
        "--x=2",
    ]
    assert f"--config.data.path={tmp_path / 'data' / 'ETTh1.csv'}" in lh.command(
        "etth1_m_96", "etth1", tmp_path, tmp_path / "data", []
    )


# ------------------------------------------------------------------------------- results
def write_metrics(workdir: Path, records: list[dict]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


TRAIN = [{"step": s, "split": "train", "time": 1.0 + s, "loss": 1.0 / s, "mse": 1.0 / s} for s in (5, 10, 15, 20)]
EVALS = [
    {"step": 10, "split": "valid", "time": 11.0, "mse": 0.5, "mae": 0.55},
    {"step": 10, "split": "test", "time": 11.5, "mse": 0.41, "mae": 0.42},
    {"step": 20, "split": "valid", "time": 21.0, "mse": 0.6, "mae": 0.65},
    {"step": 20, "split": "test", "time": 21.5, "mse": 0.39, "mae": 0.40},
]
BEST_VALID = {"step": 10, "split": "best_valid", "time": 22.0, "mse": 0.5, "mae": 0.55}
BEST_TEST = {
    "step": 10,
    "split": "best_test",
    "time": 22.5,
    "mse": 0.41,
    "mae": 0.42,
    "mse_linear": 0.45,
    "mae_linear": 0.46,
}


def test_result_reads_the_test_scores_at_the_checkpoint_chosen_on_valid(tmp_path):
    write_metrics(tmp_path, [*TRAIN, *EVALS, BEST_VALID, BEST_TEST])
    assert lh.result(tmp_path) == {
        "mse": 0.41,
        "mae": 0.42,
        "mse_linear": 0.45,
        "mae_linear": 0.46,
        "valid_mse": 0.5,
        "step": 10,
        "last_step": 20,
    }
    # no linear baseline in the record: None, shown as "-"
    bare = {k: v for k, v in BEST_TEST.items() if not k.endswith("_linear")}
    write_metrics(tmp_path / "bare", [*TRAIN, BEST_VALID, bare])
    got = lh.result(tmp_path / "bare")
    assert got["mse_linear"] is None and got["mae_linear"] is None and got["mse"] == 0.41


def test_result_is_none_before_the_best_records_exist(tmp_path):
    assert lh.result(tmp_path / "never_started") is None
    write_metrics(tmp_path / "training", [*TRAIN, *EVALS])
    assert lh.result(tmp_path / "training") is None
    write_metrics(tmp_path / "valid_only", [*TRAIN, *EVALS, BEST_VALID])
    assert lh.result(tmp_path / "valid_only") is None


# ------------------------------------------------------------------------------- table
def row(text: str, start: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_table_marks_and_bolds_only_a_win_over_dlinear():
    done = {"seconds": 150.0, "status": "done", "hardware": "cpu"}
    win = {
        "mse": 0.386,
        "mae": 0.401,
        "mse_linear": 0.45,
        "mae_linear": 0.46,
        "valid_mse": 0.7,
        "step": 10,
        "last_step": 20,
    }
    loss = {**win, "mse": 0.4371, "mae": 0.44, "mse_linear": None, "mae_linear": None, "step": 20}
    entries = [
        ("etth1_m_96", "etth1", 96, win, done),  # equal to DLinear's 0.386: a win
        ("etth1_m_192", "etth1", 192, loss, done),  # 0.4371 > 0.437
        ("etth1_m_336", "etth1", 336, None, {"seconds": 60.0, "status": "failed (exit 1)"}),
        ("ettm1_m_720", "ettm1", 720, None, {"status": "failed (exit 2)"}),
    ]
    text = lh.table(entries)
    lines = text.splitlines()
    assert len(lines) == 2 + len(entries)
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head[:3] == ["data", "horizon", "ours MSE"] and head[-3:] == ["ours <= DLinear", "best step", "wall"]
    assert all(len(line.strip("|").split("|")) == len(head) for line in lines[1:])

    first = row(text, "| ETTh1 | 96 |")
    assert first == [
        "ETTh1", "96", "**0.386**", "0.401", "0.450 / 0.460", "0.368 / 0.395", "0.386 / 0.400", "0.386 / 0.405",
        "yes", "10 of 20", "2.5 min",
    ]  # fmt: skip
    second = row(text, "| ETTh1 | 192 |")
    assert second[2] == "0.437" and "**" not in "".join(second) and second[4] == "- / -"
    assert second[8] == "no" and second[9] == "20 of 20"
    missing = row(text, "| ETTh1 | 336 |")
    assert missing[2:5] == ["-", "-", "-"] and missing[8:10] == ["-", "-"] and missing[10] == "1.0 min"
    assert missing[5] == "0.444 / 0.440" and missing[6] == "0.481 / 0.459"  # the published rows are still shown
    assert row(text, "| ETTm1 | 720 |")[-1] == "failed (exit 2)"


def test_choices_refuse_unknown_datasets_and_horizons():
    assert lh._choices(["ettm1", "etth1"], list(lh.FILES), "datasets") == ["ettm1", "etth1"]
    assert lh._choices(["720", "96"], lh.HORIZONS, "horizons", int) == [720, 96]
    with pytest.raises(app.UsageError, match=r"^--datasets: 'etth2' is not one of etth1, ettm1$"):
        lh._choices(["etth1", "etth2"], list(lh.FILES), "datasets")
    for bad in ("97", "abc", "96.0"):
        with pytest.raises(app.UsageError, match=rf"^--horizons: '{bad}' is not one of 96, 192, 336, 720$"):
            lh._choices([bad], lh.HORIZONS, "horizons", int)


# ------------------------------------------------------------------------------- end to end
def benchmark(tmp_path, *flags):
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.long_horizon", f"--root={tmp_path / 'runs'}", *flags]
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG)


def ett_csv(path: Path, n: int = 14_400) -> Path:
    """An ETTh1-like file: ``n`` hourly rows from 2016-07-01 (Informer's borders need 14,400)."""
    t = np.arange(n, dtype=np.float64)
    frame = pd.DataFrame({"date": pd.date_range("2016-07-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S")})
    for k, name in enumerate(HEADER[1:]):
        frame[name] = np.round(k + np.sin(2 * np.pi * t / 24 + k) + 0.01 * np.cos(t / 97), 4)
    frame.to_csv(path, index=False)
    return path


def test_a_missing_data_file_is_one_line_naming_data_dir(tmp_path):
    done = benchmark(tmp_path, f"--data_dir={tmp_path / 'nowhere'}", "--datasets=etth1", "--horizons=96")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: --data_dir: {tmp_path / 'nowhere' / 'ETTh1.csv'} is not a file " + DATA_DOCS
    assert not (tmp_path / "runs").exists()  # refused before any run started

    done = benchmark(tmp_path, f"--data_dir={tmp_path}", "--horizons=97")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --horizons: '97' is not one of 96, 192, 336, 720"


@pytest.mark.slow
def test_benchmark_end_to_end_then_reads_the_finished_run(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    ett_csv(data / "ETTh1.csv")
    tiny = [
        "num_steps=4",
        "num_epochs=0",
        "eval_every=2",
        "checkpoint_every=2",
        "batch_size=16",
        "plots=false",
    ]
    overrides = [f"--override=--config.train.{o}" for o in tiny]
    overrides += ["--override=--config.model.hidden_size=8", "--override=--config.data.eval_stride=50"]
    overrides += ["--override=--config.data.stride=24"]  # 353 training windows, not 8,449, for the linear baseline
    table = tmp_path / "table.md"
    flags = [f"--data_dir={data}", "--datasets=etth1", "--horizons=96", f"--table={table}", *overrides]
    done = benchmark(tmp_path, *flags)
    assert done.returncode == 0, done.stderr[-2000:] + (tmp_path / "runs" / "etth1_m_96.log").read_text()[-3000:]
    assert "$ -m experiments.main --config=configs/forecasting/ett.py:etth1_m_96 " in done.stdout
    run = tmp_path / "runs" / "etth1_m_96"
    wall = json.loads((run / "wall_time.json").read_text())
    assert wall["status"] == "done" and wall["seconds"] > 0 and wall["hardware"]
    assert "--config.forecast.ar_lags=0" in wall["command"] and "--config.train.num_steps=4" in wall["command"]
    text = (tmp_path / "runs" / "table.md").read_text()
    assert table.read_text() == text
    cells = row(text, "| ETTh1 | 96 |")
    res = lh.result(run)
    assert res is not None and res["last_step"] == 4 and res["step"] in (2, 4)
    assert cells[2].strip("*") == f"{res['mse']:.3f}" and cells[8] in ("yes", "no")
    assert cells[9] == f"{res['step']} of 4" and cells[10].endswith(" min")
    assert "Hardware: " in text

    again = benchmark(tmp_path, *flags)  # the finished run is read, not retrained
    assert again.returncode == 0, again.stderr[-2000:]
    assert "$ " not in again.stdout and "| ETTh1 | 96 |" in again.stdout
    assert (tmp_path / "runs" / "table.md").read_text() == text


def test_a_finished_run_of_other_flags_is_refused_not_reported(tmp_path):
    """A workdir finished under other overrides is not read as if it were this command's run."""
    (tmp_path / "ETTh1.csv").write_text("date,OT\n")  # only its existence is checked before the refusal
    workdir = tmp_path / "runs" / "etth1_m_96"
    workdir.mkdir(parents=True)
    old = lh.command("etth1_m_96", "etth1", workdir, tmp_path, ["--config.model.revin=true"])
    (workdir / "wall_time.json").write_text(
        json.dumps({"seconds": 1.0, "status": "done", "command": shlex.join(old[1:])})
    )
    done = benchmark(tmp_path, f"--data_dir={tmp_path}", "--datasets=etth1", "--horizons=96")
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: {workdir} holds a finished run of another command")
    assert done.stderr.strip().endswith("use another --root for other settings")
    # the same flags, the data elsewhere: read, not refused (no best record yet: '-' cells)
    elsewhere = lh.command("etth1_m_96", "etth1", workdir, tmp_path / "moved", [])
    (workdir / "wall_time.json").write_text(
        json.dumps({"seconds": 60.0, "status": "done", "command": shlex.join(elsewhere[1:])})
    )
    done = benchmark(tmp_path, f"--data_dir={tmp_path}", "--datasets=etth1", "--horizons=96")
    assert done.returncode == 0, done.stderr
    assert "| ETTh1 | 96 | - |" in done.stdout and "$ " not in done.stdout
