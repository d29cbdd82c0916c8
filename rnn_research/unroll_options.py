"""Checks and derived masks of :func:`rnn_research.recurrent.unroll`'s options (``lengths``,
``mode``, ``remat``, ``truncate_every``, ``resets``): each turns a user-facing option into what
the three execution paths (fused, autodiff, parallel) share, or a one-line ``ValueError``.

:func:`length_mask` is the library's one mask of valid steps (also
``rnn_research.recurrent.length_mask``); :func:`mask_to_rank` broadcasts a ``[B]``, ``[B, T]``
or ``[T, B]`` mask over the trailing axes of states ``[B, *S]`` and sequences ``[B, T, *S]``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from rnn_research import checks
from rnn_research.cells import Cell

Array = jax.Array
MODES = ("auto", "sequential", "parallel")


def length_mask(lengths: Array, time: int) -> Array:
    """``[B, T]`` bool, true where ``t < lengths[b]``: the valid steps of padded sequences with
    ``lengths: [B]`` (integers in ``[0, T]``)."""
    lengths = jnp.asarray(lengths)
    return jnp.arange(time)[None, :] < lengths[:, None]


def mask_to_rank(mask: Array, ndim: int) -> Array:
    """``mask: [*M] -> [*M, 1, ..., 1]`` of rank ``ndim``, to broadcast over trailing axes (a
    ``[B, T]`` mask over ``[B, T, *S]``); explicit, so it runs under rank-promotion='raise'."""
    return jax.lax.expand_dims(mask, tuple(range(mask.ndim, ndim)))


def resolve_mode(cell: Cell, mode: str) -> bool:
    """True when the unroll runs as a parallel scan (``mode`` one of :data:`MODES`)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "parallel" and not cell.parallel_scan:
        raise ValueError(f"mode='parallel' needs a cell with an affine recurrence (mingru, minlstm), not {cell.name}")
    return cell.parallel_scan and mode != "sequential"


def truncation(every: int | None) -> int | None:
    """``truncate_every`` as an int, or ``None`` for no truncation (``None`` or 0)."""
    if every is None or every == 0:
        return None
    if isinstance(every, (bool, np.bool_)) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"truncate_every must be a positive int (steps between gradient cuts) or None, got {every!r}")
    return int(every)


def cuts(every: int, lengths: Array | None, batch: int, time: int, reverse: bool, valid: Array | None) -> Array:
    """Time-major ``[T, B]`` bool: stop the gradient into the state before step ``t``. Steps are
    numbered per row in the order of processing from its first valid step; every ``every``-th
    (not the first) cuts, and padded steps never do."""
    t = jnp.arange(time)[:, None]
    if reverse:
        last = jnp.full((batch,), time) if lengths is None else lengths
        order = last[None, :] - 1 - t
    else:
        order = jnp.broadcast_to(t, (time, batch))
    cuts = (order % every == 0) & (order > 0)
    return cuts if valid is None else cuts & valid


def restarts(resets: Array, batch: int, time: int, reverse: bool, valid: Array | None) -> Array:
    """Time-major ``[T, B]`` bool: restart from the initial state before processing step ``t``."""
    resets = jnp.asarray(resets)
    if checks.shape_of(resets) != (batch, time):
        raise ValueError(f"resets must have shape {(batch, time)} [B, T], got {checks.shape_of(resets)}")
    dtype = jnp.result_type(resets)
    if not (jnp.issubdtype(dtype, jnp.bool_) or jnp.issubdtype(dtype, jnp.integer)):
        raise ValueError(f"resets must be bool (or 0/1 integers), got dtype {dtype}")
    restarts = jnp.asarray(resets).astype(bool).T
    if reverse:  # a segment read backwards starts at its last step, the one before the next reset
        restarts = jnp.concatenate([restarts[1:], jnp.zeros((1, batch), bool)])
    return restarts if valid is None else restarts & valid


def remat_chunk(remat: bool | int, time: int) -> int | None:
    """Steps per checkpointed chunk: ``None`` (no remat), ``ceil(sqrt(T))`` for ``True``, or ``remat``."""
    if remat is False or remat is None:
        return None
    if remat is True:
        return max(1, math.isqrt(max(time - 1, 0)) + 1)
    if not isinstance(remat, (bool, np.bool_)) and isinstance(remat, (int, np.integer)) and remat >= 1:
        return int(remat)
    raise ValueError(f"remat must be a bool or a positive int (steps per checkpoint), got {remat!r}")
