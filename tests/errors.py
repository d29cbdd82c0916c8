"""Shared test helper: the project's bad-input errors are one line."""

import contextlib

import pytest


@contextlib.contextmanager
def one_line_error(exc, match):
    """``pytest.raises(exc, match=match)`` that also requires the message to be one line."""
    with pytest.raises(exc, match=match) as info:
        yield
    assert "\n" not in str(info.value), str(info.value)
