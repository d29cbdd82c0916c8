"""Parsers for config values that name data: columns, labels, lists of file names."""

from __future__ import annotations


def comma_list(value: str, key: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; an empty or repeated entry is a one-line error naming ``key``."""
    items = [v.strip() for v in str(value).split(",")]
    if any(not v for v in items):
        raise ValueError(f"{key}={value!r} has an empty entry")
    if len(set(items)) != len(items):
        raise ValueError(f"{key}={value!r} repeats an entry")
    return items
