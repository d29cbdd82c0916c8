"""The classic cells: Elman RNN, LSTM and GRU, over vectors (``x_t [B, D]``, ``h_t [B, H]``).

Gate blocks are laid out in PyTorch's order (LSTM ``i, f, g, o``; GRU ``r, z, n``) so that
weights convert by a transpose. Their recurrence has a hand-written backward pass
(:mod:`rnn_research.fused`), which :func:`rnn_research.recurrent.unroll` uses by default for
exactly these classes.

Parameters (``D`` = input size, ``H`` = hidden size, ``G`` = gates per cell):

* ``input_kernel``: ``[D, G*H]``; ``recurrent_kernel``: ``[H, G*H]``; ``bias``: ``[G*H]``.
* GRU with ``reset_after=True`` also has ``recurrent_bias``: ``[H]``, the bias inside the
  reset product (``b_hn`` in PyTorch), which cannot be folded into ``bias``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnn_research.cells.base import (
    Array,
    Cell,
    GRUState,
    LSTMState,
    Params,
    SimpleRNNState,
    accumulation_dtype,
    add_forget_bias,
    cast_state,
    expand_to,
    lstm_cell_update,
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimpleRNN(Cell):
    """Elman RNN (Elman 1990).

    ``h_t = act(x_t W_x + h_{t-1} W_h + b)`` with ``act`` = ``tanh`` (default) or ``relu``.
    Shapes: ``x_t [B, D]``, ``h_t [B, H]``, ``W_x [D, H]``, ``W_h [H, H]``, ``b [H]``.
    """

    activation: str = "tanh"

    num_gates: ClassVar[int] = 1
    state_type: ClassVar[type] = SimpleRNNState

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN: activation must be 'tanh' or 'relu', got {self.activation!r}")

    def step(self, params: Params, state: SimpleRNNState, projected_x_t: Array) -> tuple[SimpleRNNState, Array]:
        self.check_step(params, state, projected_x_t)
        acc = accumulation_dtype(projected_x_t, state)
        pre = projected_x_t.astype(acc) + self.recurrent_matmul(params, state.h, projected_x_t.dtype, acc)
        h = jnp.tanh(pre) if self.activation == "tanh" else jax.nn.relu(pre)
        new = cast_state(SimpleRNNState(h), state)
        return new, new.h


@dataclasses.dataclass(frozen=True, kw_only=True)
class LSTM(Cell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000).

    With ``[a_i, a_f, a_g, a_o] = x_t W_x + h_{t-1} W_h + b`` (each ``[B, H]``)::

        i_t = sigmoid(a_i)   f_t = sigmoid(a_f)   g_t = tanh(a_g)   o_t = sigmoid(a_o)
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    ``W_x [D, 4H]``, ``W_h [H, 4H]``, ``b [4H]``; state ``LSTMState(h, c)``.

    ``forget_bias`` (default 1.0, Jozefowicz et al. 2015) is added to the forget-gate slice of
    the bias *at initialisation* (as Keras' ``unit_forget_bias``), so the parameters are the
    whole truth and convert to PyTorch unchanged. Zaremba et al.'s PTB recipe uses 0.0.
    """

    forget_bias: float = 1.0

    num_gates: ClassVar[int] = 4
    state_type: ClassVar[type] = LSTMState

    def init(self, key: Array, input_size: int) -> Params:
        params = super().init(key, input_size)
        h = self.hidden_size
        return add_forget_bias(params, h, h, self.forget_bias, self.param_dtype)

    def step(self, params: Params, state: LSTMState, projected_x_t: Array) -> tuple[LSTMState, Array]:
        self.check_step(params, state, projected_x_t)
        acc = accumulation_dtype(projected_x_t, state)
        a = projected_x_t.astype(acc) + self.recurrent_matmul(params, state.h, projected_x_t.dtype, acc)
        c, a_o = lstm_cell_update(a, state.c.astype(acc))
        h = jax.nn.sigmoid(a_o) * jnp.tanh(c)
        new = cast_state(LSTMState(h, c), state)
        return new, new.h


@dataclasses.dataclass(frozen=True, kw_only=True)
class GRU(Cell):
    """Gated recurrent unit (Cho et al. 2014).

    With ``[u_r, u_z, u_n] = x_t W_x + b`` and ``[v_r, v_z, v_n] = h_{t-1} W_h``::

        r_t = sigmoid(u_r + v_r)        z_t = sigmoid(u_z + v_z)
        reset_after=True  (default; cuDNN, PyTorch, Keras v3, flax GRUCell):
            n_t = tanh(u_n + r_t * (v_n + b_hn))
        reset_after=False (Cho et al. 2014):
            n_t = tanh(u_n + (r_t * h_{t-1}) W_hn)
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    ``W_x [D, 3H]``, ``W_h [H, 3H]`` (blocks ``r, z, n``), ``b [3H]``, and with
    ``reset_after=True`` also ``recurrent_bias`` (``b_hn``) ``[H]``. State ``GRUState(h)``.
    """

    reset_after: bool = True

    num_gates: ClassVar[int] = 3
    state_type: ClassVar[type] = GRUState

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        shapes = super().param_shapes(input_size)
        if self.reset_after:
            shapes["recurrent_bias"] = (self.hidden_size,)
        return shapes

    def init(self, key: Array, input_size: int) -> Params:
        key, k_rb = jax.random.split(key)
        params = super().init(key, input_size)
        if self.reset_after:
            params["recurrent_bias"] = self.bias_init(k_rb, (self.hidden_size,), self.param_dtype)
        return params

    def step(self, params: Params, state: GRUState, projected_x_t: Array) -> tuple[GRUState, Array]:
        self.check_step(params, state, projected_x_t)
        dt, acc = projected_x_t.dtype, accumulation_dtype(projected_x_t, state)
        hid = self.hidden_size
        h_prev = state.h.astype(acc)
        u_r, u_z, u_n = jnp.split(projected_x_t.astype(acc), 3, axis=-1)
        w_h = params["recurrent_kernel"].astype(dt)

        def matmul(a: Array, w: Array) -> Array:
            return jnp.matmul(a.astype(dt), w).astype(acc)

        if self.reset_after:
            v_r, v_z, v_n = jnp.split(matmul(h_prev, w_h), 3, axis=-1)
            r = jax.nn.sigmoid(u_r + v_r)
            n = jnp.tanh(u_n + r * (v_n + expand_to(params["recurrent_bias"].astype(acc), v_n.ndim)))
        else:
            v_r, v_z = jnp.split(matmul(h_prev, w_h[:, : 2 * hid]), 2, axis=-1)
            r = jax.nn.sigmoid(u_r + v_r)
            n = jnp.tanh(u_n + matmul(r * h_prev, w_h[:, 2 * hid :]))
        z = jax.nn.sigmoid(u_z + v_z)
        h = (1.0 - z) * n + z * h_prev
        new = cast_state(GRUState(h), state)
        return new, new.h
