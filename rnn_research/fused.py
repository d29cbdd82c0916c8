"""A hand-written backward pass for the recurrence of :class:`SimpleRNN`, :class:`LSTM` and :class:`GRU`.

:func:`rnn_research.recurrent.unroll` uses this by default (``backward="custom"``). The
recurrence is one ``jax.custom_vjp`` function of the projected inputs ``u: [T, B, G*H]``
(``x_t W_x + b``, computed for all steps as one matmul before it), the recurrent weights, the
initial state, the valid-step mask and an optional perturbation of ``h_t``:

* forward: one ``lax.scan`` whose body does only ``h_{t-1} W_h`` and the gates; it keeps the
  gate activations of every step;
* backward: a second ``lax.scan`` running the other way carries ``dL/dh_t`` (and ``dL/dc_t``)
  and emits the cotangents of the gate pre-activations ``da_t: [B, G*H]``; each step does one
  matmul, ``da_t W_h^T``;
* after it, each weight-matrix gradient is a single matmul over all steps (the bias gradients
  are summed inside the backward scan),
  ``dW_h = sum_t h_{t-1}^T da_t`` (``[T*B, H]^T @ [T*B, G*H]``), where autodiff of a scan
  would add a small ``[B, H]^T @ [B, G*H]`` product into an accumulator at every step.

With ``chunk=k`` (``remat``), the forward pass keeps only the states at the start of every
``k``-step chunk; the backward pass re-runs one chunk at a time to recover its gates, then
runs the chunk's backward scan, so the saved gate activations take ``O(T/k + k)`` rows instead
of ``O(T)``; the weight gradient is then one matmul per chunk.

Truncated backpropagation through time (``truncate_every``) arrives as ``cuts: [T, B]``: the
backward scan sets the carried ``dL/d(state)`` of a row to zero before each step where its cut
is set; the forward pass is unchanged.

Forward-mode differentiation (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) is not defined
for a ``custom_vjp`` function: pass ``backward="autodiff"`` to ``unroll`` for those.

The per-cell steps and their gradient equations are in :mod:`rnn_research.fused_steps`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from rnn_research import fused_steps
from rnn_research.cells import GRU, LSTM, Cell, SimpleRNN, State
from rnn_research.fused_steps import Weights

Array = jax.Array


def supports(cell: Cell) -> bool:
    """True when ``cell`` has a hand-written backward pass (exactly these classes: a subclass
    may change ``step``, so it falls back to autodiff)."""
    return type(cell) in (SimpleRNN, LSTM, GRU)


@dataclasses.dataclass(frozen=True)
class Spec:
    """Static configuration of one recurrence (hashable: it is a ``nondiff_argnum``)."""

    cell: Cell
    reverse: bool = False
    unroll: int | bool = 1
    chunk: int | None = None


# ----------------------------------------------------------------------------- one segment
def _shift(states: State, entering: State, reverse: bool) -> State:
    """The state before each step of a segment, given the states after each step."""

    def one(seq: Array, first: Array) -> Array:
        first = first.astype(seq.dtype)[None]
        if reverse:
            return jnp.concatenate([seq, first])[1:]
        return jnp.concatenate([first, seq])[:-1]

    return jax.tree_util.tree_map(one, states, entering)


def _segment_forward(spec: Spec, w: Weights, state: State, u: Array, valid: Array | None, pert: Array | None):
    """Forward scan over ``u: [N, B, G*H]``; returns ``(final, states [N, ...], residuals [N, ...])``.

    States keep their own dtype between steps (as ``cells.*.step`` does)."""

    def body(carry: State, inputs: tuple) -> tuple[State, tuple]:
        u_t, valid_t, pert_t = inputs
        new, res = fused_steps.step_forward(spec.cell, w, carry, u_t)
        new = type(carry)(*(n.astype(o.dtype) for n, o in zip(new, carry)))
        if pert_t is not None:
            new = new._replace(h=new.h + pert_t.astype(new.h.dtype))
        if valid_t is not None:
            keep = valid_t[:, None]
            new = jax.tree_util.tree_map(lambda n, o: jnp.where(keep, n, o), new, carry)
        return new, (new, res)

    final, (states, res) = jax.lax.scan(body, state, (u, valid, pert), reverse=spec.reverse, unroll=spec.unroll)
    return final, states, res


def _segment_backward(
    spec: Spec, w_t: Weights, d_final: State, d_hs: Array, prev: State, res, valid, with_pert: bool, cut=None
):
    """Backward scan over one segment, given ``dL/dh_t`` from outside (``d_hs: [N, B, H]``);
    returns ``(dL/d(entering state), du [N, B, G*H], dv [N, B, G*H], dpert [N, B, H] or None,
    bias_grads)``. The bias gradients (sums of ``du``, and of ``dv``'s ``n`` block for the
    reset-after GRU's ``b_hn``) are accumulated in the scan, while each step's rows are in cache."""
    acc = res[0].dtype
    out = fused_steps.grad_dtype(res[0])
    hid = spec.cell.hidden_size
    with_rbias = isinstance(spec.cell, GRU) and spec.cell.reset_after

    def body(carry: tuple, inputs: tuple) -> tuple[tuple, tuple]:
        d, sums = carry
        d_h_t, res_t, prev_t, valid_t, cut_t = inputs
        d = d._replace(h=d.h + d_h_t.astype(acc))
        d_prev, du, dv = fused_steps.step_backward(spec.cell, w_t, res_t, prev_t, d)
        dp = d.h if with_pert else None
        if valid_t is not None:
            keep = valid_t[:, None]
            d_prev = jax.tree_util.tree_map(lambda n, o: jnp.where(keep, n, o), d_prev, d)
            du, dv = jnp.where(keep, du, 0.0), jnp.where(keep, dv, 0.0)
            dp = None if dp is None else jnp.where(keep, dp, 0.0)
        if cut_t is not None:  # truncated BPTT: nothing flows into the state before this step
            cut = cut_t[:, None]
            d_prev = jax.tree_util.tree_map(lambda x: jnp.where(cut, jnp.zeros((), x.dtype), x), d_prev)
        sums = dict(sums, bias=sums["bias"] + jnp.sum(du, axis=0, dtype=out))
        if with_rbias:
            sums["recurrent_bias"] = sums["recurrent_bias"] + jnp.sum(dv[:, 2 * hid :], axis=0, dtype=out)
        return (d_prev, sums), (du, dv if with_rbias else None, dp)  # one [N, B, G*H] output where du is dv

    d_final = jax.tree_util.tree_map(lambda x: x.astype(acc), d_final)
    sums = {"bias": jnp.zeros((spec.cell.num_gates * hid,), out)}
    if with_rbias:
        sums["recurrent_bias"] = jnp.zeros((hid,), out)
    (d_init, sums), (du, dv, dp) = jax.lax.scan(
        body, (d_final, sums), (d_hs, res, prev, valid, cut), reverse=not spec.reverse, unroll=spec.unroll
    )
    return d_init, du, dv if with_rbias else du, dp, sums


# ---------------------------------------------------------------------------- the recurrence
RECURRENT_KEYS = ("recurrent_kernel", "recurrent_bias", "bias")


def _in_dtype(params: dict[str, Array], dt: Any) -> Weights:
    """The weights the scan body reads (recurrent kernel, cast to the compute dtype once outside
    the scan, and the biases)."""
    w = {k: v for k, v in params.items() if k in RECURRENT_KEYS}
    w["recurrent_kernel"] = w["recurrent_kernel"].astype(dt)
    return w


def _project(cell: Cell, params: dict[str, Array], xs: Array) -> Array:
    """``xs @ input_kernel``: ``[N, B, D] -> [N, B, G*H]`` in the compute dtype, one matmul. The
    bias is added in the step (:func:`fused_steps.step_forward`), fused with the gates: XLA's CPU backend
    runs a broadcast add over ``[N, B, G*H]`` as a separate, slow pass."""
    cell.check_inputs(params, xs)
    dt = cell.compute_dtype(xs, params)
    return jnp.einsum("nbd,dg->nbg", xs.astype(dt), params["input_kernel"].astype(dt))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def recurrence(
    spec: Spec,
    xs: Array,
    params: dict[str, Array],
    init: State,
    valid: Array | None,
    pert: Array | None,
    cuts: Array | None = None,
) -> tuple[State, Array]:
    """Projects and runs the recurrence over time-major inputs ``xs: [T, B, D]``.

    ``params``: the cell's parameter dict; ``init``: its state NamedTuple of ``[B, H]`` leaves;
    ``valid``: ``[T, B]`` bool or ``None``; ``pert``: ``[T, B, H]`` or ``None``, added to ``h_t``
    after each step; ``cuts``: ``[T, B]`` bool or ``None``, where the gradient into the state
    stops (truncated backpropagation; no effect on values). Returns ``(final_state, hs [T, B, H])``, ``hs[t]`` the ``h`` after step
    ``t`` (frozen through invalid steps, so ``ys = where(valid, hs, 0)``). The input projection
    is inside, so that with ``spec.chunk`` it is recomputed chunk by chunk rather than saved.
    """
    final, states, _ = _run_forward(spec, xs, params, init, valid, pert)
    return final, states.h


def _chunk_size(spec: Spec, time: int) -> int | None:
    return None if spec.chunk is None or spec.chunk >= time else spec.chunk


def _run_forward(spec: Spec, xs, params, init, valid, pert):
    """Returns ``(final, states, saved)``: without chunks, ``states`` has every leaf per step and
    ``saved`` the gates; with chunks, only ``h`` and each chunk's entering state."""
    u_dtype = spec.cell.compute_dtype(xs, params)
    w = _in_dtype(params, u_dtype)
    time = xs.shape[0]
    k = _chunk_size(spec, time)
    if k is None:
        return _segment_forward(spec, w, init, _project(spec.cell, params, xs), valid, pert)
    xs, valid, pert, n = _pad_to_chunks(xs, valid, pert, k)

    def outer(state: State, inputs: tuple) -> tuple[State, tuple]:
        x_c, valid_c, pert_c = inputs
        final_c, states_c, _ = _segment_forward(spec, w, state, _project(spec.cell, params, x_c), valid_c, pert_c)
        return final_c, (state, states_c.h)

    final, (entering, hs) = jax.lax.scan(outer, init, (xs, valid, pert), reverse=spec.reverse)
    hs = hs.reshape((n * k,) + hs.shape[2:])[:time]
    return final, init._replace(h=hs), entering


def _pad_to_chunks(xs: Array, valid: Array | None, pert: Array | None, k: int):
    """Pads time to a multiple of ``k`` with invalid steps; reshapes to ``[n, k, ...]``."""
    time, batch = xs.shape[:2]
    n = -(-time // k)
    pad = n * k - time
    if valid is None:
        valid = jnp.ones((time, batch), bool)

    def chunks(x: Array | None, fill: Any) -> Array | None:
        if x is None:
            return None
        if pad:
            x = jnp.concatenate([x, jnp.full((pad,) + x.shape[1:], fill, x.dtype)])
        return x.reshape((n, k) + x.shape[1:])

    return chunks(xs, 0), chunks(valid, False), chunks(pert, 0), n


def _recurrence_fwd(spec: Spec, xs, params, init, valid, pert, cuts):
    final, states, saved = _run_forward(spec, xs, params, init, valid, pert)
    return (final, states.h), (xs, params, init, valid, pert, cuts, states, saved)


def _input_grads(params: dict[str, Array], xs: Array, du: Array) -> tuple[Array, Weights]:
    """Cotangents of ``xs [N, B, D]`` and ``input_kernel`` from ``du [N, B, G*H]``: one matmul
    each over all ``N*B`` rows."""
    dt, out = du.dtype, fused_steps.grad_dtype(du)
    # Contractions over (n, b) as einsums, not reshapes to [N*B, F]: with the batch axis sharded
    # over devices, each device contracts its own rows and XLA adds the results (an all-reduce).
    dx = jnp.einsum("nbg,dg->nbd", du, params["input_kernel"].astype(dt), preferred_element_type=out)
    grads = {"input_kernel": jnp.einsum("nbd,nbg->dg", xs.astype(dt), du, preferred_element_type=out)}
    return dx, grads


def _recurrence_bwd(spec: Spec, residuals, cotangents):
    xs, params, init, valid, pert, cuts, states, saved = residuals
    d_final, d_hs = cotangents
    dt = spec.cell.compute_dtype(xs, params)
    w = _in_dtype(params, dt)
    w_t = {"recurrent_kernel": w["recurrent_kernel"].T}
    with_pert = pert is not None
    k = _chunk_size(spec, xs.shape[0])
    if k is None:
        prev = _shift(states, init, spec.reverse)
        d_init, du, dv, dp, sums = _segment_backward(spec, w_t, d_final, d_hs, prev, saved, valid, with_pert, cuts)
        du = du.astype(dt)
        dx, grads = _input_grads(params, xs, du)
        grads.update(fused_steps.weight_grads(spec.cell, w, prev.h, saved, dv), **sums)
    else:
        d_init, dx, grads, dp = _chunked_backward(spec, params, w, w_t, xs, valid, pert, cuts, saved, d_final, d_hs, k)
    # A learned "initial_state" entry is not read here: its gradient flows through `init`.
    d_params = {key: grads[key].astype(v.dtype) if key in grads else jnp.zeros_like(v) for key, v in params.items()}
    d_init = type(init)(*(d.astype(s.dtype) for d, s in zip(d_init, init)))
    d_pert = None if pert is None else dp.astype(pert.dtype)
    return dx.astype(xs.dtype), d_params, d_init, None, d_pert, None


def _chunked_backward(spec: Spec, params, w, w_t, xs, valid, pert, cuts, entering, d_final, d_hs, k):
    """Backward over chunks, last first: re-run each chunk from its entering state to recover its
    gates, run its backward scan, and add its weight gradients (one matmul each per chunk)."""
    time = xs.shape[0]
    x_c, valid_c, pert_c, n = _pad_to_chunks(xs, valid, pert, k)
    d_hs_c = _pad_to_chunks(d_hs, None, None, k)[0]
    cut_c = None if cuts is None else _pad_to_chunks(cuts, None, None, k)[0]
    with_pert = pert is not None

    def outer(carry: tuple, inputs: tuple) -> tuple[tuple, tuple]:
        d, grads = carry
        x_i, valid_i, pert_i, enter_i, d_hs_i, cut_i = inputs
        u_i = _project(spec.cell, params, x_i)
        _, states_i, res_i = _segment_forward(spec, w, enter_i, u_i, valid_i, pert_i)
        prev_i = _shift(states_i, enter_i, spec.reverse)
        d_enter, du_i, dv_i, dp_i, sums = _segment_backward(
            spec, w_t, d, d_hs_i, prev_i, res_i, valid_i, with_pert, cut_i
        )
        dx_i, chunk_grads = _input_grads(params, x_i, du_i.astype(u_i.dtype))
        chunk_grads.update(fused_steps.weight_grads(spec.cell, w, prev_i.h, res_i, dv_i), **sums)
        grads = {key: g + chunk_grads[key].astype(g.dtype) for key, g in grads.items()}
        return (d_enter, grads), (dx_i, dp_i)

    # Accumulators at least float32, and as wide as each parameter (float64 under x64).
    grads0 = {key: jnp.zeros(v.shape, fused_steps.grad_dtype(v)) for key, v in params.items() if key != "initial_state"}
    acc = jnp.promote_types(w["recurrent_kernel"].dtype, d_final[0].dtype)
    d0 = jax.tree_util.tree_map(lambda x: x.astype(acc), d_final)
    (d_init, grads), (dx, dp) = jax.lax.scan(
        outer, (d0, grads0), (x_c, valid_c, pert_c, entering, d_hs_c, cut_c), reverse=not spec.reverse
    )
    dx = dx.reshape((n * k,) + dx.shape[2:])[:time]
    dp = None if dp is None else dp.reshape((n * k,) + dp.shape[2:])[:time]
    return d_init, dx, grads, dp


recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)
