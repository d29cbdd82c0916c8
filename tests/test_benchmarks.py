"""benchmarks/long_memory.py end to end on a smoke preset: table, figure, and no retraining."""

import importlib.util
import json
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

from rnn_research import hostmem
from tests import xla
from tests.paths import HANG

ROOT = pathlib.Path(__file__).resolve().parents[1]


def long_memory(tmp_path, *flags):
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.long_memory", f"--root={tmp_path / 'runs'}", *flags]
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG)


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
    command += ["--repeats=4", "--nocompile", "--nomemory", "--lm_steps=0", f"--table={table}"]
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr[-2000:]
    text = table.read_text()
    assert text.count("matmuls alone") == 1, text  # the second table: the layers' matmuls alone
    main, floor = text.split("matmuls alone")
    rows = [line.split("|")[1:-1] for line in main.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows[1:]] == ["lstm", "gru", "simple_rnn"]
    have_torch = importlib.util.find_spec("torch") is not None  # the torch columns are "-" without it
    for r in rows[1:]:
        ms = [r[i].strip() for i in ((2, 5, 6, 7) if have_torch else (2, 6, 7))]  # ours, torch, flax, autodiff
        assert all(float(v) > 0 for v in ms), r
        if have_torch:
            assert float(r[11]) < 1e-5  # same weights as torch: outputs and gradients agree
        for ratio in r[9:11] if have_torch else r[10:11]:  # "median (q1-q3)" of the per-round ratios
            mid, low, high = map(float, re.fullmatch(r" (\S+) \((\S+)-(\S+)\) ", ratio).groups())
            assert 0 < low <= mid <= high, r
    floor_rows = [line.split("|")[1:-1] for line in floor.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in floor_rows[1:]] == ["lstm", "gru", "simple_rnn"]
    for r in floor_rows[1:]:
        assert float(r[2]) > 0, r
        for ratio in r[3:6] if have_torch else r[4:6]:  # matmuls / torch, matmuls / flax, ours / matmuls
            mid, low, high = map(float, re.fullmatch(r" (\S+) \((\S+)-(\S+)\) ", ratio).groups())
            assert 0 < low <= mid <= high, r
    assert "matmul peak measured here" in text
    retained = "host memory retained between calls" in text
    assert retained == (hostmem.glibc_version() is not None)  # the header says which malloc settings ran


def test_rnn_speed_times_round_robin_and_pairs_the_ratios():
    """Each round calls every implementation once, in an order rotated from round to round, and a
    ratio's quartiles come from per-round pairs (run in a fresh process: the module defines flags)."""
    code = """
from benchmarks import rnn_speed
calls = []
fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
times = rnn_speed.round_robin_ms(fns, 4)
assert calls[:6] == list("aabbcc"), calls  # two warm-up calls each
assert calls[6:] == list("abcbcacaba" "bc"), calls
assert sorted(times) == list("abc") and all(len(v) == 4 for v in times.values())
q = rnn_speed.ratio_quartiles([2.0, 4.0, 6.0, 8.0, 10.0], [1.0, 2.0, 3.0, 4.0, 1.0])
assert q == (2.0, 2.0, 6.0), q  # paired: 2, 2, 2, 2, 10
assert rnn_speed.ratio_quartiles([3.0], [2.0]) == (1.5, 1.5, 1.5)
assert rnn_speed.fmt_ratio((1.5, 1.5, 1.5)) == "1.50" and rnn_speed.fmt_ratio((1.0, 1.25, 2.0)) == "1.25 (1.00-2.00)"
assert rnn_speed.fmt_ratio((0.004, 0.005, 0.0061)) == "0.005 (0.004-0.0061)"  # not "0.00 (0.00-0.01)"
print("ok")
"""
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    refused = subprocess.run(
        [sys.executable, "-m", "benchmarks.rnn_speed", "--repeats=0"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG,
    )  # fmt: skip
    assert refused.returncode != 0 and "flag --repeats=0: 0 is not a positive integer" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad = {  # each refused in one line naming the entry, before anything is timed
        "--peers=torch,matmul": "--peers: 'matmul' is not one of",
        "--sizes=32x100x128": "--sizes: '32x100x128' is not BxTxDxH",
        "--sizes=0x5x3x4": "--sizes: '0x5x3x4' is not BxTxDxH with positive integers",
        "--cells=lstm,lstmx": "--cells: 'lstmx' is not one of",
    }
    for flag, message in bad.items():
        refused = subprocess.run(
            [sys.executable, "-m", "benchmarks.rnn_speed", flag],
            cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG,
        )  # fmt: skip
        assert refused.returncode != 0 and message in refused.stderr, (flag, refused.stderr[-1000:])
        assert "Traceback" not in refused.stderr and "matmul peak" not in refused.stdout, flag


def dot_flops(jaxpr) -> int:
    """Flops of every ``dot_general`` in a jaxpr, a scan's body counted once per step."""
    from jax.extend import core

    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            k = math.prod(eqn.invars[0].aval.shape[i] for i in contract)
            total += 2 * k * math.prod(eqn.outvars[0].aval.shape)
        times = eqn.params["length"] if eqn.primitive.name == "scan" else 1
        for param in eqn.params.values():
            if isinstance(param, core.ClosedJaxpr):
                total += times * dot_flops(param.jaxpr)
            elif isinstance(param, core.Jaxpr):
                total += times * dot_flops(param)
    return total


@pytest.mark.parametrize("name, gates", [("simple_rnn", 1), ("gru", 3), ("lstm", 4)])
def test_matmul_floor_does_the_layers_matmul_work(name, gates):
    """The floor's programs multiply exactly what our layer's gradient multiplies (dot flops of
    the jaxprs, scans unrolled in the count), each declared count is its program's own, and they
    add up to the benchmark's ``3 * 2 B T (D + H) G H``."""
    import jax
    import jax.numpy as jnp

    from benchmarks import matmul_floor
    from rnn_research import cells, recurrent

    b, t, d, h = 3, 5, 2, 4
    progs = matmul_floor.programs((b, t, d, h), gates)
    assert [p[0] for p in progs] == ["input projection", "forward scan", "backward scan", "dx", "dW_x", "dW_h"]
    counted = [dot_flops(jax.make_jaxpr(fn)(*args).jaxpr) for _, fn, args, _ in progs]
    assert counted == [p[3] for p in progs]
    assert sum(counted) == 3 * 2 * b * t * (d + h) * gates * h

    cell = cells.make(name, h)
    params = cell.init(jax.random.key(0), d)
    grad = jax.grad(lambda p, x: jnp.mean(recurrent.unroll(cell, p, x)[1] ** 2), argnums=(0, 1))
    assert dot_flops(jax.make_jaxpr(grad)(params, jnp.ones((b, t, d))).jaxpr) == sum(counted)
    shapes = [fn(*args).shape for _, fn, args, _ in progs]
    assert shapes == [(t, b, gates * h), (b, h), (b, h), (t, b, d), (d, gates * h), (h, gates * h)]
    matmul_floor.run_all(progs)()
