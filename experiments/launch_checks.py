"""The launcher's checks of its own arguments, each failure one line: a ``--config`` file that is
not there, the reason a preset's ``get_config`` gave (ml_collections wraps it in a traceback),
and a ``--workdir`` that is a file or cannot be written."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tempfile
from pathlib import Path


def config_argument(argv: list[str]) -> str | None:
    """The value of ``--config`` (``--config=X`` or ``--config X``) in ``argv``, or None."""
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def resolve_preset(argv: list[str]) -> list[str]:
    """``argv`` with a ``--config=configs/...`` path that is not there relative to the working
    directory but is in the installed ``configs`` package made absolute, so the launcher runs from
    anywhere (``configs/`` is installed beside ``experiments/``); other arguments unchanged."""
    value = config_argument(argv)
    if value is None:
        return argv
    path, sep, variant = value.partition(":")
    import experiments

    installed = experiments.CONFIGS.parent / path
    if Path(path).exists() or Path(path).is_absolute() or not installed.is_file():
        return argv
    resolved = f"{installed}{sep}{variant}"
    out, i = list(argv), 0
    while i < len(out):
        if out[i].startswith("--config="):
            out[i] = f"--config={resolved}"
            break
        if out[i] == "--config" and i + 1 < len(out):
            out[i + 1] = resolved
            break
        i += 1
    return out


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
    close = close_matches(path, known_presets(), n=1, cutoff=0.8)  # paths share 'configs/'
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"--config={value}: {path} {what}{hint} (python -m experiments.main --list shows the presets)"


def known_presets() -> list[str]:
    """Every preset file, as ``configs/<task>/<preset>.py``."""
    import experiments  # the package's listing (imports no experiment)

    return [p for name in experiments.names() for p in experiments.presets(name)]


def variant_hint(config_value: str | None, reason: str) -> str:
    """``"; did you mean configs/x.py:smoke?"`` when a preset refused a misspelt variant (its
    ``get_config`` raised ``unknown variant ...``) and its ``VARIANTS`` hold a close match; else ``""``."""
    if not config_value or ":" not in config_value or not reason.startswith("unknown variant"):
        return ""
    import experiments

    path, variant = config_value.split(":", 1)
    try:
        known = experiments.variants(path)
    except (ImportError, TypeError):  # a preset outside configs/: its message lists the variants
        return ""
    close = close_matches(variant, known, n=1)
    return f"; did you mean {path}:{close[0]}?" if close else ""


def close_matches(word: str, choices: list[str], n: int = 2, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``choices`` spelt like ``word`` (difflib's ratio at least ``cutoff``)."""
    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)


_REASON = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")


def config_parse_reason(text: str) -> str | None:
    """The last ``SomeError: reason`` line of an error message that embeds a traceback (what
    ml_collections raises when a preset's ``get_config`` fails), or None."""
    found = [m.group(2).strip() for line in text.splitlines() if (m := _REASON.match(line))]
    return found[-1] if found else None


def unknown_key(error: BaseException, argv: list[str]) -> str:
    """One line for the ``KeyError``/``AttributeError`` ml_collections raises on an override of a
    key that is not there (``--config.train.num_step=10``), with its suggestion if it made one."""
    inner: object = error
    while isinstance(inner, BaseException) and inner.args:
        inner = inner.args[0]  # AttributeError(KeyError("'num_step'\nDid you mean ...")) -> the text
    lines = str(inner).strip().splitlines() or [type(error).__name__]
    key = lines[0].strip().strip("\"'")
    hint = next((line.strip() for line in lines[1:] if line.strip().startswith("Did you mean")), "")
    culprits = [a.split("=", 1)[0] for a in argv if a.startswith("--config.") and key and key in a]
    where = f" in {culprits[0]}" if culprits else ""
    suggestion = f"; {hint[0].lower()}{hint[1:]}" if hint else ""
    return f"unknown config key {key!r}{where}{suggestion} (configs/base.py and the preset list the keys)"


def check_workdir(workdir: str, writes: bool) -> None:
    """Raises ``ValueError`` in one line when ``workdir`` is an existing file, or (``writes``)
    cannot be created or written (tried, then undone: it creates nothing)."""
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
    missing = [p for p in [path, *path.parents] if not p.exists()]  # innermost first
    doing = "created" if missing else "written"
    try:  # what access() cannot tell: /proc, a read-only mount seen as root, a full disk
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"--workdir={workdir} cannot be {doing}: {e.strerror or e} ({e.filename or path})") from None
    finally:
        for created in missing:  # the run creates it when it starts writing
            with contextlib.suppress(OSError):
                created.rmdir()
