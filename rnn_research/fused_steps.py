"""One step forward and backward of each classic vector cell (:class:`~rnn_research.cells.SimpleRNN`,
:class:`~rnn_research.cells.LSTM`, :class:`~rnn_research.cells.GRU`), and the weight gradient
of all steps at once: the kernels that :mod:`rnn_research.fused` runs inside its scans.

Shapes: projected inputs ``u: [B, G*H]``, states ``[B, H]``, recurrent kernel ``[H, G*H]``.

Gradient equations (``*`` elementwise, ``dh``/``dc`` the total cotangents of ``h_t``/``c_t``):

* SimpleRNN: ``da = dh * (1 - h_t^2)`` (tanh) or ``dh * [h_t > 0]`` (relu).
* LSTM: ``dc += dh * o * (1 - tanh(c_t)^2)``; ``da = [dc*g*i(1-i), dc*c_{t-1}*f(1-f),
  dc*i*(1-g^2), dh*tanh(c_t)*o(1-o)]``; ``dc_{t-1} = dc * f``.
* GRU (reset after): ``dn = dh*(1-z)*(1-n^2)``, ``dz = dh*(h_{t-1}-n)*z(1-z)``,
  ``dr = dn*(v_n+b_hn)*r(1-r)``; the input side gets ``[dr, dz, dn]``, the recurrent side
  ``[dr, dz, dn*r]``; ``dh_{t-1} = dh*z + [dr, dz, dn*r] W_h^T``.
* GRU (reset before, Cho et al.): as above with ``n = tanh(u_n + (r*h_{t-1}) W_hn)``, so
  ``d(r*h) = dn W_hn^T`` gives ``dr = d(r*h)*h_{t-1}*r(1-r)`` and ``dh_{t-1}`` gets ``d(r*h)*r``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rnn_research.cells import GRU, LSTM, Cell, SimpleRNN, State

Array = jax.Array
Weights = dict[str, Array]


def _sig(x: Array) -> Array:
    """``sigmoid(x)`` as ``0.5 * tanh(0.5 x) + 0.5``: the same function (within 2e-7 in float32),
    but XLA's CPU tanh is a short rational approximation, faster in the scan body than ``exp``."""
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


def _dot(a: Array, w: Array, dt: Any, acc: Any) -> Array:
    """``a @ w`` with operands in the compute dtype ``dt``, result in ``acc``."""
    return jnp.matmul(a.astype(dt), w.astype(dt), preferred_element_type=acc).astype(acc)


def _split(x: Array, n: int) -> list[Array]:
    return jnp.split(x, n, axis=-1)


# ------------------------------------------------------------------------------- one step
def step_forward(cell: Cell, w: Weights, state: State, u: Array) -> tuple[State, tuple[Array, ...]]:
    """One step from projected input ``u: [B, G*H]``; returns the new state (in ``acc``) and the
    residuals the backward step needs. ``w`` holds the recurrent weights already in ``dt``."""
    dt = u.dtype
    acc = jnp.promote_types(dt, state[0].dtype)
    h_prev = state.h.astype(acc)
    u = u.astype(acc) + w["bias"].astype(dt).astype(acc)[None, :]  # fused with the gates, not a pass over [T, B, G*H]
    if isinstance(cell, SimpleRNN):
        pre = u + _dot(h_prev, w["recurrent_kernel"], dt, acc)
        h = jnp.tanh(pre) if cell.activation == "tanh" else jax.nn.relu(pre)
        return state._replace(h=h), (h,)
    if isinstance(cell, LSTM):
        a = u + _dot(h_prev, w["recurrent_kernel"], dt, acc)
        a_i, a_f, a_g, a_o = _split(a, 4)
        i, f, g, o = _sig(a_i), _sig(a_f), jnp.tanh(a_g), _sig(a_o)
        c = f * state.c.astype(acc) + i * g
        tc = jnp.tanh(c)
        return type(state)(h=o * tc, c=c), (i, f, g, o, tc)
    hid = cell.hidden_size
    u_r, u_z, u_n = _split(u, 3)
    kernel = w["recurrent_kernel"]
    if cell.reset_after:
        v_r, v_z, v_n = _split(_dot(h_prev, kernel, dt, acc), 3)
        vnb = v_n + w["recurrent_bias"].astype(acc)[None, :]
        r, z = _sig(u_r + v_r), _sig(u_z + v_z)
        n = jnp.tanh(u_n + r * vnb)
        extra = vnb
    else:
        v_r, v_z = _split(_dot(h_prev, kernel[:, : 2 * hid], dt, acc), 2)
        r, z = _sig(u_r + v_r), _sig(u_z + v_z)
        n = jnp.tanh(u_n + _dot(r * h_prev, kernel[:, 2 * hid :], dt, acc))
        extra = r * h_prev
    return state._replace(h=(1.0 - z) * n + z * h_prev), (r, z, n, extra)


