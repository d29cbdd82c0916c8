"""benchmarks/long_memory.py end to end on a smoke preset: table, figure, and no retraining."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from rnn_research import hostmem
from tests import xla

ROOT = pathlib.Path(__file__).resolve().parents[1]


def long_memory(tmp_path, *flags):
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.long_memory", f"--root={tmp_path / 'runs'}", *flags]
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_long_memory_table_and_figure(tmp_path):
    """One cell on the smoke preset at one length: the table, the figure, the stop-when-solved
    flag each run gets, and no retraining on a second call."""
    table, figure = tmp_path / "long.md", tmp_path / "grad_flow.png"
    flags = ["--tasks=adding", "--cells=mingru", "--seq_lens=12", "--variant=smoke", "--max_steps=20"]
    flags += ["--eval_every=10", "--batch_size=8", "--hidden_size=8", f"--table={table}", f"--figure={figure}"]
    done = long_memory(tmp_path, *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    text = table.read_text()
    assert "| cell | T=12: test | solved at | wall |" in text and "cores" in text
    assert "| mingru | " in text and "at most 20 steps of batch 8" in text
    assert figure.stat().st_size > 1000
    run = tmp_path / "runs" / "adding_T12_mingru"
    wall = json.loads((run / "wall_time.json").read_text())
    assert wall["seconds"] > 0 and "--config.train.stop_when=mse<0.01" in wall["command"]
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["cell"] == "mingru" and config["task"]["seq_len"] == 12

    again = long_memory(tmp_path, *flags)  # reads the finished runs instead of training again
    assert again.returncode == 0, again.stderr[-2000:]
    assert "$ " not in again.stdout and table.read_text() == text


def test_long_memory_refuses_unknown_tasks_and_cells(tmp_path):
    done = long_memory(tmp_path, "--tasks=parity")
    assert done.returncode != 0 and "--tasks must name some of ['adding', 'copy']" in done.stderr
    done = long_memory(tmp_path, "--cells=lstm,transformer")
    assert done.returncode != 0 and "--cells must name some of ['lstm'," in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before any run started


def test_rnn_speed_table_on_tiny_sizes(tmp_path):
    """The speed benchmark runs end to end: every peer timed, ours checked against torch."""
    table = tmp_path / "speed.md"
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.rnn_speed", "--sizes=2x5x3x4", "--cells=lstm,gru,simple_rnn"]
    command += ["--repeats=1", "--nocompile", "--nomemory", "--lm_steps=0", f"--table={table}"]
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in table.read_text().splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows[1:]] == ["lstm", "gru", "simple_rnn"]
    have_torch = importlib.util.find_spec("torch") is not None  # the torch columns are "-" without it
    for r in rows[1:]:
        ms = [r[i].strip() for i in ((2, 5, 6, 7) if have_torch else (2, 6, 7))]  # ours, torch, flax, autodiff
        assert all(float(v) > 0 for v in ms), r
        if have_torch:
            assert float(r[11]) < 1e-5  # same weights as torch: outputs and gradients agree
    assert "matmul peak measured here" in table.read_text()
    retained = "host memory retained between calls" in table.read_text()
    assert retained == (hostmem.glibc_version() is not None)  # the header says which malloc settings ran
