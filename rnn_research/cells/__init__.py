"""Recurrent cells as pure functions over plain-dict parameters, and the registry by name.

Every cell is a frozen dataclass of hyperparameters with pure methods::

    cell = cells.LSTM(hidden_size=256)
    params = cell.init(key, input_size=128)        # {"input_kernel", "recurrent_kernel", "bias"}
    state = cell.initial_state(batch_size=32)      # LSTMState(h=[32, 256], c=[32, 256])
    state, h = cell(params, state, x_t)            # x_t: [32, 128] -> h: [32, 256]

One family per module, all re-exported here:

* :mod:`~rnn_research.cells.base`: the contract (:class:`Cell`; inputs ``[B, *F]``, state
  leaves ``[B, *S]``), the state types of the classic cells, :class:`symmetric_uniform`, and the
  helpers the families share;
* :mod:`~rnn_research.cells.classic`: :class:`SimpleRNN`, :class:`LSTM`, :class:`GRU`;
* :mod:`~rnn_research.cells.layernorm`: :class:`LayerNormLSTM`, :class:`LayerNormGRU`;
* :mod:`~rnn_research.cells.minimal`: :class:`MinGRU`, :class:`MinLSTM` (affine recurrences,
  which also run as a parallel scan over time).

``learn_initial_state=True`` adds a learned ``params["initial_state"]`` ``[N, *S]`` (one row per
state field), which ``initial_state(batch_size, params=params)`` broadcasts to the batch.

For speed, an unroll computes the input projections of all time steps as one matmul
(``cell.project(params, xs)``) and the scan body only does the recurrent part
(``cell.step(params, state, projected_x_t)``); ``__call__`` is ``step(project(x_t))``.

Initialisation: ``input_kernel`` uses ``kernel_init`` over the whole ``[D, G*H]`` matrix
(Glorot uniform by default, as in Keras); ``recurrent_kernel`` applies ``recurrent_init``
to each ``[H, H]`` gate block separately (orthogonal by default, Saxe et al. 2014), so
every gate's recurrence starts norm-preserving; biases use ``bias_init`` (zeros).

Precision: ``dtype=jnp.bfloat16`` with the default float32 state runs bf16 matmuls while the
state (the LSTM's memory cell) accumulates in float32 (see :mod:`rnn_research.cells.base`).
"""

from __future__ import annotations

from typing import Any

from rnn_research.cells.base import (
    Array,
    Cell,
    DType,
    GRUState,
    Initializer,
    LSTMState,
    Params,
    SimpleRNNState,
    State,
    accumulation_dtype,
    cast_state,
    expand_to,
    symmetric_uniform,
)
from rnn_research.cells.classic import GRU, LSTM, SimpleRNN
from rnn_research.cells.layernorm import LayerNormGRU, LayerNormLSTM, layer_norm
from rnn_research.cells.minimal import MinGRU, MinGRUState, MinLSTM, MinLSTMState

__all__ = [
    "CELLS",
    "GRU",
    "LSTM",
    "Array",
    "Cell",
    "DType",
    "GRUState",
    "Initializer",
    "LSTMState",
    "LayerNormGRU",
    "LayerNormLSTM",
    "MinGRU",
    "MinGRUState",
    "MinLSTM",
    "MinLSTMState",
    "Params",
    "SimpleRNN",
    "SimpleRNNState",
    "State",
    "accumulation_dtype",
    "cast_state",
    "expand_to",
    "layer_norm",
    "make",
    "symmetric_uniform",
]

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
