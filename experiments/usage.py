"""The launcher's ``--help``: how to call it, its own flags, and every experiment with its presets,
variants and modes (read from the packages, so it cannot drift from them).

absl's own ``--help`` lists the flags of every imported module (JAX's included), names no preset,
variant or mode, and exits with code 1; ``--helpfull`` still prints that list.
"""

from __future__ import annotations

import textwrap

from absl import flags

import experiments

HELP_ARGS = ("--help", "-h", "-help", "--helpshort", "-?", "--help=true")

USAGE = """\
usage: python -m experiments.main --config=configs/<experiment>/<preset>.py[:<variant>] --workdir=DIR
                                  [--mode=MODE] [--config.<key>=<value> ...]
       python -m experiments.main --list                        experiments, presets, variants, modes
       python -m experiments.main --config=... --print_config   the resolved config; runs nothing

Trains (resuming when DIR holds a checkpoint), evaluates and runs the extra modes of every
experiment through one harness. Any key of the config can be overridden, e.g.
--config.optim.learning_rate=3e-3 (configs/base.py documents the keys every experiment shares).
Errors are one line; Ctrl-C or SIGTERM during training saves a checkpoint and the same command
resumes."""

# The launcher's own flags, in the order the help lists them.
OWN_FLAGS = (
    "config",
    "workdir",
    "mode",
    "list",
    "print_config",
    "multihost",
    "coordinator_address",
    "num_processes",
    "process_id",
    "retain_host_memory",
)


def flag_lines(names: tuple[str, ...] = OWN_FLAGS) -> list[str]:
    """One entry per flag: ``--name`` and its help string (with the default when it has one)."""
    lines = []
    for name in names:
        if name not in flags.FLAGS:
            continue
        flag = flags.FLAGS[name]
        default = "" if flag.default in (None, "", False) else f" (default: {flag.default})"
        text = textwrap.fill(
            f"{flag.help}{default}", width=96, initial_indent=" " * 24, subsequent_indent=" " * 24
        ).lstrip()
        lines.append(f"  --{name:<20}{text}")
    return lines


def help_text() -> str:
    """The whole ``--help`` page: usage, the launcher's flags, then :func:`experiments.listing`."""
    parts = [
        USAGE,
        "",
        "flags:",
        *flag_lines(),
        "  --helpfull            every absl flag of every imported module (JAX's too)",
        "",
        "experiments (--config=PRESET[:VARIANT]; modes are --mode values; `smoke` variants run in seconds, "
        "given --config.data.path where the preset reads a public data set):",
        experiments.listing(),
    ]
    return "\n".join(parts)
