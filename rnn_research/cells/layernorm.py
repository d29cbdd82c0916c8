"""Layer-normalised LSTM and GRU (Ba, Kiros & Hinton 2016, "Layer Normalization", section 3.1).

``LN(a; g) = g * (a - mean(a)) / sqrt(var(a) + eps)``, the statistics taken over the ``H`` units
of *each gate block* separately (as TensorFlow's ``LayerNormBasicLSTMCell``), so that one gate's
scale cannot swamp another's. The input-side and recurrent-side pre-activations are normalised
apart, which lets the input side be normalised for all steps at once in ``project``:

* input side (``project``, one matmul and one normalisation over ``[..., T, G*H]``):
  ``u_t = LN(x_t W_x; g_x) + b``
* recurrent side (``step``): ``v_t = LN(h_{t-1} W_h; g_h)``

Extra parameters over the plain cells (see :mod:`rnn_research.cells.classic` for the rest):
``input_norm_scale [G*H]`` (``g_x``) and ``recurrent_norm_scale [G*H]`` (``g_h``), both
initialised to ones; the shift of both is ``bias`` (two shifts would be redundant with it).
Both cells run on JAX's autodiff of the scan (the hand-written backward pass of
:mod:`rnn_research.fused` covers only the plain cells).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnn_research.cells.base import (
    Array,
    DType,
    GRUState,
    LSTMState,
    Params,
    accumulation_dtype,
    cast_state,
    expand_to,
    lstm_cell_update,
)
from rnn_research.cells.classic import GRU, LSTM

EPSILON = 1e-5


def layer_norm(a: Array, scale: Array, blocks: int, dtype: DType) -> Array:
    """Normalises each of the ``blocks`` equal slices of the last axis of ``a: [..., blocks*H]``
    to zero mean and unit variance over its ``H`` units (in ``dtype``, at least float32), then
    multiplies by ``scale: [blocks*H]``. Returns ``[..., blocks*H]`` in ``dtype``."""
    stat_dtype = jnp.promote_types(dtype, jnp.float32)
    split = a.astype(stat_dtype).reshape(a.shape[:-1] + (blocks, a.shape[-1] // blocks))
    mean = jnp.mean(split, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(split - mean), axis=-1, keepdims=True)
    normed = ((split - mean) * jax.lax.rsqrt(var + EPSILON)).reshape(a.shape)
    return (normed * expand_to(scale.astype(stat_dtype), a.ndim)).astype(dtype)


class _LayerNormMixin:
    """The shared parameters and input side of the layer-normalised cells."""

    num_gates: ClassVar[int]
    hidden_size: int
    param_dtype: DType

    def _norm_shapes(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        gh = self.num_gates * self.hidden_size
        return dict(shapes, input_norm_scale=(gh,), recurrent_norm_scale=(gh,))

    def _norm_params(self, params: Params) -> Params:
        gh = self.num_gates * self.hidden_size
        ones = jnp.ones((gh,), self.param_dtype)
        return dict(params, input_norm_scale=ones, recurrent_norm_scale=ones)

    def _project(self, params: Params, xs: Array) -> Array:
        """``LN(xs @ W_x; g_x) + b``: ``[..., D] -> [..., G*H]``."""
        self.check_inputs(params, xs)  # type: ignore[attr-defined]
        dt = self.compute_dtype(xs, params)  # type: ignore[attr-defined]
        projected = jnp.matmul(xs.astype(dt), params["input_kernel"].astype(dt))
        normed = layer_norm(projected, params["input_norm_scale"], self.num_gates, dt)
        return normed + expand_to(params["bias"].astype(dt), normed.ndim)

    def _recurrent_normed(self, params: Params, h: Array, dt: DType, acc: DType) -> Array:
        """``LN(h_{t-1} W_h; g_h)`` in ``acc``: ``[B, H] -> [B, G*H]``."""
        v = jnp.matmul(h.astype(dt), params["recurrent_kernel"].astype(dt)).astype(acc)
        return layer_norm(v, params["recurrent_norm_scale"], self.num_gates, acc)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LayerNormLSTM(_LayerNormMixin, LSTM):
    """LSTM with layer normalisation (Ba et al. 2016, eqs. 20-22)::

        [a_i, a_f, a_g, a_o] = LN(x_t W_x; g_x) + LN(h_{t-1} W_h; g_h) + b
        i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(LN(c_t; g_c) + b_c)

    Shapes as :class:`~rnn_research.cells.LSTM`, plus ``input_norm_scale``,
    ``recurrent_norm_scale`` ``[4H]`` and ``cell_norm_scale``, ``cell_norm_bias`` ``[H]``
    (``g_c``, ``b_c``; ones and zeros). ``forget_bias`` as for the LSTM. State ``LSTMState(h, c)``.
    """

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        shapes = self._norm_shapes(super().param_shapes(input_size))
        return dict(shapes, cell_norm_scale=(self.hidden_size,), cell_norm_bias=(self.hidden_size,))

    def init(self, key: Array, input_size: int) -> Params:
        params = self._norm_params(super().init(key, input_size))
        h = self.hidden_size
        return dict(
            params,
            cell_norm_scale=jnp.ones((h,), self.param_dtype),
            cell_norm_bias=jnp.zeros((h,), self.param_dtype),
        )

    def project(self, params: Params, xs: Array) -> Array:
        """``LN(xs @ W_x; g_x) + b`` per gate block: ``[..., D] -> [..., 4H]``."""
        return self._project(params, xs)

    def step(self, params: Params, state: LSTMState, projected_x_t: Array) -> tuple[LSTMState, Array]:
        self.check_step(params, state, projected_x_t)
        acc = accumulation_dtype(projected_x_t, state)
        a = projected_x_t.astype(acc) + self._recurrent_normed(params, state.h, projected_x_t.dtype, acc)
        c, a_o = lstm_cell_update(a, state.c.astype(acc))
        c_normed = layer_norm(c, params["cell_norm_scale"], 1, acc) + params["cell_norm_bias"].astype(acc)[None, :]
        h = jax.nn.sigmoid(a_o) * jnp.tanh(c_normed)
        new = cast_state(LSTMState(h, c), state)
        return new, new.h


@dataclasses.dataclass(frozen=True, kw_only=True)
class LayerNormGRU(_LayerNormMixin, GRU):
    """GRU (reset after, as cuDNN and PyTorch) with layer normalisation::

        [u_r, u_z, u_n] = LN(x_t W_x; g_x) + b
        [v_r, v_z, v_n] = LN(h_{t-1} W_h; g_h)
        r = sigmoid(u_r + v_r);  z = sigmoid(u_z + v_z)
        n = tanh(u_n + r * (v_n + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Shapes as :class:`~rnn_research.cells.GRU` (``reset_after=True`` only), plus
    ``input_norm_scale`` and ``recurrent_norm_scale`` ``[3H]``. State ``GRUState(h)``.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.reset_after:
            raise ValueError("LayerNormGRU: only reset_after=True is implemented")

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        return self._norm_shapes(super().param_shapes(input_size))

    def init(self, key: Array, input_size: int) -> Params:
        return self._norm_params(super().init(key, input_size))

    def project(self, params: Params, xs: Array) -> Array:
        """``LN(xs @ W_x; g_x) + b`` per gate block: ``[..., D] -> [..., 3H]``."""
        return self._project(params, xs)

    def step(self, params: Params, state: GRUState, projected_x_t: Array) -> tuple[GRUState, Array]:
        self.check_step(params, state, projected_x_t)
        acc = accumulation_dtype(projected_x_t, state)
        h_prev = state.h.astype(acc)
        u_r, u_z, u_n = jnp.split(projected_x_t.astype(acc), 3, axis=-1)
        v_r, v_z, v_n = jnp.split(self._recurrent_normed(params, h_prev, projected_x_t.dtype, acc), 3, axis=-1)
        r = jax.nn.sigmoid(u_r + v_r)
        z = jax.nn.sigmoid(u_z + v_z)
        n = jnp.tanh(u_n + r * (v_n + params["recurrent_bias"].astype(acc)[None, :]))
        h = (1.0 - z) * n + z * h_prev
        new = cast_state(GRUState(h), state)
        return new, new.h
