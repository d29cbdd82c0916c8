"""The launcher's checks of its own arguments, each failure one line: a ``--config`` file that is
not there, the reason a preset's ``get_config`` gave (ml_collections wraps it in a traceback),
and a ``--workdir`` that is a file or cannot be written."""

from __future__ import annotations

import os
import re
from pathlib import Path


def config_argument(argv: list[str]) -> str | None:
    """The value of ``--config`` (``--config=X`` or ``--config X``) in ``argv``, or None."""
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def missing_preset(argv: list[str]) -> str | None:
    """One line for a ``--config`` whose file does not exist (ml_collections would fail later,
    with a traceback), or None."""
    value = config_argument(argv)
    if value is None:
        return None
    path = value.split(":", 1)[0]
    if Path(path).is_file():
        return None
    what = "is a directory, not a preset file" if Path(path).is_dir() else "is not a file"
    return f"--config={value}: {path} {what} (python -m experiments.main --list shows the presets)"


_REASON = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")


def config_parse_reason(text: str) -> str | None:
    """The last ``SomeError: reason`` line of an error message that embeds a traceback (what
    ml_collections raises when a preset's ``get_config`` fails), or None."""
    found = [m.group(2).strip() for line in text.splitlines() if (m := _REASON.match(line))]
    return found[-1] if found else None


def check_workdir(workdir: str, writes: bool) -> None:
    """Raises ``ValueError`` in one line when ``workdir`` is an existing file, or (``writes``)
    cannot be created or written; creates nothing."""
    path = Path(workdir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--workdir={workdir} is a file, not a directory")
    if not writes:
        return
    existing = path
    while not existing.exists():  # the nearest ancestor that exists is where mkdir starts
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"--workdir={workdir} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--workdir={workdir} cannot be written: no write permission in {existing}")
