"""Recurrent cells as pure functions over plain-dict parameters.

Every cell is a frozen dataclass of hyperparameters with pure methods::

    cell = cells.LSTM(hidden_size=256)
    params = cell.init(key, input_size=128)        # {"input_kernel", "recurrent_kernel", "bias"}
    state = cell.initial_state(batch_size=32)      # LSTMState(h=[32, 256], c=[32, 256])
    state, h = cell(params, state, x_t)            # x_t: [32, 128] -> h: [32, 256]

The same contract holds for :class:`LayerNormLSTM` and :class:`LayerNormGRU`
(:mod:`rnn_research.cells_layernorm`) and for :class:`MinGRU` and :class:`MinLSTM`
(:mod:`rnn_research.cells_minimal`, which also run as a parallel scan over time); all are
importable from here, and :func:`make` builds any of them by name. ``learn_initial_state=True``
adds a learned ``params["initial_state"]`` ``[S, H]`` (one row per state field), which
``initial_state(batch_size, params=params)`` broadcasts to the batch.

For speed, an unroll computes the input projections of all time steps as one matmul
(``cell.project(params, xs)``) and the scan body only does the recurrent part
(``cell.step(params, state, projected_x_t)``); ``__call__`` is ``step(project(x_t))``.

Parameters (``D`` = input size, ``H`` = hidden size, ``G`` = gates per cell):

* ``input_kernel``: ``[D, G*H]``; ``recurrent_kernel``: ``[H, G*H]``; ``bias``: ``[G*H]``.
* GRU with ``reset_after=True`` also has ``recurrent_bias``: ``[H]``, the bias inside the
  reset product (``b_hn`` in PyTorch), which cannot be folded into ``bias``.

Gate blocks are laid out in PyTorch's order (LSTM ``i, f, g, o``; GRU ``r, z, n``) so that
weights convert by a transpose. Kernels multiply from the right: ``x @ input_kernel``.

Initialisation: ``input_kernel`` uses ``kernel_init`` over the whole ``[D, G*H]`` matrix
(Glorot uniform by default, as in Keras); ``recurrent_kernel`` applies ``recurrent_init``
to each ``[H, H]`` gate block separately (orthogonal by default, Saxe et al. 2014), so
every gate's recurrence starts norm-preserving; biases use ``bias_init`` (zeros).

Precision: parameters are stored in ``param_dtype`` (initialisers draw in float32, then
cast); inputs and parameters are cast to ``dtype`` for the matmuls (``None``: the promoted
dtype of inputs and parameters). Gate arithmetic and the state update run in the wider of
``dtype`` and the state's dtype, and the state keeps the dtype it was created with
(``param_dtype`` by default, as in Flax): ``dtype=jnp.bfloat16`` with the default float32
state runs bf16 matmuls while the memory cell accumulates in float32.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Union

import jax
import jax.numpy as jnp

from rnn_research import _checks

Array = jax.Array
Params = dict[str, Array]
DType = Any
Initializer = Callable[[Array, tuple[int, ...], DType], Array]
State = Union["SimpleRNNState", "LSTMState", "GRUState"]


class SimpleRNNState(NamedTuple):
    """State of :class:`SimpleRNN`. ``h``: ``[B, H]``."""

    h: Array


class LSTMState(NamedTuple):
    """State of :class:`LSTM`. ``h`` (output): ``[B, H]``; ``c`` (memory cell): ``[B, H]``."""

    h: Array
    c: Array


class GRUState(NamedTuple):
    """State of :class:`GRU`. ``h``: ``[B, H]``."""

    h: Array


@dataclasses.dataclass(frozen=True)
class symmetric_uniform:  # noqa: N801 (used like the jax.nn.initializers factories)
    """Initializer drawing from ``U(-scale, scale)`` (Zaremba et al. 2014 use 0.1/0.05/0.04).

    A frozen dataclass, so two cells built with the same scale compare and hash equal.
    """

    scale: float

    def __call__(self, key: Array, shape: tuple[int, ...], dtype: DType = jnp.float32) -> Array:
        return jax.random.uniform(key, shape, dtype, minval=-self.scale, maxval=self.scale)


_glorot_uniform = jax.nn.initializers.glorot_uniform()
_orthogonal = jax.nn.initializers.orthogonal()
_zeros = jax.nn.initializers.zeros


@dataclasses.dataclass(frozen=True)
class Cell:
    """Shared machinery of the cells; use :class:`SimpleRNN`, :class:`LSTM` or :class:`GRU`."""

    hidden_size: int
    _: dataclasses.KW_ONLY
    kernel_init: Initializer = dataclasses.field(default=_glorot_uniform, repr=False)
    recurrent_init: Initializer = dataclasses.field(default=_orthogonal, repr=False)
    bias_init: Initializer = dataclasses.field(default=_zeros, repr=False)
    dtype: DType | None = None
    param_dtype: DType = jnp.float32
    learn_initial_state: bool = False

    num_gates: ClassVar[int] = 1
    # True for cells whose recurrence is elementwise affine in the state (``h_t = a_t * h_{t-1} +
    # b_t``, with ``a_t, b_t`` from the input alone); these define ``coefficients`` and run as a
    # parallel scan over time (see :mod:`rnn_research.parallel`).
    parallel_scan: ClassVar[bool] = False
    state_type: ClassVar[type] = SimpleRNNState

    def __post_init__(self) -> None:
        if _positive_int(self.hidden_size) is None:
            raise ValueError(f"{type(self).__name__}: hidden_size must be a positive int, got {self.hidden_size!r}")
        # Normalised so that cells that compare equal also hash equal (they are jit static args).
        object.__setattr__(self, "hidden_size", _positive_int(self.hidden_size))
        object.__setattr__(self, "param_dtype", jnp.dtype(self.param_dtype))
        if self.dtype is not None:
            object.__setattr__(self, "dtype", jnp.dtype(self.dtype))

    # ----------------------------------------------------------------- parameters
    @property
    def name(self) -> str:
        return type(self).__name__

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameter dict for inputs of ``input_size`` features."""
        gh = self.num_gates * self.hidden_size
        shapes = {
            "input_kernel": (input_size, gh),
            "recurrent_kernel": (self.hidden_size, gh),
            "bias": (gh,),
        }
        return self._with_state_shape(shapes)

    def _with_state_shape(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """Adds ``initial_state: [S, H]`` (``S`` = state fields) when ``learn_initial_state``."""
        if self.learn_initial_state:
            shapes["initial_state"] = (len(self.state_type._fields), self.hidden_size)
        return shapes

    def _with_initial_state(self, params: Params) -> Params:
        """Adds the learnable ``initial_state`` (zeros, so training starts from the usual state)."""
        if self.learn_initial_state:
            shape = (len(self.state_type._fields), self.hidden_size)
            params["initial_state"] = jnp.zeros(shape, self.param_dtype)
        return params

    def init(self, key: Array, input_size: int) -> Params:
        """A fresh parameter dict from PRNG ``key``: ``input_kernel [D, G*H]``, ``recurrent_kernel
        [H, G*H]``, ``bias [G*H]`` (and ``recurrent_bias [H]`` for the reset-after GRU), with
        ``D = input_size``."""
        if _positive_int(input_size) is None:
            raise ValueError(f"{self.name}.init: input_size must be a positive int, got {input_size!r}")
        k_in, k_rec, k_bias = jax.random.split(key, 3)
        shapes = self.param_shapes(_positive_int(input_size))
        h, f32 = self.hidden_size, jnp.float32  # draw in float32 (QR has no bf16 kernel), then cast
        blocks = [self.recurrent_init(k, (h, h), f32) for k in jax.random.split(k_rec, self.num_gates)]
        params = {
            "input_kernel": self.kernel_init(k_in, shapes["input_kernel"], f32),
            "recurrent_kernel": jnp.concatenate(blocks, axis=1),
            "bias": self.bias_init(k_bias, shapes["bias"], f32),
        }
        return self._with_initial_state({k: v.astype(self.param_dtype) for k, v in params.items()})

    def check_params(self, params: Params) -> int:
        """Validates ``params`` against this cell; returns the input size ``D``."""
        label = f"{self.name} params"
        expected = self.param_shapes(1)
        _checks.require_keys(label, params, expected)
        extra = sorted(set(params.keys()) - set(expected))
        if extra:
            raise ValueError(
                f"{label} has unexpected keys {extra} (expected {sorted(expected)}; check the cell's options)"
            )
        d = _checks.shape_of(params["input_kernel"])
        if len(d) != 2:
            raise ValueError(f"{label}['input_kernel'] must have rank 2 [D, G*H], got shape {d}")
        for key, shape in self.param_shapes(d[0]).items():
            got = _checks.shape_of(params[key])
            if got != shape:
                raise ValueError(
                    f"{label}[{key!r}] has shape {got}, expected {shape} for hidden_size={self.hidden_size}"
                )
        return d[0]

    # ---------------------------------------------------------------- state
    def initial_state(self, batch_size: int, dtype: DType | None = None, *, params: Params | None = None) -> State:
        """The state before the first step of ``batch_size`` sequences, in ``dtype`` (default:
        ``param_dtype``): zeros, or with ``learn_initial_state`` the learned
        ``params["initial_state"]`` (``[S, H]``, one row per state field) broadcast to ``[B, H]``."""
        dt = dtype or self.param_dtype
        if not self.learn_initial_state:
            zeros = jnp.zeros((batch_size, self.hidden_size), dt)
            return self.state_type(*([zeros] * len(self.state_type._fields)))
        if params is None or "initial_state" not in params:
            raise ValueError(
                f"{self.name}(learn_initial_state=True).initial_state needs params= holding 'initial_state'"
            )
        rows = params["initial_state"]
        shape = (batch_size, self.hidden_size)
        return self.state_type(*(jnp.broadcast_to(rows[i].astype(dt)[None, :], shape) for i in range(len(rows))))

    def check_state(self, state: Any, batch_size: int | None = None, name: str = "state") -> None:
        """Raises a one-line ``ValueError`` naming ``name`` unless ``state`` is this cell's state
        NamedTuple of floating ``[B, H]`` leaves (``B`` = ``batch_size`` when given)."""
        if not isinstance(state, self.state_type):
            raise ValueError(f"{name} must be a {self.state_type.__name__}, got {type(state).__name__}")
        for field, x in zip(state._fields, state):
            full = f"{name}.{field}"
            _checks.require_rank(full, x, 2, "[B, H]")
            _checks.require_size(full, x, 1, self.hidden_size, "hidden size")
            if batch_size is not None:
                _checks.require_size(full, x, 0, batch_size, "batch size")
            _checks.require_floating(full, x)

    # ------------------------------------------------------------ computation
    def compute_dtype(self, x: Array, params: Params) -> DType:
        """The matmul dtype: ``self.dtype``, else the promoted dtype of ``x [..., D]`` and the input kernel."""
        return self.dtype or jnp.result_type(x, params["input_kernel"])

    def check_inputs(self, params: Params, xs: Array) -> None:
        """Validates ``params`` and that ``xs: [..., D]`` is floating point with their ``D``."""
        d = self.check_params(params)
        _checks.require_floating("xs", xs)
        if _checks.shape_of(xs)[-1:] != (d,):
            raise ValueError(
                f"xs has feature size {_checks.shape_of(xs)[-1:]} (shape {_checks.shape_of(xs)}), expected {d}"
            )

    def project(self, params: Params, xs: Array) -> Array:
        """Input projections ``xs @ input_kernel + bias`` for any leading dims: ``[..., D] -> [..., G*H]``."""
        self.check_inputs(params, xs)
        dt = self.compute_dtype(xs, params)
        # No reshape to 2-D: merging time with a batch axis that is sharded over devices would
        # make XLA gather the whole batch onto every device.
        projected = jnp.matmul(xs.astype(dt), params["input_kernel"].astype(dt))
        return projected + _expand_to(params["bias"].astype(dt), projected.ndim)

    def _recurrent(self, params: Params, h: Array, dt: DType, acc: DType) -> Array:
        """``h @ recurrent_kernel`` with operands in ``dt`` and the result in ``acc``."""
        return jnp.matmul(h.astype(dt), params["recurrent_kernel"].astype(dt)).astype(acc)

    def _check_step(self, params: Params, state: State, projected: Array) -> None:
        _checks.require_rank("projected_x_t", projected, 2, "[B, G*H]")
        _checks.require_size("projected_x_t", projected, 1, self.num_gates * self.hidden_size, "size")
        self.check_state(state, batch_size=_checks.shape_of(projected)[0])

    def step(self, params: Params, state: State, projected_x_t: Array) -> tuple[State, Array]:
        """One recurrent step from projected inputs ``[B, G*H]``; returns ``(new_state, h)``."""
        raise NotImplementedError

    def __call__(self, params: Params, state: State, x_t: Array) -> tuple[State, Array]:
        """One step from raw inputs ``x_t``: ``[B, D]``; returns ``(new_state, h: [B, H])``."""
        d = self.check_params(params)
        x_t = jnp.asarray(x_t)
        _checks.require_rank("x_t", x_t, 2, "[B, D]")
        _checks.require_size("x_t", x_t, 1, d, "feature size")
        _checks.require_floating("x_t", x_t)
        return self.step(params, state, self.project(params, x_t))


def _positive_int(value: Any) -> int | None:
    """``value`` as an int if it is a positive integer (not a bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        value = operator.index(value)
    except TypeError:
        return None
    return value if value > 0 else None


def _accumulation_dtype(projected: Array, state: Any) -> DType:
    """The wider of the compute dtype and the state's dtype (gates and state update run in it)."""
    return jnp.promote_types(projected.dtype, state[0].dtype)


def _expand_to(bias: Array, ndim: int) -> Array:
    """``[F] -> [1, ..., 1, F]``: explicit broadcasting, so code runs under rank-promotion='raise'."""
    return bias.reshape((1,) * (ndim - 1) + bias.shape)


def _cast_state(new: State, like: State) -> State:
    return type(like)(*(n.astype(o.dtype) for n, o in zip(new, like)))


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
        self._check_step(params, state, projected_x_t)
        acc = _accumulation_dtype(projected_x_t, state)
        pre = projected_x_t.astype(acc) + self._recurrent(params, state.h, projected_x_t.dtype, acc)
        h = jnp.tanh(pre) if self.activation == "tanh" else jax.nn.relu(pre)
        new = _cast_state(SimpleRNNState(h), state)
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
        params["bias"] = params["bias"].at[h : 2 * h].add(jnp.asarray(self.forget_bias, self.param_dtype))
        return params

    def step(self, params: Params, state: LSTMState, projected_x_t: Array) -> tuple[LSTMState, Array]:
        self._check_step(params, state, projected_x_t)
        acc = _accumulation_dtype(projected_x_t, state)
        a = projected_x_t.astype(acc) + self._recurrent(params, state.h, projected_x_t.dtype, acc)
        a_i, a_f, a_g, a_o = jnp.split(a, 4, axis=-1)
        c = jax.nn.sigmoid(a_f) * state.c.astype(acc) + jax.nn.sigmoid(a_i) * jnp.tanh(a_g)
        h = jax.nn.sigmoid(a_o) * jnp.tanh(c)
        new = _cast_state(LSTMState(h, c), state)
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
        self._check_step(params, state, projected_x_t)
        dt, acc = projected_x_t.dtype, _accumulation_dtype(projected_x_t, state)
        hid = self.hidden_size
        h_prev = state.h.astype(acc)
        u_r, u_z, u_n = jnp.split(projected_x_t.astype(acc), 3, axis=-1)
        w_h = params["recurrent_kernel"].astype(dt)

        def matmul(a: Array, w: Array) -> Array:
            return jnp.matmul(a.astype(dt), w).astype(acc)

        if self.reset_after:
            v_r, v_z, v_n = jnp.split(matmul(h_prev, w_h), 3, axis=-1)
            r = jax.nn.sigmoid(u_r + v_r)
            n = jnp.tanh(u_n + r * (v_n + _expand_to(params["recurrent_bias"].astype(acc), v_n.ndim)))
        else:
            v_r, v_z = jnp.split(matmul(h_prev, w_h[:, : 2 * hid]), 2, axis=-1)
            r = jax.nn.sigmoid(u_r + v_r)
            n = jnp.tanh(u_n + matmul(r * h_prev, w_h[:, 2 * hid :]))
        z = jax.nn.sigmoid(u_z + v_z)
        h = (1.0 - z) * n + z * h_prev
        new = _cast_state(GRUState(h), state)
        return new, new.h


# The extension cells subclass `Cell`, so they are imported once it exists (their modules import
# this one); `from rnn_research import cells` then offers every cell.
from rnn_research.cells_layernorm import LayerNormGRU, LayerNormLSTM  # noqa: E402
from rnn_research.cells_minimal import MinGRU, MinGRUState, MinLSTM, MinLSTMState  # noqa: E402, F401

CELLS: dict[str, type[Cell]] = {
    "simple_rnn": SimpleRNN,
    "rnn": SimpleRNN,
    "lstm": LSTM,
    "gru": GRU,
    "layernorm_lstm": LayerNormLSTM,
    "layernorm_gru": LayerNormGRU,
    "mingru": MinGRU,
    "minlstm": MinLSTM,
}


def make(name: str, hidden_size: int, **kwargs: Any) -> Cell:
    """Builds a cell by name (``'simple_rnn'``/``'rnn'``, ``'lstm'``, ``'gru'``,
    ``'layernorm_lstm'``, ``'layernorm_gru'``, ``'mingru'``, ``'minlstm'``), for configs."""
    try:
        cls = CELLS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; choose one of {sorted(CELLS)}") from None
    return cls(hidden_size, **kwargs)
