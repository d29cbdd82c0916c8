"""experiments/tpu_commands.py prints runnable gcloud lines for every worker of a TPU slice."""

import pathlib
import shlex
import subprocess
import sys

from tests.paths import HANG

ROOT = pathlib.Path(__file__).resolve().parents[1]


def printed(*flags):
    command = [sys.executable, "-m", "experiments.tpu_commands", *flags]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=HANG)


def test_commands_run_the_launcher_on_every_worker_with_multihost():
    done = printed(
        "--tpu=my-v4-32", "--zone=us-central2-b", "--project=p1", "--repo=https://example.org/r.git",
        "--config=configs/lm/char.py:medium",
        "--workdir=/mnt/shared/runs/a b", "--override=--config.seed=3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("gcloud")]
    assert len(lines) == 4
    for line in lines:
        argv = shlex.split(line)
        assert argv[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "my-v4-32"]
        assert {"--zone=us-central2-b", "--project=p1", "--worker=all"} <= set(argv)
    train = shlex.split(shlex.split(lines[2])[-1].removeprefix("--command="))
    launch = train[train.index("python") : train.index("2>&1")]
    assert launch == [
        "python", "-m", "experiments.main", "--config=configs/lm/char.py:medium",
        "--workdir=/mnt/shared/runs/a b", "--multihost", "--config.seed=3",
    ]  # fmt: skip
    assert "--mode=eval" in lines[3] and "--multihost" in lines[3]
    assert 'worker_"$(hostname)".log' in lines[2]  # expanded on each worker, not here
    assert "git clone https://example.org/r.git" in lines[0]


def test_missing_flags_are_refused():
    done = printed("--tpu=x")
    assert done.returncode != 0 and "--zone" in done.stderr
