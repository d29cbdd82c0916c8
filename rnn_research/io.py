"""Files on disk, the one way: read as UTF-8 with a one-line error, write atomically.

* :func:`read_utf8` -- a file's text (a leading BOM dropped). A missing, empty or non-UTF-8 file is
  one line naming the config key, the path, the line and the byte offset.
* :func:`atomic_write_text`, :func:`atomic_write_json`, :func:`atomic_write_bytes` and the
  :func:`atomic_path` context manager -- write a sibling temporary file, flush it, then
  ``os.replace`` it over the target. A crash or an exception mid-write leaves the previous file
  (or no file) and never a half-written one; the temporary file is removed on failure.

No JAX here: data loaders import this module without pulling in an accelerator runtime.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "first_line",
    "optional_import",
    "read_utf8",
    "require_file",
]


def require_file(path: str | Path, key: str = "data.path", what: str = "") -> Path:
    """``path`` when it is a file; else ``FileNotFoundError`` in one line naming ``key`` and saying
    whether it is a directory or missing (``what``: a note such as "(GLUE needs train.tsv)")."""
    path = Path(path)
    if path.is_file():
        return path
    found = "is a directory, not a file" if path.is_dir() else "no such file"
    note = f" {what}" if what else ""
    prefix = f"{key}: " if key else ""  # key "": the path alone names what is missing
    raise FileNotFoundError(
        f"{prefix}{path}: {found}{note}" if path.is_dir() else f"{prefix}no such file: {path}{note}"
    )


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (its type when it has none): what a
    one-line error quotes of a third-party reader's failure."""
    lines = str(e).strip().splitlines()
    return lines[0].strip() if lines else type(e).__name__


def optional_import(module: str, what: str, extra: str, error: type[Exception] = ValueError) -> Any:
    """``module`` imported, or ``error`` in one line: ``"<what> needs <package>: pip install
    'rnn_research[<extra>]'"`` (for the packages an experiment's extra adds, imported on use)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise error(f"{what} needs {package}: pip install 'rnn_research[{extra}]'") from None


def read_utf8(path: str | Path, key: str = "data.path", *, allow_empty: bool = False) -> str:
    """The text of ``path``; ``ValueError``/``FileNotFoundError`` in one line naming ``key``.

    A non-UTF-8 file reads ``key: PATH:LINE: not valid UTF-8 (byte 0xNN at offset K)``.
    """
    path = require_file(path, key)
    raw = path.read_bytes()
    if not allow_empty and not raw.strip():
        raise ValueError(f"{key}: {path} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{key}: {path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})"
        ) from None
    return text.removeprefix("\ufeff")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary sibling of ``path`` to write; on a clean exit it replaces ``path``.

    For writers that want a file name (``np.savez``, ``savefig``)::

        with atomic_path(out / "forecast.png") as tmp:
            fig.savefig(tmp, format="png")
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` all-or-nothing (flushed and fsynced before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    """Writes ``text`` as UTF-8 to ``path`` all-or-nothing."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, **dumps_kwargs: Any) -> None:
    """``json.dumps(obj, ensure_ascii=False, allow_nan=False, **dumps_kwargs)`` written atomically;
    an object JSON cannot encode (NaN and infinity included: they are not JSON) raises
    ``ValueError`` before anything is written."""
    dumps_kwargs.setdefault("allow_nan", False)
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, **dumps_kwargs))
