"""Launcher: ``python -m experiments.main --config=configs/<task>/<preset>.py[:variant] --workdir=DIR``
(``--help`` lists the experiments, presets, variants and modes; ``--print_config`` prints what a
command would run).

``python -m experiments.main --list`` prints every experiment (``experiments/<task>/``) with its
presets (``configs/<task>/``) and their variants.

Overrides: ``--config.optim.learning_rate=3e-3``. ``--mode=train`` trains (resuming when DIR
holds a checkpoint) and evaluates the best checkpoint; ``--mode=eval`` evaluates the best (or
else the latest) checkpoint in DIR; experiments add modes (``--help`` lists them). ``--multihost`` (or ``RNN_RESEARCH_MULTIHOST=1``) calls
``jax.distributed.initialize`` first, as on a TPU VM pod (elsewhere also pass
``--coordinator_address=host:port --num_processes=N --process_id=i``). Errors are one line.
"""

# ruff: noqa: E402  (the SIGINT handler goes in before the imports that take seconds)
from __future__ import annotations

import os
import signal
import sys


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C outside a training step (imports, compilation, set-up, evaluation, the other modes):
    one line instead of a ``KeyboardInterrupt`` traceback, then the process ends by the signal, as
    uncaught, so a shell loop stops too. Every file is written atomically, so nothing is half-written;
    during training :class:`rnn_research.preemption.StopSignals` takes over and saves a checkpoint."""
    print(
        f"stopped by {signal.Signals(signum).name} outside a training step: no file is half-written; "
        "the same command starts again",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupted)

import functools
import json

from absl import app, flags, logging
from ml_collections import config_flags

import experiments
from experiments import host_flags, launch_checks, usage
from rnn_research import checkpoint, hostmem, metrics, preemption, sharding, train
from rnn_research.experiment import check_hooks

_CONFIG = config_flags.DEFINE_config_file("config", None, "Preset file, e.g. configs/synthetic/adding.py:smoke.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and plots.")
_LIST = flags.DEFINE_bool("list", False, "Print the experiments, their modes, presets and variants, and exit.")
_PRINT_CONFIG = flags.DEFINE_bool(
    "print_config", False, "Print the config --config and the overrides resolve to, and exit; writes nothing."
)
_MODE = flags.DEFINE_string("mode", "train", "train | eval | a mode the experiment adds (--list shows them).")
_MULTIHOST = flags.DEFINE_bool("multihost", None, "Call jax.distributed.initialize (default: $RNN_RESEARCH_MULTIHOST).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (auto-detected on TPU pods).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the job (auto-detected on TPU pods).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index (auto-detected on TPU pods).")
_RETAIN_HOST_MEMORY = host_flags.RETAIN_HOST_MEMORY


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing, with any failure (an unknown config key, a wrong type, a preset file that
    is not there or whose ``get_config`` refuses the variant) as one line."""
    if any(arg in usage.HELP_ARGS for arg in argv[1:]):
        print(usage.help_text())
        sys.exit(0)
    given = argv[1:]  # as typed, for the messages
    argv = [argv[0], *launch_checks.resolve_preset(given)]  # configs/... from any directory
    missing = launch_checks.missing_preset(argv[1:])
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        sys.exit(2)
    try:
        return flags.FLAGS(argv)
    except Exception as e:  # absl reports bad overrides as flags.Error, AttributeError, KeyError, TypeError
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = launch_checks.config_parse_reason(str(e)) if "Error whilst parsing config file" in str(e) else None
        if reason:  # the preset's own message, not ml_collections' traceback around it
            text = f"--config={launch_checks.config_argument(given)}: {reason}"
            text += launch_checks.variant_hint(launch_checks.config_argument(given), reason)
        if isinstance(e, (AttributeError, KeyError)):
            text = launch_checks.unknown_key(e, argv[1:])
        print(f"error: {text}", file=sys.stderr)
        sys.exit(2)


