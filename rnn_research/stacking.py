"""The parameters and the glue of stacked and bidirectional RNNs (run by
:func:`rnn_research.recurrent.stacked` and :func:`rnn_research.recurrent.bidirectional`, which
re-exports every name here).

Layer ``i > 0`` of a stack reads layer ``i-1``'s outputs ``[B, T, *S]``; a bidirectional layer
merges its two directions along the last axis (``merge="concat"``: ``[B, T, *S[:-1], 2H]``,
forward first) or adds them (``merge="sum"``: ``[B, T, *S]``), so the next layer's input size is
``2H`` or ``H``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rnn_research.cells import Cell

Array = jax.Array
MERGES = ("concat", "sum")


def check_merge(merge: str) -> None:
    """Raises a one-line ``ValueError`` unless ``merge`` is one of :data:`MERGES`."""
    if merge not in MERGES:
        raise ValueError(f"merge must be one of {MERGES}, got {merge!r}")


def merge_directions(forward: Array, backward: Array, merge: str) -> Array:
    """Merges two ``[B, T, *S]`` outputs: ``"concat"`` along the last axis (``[B, T, *S[:-1], 2H]``,
    forward first) or ``"sum"`` (``[B, T, *S]``)."""
    check_merge(merge)
    if merge == "concat":
        return jnp.concatenate([forward, backward], axis=-1)
    return forward + backward


def layer_input_size(cell: Cell, layer: int, input_size: int, *, bidirectional: bool, merge: str = "concat") -> int:
    """Input feature size (last input axis) of layer ``layer`` in a stack over ``input_size`` features."""
    if layer == 0:
        return input_size
    return cell.hidden_size * (2 if bidirectional and merge == "concat" else 1)


def init_stacked(
    cell: Cell,
    key: Array,
    input_size: int,
    num_layers: int,
    *,
    bidirectional: bool = False,
    merge: str = "concat",
) -> list[Any]:
    """Parameters for :func:`rnn_research.recurrent.stacked`: a list with one entry per layer, each
    ``cell.init``'s dict, or ``{"forward": ..., "backward": ...}`` when ``bidirectional``. Layer 0
    reads ``input_size`` features (``input_kernel [input_size, G*H]`` for a vector cell); later
    layers read ``H`` (``2H`` for a concatenating bidirectional stack)."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    params = []
    for layer, k in enumerate(jax.random.split(key, num_layers)):
        size = layer_input_size(cell, layer, input_size, bidirectional=bidirectional, merge=merge)
        if bidirectional:
            k_fw, k_bw = jax.random.split(k)
            params.append({"forward": cell.init(k_fw, size), "backward": cell.init(k_bw, size)})
        else:
            params.append(cell.init(k, size))
    return params


def dropout(rng: Array, rate: float, x: Array, *, broadcast_time: bool = False) -> Array:
    """Inverted dropout: zero each element with probability ``rate``, scale the rest by ``1/(1-rate)``.

    With ``broadcast_time`` (``x: [B, T, *F]``) one mask per sequence is shared by every time step:
    variational or "locked" dropout (Gal & Ghahramani 2016; Merity et al. 2018).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if rate == 0.0:
        return x
    shape = (x.shape[0], 1, *x.shape[2:]) if broadcast_time else x.shape
    keep = jax.random.bernoulli(rng, 1.0 - rate, shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype)).astype(x.dtype)


def drop_recurrent_weights(rng: Array, rate: float, layer_params: Any) -> Any:
    """DropConnect (AWD-LSTM, Merity et al. 2018) on every ``recurrent_kernel`` (``[H, G*H]``) in one
    layer's params (both directions of ``{"forward": ..., "backward": ...}``): one mask per call."""
    if "recurrent_kernel" not in layer_params:  # {"forward": ..., "backward": ...}
        keys = jax.random.split(rng, len(layer_params))
        return {k: drop_recurrent_weights(key, rate, v) for key, (k, v) in zip(keys, sorted(layer_params.items()))}
    return dict(layer_params, recurrent_kernel=dropout(rng, rate, layer_params["recurrent_kernel"]))
