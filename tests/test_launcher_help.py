"""The launcher explains itself: ``--help`` lists experiments, presets, variants and modes;
``--print_config`` shows what a command would run; Ctrl-C before training is one line."""

from __future__ import annotations

import json
import pathlib
import signal

import pytest

import experiments
from configs.synthetic import adding
from tests.paths import HANG
from tests.test_main import launch, run


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_experiment_preset_variant_and_mode_and_exits_0(tmp_path, flag):
    code, out, err = run(tmp_path / "run", flag, config=None)
    assert code == 0 and err == "", err
    assert out.startswith("usage: python -m experiments.main --config=configs/<experiment>/<preset>.py")
    for name in experiments.names():
        assert f"\n{name}: " in out
        assert f"--mode={'|'.join(experiments.modes(name))}" in out
        for preset in experiments.presets(name):
            assert f"--config={preset}" in out
    assert "--mode=train|eval|sample" in out and "sample: prints and returns text generated" in out
    assert ":lstm|gru|simple_rnn|" in out and "|smoke]" in out
    for own in ("--workdir", "--print_config", "--list", "--multihost", "--helpfull"):
        assert f"\n  {own} " in out
    assert "``" not in out  # no reStructuredText markup
    assert not (tmp_path / "run").exists()


def test_print_config_shows_the_resolved_config_and_writes_nothing(tmp_path):
    code, out, err = run(tmp_path / "run", "--print_config", "--config.optim.learning_rate=0.25")
    assert code == 0 and err == "", err
    printed = json.loads(out)
    expected = json.loads(adding.get_config("smoke").to_json_best_effort())
    expected["optim"]["learning_rate"] = 0.25
    expected["train"]["plots"] = False  # the test helper's own override
    assert printed == expected
    assert not (tmp_path / "run").exists()
    code, out, err = run(tmp_path / "run", "--print_config", "--config.train.num_steps=0")
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith("error: train.num_steps=0"), err


def _jax_is_loading(pid: int) -> bool:
    """Whether the process has begun importing JAX (its shared library is mapped): the launcher
    has installed its SIGINT handler by then, since that precedes every heavy import."""
    try:
        return "jaxlib" in pathlib.Path(f"/proc/{pid}/maps").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not pathlib.Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps (Linux)")
def test_ctrl_c_during_imports_or_set_up_is_one_line_and_ends_by_the_signal(tmp_path):
    proc = launch(tmp_path / "run")
    for _ in range(100_000):  # bounded polling; the work, not the wall time
        if _jax_is_loading(proc.pid) or proc.poll() is not None:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    # In imports or set-up (where it lands here) one line; in a training step (a very slow start)
    # the checkpointing handler's two, the last naming the step it saved.
    assert err.splitlines()[-1].startswith("stopped by SIGINT") and err.count("\n") <= 2, err
    if err.count("\n") == 1:
        assert err.startswith("stopped by SIGINT outside a training step: no file is half-written"), err


def test_presets_resolve_from_any_directory(tmp_path, monkeypatch):
    """``configs/...`` names the installed presets when the working directory has no such file."""
    import os
    import subprocess
    import sys

    from experiments import launch_checks

    monkeypatch.chdir(tmp_path)
    resolved = launch_checks.resolve_preset(["--config", "configs/synthetic/adding.py:smoke", "--x=1"])
    assert resolved[1] == f"{experiments.CONFIGS / 'synthetic' / 'adding.py'}:smoke" and resolved[2] == "--x=1"
    assert launch_checks.resolve_preset(["--config=configs/nosuch.py"]) == ["--config=configs/nosuch.py"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [sys.executable, "-m", "experiments.main", "--config=configs/synthetic/adding.py:smok", "--print_config"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: --config=configs/synthetic/adding.py:smok: unknown variant 'smok'")
    assert done.stderr.rstrip().endswith("did you mean configs/synthetic/adding.py:smoke?")
    command[3] = "--config=configs/synthetic/adding.py:smoke"
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0 and json.loads(done.stdout)["experiment"] == "synthetic", done.stderr
    assert list(tmp_path.iterdir()) == []