def usage_error(message: str, code: int = 2) -> None:
    """One line and exit ``code`` (absl's ``app.UsageError`` prints the whole module docstring first)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def print_config(config) -> None:
    """``--print_config``: the resolved config as the JSON a run writes to ``DIR/config.json``,
    after the checks that need no model (a misspelt hook, a value out of range: one line, exit 1;
    a cell name and ``train.best_metric`` are checked when a run builds its model); needs no
    workdir and writes nothing."""
    try:
        experiment = experiments.get(config.experiment)
        check_hooks(experiment)
        train.check_config(config, experiment)
    except (ValueError, KeyError) as e:
        usage_error(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, code=1)
    print(json.dumps(json.loads(config.to_json_best_effort()), indent=2))  # what DIR/config.json will hold


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        usage_error(f"unexpected arguments: {' '.join(argv[1:])} (flags take the form --name=value)")
    if _LIST.value:
        print(experiments.listing())
        return
    config = _CONFIG.value
    if config is None:
        usage_error("--config is required, e.g. --config=configs/synthetic/adding.py:smoke (--list shows all)")
    if _PRINT_CONFIG.value:
        print_config(config)
        return
    if not _WORKDIR.value:
        usage_error("--workdir is required: the directory for checkpoints, metrics and plots")
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    if _RETAIN_HOST_MEMORY.value:  # before JAX starts its backend and worker threads
        hostmem.retain_freed_memory()
    try:
        experiment = experiments.get(config.experiment)
        check_hooks(experiment)  # a misspelt hook is one line before anything runs
        train.check_config(config, experiment)  # a value out of range is one line before anything is written
        launch_checks.check_workdir(_WORKDIR.value, writes=_MODE.value == "train")
        sharding.maybe_initialize_distributed(
            _MULTIHOST.value,
            coordinator_address=_COORDINATOR.value,
            num_processes=_NUM_PROCESSES.value,
            process_id=_PROCESS_ID.value,
        )
        modes = {
            "train": functools.partial(train.train_and_evaluate, stop_on_signals=True),
            "eval": train.evaluate_checkpoint,
        }
        extra = getattr(experiment, "MODES", {})
        if _MODE.value in extra:
            results = extra[_MODE.value](config, _WORKDIR.value)
        elif _MODE.value in modes:
            results = modes[_MODE.value](config, _WORKDIR.value, experiment)
        else:
            known = sorted(modes) + sorted(extra)
            close = launch_checks.close_matches(_MODE.value, known, n=1)
            hint = f"; did you mean --mode={close[0]}?" if close else ""
            raise ValueError(f"--mode={_MODE.value!r} is not one of {known} for {config.experiment}{hint}")
    except preemption.Stopped as e:  # SIGTERM/SIGINT: a checkpoint was saved; the same command resumes
        print(str(e), file=sys.stderr, flush=True)
        sys.stdout.flush()
        preemption.end_by_signal(e.signum)  # shells see the signal: a `for` loop stops on Ctrl-C
    except (ValueError, KeyError, OSError, train.NonFiniteError, checkpoint.DamagedCheckpointsError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    # The last line is strict JSON: a NaN or infinite metric is printed as null, listed under
    # "nonfinite" and named on stderr, and the exit code is 1 (a diverged model, a damaged
    # checkpoint or data that overflows; no run ends 0 with a non-finite result).
    final, nonfinite = metrics.finite_or_null(results)
    line = {"final": final, **({"nonfinite": nonfinite} if nonfinite else {})}
    print(json.dumps(line, sort_keys=True, allow_nan=False), flush=True)
    if nonfinite:
        names = ", ".join(nonfinite[:4]) + (f" and {len(nonfinite) - 4} more" if len(nonfinite) > 4 else "")
        print(
            f"error: --mode={_MODE.value} gave non-finite {names} (null above): the model diverged, or the "
            f"checkpoint or data it read overflow (workdir {_WORKDIR.value})",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
