"""Prints the gcloud commands that set up and run one preset on every worker of a TPU VM slice.

    python -m experiments.tpu_commands --tpu=my-v4-32 --zone=us-central2-b \
        --repo=https://github.com/<you>/rnn_research.git --config=configs/lm/char.py:medium --workdir=/mnt/shared/runs/shakespeare_medium \
        --override=--config.data.path=/mnt/shared/data/input.txt

Nothing is run: the commands are printed for you to read and paste (see docs/tpu.md). Every
worker runs the same launch command with ``--multihost``; JAX finds the coordinator, the number
of processes and this worker's index from the TPU metadata, each worker builds only its rows of
every global batch, and the workdir must be one directory that every worker sees at the same
path (a shared disk or a bucket mounted with gcsfuse), since checkpoints are written there.
"""

from __future__ import annotations

import shlex

from absl import app, flags

_TPU = flags.DEFINE_string("tpu", None, "TPU VM name (gcloud compute tpus tpu-vm list).", required=True)
_ZONE = flags.DEFINE_string("zone", None, "Its zone, e.g. us-central2-b.", required=True)
_PROJECT = flags.DEFINE_string("project", None, "GCP project (default: gcloud's configured project).")
_CONFIG = flags.DEFINE_string("config", "configs/synthetic/adding.py:smoke", "Preset, as for experiments.main.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Shared directory seen by every worker.", required=True)
_OVERRIDES = flags.DEFINE_multi_string("override", [], "Extra launcher flags, e.g. --override=--config.seed=1.")
_REPO = flags.DEFINE_string("repo", None, "Git URL the workers clone the code from.", required=True)
_DIR = flags.DEFINE_string("dir", "rnn_research", "Checkout directory on each worker (under $HOME).")


def _ssh(command: str) -> str:
    """One ``gcloud ... ssh --worker=all`` line running ``command`` on every worker at once."""
    project = f" --project={_PROJECT.value}" if _PROJECT.value else ""
    return (
        f"gcloud compute tpus tpu-vm ssh {shlex.quote(_TPU.value)} --zone={shlex.quote(_ZONE.value)}{project} "
        f"--worker=all --command={shlex.quote(command)}"
    )


def commands() -> list[tuple[str, str]]:
    """``(what, command)`` pairs, in the order to run them."""
    checkout = shlex.quote(_DIR.value)
    setup = (
        f"test -d {checkout} || git clone {shlex.quote(_REPO.value)} {checkout}; cd {checkout} && git pull --ff-only && "
        'pip install -U "jax[tpu]" && pip install -e .'
    )
    launch_args = [
        "python",
        "-m",
        "experiments.main",
        f"--config={_CONFIG.value}",
        f"--workdir={_WORKDIR.value}",
        "--multihost",
        *_OVERRIDES.value,
    ]
    launch = f"cd {checkout} && " + " ".join(shlex.quote(a) for a in launch_args)
    log = shlex.quote(_WORKDIR.value) + '/worker_"$(hostname)".log'  # $(hostname) expands on the worker
    return [
        ("Install the code and JAX for TPU on every worker (once per slice):", _ssh(setup)),
        (
            "Check that every worker sees every chip (prints the global device count on each):",
            _ssh(
                'python -c "import jax; jax.distributed.initialize(); print(jax.process_index(), jax.device_count())"'
            ),
        ),
        (
            "Train: the same command on every worker at once. Started again after a preemption, it "
            "resumes from the latest checkpoint in the workdir:",
            _ssh(f"{launch} 2>&1 | tee -a {log}"),
        ),
        ("Evaluate the best checkpoint:", _ssh(launch.replace("--multihost", "--multihost --mode=eval"))),
        (
            "Watch the metrics (process 0 writes them):",
            f"tensorboard --logdir={shlex.quote(_WORKDIR.value)}   # or: tail -f {_WORKDIR.value}/metrics.jsonl",
        ),
    ]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for what, command in commands():
        print(f"# {what}\n{command}\n")


if __name__ == "__main__":
    app.run(main)
