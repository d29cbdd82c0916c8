"""benchmarks/sweep.py: the grid file, runs in parallel, the table ranked on the selection split, the deadline."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks import sweep
from rnn_research import metrics
from tests import xla
from tests.paths import HANG

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_sweep(tmp_path, grid, *flags):
    (tmp_path / "grid.txt").write_text(grid)
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.sweep", "--config=configs/synthetic/adding.py:smoke"]
    command += [f"--grid={tmp_path / 'grid.txt'}", "--select=valid", "--metric=mse", "--mode=min", *flags]
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG)


@pytest.mark.slow
def test_sweep_runs_the_grid_in_parallel_and_ranks_on_valid_only(tmp_path):
    no_plots = "--config.train.plots=false"  # 2-3 s a run, and the sweep does not read them
    grid = f"# two seeds\nfirst: --config.seed=0 {no_plots}\nsecond: --config.seed=1 {no_plots}  # another seed\n"
    table = tmp_path / "sweep.md"
    flags = [f"--root={tmp_path / 'runs'}", "--parallel=2", "--report=test", f"--table={table}"]
    done = run_sweep(tmp_path, grid, *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    text = table.read_text()
    assert "| run | overrides | valid mse (best) | at step | test at that step | best test seen |" in text
    rows = [line for line in text.splitlines() if line.startswith("| first") or line.startswith("| second")]
    assert len(rows) == 2 and all("| done |" in r for r in rows)
    for name in ("first", "second"):
        records = metrics.read_jsonl(tmp_path / "runs" / name / "metrics.jsonl")
        (kept,) = [r for r in records if r["split"] == "best_valid"]
        (test,) = [r for r in records if r["split"] == "test" and r["step"] == kept["step"]]
        (row,) = [r for r in rows if r.startswith(f"| {name} ")]
        assert f"| {kept['mse']:.4g} | {kept['step']} of " in row and f"| {test['mse']:.4g} |" in row
    valid = [float(r.split("|")[3]) for r in rows]
    assert valid == sorted(valid)  # smaller mse first
    wall = json.loads((tmp_path / "runs" / "second" / "wall_time.json").read_text())
    assert wall["status"] == "done" and "--config.seed=1" in wall["command"]

    again = run_sweep(tmp_path, grid, *flags)  # finished runs are read, not retrained
    assert (
        again.returncode == 0
        and "$ " not in again.stdout
        and table.read_text().split("\n\n")[0] == text.split("\n\n")[0]
    )

    late = run_sweep(tmp_path, grid, f"--root={tmp_path / 'late'}", "--parallel=1", "--deadline_s=0.5")
    assert late.returncode == 0, late.stderr[-2000:]
    assert "| first |" in late.stdout and "| stopped |" in late.stdout and "| not started |" in late.stdout


def test_grid_file_errors_name_the_line(tmp_path):
    path = tmp_path / "grid.txt"
    for content, message in [
        ("ok: --config.seed=1\nno colon here\n", "grid.txt:2: expected 'name: --config.x=value ...'"),
        ("bad: config.seed=1\n", "grid.txt:1: every override starts with '--'"),
        ("a: --config.seed=1\na: --config.seed=2\n", "grid.txt:2: run name 'a' is used twice"),
        ("# only a comment\n", "grid.txt: no runs"),
    ]:
        path.write_text(content)
        with pytest.raises(ValueError, match=message):
            sweep.read_grid(path)
    path.write_text("base:\nlr: --config.optim.learning_rate=0.1 --config.seed=3 # note\n")
    assert sweep.read_grid(path) == [("base", []), ("lr", ["--config.optim.learning_rate=0.1", "--config.seed=3"])]
