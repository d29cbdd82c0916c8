"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Their gates read only the input, never ``h_{t-1}``, so the recurrence is elementwise affine in
the state::

    h_t = a_t * h_{t-1} + b_t        (a_t, b_t: [B, H], functions of x_t alone)

and runs over all steps at once as a parallel prefix scan over the maps ``h -> a h + b``
(:mod:`rnn_research.parallel`), in ``O(log T)`` depth. :func:`rnn_research.recurrent.unroll`
picks that parallel mode for these cells; the sequential ``step`` (used for sampling, and by
``mode="sequential"``) computes the same ``a_t, b_t`` by the same functions, so the two modes
agree to rounding.

Each cell exposes ``coefficients(projected) -> (log_a, b)``. The decay is kept as ``log a``,
computed from the pre-activation by ``softplus`` (``log(1 - sigmoid(k)) = -softplus(k)``), never
as ``log`` of a gate that may have rounded to 0 or 1; the parallel scan multiplies decays by
adding logs, so long products of gates near 1 lose nothing to rounding.

Candidate states are linear in the input, as in the paper's sequential form (its log-space
form adds an activation ``g`` only to keep ``h`` positive for a log-sum-exp scan; the scan here
composes affine maps directly and needs no sign constraint).

Parameters: ``input_kernel [D, G*H]`` and ``bias [G*H]`` only (no recurrent kernel);
``G = 2`` for minGRU (blocks ``z, h~``) and ``3`` for minLSTM (``f, i, h~``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from rnn_research.cells.base import Array, Cell, DType, Params, accumulation_dtype, add_forget_bias, cast_state


class MinGRUState(NamedTuple):
    """State of :class:`MinGRU`. ``h``: ``[B, H]``."""

    h: Array


class MinLSTMState(NamedTuple):
    """State of :class:`MinLSTM`. ``h``: ``[B, H]`` (minLSTM has no separate memory cell)."""

    h: Array


@dataclasses.dataclass(frozen=True, kw_only=True)
class _MinimalCell(Cell):
    """Shared machinery: input-only gates, an affine recurrence, no recurrent kernel."""

    parallel_scan: ClassVar[bool] = True

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        gh = self.num_gates * self.hidden_size
        return self.with_initial_state_shape({"input_kernel": (input_size, gh), "bias": (gh,)})

    def init(self, key: Array, input_size: int) -> Params:
        """``input_kernel [D, G*H]`` from ``kernel_init`` and ``bias [G*H]`` from ``bias_init``."""
        shapes = self.param_shapes(input_size)
        k_in, k_bias = jax.random.split(key)
        params = {
            "input_kernel": self.kernel_init(k_in, shapes["input_kernel"], jnp.float32),
            "bias": self.bias_init(k_bias, shapes["bias"], jnp.float32),
        }
        return self.with_initial_state({k: v.astype(self.param_dtype) for k, v in params.items()})

    def coefficients(self, projected: Array, dtype: DType | None = None) -> tuple[Array, Array]:
        """``(log a_t, b_t)``, each ``[..., H]`` in ``dtype`` (default: ``projected``'s), from the
        projected inputs ``[..., G*H]``."""
        raise NotImplementedError

    def step(self, params: Params, state: Any, projected_x_t: Array) -> tuple[Any, Array]:
        """``h_t = exp(log a_t) * h_{t-1} + b_t`` from projected inputs ``[B, G*H]``."""
        self.check_step(params, state, projected_x_t)
        acc = accumulation_dtype(projected_x_t, state)
        log_a, b = self.coefficients(projected_x_t, acc)
        h = jnp.exp(log_a) * state.h.astype(acc) + b
        new = cast_state(self.state_type(h), state)
        return new, new.h


@dataclasses.dataclass(frozen=True, kw_only=True)
class MinGRU(_MinimalCell):
    """minGRU (Feng et al. 2024, algorithm 1)::

        [k_z, h~_t] = x_t W_x + b
        z_t = sigmoid(k_z)
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t      (a_t = 1 - z_t = exp(-softplus(k_z)))

    ``W_x [D, 2H]``, ``b [2H]``; state ``MinGRUState(h)``.
    """

    num_gates: ClassVar[int] = 2
    state_type: ClassVar[type] = MinGRUState

    def coefficients(self, projected: Array, dtype: DType | None = None) -> tuple[Array, Array]:
        dtype = dtype or projected.dtype
        k_z, candidate = jnp.split(projected.astype(dtype), 2, axis=-1)
        return -jax.nn.softplus(k_z), jax.nn.sigmoid(k_z) * candidate


@dataclasses.dataclass(frozen=True, kw_only=True)
class MinLSTM(_MinimalCell):
    """minLSTM (Feng et al. 2024, algorithm 3, with normalised gates)::

        [k_f, k_i, h~_t] = x_t W_x + b
        f_t = sigmoid(k_f);  i_t = sigmoid(k_i)
        f'_t = f_t / (f_t + i_t);  i'_t = i_t / (f_t + i_t)
        h_t = f'_t * h_{t-1} + i'_t * h~_t

    computed in log space: ``log f' = log f - logaddexp(log f, log i)`` with
    ``log sigmoid(k) = -softplus(-k)``. ``W_x [D, 3H]``, ``b [3H]``; ``forget_bias`` (default
    1.0, as for the LSTM) is added to the ``f`` slice of the bias at initialisation.
    State ``MinLSTMState(h)``.
    """

    forget_bias: float = 1.0

    num_gates: ClassVar[int] = 3
    state_type: ClassVar[type] = MinLSTMState

    def init(self, key: Array, input_size: int) -> Params:
        params = super().init(key, input_size)
        return add_forget_bias(params, 0, self.hidden_size, self.forget_bias, self.param_dtype)

    def coefficients(self, projected: Array, dtype: DType | None = None) -> tuple[Array, Array]:
        dtype = dtype or projected.dtype
        k_f, k_i, candidate = jnp.split(projected.astype(dtype), 3, axis=-1)
        log_f, log_i = -jax.nn.softplus(-k_f), -jax.nn.softplus(-k_i)
        total = jnp.logaddexp(log_f, log_i)
        return log_f - total, jnp.exp(log_i - total) * candidate
