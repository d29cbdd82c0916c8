"""The cell contract, the state types of the classic cells, initialisers and shared helpers.

A cell is a frozen dataclass of hyperparameters with pure methods over a plain-dict ``params``::

    params = cell.init(key, input_size)                  # D = input_size: the last input axis
    state = cell.initial_state(batch_size)               # NamedTuple, every leaf [B, *S]
    projected = cell.project(params, xs)                 # [..., *F] -> [..., *P], any leading dims
    state, h_t = cell.step(params, state, projected_t)   # [B, *P] -> h_t: [B, *S] (== state.h)
    state, h_t = cell(params, state, x_t)                # step(project(x_t)), x_t: [B, *F]

Inputs are ``[B, *F]`` and every state leaf ``[B, *S]``: ``F`` and ``S`` are the per-example
axes named by ``input_axes`` and ``state_axes`` (``("D",)`` and ``("H",)`` for the vector cells;
a convolutional cell has ``("Y", "X", "C")`` and ``("Y", "X", "K")``), ``state_shape`` gives the
sizes of ``S`` and its last axis is ``hidden_size``. The state NamedTuple's first field is the
output ``h``. The input weight is ``params["input_kernel"]`` with the input size ``D`` on axis
``-2`` (``[D, G*H]`` for a matmul, ``[kh, kw, D, G*K]`` for a convolution), so
:meth:`Cell.check_params` finds ``D`` for any cell.

:class:`Cell` implements the contract for vector cells (``x_t [B, D]``, ``h_t [B, H]``, a
matmul ``project``); a cell over other shapes subclasses it and overrides ``input_axes``,
``state_axes``, ``state_shape``, ``param_shapes``, ``init``, ``project`` and ``step``. The
checks, ``initial_state`` (with ``learn_initial_state``) and ``__call__`` follow the axes.

Precision: parameters are stored in ``param_dtype`` (initialisers draw in float32, then cast);
inputs and parameters are cast to ``dtype`` for the matmuls (``None``: the promoted dtype of
inputs and parameters). Gate arithmetic and the state update run in the wider of ``dtype`` and
the state's dtype (:func:`accumulation_dtype`), and the state keeps the dtype it was created
with (:func:`cast_state`; ``param_dtype`` by default, as in Flax).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from rnn_research import checks

Array = jax.Array
Params = dict[str, Array]
DType = Any
Initializer = Callable[[Array, tuple[int, ...], DType], Array]
State = tuple[Array, ...]  # a cell's state NamedTuple (``SimpleRNNState``, ``LSTMState``, ...); leaves [B, *S]


class SimpleRNNState(NamedTuple):
    """State of :class:`~rnn_research.cells.SimpleRNN`. ``h``: ``[B, H]``."""

    h: Array


class LSTMState(NamedTuple):
    """State of :class:`~rnn_research.cells.LSTM`. ``h`` (output): ``[B, H]``; ``c`` (memory cell): ``[B, H]``."""

    h: Array
    c: Array


class GRUState(NamedTuple):
    """State of :class:`~rnn_research.cells.GRU`. ``h``: ``[B, H]``."""

    h: Array


@dataclasses.dataclass(frozen=True)
class symmetric_uniform:  # noqa: N801 (used like the jax.nn.initializers factories)
    """Initializer drawing from ``U(-scale, scale)`` (Zaremba et al. 2014 use 0.1/0.05/0.04).

    A frozen dataclass, so two cells built with the same scale compare and hash equal.
    """

    scale: float

    def __call__(self, key: Array, shape: tuple[int, ...], dtype: DType = jnp.float32) -> Array:
        """An array of ``shape`` (e.g. ``[D, G*H]``) drawn from ``U(-scale, scale)``."""
        return jax.random.uniform(key, shape, dtype, minval=-self.scale, maxval=self.scale)


_glorot_uniform = jax.nn.initializers.glorot_uniform()
_orthogonal = jax.nn.initializers.orthogonal()
_zeros = jax.nn.initializers.zeros


@dataclasses.dataclass(frozen=True)
class Cell:
    """The cell contract (see the module docstring), implemented for vector cells.

    Parameters of a vector cell (``D`` = input size, ``H`` = hidden size, ``G`` = gates):
    ``input_kernel [D, G*H]`` (``kernel_init`` over the whole matrix, Glorot uniform by default),
    ``recurrent_kernel [H, G*H]`` (``recurrent_init`` per ``[H, H]`` gate block, orthogonal by
    default, Saxe et al. 2014) and ``bias [G*H]`` (``bias_init``, zeros). Kernels multiply from
    the right: ``x @ input_kernel``. ``learn_initial_state=True`` adds ``initial_state [N, *S]``
    (one row per state field). Use the subclasses (:class:`~rnn_research.cells.LSTM`, ...).
    """

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
    # Names of the per-example axes of an input step ``[B, *F]`` and of a state leaf ``[B, *S]``.
    input_axes: ClassVar[tuple[str, ...]] = ("D",)
    state_axes: ClassVar[tuple[str, ...]] = ("H",)

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
        """The class name, for messages (``"LSTM"``)."""
        return type(self).__name__

    @property
    def state_shape(self) -> tuple[int, ...]:
        """Sizes of the per-example state axes ``S`` (``state_axes``); the last is ``hidden_size``."""
        return (self.hidden_size,)

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameter dict for inputs of ``input_size`` features."""
        gh = self.num_gates * self.hidden_size
        shapes = {
            "input_kernel": (input_size, gh),
            "recurrent_kernel": (self.hidden_size, gh),
            "bias": (gh,),
        }
        return self.with_initial_state_shape(shapes)

    def with_initial_state_shape(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """Adds ``initial_state: [N, *S]`` (``N`` = state fields) when ``learn_initial_state``."""
        if self.learn_initial_state:
            shapes["initial_state"] = (len(self.state_type._fields), *self.state_shape)
        return shapes

    def with_initial_state(self, params: Params) -> Params:
        """Adds the learnable ``initial_state [N, *S]`` (zeros, so training starts from the usual state)."""
        if self.learn_initial_state:
            shape = (len(self.state_type._fields), *self.state_shape)
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
        return self.with_initial_state({k: v.astype(self.param_dtype) for k, v in params.items()})

    def check_params(self, params: Params) -> int:
        """Validates ``params`` against this cell; returns the input size ``D`` (axis ``-2`` of
        ``input_kernel``)."""
        label = f"{self.name} params"
        expected = self.param_shapes(1)
        checks.require_keys(label, params, expected)
        extra = sorted(set(params.keys()) - set(expected))
        if extra:
            raise ValueError(
                f"{label} has unexpected keys {extra} (expected {sorted(expected)}; check the cell's options)"
            )
        kernel = checks.shape_of(params["input_kernel"])
        rank = len(expected["input_kernel"])
        if len(kernel) != rank:
            where = "[D, G*H]" if rank == 2 else f"with D on axis -2, as {expected['input_kernel']} for D=1"
            raise ValueError(f"{label}['input_kernel'] must have rank {rank} {where}, got shape {kernel}")
        for key, shape in self.param_shapes(kernel[-2]).items():
            got = checks.shape_of(params[key])
            if got != shape:
                raise ValueError(
                    f"{label}[{key!r}] has shape {got}, expected {shape} for hidden_size={self.hidden_size}"
                )
        return kernel[-2]

    # ---------------------------------------------------------------- state
    def initial_state(self, batch_size: int, dtype: DType | None = None, *, params: Params | None = None) -> State:
        """The state before the first step of ``batch_size`` sequences, every leaf ``[B, *S]`` in
        ``dtype`` (default: ``param_dtype``): zeros, or with ``learn_initial_state`` the learned
        ``params["initial_state"]`` (``[N, *S]``, one row per state field) broadcast to the batch."""
        dt = dtype or self.param_dtype
        shape = (batch_size, *self.state_shape)
        if not self.learn_initial_state:
            zeros = jnp.zeros(shape, dt)
            return self.state_type(*([zeros] * len(self.state_type._fields)))
        if params is None or "initial_state" not in params:
            raise ValueError(
                f"{self.name}(learn_initial_state=True).initial_state needs params= holding 'initial_state'"
            )
        rows = params["initial_state"]
        return self.state_type(*(jnp.broadcast_to(rows[i].astype(dt)[None], shape) for i in range(len(rows))))

    def check_state(self, state: Any, batch_size: int | None = None, name: str = "state") -> None:
        """Raises a one-line ``ValueError`` naming ``name`` unless ``state`` is this cell's state
        NamedTuple of floating ``[B, *S]`` leaves (``B`` = ``batch_size`` when given)."""
        if not isinstance(state, self.state_type):
            raise ValueError(f"{name} must be a {self.state_type.__name__}, got {type(state).__name__}")
        rank = 1 + len(self.state_axes)
        for field, x in zip(state._fields, state):
            full = f"{name}.{field}"
            checks.require_rank(full, x, rank, checks.layout("B", *self.state_axes))
            for axis, (label, size) in enumerate(zip(self.state_axes, self.state_shape), start=1):
                checks.require_size(full, x, axis, size, "hidden size" if axis == rank - 1 else f"{label} size")
            if batch_size is not None:
                checks.require_size(full, x, 0, batch_size, "batch size")
            checks.require_floating(full, x)

    # ------------------------------------------------------------ computation
    def compute_dtype(self, x: Array, params: Params) -> DType:
        """The matmul dtype: ``self.dtype``, else the promoted dtype of ``x [..., *F]`` and the input kernel."""
        return self.dtype or jnp.result_type(x, params["input_kernel"])

    def check_inputs(self, params: Params, xs: Array) -> None:
        """Validates ``params`` and that ``xs: [..., *F]`` is floating point with their ``D`` last."""
        d = self.check_params(params)
        checks.require_floating("xs", xs)
        if checks.shape_of(xs)[-1:] != (d,):
            raise ValueError(
                f"xs has feature size {checks.shape_of(xs)[-1:]} (shape {checks.shape_of(xs)}), expected {d}"
            )

    def project(self, params: Params, xs: Array) -> Array:
        """Input projections ``xs @ input_kernel + bias`` for any leading dims: ``[..., D] -> [..., G*H]``."""
        self.check_inputs(params, xs)
        dt = self.compute_dtype(xs, params)
        # No reshape to 2-D: merging time with a batch axis that is sharded over devices would
        # make XLA gather the whole batch onto every device.
        projected = jnp.matmul(xs.astype(dt), params["input_kernel"].astype(dt))
        return projected + expand_to(params["bias"].astype(dt), projected.ndim)

    def recurrent_matmul(self, params: Params, h: Array, dt: DType, acc: DType) -> Array:
        """``h @ recurrent_kernel``: ``[B, H] -> [B, G*H]``, operands in ``dt``, the result in ``acc``."""
        return jnp.matmul(h.astype(dt), params["recurrent_kernel"].astype(dt)).astype(acc)

    def check_step(self, params: Params, state: State, projected_x_t: Array) -> None:
        """Validates one step's ``projected_x_t: [B, *S[:-1], G*H]`` (``[B, G*H]`` for a vector
        cell) and ``state`` (leaves ``[B, *S]``)."""
        axes = (*self.state_axes[:-1], "G*H")
        checks.require_rank("projected_x_t", projected_x_t, 1 + len(axes), checks.layout("B", *axes))
        checks.require_size("projected_x_t", projected_x_t, -1, self.num_gates * self.hidden_size, "size")
        self.check_state(state, batch_size=checks.shape_of(projected_x_t)[0])

    def step(self, params: Params, state: State, projected_x_t: Array) -> tuple[State, Array]:
        """One recurrent step from projected inputs ``[B, *P]``; returns ``(new_state, h: [B, *S])``."""
        raise NotImplementedError

    def __call__(self, params: Params, state: State, x_t: Array) -> tuple[State, Array]:
        """One step from raw inputs ``x_t``: ``[B, *F]`` (``[B, D]``); returns ``(new_state, h: [B, *S])``."""
        d = self.check_params(params)
        x_t = jnp.asarray(x_t)
        checks.require_rank("x_t", x_t, 1 + len(self.input_axes), checks.layout("B", *self.input_axes))
        checks.require_size("x_t", x_t, -1, d, "feature size")
        checks.require_floating("x_t", x_t)
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


def accumulation_dtype(projected: Array, state: State) -> DType:
    """The wider of the dtype of ``projected [B, *P]`` (the compute dtype) and that of the state's
    leaves ``[B, *S]``: gates and the state update run in it."""
    return jnp.promote_types(projected.dtype, state[0].dtype)


def expand_to(bias: Array, ndim: int) -> Array:
    """``[F] -> [1, ..., 1, F]`` of rank ``ndim``: explicit broadcasting, so code runs under
    ``jax_numpy_rank_promotion='raise'``."""
    return bias.reshape((1,) * (ndim - 1) + bias.shape)


def cast_state(new: State, like: State) -> State:
    """``new`` (leaves ``[B, *S]``) with each leaf cast to the dtype of the same leaf of ``like``."""
    return type(like)(*(n.astype(o.dtype) for n, o in zip(new, like)))


def add_forget_bias(params: Params, start: int, size: int, value: float, dtype: DType) -> Params:
    """``params`` with ``value`` added to ``bias[start : start + size]`` (the forget gate's slice),
    at initialisation only, so the parameters stay the whole truth."""
    params["bias"] = params["bias"].at[start : start + size].add(jnp.asarray(value, dtype))
    return params


def lstm_cell_update(a: Array, c_prev: Array) -> tuple[Array, Array]:
    """``[a_i, a_f, a_g, a_o] = a [B, 4H]`` -> ``(c, a_o)``, ``c = sigma(a_f) * c_prev + sigma(a_i) * tanh(a_g)``
    (``[B, H]`` each); the caller forms ``h`` from ``c`` (``tanh(c)``, or a normalised ``c``)."""
    a_i, a_f, a_g, a_o = jnp.split(a, 4, axis=-1)
    return jax.nn.sigmoid(a_f) * c_prev + jax.nn.sigmoid(a_i) * jnp.tanh(a_g), a_o
