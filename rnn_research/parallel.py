"""Parallel-in-time execution of affine recurrences ``h_t = a_t * h_{t-1} + b_t``.

The cells with ``parallel_scan = True`` (:class:`~rnn_research.cells.MinGRU`,
:class:`~rnn_research.cells.MinLSTM`) compute ``(log a_t, b_t)`` from the inputs alone. The
maps ``h -> a h + b`` compose associatively::

    (log a_1, b_1) then (log a_2, b_2)  =  (log a_1 + log a_2,  exp(log a_2) * b_1 + b_2)

so ``jax.lax.associative_scan`` gives every prefix composition ``(A_t, B_t)`` in ``O(log T)``
depth, and ``h_t = exp(A_t) * h_0 + B_t``. Decays are multiplied as sums of logs, so a long
product of gates close to 1 does not round away, and one that underflows goes to 0 (a forgotten
state), never to NaN. No step divides by a cumulative product, so the result matches the
sequential ``lax.scan`` of ``cell.step`` to float rounding.

Every option of :func:`rnn_research.recurrent.unroll` maps onto the affine form:

* a padded (invalid) step is the identity ``(0, 0)``: the state is frozen through it;
* a reset before step ``t`` restarts from the initial state ``s``: ``(-inf, a_t s + b_t)``;
* a perturbation ``p_t`` of ``h_t`` adds to ``b_t``;
* ``reverse`` flips time, scans, and flips back;
* truncated gradients (``cuts``, the steps before which the gradient into the state stops): a
  first scan, under ``stop_gradient``, gives the values; a cut step then becomes a restart
  from the stopped value of the state before it, ``(-inf, a_t sg(h_{t-1}) + b_t)``, and a
  second scan gives the same values with the gradient of the chunk-by-chunk computation;
* ``remat``: the whole scan is recomputed in the backward pass (only its inputs are saved).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rnn_research.cells import Cell, Params, State
from rnn_research.unroll_options import mask_to_rank

Array = jax.Array


def compose(earlier: tuple[Array, Array], later: tuple[Array, Array]) -> tuple[Array, Array]:
    """The affine map ``later o earlier`` of two ``(log a, b)`` pairs, each ``[..., H]`` (any
    matching shapes; ``associative_scan`` passes ``[N, B, H]`` slices)."""
    log_a1, b1 = earlier
    log_a2, b2 = later
    return log_a1 + log_a2, jnp.exp(log_a2) * b1 + b2


def prefix_scan(log_a: Array, b: Array, h0: Array) -> Array:
    """``h_t = exp(log_a_t) * h_{t-1} + b_t`` for all ``t`` along axis 0 of ``log_a, b: [T, ...]``,
    from ``h0`` (broadcastable to ``[...]``); returns ``[T, ...]``."""
    cum_log_a, cum_b = jax.lax.associative_scan(compose, (log_a, b), axis=0)
    return jnp.exp(cum_log_a) * h0[None] + cum_b


def recurrence(
    cell: Cell,
    params: Params,
    xs: Array,
    initial_state: State,
    *,
    valid: Array | None = None,
    resets: Array | None = None,
    perturbation: Array | None = None,
    reverse: bool = False,
    cuts: Array | None = None,
    remat: bool = False,
) -> tuple[State, Array]:
    """Runs a ``parallel_scan`` cell over time-major ``xs: [T, B, *F]`` in parallel over time.

    ``valid``, ``resets``, ``cuts``: ``[T, B]`` bool or ``None`` (a reset applies before the step,
    in the direction of processing, and only at valid steps; a cut stops the gradient into the
    state before the step, and yields to a reset there; each broadcasts over the state's trailing
    axes); ``perturbation``: ``[T, B, *S]`` or ``None``. Returns ``(final_state, hs [T, B, *S])``
    with ``hs`` frozen through invalid steps.
    """

    def run(params: Params, xs: Array, h0: Array, valid: Any, resets: Any, perturbation: Any, cuts: Any) -> Array:
        projected = cell.project(params, xs)
        acc = jnp.promote_types(projected.dtype, h0.dtype)
        log_a, b = cell.coefficients(projected, acc)
        h0 = h0.astype(acc)
        if perturbation is not None:
            b = b + perturbation.astype(acc)
        if resets is not None:
            restart = mask_to_rank(resets, log_a.ndim)
            b = jnp.where(restart, jnp.exp(log_a) * h0[None] + b, b)
            log_a = jnp.where(restart, -jnp.inf, log_a)
        if valid is not None:
            keep = mask_to_rank(valid, log_a.ndim)
            log_a = jnp.where(keep, log_a, jnp.zeros((), acc))
            b = jnp.where(keep, b, jnp.zeros((), acc))
        if cuts is not None:
            cuts = cuts if resets is None else cuts & ~resets
        if reverse:
            log_a, b = log_a[::-1], b[::-1]
            cuts = None if cuts is None else cuts[::-1]
        if cuts is not None:
            values = jax.lax.stop_gradient(prefix_scan(log_a, b, h0))
            before = jnp.concatenate([jnp.broadcast_to(h0, values.shape[1:])[None], values[:-1]])
            cut = mask_to_rank(cuts, log_a.ndim)
            b = jnp.where(cut, jnp.exp(log_a) * before + b, b)
            log_a = jnp.where(cut, -jnp.inf, log_a)
        hs = prefix_scan(log_a, b, h0)
        return hs[::-1] if reverse else hs

    if remat:
        run = jax.checkpoint(run)
    (h0,) = initial_state
    if xs.shape[0] == 0:
        return initial_state, jnp.zeros((0,) + h0.shape, h0.dtype)
    hs = run(params, xs, h0, valid, resets, perturbation, cuts).astype(h0.dtype)
    final = hs[0] if reverse else hs[-1]
    return type(initial_state)(final), hs
