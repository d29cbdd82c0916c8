"""Flax linen modules over the functional core.

The module's parameters are exactly the dicts that ``cell.init`` returns, one per layer
under ``layer_{i}`` (``{"forward": ..., "backward": ...}`` when bidirectional), so weights
move freely between a notebook that calls :mod:`rnn_research.recurrent` directly and a
model built from these layers::

    model = layers.RNN(cell="lstm", hidden_size=64, num_layers=2, bidirectional=True)
    variables = model.init(jax.random.key(0), xs, lengths)     # xs: [B, T, D]
    ys = model.apply(variables, xs, lengths)                     # [B, T, 128]
    per_layer = layers.layer_params(variables["params"])        # list, as recurrent.stacked takes
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rnn_research import cells, recurrent

Array = jax.Array


def layer_params(module_params: dict[str, Any]) -> list[Any]:
    """``{"layer_0": p0, "layer_1": p1, ...}`` (an :class:`RNN`'s params) -> ``[p0, p1, ...]``."""
    names = sorted((k for k in module_params if k.startswith("layer_")), key=lambda k: int(k.split("_")[1]))
    if not names:
        raise ValueError(f"no 'layer_<i>' entries in params (keys: {sorted(module_params)})")
    return [module_params[k] for k in names]


def module_params(per_layer: Sequence[Any]) -> dict[str, Any]:
    """``[p0, p1, ...]`` (as :func:`recurrent.init_stacked` returns) -> an :class:`RNN`'s params."""
    return {f"layer_{i}": p for i, p in enumerate(per_layer)}


class RNN(nn.Module):
    """A (stacked, optionally bidirectional) recurrent layer: ``xs [B, T, D] -> ys [B, T, H']``.

    Attributes:
      cell: a cell name (``"lstm"``, ``"gru"``, ``"simple_rnn"``) or a configured
        :class:`rnn_research.cells.Cell` (then ``hidden_size`` may be left ``None``).
      hidden_size: hidden units per direction; required with a cell name.
      num_layers: stacked layers; layer ``i > 0`` reads layer ``i-1``'s outputs.
      bidirectional: run a reversed copy of each layer and merge (``merge``: concat or sum).
      dropout: dropout rate between layers (not after the last), active when
        ``deterministic=False``; uses the ``"dropout"`` RNG stream.
      variational: share each sequence's dropout mask across time steps (locked dropout).
      weight_drop: DropConnect rate on the recurrent kernels (AWD-LSTM), when not deterministic.
      return_state: return ``(final_states, ys)`` instead of ``ys``; ``final_states`` is a
        list with one state per layer (``(fw, bw)`` pairs when bidirectional).
      unroll, remat, backward, truncate_every, mode: passed to
        :func:`rnn_research.recurrent.unroll` (``backward``: ``"custom"``, the hand-written
        backward pass, or ``"autodiff"``; ``mode``: ``"auto"``, ``"sequential"`` or
        ``"parallel"``, for minGRU/minLSTM).

    A cell with ``learn_initial_state=True`` keeps its learned initial state in each layer's
    params (``"initial_state"``); it is used wherever ``initial_states`` is not given and after
    every reset (``resets: [B, T]`` bool, restarting the state before step ``t``).
    """

    cell: str | cells.Cell = "lstm"
    hidden_size: int | None = None
    num_layers: int = 1
    bidirectional: bool = False
    merge: str = "concat"
    dropout: float = 0.0
    variational: bool = False
    weight_drop: float = 0.0
    return_state: bool = False
    unroll: int = 1
    remat: bool | int = False
    backward: str = "custom"
    truncate_every: int | None = None
    mode: str = "auto"

    def resolved_cell(self) -> cells.Cell:
        """The :class:`~rnn_research.cells.Cell` this layer runs (built from ``cell`` and ``hidden_size``)."""
        if isinstance(self.cell, cells.Cell):
            if self.hidden_size is not None and self.hidden_size != self.cell.hidden_size:
                raise ValueError(
                    f"RNN: hidden_size={self.hidden_size} disagrees with cell.hidden_size={self.cell.hidden_size}"
                )
            return self.cell
        if self.hidden_size is None:
            raise ValueError(f"RNN: hidden_size is required when cell is given by name ({self.cell!r})")
        return cells.make(self.cell, self.hidden_size)

    @nn.compact
    def __call__(
        self,
        xs: Array,
        lengths: Array | None = None,
        initial_states: Sequence[Any] | None = None,
        *,
        deterministic: bool = True,
        resets: Array | None = None,
    ) -> Any:
        """``xs``: ``[B, T, D]``; ``lengths``: optional ``[B]``; ``resets``: optional ``[B, T]``
        bool; see the class docstring for outputs."""
        cell = self.resolved_cell()
        xs = jnp.asarray(xs)
        if xs.ndim != 3:
            raise ValueError(f"RNN: xs must have rank 3 [B, T, D], got shape {tuple(xs.shape)}")
        if self.has_variable("params", "layer_0"):
            first = self.get_variable("params", "layer_0")
            kernel = (first["forward"] if self.bidirectional else first)["input_kernel"]
            if kernel.shape[0] != xs.shape[-1]:
                raise ValueError(
                    f"RNN: xs has feature size {xs.shape[-1]} (shape {tuple(xs.shape)}), "
                    f"but the parameters were made for {kernel.shape[0]}"
                )
        if self.num_layers < 1:
            raise ValueError(f"RNN: num_layers must be >= 1, got {self.num_layers}")

        def init_layer(key: Array, size: int) -> Any:
            if not self.bidirectional:
                return cell.init(key, size)
            k_fw, k_bw = jax.random.split(key)
            return {"forward": cell.init(k_fw, size), "backward": cell.init(k_bw, size)}

        params = []
        for layer in range(self.num_layers):
            size = recurrent.layer_input_size(
                cell, layer, xs.shape[-1], bidirectional=self.bidirectional, merge=self.merge
            )
            params.append(self.param(f"layer_{layer}", init_layer, size))

        perturbations = self._perturbations(cell, xs)
        dropout_rng = None
        if not deterministic and ((self.dropout > 0.0 and self.num_layers > 1) or self.weight_drop > 0.0):
            dropout_rng = self.make_rng("dropout")
        finals, ys = recurrent.stacked(
            cell,
            params,
            xs,
            initial_states,
            lengths=lengths,
            bidirectional=self.bidirectional,
            merge=self.merge,
            dropout_rate=self.dropout,
            dropout_rng=dropout_rng,
            variational=self.variational,
            weight_drop=self.weight_drop,
            unroll=self.unroll,
            remat=self.remat,
            perturbations=perturbations,
            backward=self.backward,
            resets=resets,
            truncate_every=self.truncate_every,
            mode=self.mode,
        )
        return (finals, ys) if self.return_state else ys

    def _perturbations(self, cell: cells.Cell, xs: Array) -> list[Any] | None:
        """Zeros ``[B, T, H]`` per layer (and direction) in the ``"perturbations"`` collection.

        Never made by ``init``; made by ``apply(..., mutable=["perturbations"])`` for the shapes
        of that call, and used only when ``apply`` is given them, so ordinary training never
        pays for them and a model applies to any batch size and length. The gradient of a loss
        with respect to them is ``dLoss/dh_t`` of every layer (see :mod:`rnn_research.diagnostics`).
        """
        creating = not self.is_initializing() and self.is_mutable_collection("perturbations")
        if not (creating or self.has_variable("perturbations", "layer_0")):
            return None
        shape = (xs.shape[0], xs.shape[1], cell.hidden_size)
        dtype = cell.dtype or cell.param_dtype

        def zeros() -> Any:
            if self.bidirectional:
                return {"forward": jnp.zeros(shape, dtype), "backward": jnp.zeros(shape, dtype)}
            return jnp.zeros(shape, dtype)

        return [self.variable("perturbations", f"layer_{i}", zeros).value for i in range(self.num_layers)]
