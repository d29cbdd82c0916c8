"""Boundary checks that raise one-line ``ValueError``s naming the argument.

These run at trace time on static shapes and dtypes only, so they cost nothing
inside ``jit``. Values (such as ``lengths``) are checked at once when concrete; under ``jit``
they are checked only on request: wrap the function in :func:`checked` (``jax.experimental.checkify``
underneath), whose call raises the same one-line ``ValueError``. Unwrapped, the traced checks
are dropped when the program is compiled and cost nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify


def shape_of(x: Any) -> tuple[int, ...]:
    """The static shape of ``x`` (an array, a tracer or a nested list) as a tuple of ints."""
    return tuple(np.shape(x))


def layout(*axes: str) -> str:
    """The layout of an array for messages: ``layout("B", "T", "D") == "[B, T, D]"``."""
    return f"[{', '.join(axes)}]"


def require_rank(name: str, x: Any, rank: int, layout: str) -> None:
    """Raises if ``x`` is not of ``rank`` dimensions; ``layout`` reads like ``[B, T, D]``."""
    if np.ndim(x) != rank:
        raise ValueError(f"{name} must have rank {rank} {layout}, got shape {shape_of(x)}")


def require_size(name: str, x: Any, axis: int, size: int, what: str) -> None:
    """Raises if ``x.shape[axis] != size``; ``what`` names the axis (``"batch size"``)."""
    shape = shape_of(x)
    if shape[axis] != size:
        raise ValueError(f"{name} has {what} {shape[axis]} (shape {shape}), expected {size}")


def require_floating(name: str, x: Any) -> None:
    """Raises unless ``x`` has a floating-point dtype."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name} must be floating point, got dtype {dtype} (shape {shape_of(x)})")


def require_integer(name: str, x: Any) -> None:
    """Raises unless ``x`` has an integer dtype."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise ValueError(f"{name} must be integer, got dtype {dtype} (shape {shape_of(x)})")


def require_keys(name: str, tree: Any, keys: Iterable[str]) -> None:
    """Raises unless ``tree`` is a dict-like holding every one of ``keys``."""
    if not hasattr(tree, "keys"):
        raise ValueError(f"{name} must be a dict of arrays, got {type(tree).__name__}")
    missing = [k for k in keys if k not in tree]
    if missing:
        raise ValueError(f"{name} is missing {missing} (has keys {sorted(tree.keys())})")


def is_concrete(x: Any) -> bool:
    """True when ``x`` has a value now (not a tracer inside ``jit``/``grad``)."""
    return not isinstance(x, jax.core.Tracer)


def check_lengths(lengths: Any, batch: int, time: int) -> None:
    """``lengths``: integer ``[B]`` with values in ``[0, T]`` (values checked when concrete)."""
    require_integer("lengths", lengths)
    if shape_of(lengths) != (batch,):
        raise ValueError(f"lengths must have shape ({batch},) to match xs batch size, got shape {shape_of(lengths)}")
    if is_concrete(lengths):
        values = np.asarray(lengths)
        if values.size and (values.min() < 0 or values.max() > time):
            raise ValueError(
                f"lengths must lie in [0, {time}] (T of xs), got min {values.min()} and max {values.max()}"
            )
    elif batch:  # traced: a check that only :func:`checked` turns on
        checkify.debug_check(
            jnp.all((lengths >= 0) & (lengths <= time)),
            f"lengths must lie in [0, {time}] (T of xs), got min {{low}} and max {{high}}",
            low=jnp.min(lengths),
            high=jnp.max(lengths),
        )


def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` jitted with its traced value checks on (``lengths`` in ``[0, T]`` inside ``jit``):
    a failed check raises the one-line ``ValueError`` the eager call would. For debugging a
    pipeline whose lengths are computed under ``jit``; ``fn`` may itself be jitted.

    >>> run = checks.checked(lambda xs, lengths: recurrent.unroll(cell, params, xs, lengths=lengths))
    """
    wrapped = jax.jit(checkify.checkify(fn, errors=checkify.user_checks))

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        error, out = wrapped(*args, **kwargs)
        message = error.get()
        if message:
            raise ValueError(message.split(" (`check` failed)")[0].splitlines()[0])
        return out

    return run