def step_backward(
    cell: Cell, w_t: Weights, res: tuple[Array, ...], prev: State, d: State
) -> tuple[State, Array, Array]:
    """Cotangents of one step: ``d`` holds ``dL/d(state_t)`` (in ``acc``); returns
    ``(dL/d(state_{t-1}), du_t [B, G*H], dv_t [B, G*H])`` where ``dv`` is the cotangent of the
    recurrent matmul's output (its input side is ``h_{t-1}``, or ``r*h_{t-1}`` for the
    reset-before GRU's ``n`` block). ``w_t`` holds the transposed kernels in ``dt``."""
    dt = w_t["recurrent_kernel"].dtype
    acc = d.h.dtype
    h_prev = prev.h.astype(acc)
    if isinstance(cell, SimpleRNN):
        (h,) = res
        da = d.h * (1.0 - h * h) if cell.activation == "tanh" else jnp.where(h > 0, d.h, 0.0)
        return prev._replace(h=_dot(da, w_t["recurrent_kernel"], dt, acc)), da, da
    if isinstance(cell, LSTM):
        i, f, g, o, tc = res
        dc = d.c + d.h * o * (1.0 - tc * tc)
        da = jnp.concatenate(
            [
                dc * g * i * (1.0 - i),
                dc * prev.c.astype(acc) * f * (1.0 - f),
                dc * i * (1.0 - g * g),
                d.h * tc * o * (1.0 - o),
            ],
            axis=-1,
        )
        return type(prev)(h=_dot(da, w_t["recurrent_kernel"], dt, acc), c=dc * f), da, da
    r, z, n, extra = res
    dn = d.h * (1.0 - z) * (1.0 - n * n)
    dz = d.h * (h_prev - n) * z * (1.0 - z)
    dh_prev = d.h * z
    if cell.reset_after:
        dr = dn * extra * r * (1.0 - r)
        du = jnp.concatenate([dr, dz, dn], axis=-1)
        dv = jnp.concatenate([dr, dz, dn * r], axis=-1)
        dh_prev = dh_prev + _dot(dv, w_t["recurrent_kernel"], dt, acc)
    else:
        hid = cell.hidden_size
        d_rh = _dot(dn, w_t["recurrent_kernel"][2 * hid :], dt, acc)
        dr = d_rh * h_prev * r * (1.0 - r)
        du = jnp.concatenate([dr, dz, dn], axis=-1)
        dv = du
        dh_prev = dh_prev + d_rh * r + _dot(du[:, : 2 * hid], w_t["recurrent_kernel"][: 2 * hid], dt, acc)
    return prev._replace(h=dh_prev), du, dv


def weight_grads(cell: Cell, w: Weights, prev_h: Array, res: tuple[Array, ...], dv: Array) -> Weights:
    """``dW_h`` from all steps at once: ``prev_h [N, B, H]``, ``dv [N, B, G*H]``."""
    dt, out = w["recurrent_kernel"].dtype, grad_dtype(w["recurrent_kernel"])

    def outer(a: Array, b: Array) -> Array:
        return jnp.einsum("nbh,nbg->hg", a.astype(dt), b.astype(dt), preferred_element_type=out)

    grads = {}
    if isinstance(cell, GRU) and not cell.reset_after:
        hid = cell.hidden_size
        rh = res[3]
        grads["recurrent_kernel"] = jnp.concatenate(
            [outer(prev_h, dv[..., : 2 * hid]), outer(rh, dv[..., 2 * hid :])], axis=1
        )
    else:
        grads["recurrent_kernel"] = outer(prev_h, dv)
    return grads


def grad_dtype(x: Array) -> Any:
    """The dtype gradients of ``x`` (any shape, e.g. ``[H, G*H]``) accumulate in: at least
    float32 (float64 under x64)."""
    return jnp.promote_types(x.dtype, jnp.float32)
