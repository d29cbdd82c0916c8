"""The launcher end to end, in subprocesses: smoke presets, SIGKILL and resume, two processes, bad configs."""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from configs.synthetic import adding as synthetic_adding
from experiments.synthetic import task as synthetic
from rnn_research import checkpoint, metrics, train
from tests import xla
from tests.paths import HANG

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = "configs/synthetic/adding.py:smoke"


def launch(workdir, *args, config=SMOKE, devices=8, env=None, extra=(), plots=False, **popen):
    """Starts the launcher. Without ``plots`` the run skips its PNG curves (2-3 s a process);
    the tests that look at them ask for them."""
    environ = dict(os.environ)
    environ["XLA_FLAGS"] = xla.flags(devices)
    environ["JAX_PLATFORMS"] = "cpu"
    environ.update(env or {})
    preset = [f"--config={config}"] if config else []  # None: args name it
    command = [sys.executable, "-m", "experiments.main", *preset, f"--workdir={workdir}", *args, *extra]
    if not plots:
        command.append("--config.train.plots=false")
    return subprocess.Popen(
        command, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def run(workdir, *args, timeout=HANG, **kwargs):
    """Launch and wait; the timeout only catches a hung process (the work is bounded, not the wall time)."""
    proc = launch(workdir, *args, **kwargs)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def records(workdir):
    return [{k: v for k, v in r.items() if k != "time"} for r in metrics.read_jsonl(workdir / "metrics.jsonl")]


def latest_params(workdir, config):
    harness = train.Harness(config, workdir, synthetic)
    template = harness.init_state(harness.shard(next(iter(harness.train_batches(0)))))
    ckpt = checkpoint.Checkpointer(workdir / "checkpoints", keep=2, best_metric="mse", best_mode="min")
    state = ckpt.restore_latest(template).state
    ckpt.close()
    return jax.device_get(state.params)


def readme_main_command() -> list[str]:
    """The launcher command of the README's install block (after ``<!-- main-command -->``)."""
    block = (ROOT / "README.md").read_text().split("<!-- main-command -->\n", 1)[1].split("```", 2)[1]
    (line,) = [line for line in block.splitlines() if line.startswith("python -m experiments.main")]
    return shlex.split(line)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["readme", "synthetic/copy_memory"])
def test_smoke_preset_leaves_every_artefact(tmp_path, preset):
    """Each smoke run leaves every artefact; "readme" is the README's main command, in its smoke variant."""
    config = f"configs/{preset}.py:smoke"
    if preset == "readme":
        args = readme_main_command()
        (config,) = [a.split("=", 1)[1].rsplit(":", 1)[0] + ":smoke" for a in args if a.startswith("--config=")]
        assert {a.split("=")[0] for a in args[3:]} == {"--config", "--workdir"}, args  # nothing else to carry over
    start = time.time()
    code, out, err = run(tmp_path, config=config, plots=True)
    assert code == 0, err[-2000:]
    assert "after JAX started its backend" not in err  # host memory retained before JAX started
    assert time.time() - start < 60
    final = json.loads(out.strip().splitlines()[-1])["final"]
    assert "test" in final
    assert (tmp_path / "metrics.jsonl").stat().st_size > 0
    assert list((tmp_path / "tensorboard" / "train").glob("events*"))
    assert list((tmp_path / "checkpoints" / "latest").iterdir())
    plots = {p.name for p in (tmp_path / "plots").glob("*.png")}
    assert "curves_loss.png" in plots and any(name.startswith("grad_flow_") for name in plots)
    train_records = [r for r in metrics.read_jsonl(tmp_path / "metrics.jsonl") if r["split"] == "train"]
    assert {r["nonfinite_steps"] for r in train_records} == {0.0} and "curves_nonfinite_steps.png" not in plots
    if preset == "readme":  # the adding task trains on its MSE: loss = mse, drawn once, titled so
        assert all(r["loss"] == r["mse"] for r in train_records) and "curves_mse.png" not in plots
    assert "steps/s" in out and "ETA" in out


