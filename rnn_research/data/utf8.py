"""Bytes from data sets (tfds features, byte lines) as text, with one-line errors.

Whole files are read with :func:`rnn_research.io.read_utf8`; this module decodes single values.
No JAX here.
"""

from __future__ import annotations

__all__ = ["decode_utf8"]


def decode_utf8(raw: bytes, where: str, what: str = "text") -> str:
    """``raw`` decoded as UTF-8; else ``ValueError("WHERE: WHAT is not valid UTF-8 (byte 0xNN at offset K)")``.

    ``what`` may be empty, giving ``WHERE: not valid UTF-8 (...)``.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        subject = f"{what} is not" if what else "not"
        raise ValueError(f"{where}: {subject} valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
