"""Pieces several experiments share: the recurrent encoder built from ``config.model``."""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections

from rnn_research import cells, layers

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def make_cell(model: ml_collections.ConfigDict) -> cells.Cell:
    """``config.model`` -> a cell: ``cell``, ``hidden_size``, ``forget_bias``, ``init_scale``, ``dtype``."""
    if model.dtype not in DTYPES:
        raise ValueError(f"model.dtype={model.dtype!r} is not one of {sorted(DTYPES)}")
    kwargs = {"dtype": DTYPES[model.dtype]}
    if model.init_scale > 0:
        init = cells.symmetric_uniform(model.init_scale)
        kwargs.update(kernel_init=init, recurrent_init=init, bias_init=init)
    if model.cell == "lstm":
        kwargs["forget_bias"] = model.forget_bias
    try:
        return cells.make(model.cell, model.hidden_size, **kwargs)
    except ValueError as e:
        raise ValueError(f"model.cell: {e}") from None


def make_rnn(model: ml_collections.ConfigDict) -> layers.RNN:
    """The (stacked, bidirectional) recurrent layer that ``config.model`` describes."""
    return layers.RNN(
        cell=make_cell(model),
        num_layers=model.num_layers,
        bidirectional=model.bidirectional,
        dropout=model.dropout,
        unroll=model.unroll,
        remat=model.remat,
    )