def signal_when(proc, ready, sig, timeout=HANG) -> bool:
    """Sends ``sig`` to ``proc`` as soon as ``ready()`` holds; False if the process ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if ready():
            proc.send_signal(sig)
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_equals_uninterrupted(tmp_path):
    overrides = ["--config.train.num_steps=40", "--config.train.checkpoint_every=5", "--config.train.log_every=5"]
    code, _, err = run(tmp_path / "reference", *overrides)
    assert code == 0, err[-2000:]

    # Kill once in the middle of a checkpoint save (an orbax temporary directory exists), and
    # once between saves; then let the run finish.
    workdir = tmp_path / "killed"
    for trigger in ("during_save", "between_saves"):
        proc = launch(workdir, *overrides)

        def ready(trigger=trigger):
            latest = workdir / "checkpoints" / "latest"
            saving = latest.is_dir() and any("tmp" in p.name for p in latest.iterdir())
            logged = (workdir / "metrics.jsonl").exists() and len(records(workdir)) >= 4
            return (trigger == "during_save" and saving) or (trigger == "between_saves" and logged and not saving)

        killed = signal_when(proc, ready, signal.SIGKILL)
        proc.communicate(timeout=HANG)
        assert killed, f"the run ended before it could be killed ({trigger})"
    code, out, err = run(workdir, *overrides)
    assert code == 0, err[-2000:]
    assert "resumed from step" in out
    assert records(workdir) == records(tmp_path / "reference")
    config = synthetic_adding.get_config("smoke")
    config.train.num_steps = 40
    a, b = latest_params(tmp_path / "reference", config), latest_params(workdir, config)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


@pytest.mark.slow
def test_sigterm_stops_after_the_step_with_a_checkpoint_and_resume_equals_uninterrupted(tmp_path):
    overrides = ["--config.train.num_steps=300", "--config.train.checkpoint_every=100", "--config.train.log_every=7"]
    overrides.append("--config.train.eval_every=150")  # the smoke preset's 15 would add 40 evaluations
    code, _, err = run(tmp_path / "reference", *overrides)
    assert code == 0, err[-2000:]
    workdir = tmp_path / "stopped"
    proc = launch(workdir, *overrides)
    logged = lambda: (workdir / "metrics.jsonl").exists() and len(records(workdir)) >= 3  # noqa: E731
    sent = signal_when(proc, logged, signal.SIGTERM)
    out, err = proc.communicate(timeout=HANG)
    assert sent, "the run ended before it could be stopped"
    assert proc.returncode == -signal.SIGTERM, err[-2000:]  # ended by the signal, as shells expect
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped by SIGTERM at step ") and "run the same command to resume" in last, err
    step = int(last.split("at step ")[1].split(":")[0])
    assert 0 < step < 300 and "received SIGTERM" in err
    assert (workdir / "checkpoints" / "latest" / str(step)).is_dir()  # saved though not a checkpoint step
    code, out, err = run(workdir, *overrides)
    assert code == 0, err[-2000:]
    assert f"resumed from step {step}" in out
    # Equal records, the log interval the stop cut through included: its partial averages were saved.
    assert records(workdir) == records(tmp_path / "reference")


def test_a_nonfinite_result_is_null_in_the_last_line_and_the_exit_code_is_1(tmp_path):
    """A diverged model (one step at learning rate 1e38) evaluates to an infinite mse: the last
    line stays strict JSON (null, never NaN or Infinity), stderr names it, and the exit code is 1."""
    overrides = ["--config.optim.learning_rate=1e38", "--config.train.num_steps=1", "--config.train.eval_every=1"]
    for mode in ("train", "eval"):
        code, out, err = run(tmp_path, f"--mode={mode}", *overrides)
        assert code == 1, err[-2000:]
        last = json.loads(out.strip().splitlines()[-1], parse_constant=lambda c: pytest.fail(f"{c} in the last line"))
        assert last["final"]["test"]["mse"] is None and "test/mse" in last["nonfinite"], last
        error = err.strip().splitlines()[-1]
        assert error.startswith(f"error: --mode={mode} gave non-finite ") and str(tmp_path) in error, err
        assert "NaN" not in out + err and "Infinity" not in out + err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_together_and_agree(tmp_path):
    args = ["--multihost", "--config.train.num_steps=10", "--config.train.eval_every=5"]
    address = f"127.0.0.1:{free_port()}"
    procs = [
        launch(
            tmp_path / "two",
            *args,
            devices=2,
            extra=[f"--coordinator_address={address}", "--num_processes=2", f"--process_id={i}"],
        )
        for i in range(2)
    ]
    alone = launch(tmp_path / "one", *args[1:], devices=4)  # one process on the same 4 devices, meanwhile
    *outputs, (out, err) = [p.communicate(timeout=HANG) for p in (*procs, alone)]
    for p, (_, err_p) in zip(procs, outputs):
        assert p.returncode == 0, err_p[-3000:]
    finals = [json.loads(out_p.strip().splitlines()[-1])["final"] for out_p, _ in outputs]
    assert finals[0] == finals[1], "both processes must see the same evaluation"
    assert alone.returncode == 0, err[-2000:]
    single = json.loads(out.strip().splitlines()[-1])["final"]
    assert finals[0]["test"]["mse"] == pytest.approx(single["test"]["mse"], abs=1e-5)
    two, one = records(tmp_path / "two"), records(tmp_path / "one")
    assert [r["step"] for r in two] == [r["step"] for r in one]
    for a, b in zip(two, one):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--config.train.no_such_key=1", "no_such_key"),
        ("--config.train.num_steps=many", "num_steps"),
        ("--config.model.cell=transformer", "model.cell"),
        ("--config.optim.name=adagrad", "optim.name"),
        ("--config.task.name=sorting", "task.name"),
        ("--config.train.checkpoint_every=-3", "train.checkpoint_every=-3 must be an integer >= 0"),
        ("--config.train.log_every=0", "train.log_every=0 must be an integer >= 1"),
    ],
)
def test_bad_config_gives_one_line_error(tmp_path, flag, message):
    code, out, err = run(tmp_path / "run", flag)
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) <= 2, err  # absl may add a usage hint line; never a traceback
    assert "Traceback" not in err and message in err, err
    assert not (tmp_path / "run" / "config.json").exists()  # the corrected command is not refused
