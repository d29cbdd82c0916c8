"""Unrolling cells over time with ``jax.lax.scan``.

All functions take batch-major inputs ``xs: [B, T, *F]`` and return ``ys: [B, T, *S]``, with
``[B, *F]`` a cell's input step and ``[B, *S]`` its state (``[B, T, D] -> [B, T, H]`` for the
vector cells; ``[B, T, Y, X, C] -> [B, T, Y, X, K]`` for a convolutional one). A bidirectional
layer merged by concatenation joins the directions along the last axis (``[B, T, 2H]``).

``lengths: [B]`` (integers in ``[0, T]``) marks the valid prefix of each padded sequence.
Padded steps never change a result: their inputs are zeroed before the projection (so
garbage, even NaN, in the padding cannot leak into values or gradients), the state is
frozen through them, and their outputs are zero. The final state is each sequence's state
after its last valid step. With ``reverse=True`` the scan runs from ``T-1`` down to ``0``
and the state stays at its initial value until the valid prefix begins, so only each
valid prefix is reversed, as with PyTorch's packed sequences. :func:`length_mask` gives the
``[B, T]`` mask of valid steps; every per-step mask broadcasts over the trailing axes.

``resets: [B, T]`` restarts the state from the initial state before a step (packed segments),
``truncate_every=k`` cuts the gradient into the state every ``k`` steps, and cells with an
affine recurrence (minGRU, minLSTM) run as a parallel scan over time
(:mod:`rnn_research.parallel`); see :func:`unroll`. The classic vector cells (SimpleRNN, LSTM,
GRU) are differentiated by the hand-written backward pass of :mod:`rnn_research.fused`.

The layer helpers of :mod:`rnn_research.stacking` (:func:`init_stacked`, :func:`layer_input_size`,
:func:`dropout`, :func:`drop_recurrent_weights`) are re-exported here.

Example::

    cell = cells.GRU(32)
    params = cell.init(jax.random.key(0), input_size=8)
    xs = jnp.ones((4, 10, 8))
    final, ys = recurrent.unroll(cell, params, xs, lengths=jnp.array([10, 7, 3, 0]))
    ys.shape  # (4, 10, 32); ys[2, 3:] == 0; final.h[3] == 0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from rnn_research import checks, fused, parallel, stacking
from rnn_research import unroll_options as options
from rnn_research.cells import Cell, Params, State
from rnn_research.stacking import MERGES, drop_recurrent_weights, dropout, init_stacked, layer_input_size
from rnn_research.unroll_options import MODES, length_mask, mask_to_rank

__all__ = [
    "BACKWARDS",
    "MERGES",
    "MODES",
    "bidirectional",
    "drop_recurrent_weights",
    "dropout",
    "init_stacked",
    "layer_input_size",
    "length_mask",
    "stacked",
    "unroll",
]

Array = jax.Array
BACKWARDS = ("custom", "autodiff")


def unroll(
    cell: Cell,
    params: Params,
    xs: Array,
    initial_state: State | None = None,
    *,
    lengths: Array | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
    remat: bool | int = False,
    perturbation: Array | None = None,
    backward: str = "custom",
    resets: Array | None = None,
    truncate_every: int | None = None,
    mode: str = "auto",
) -> tuple[State, Array]:
    """Runs ``cell`` over ``xs: [B, T, *F]``; returns ``(final_state, ys: [B, T, *S])``.

    Args:
      cell: a :mod:`rnn_research.cells` cell (inputs ``[B, *F]``, state leaves ``[B, *S]``;
        ``[B, D]`` and ``[B, H]`` for the vector cells).
      params: its parameter dict (from ``cell.init``).
      xs: inputs ``[B, T, *F]``, floating point.
      initial_state: the cell's state NamedTuple with ``[B, *S]`` leaves; zeros if ``None``.
      lengths: optional ``[B]`` integer valid lengths in ``[0, T]`` (see module docstring).
      reverse: run from the last valid step to the first; ``ys`` stay in input order.
      unroll: steps per scan iteration (``lax.scan``'s ``unroll``; ``True`` unrolls fully).
      remat: save memory on long sequences: keep the state only every ``k`` steps and re-run
        each ``k``-step chunk in the backward pass (``True``: ``k = ceil(sqrt(T))``; an int:
        that ``k``), so the saved activations grow as ``T/k + k`` instead of ``T``, for one
        extra forward pass.
      perturbation: optional ``[B, T, *S]`` added to ``h_t`` after each step, in the state
        carried forward as well as in ``ys``. Zeros change nothing; the gradient with
        respect to it is the total ``dLoss/dh_t`` (through the output and all later steps),
        which :mod:`rnn_research.diagnostics` uses to show vanishing gradients through time.
      backward: ``"custom"`` (default) differentiates the recurrence of SimpleRNN, LSTM and GRU
        by the hand-written backward pass of :mod:`rnn_research.fused` (every weight gradient
        one matmul after the backward scan); other cells (and any over non-vector shapes), and
        ``"autodiff"``, use JAX's
        autodiff of the scan. Both give the same values and gradients; forward-mode
        differentiation (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) needs ``"autodiff"``.
        ``resets`` and the layer-normalised cells always use autodiff.
      resets: optional ``[B, T]`` bool: where true, the state is restarted from the initial state
        before step ``t`` (as Haiku's ``ResetCore``), so several segments packed in one row run
        as if apart. With ``reverse``, a segment is read from its end: the restart happens before
        the last step of each segment (before ``t`` where ``resets[:, t + 1]``). Resets at padded
        steps are ignored.
      truncate_every: stop the gradient into the state before every ``k``-th step: truncated
        backpropagation through time within one scan, equal to running ``k``-step chunks one
        after another with each chunk's entering state under ``stop_gradient``. Steps are
        counted per sequence, in the order of processing, from its first valid step (with
        ``reverse`` and ``lengths``, from ``lengths[b] - 1`` down), and padded steps never cut,
        so a padded row gets the gradients it would get alone. Values are unchanged.
      mode: ``"auto"`` (parallel for cells with ``parallel_scan``, else sequential),
        ``"sequential"`` (``lax.scan`` of ``cell.step``) or ``"parallel"`` (an associative scan
        over time, :mod:`rnn_research.parallel`; only for ``parallel_scan`` cells: minGRU, minLSTM).
    """
    cell.check_params(params)
    xs = jnp.asarray(xs)
    checks.require_rank("xs", xs, 2 + len(cell.input_axes), checks.layout("B", "T", *cell.input_axes))
    checks.require_floating("xs", xs)
    batch, time = checks.shape_of(xs)[:2]
    if initial_state is None:
        initial_state = cell.initial_state(batch, params=params)
    else:
        cell.check_state(initial_state, batch_size=batch, name="initial_state")
    in_parallel = options.resolve_mode(cell, mode)
    truncate_every = options.truncation(truncate_every)

    mask = None
    if lengths is not None:
        lengths = jnp.asarray(lengths)
        checks.check_lengths(lengths, batch, time)
        mask = length_mask(lengths, time)
        xs = jnp.where(mask_to_rank(mask, xs.ndim), xs, jnp.zeros((), xs.dtype))
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
    chunk = options.remat_chunk(remat, time)

    cell.check_inputs(params, xs)
    xs_t = jnp.swapaxes(xs, 0, 1)  # [T, B, *F]
    if perturbation is not None:
        expected = (batch, time, *cell.state_shape)
        if checks.shape_of(perturbation) != expected:
            raise ValueError(
                f"perturbation must have shape {expected} {checks.layout('B', 'T', *cell.state_axes)}, "
                f"got {checks.shape_of(perturbation)}"
            )
        perturbation = jnp.swapaxes(perturbation, 0, 1)
    valid = None if mask is None else mask.T
    restarts = None if resets is None else options.restarts(resets, batch, time, reverse, valid)
    cuts = None if truncate_every is None else options.cuts(truncate_every, lengths, batch, time, reverse, valid)

    if in_parallel:
        final_state, hs = parallel.recurrence(
            cell,
            params,
            xs_t,
            initial_state,
            valid=valid,
            resets=restarts,
            perturbation=perturbation,
            reverse=reverse,
            cuts=cuts,
            remat=chunk is not None,
        )
    elif backward == "custom" and fused.supports(cell) and restarts is None:
        spec = fused.Spec(cell, reverse=reverse, unroll=unroll, chunk=chunk)
        final_state, hs = fused.recurrence(spec, xs_t, params, initial_state, valid, perturbation, cuts)
    else:
        final_state, hs = _scan_autodiff(
            cell,
            params,
            xs_t,
            initial_state,
            {"valid": valid, "perturbation": perturbation, "reset": restarts, "cut": cuts},
            reverse=reverse,
            unroll=unroll,
            chunk=chunk,
        )
    ys = hs if valid is None else jnp.where(mask_to_rank(valid, hs.ndim), hs, jnp.zeros((), hs.dtype))
    return final_state, jnp.swapaxes(ys, 0, 1)


def _scan_autodiff(
    cell: Cell,
    params: Params,
    xs: Array,
    initial_state: State,
    per_step: dict[str, Array | None],
    *,
    reverse: bool,
    unroll: int | bool,
    chunk: int | None,
) -> tuple[State, Array]:
    """The plain ``lax.scan`` over ``cell.step`` on time-major ``xs: [T, B, *F]``, differentiated by
    JAX (any cell). ``per_step`` holds the optional time-major ``valid``/``reset``/``cut``
    ``[T, B]`` (broadcast over each state leaf ``[B, *S]``) and ``perturbation`` ``[T, B, *S]``. The
    input projection of all steps is one matmul before the scan, or, with ``chunk``, one per chunk
    inside the checkpoint (recomputed, not saved)."""

    rank = 1 + len(cell.state_shape)  # of every state leaf and of h: [B, *S]

    def body(state: State, inputs: dict[str, Array]) -> tuple[State, Array]:
        if "cut" in inputs:
            cut = mask_to_rank(inputs["cut"], rank)
            state = jax.tree_util.tree_map(lambda s: jnp.where(cut, jax.lax.stop_gradient(s), s), state)
        if "reset" in inputs:
            restart = mask_to_rank(inputs["reset"], rank)
            state = jax.tree_util.tree_map(lambda s, s0: jnp.where(restart, s0, s), state, initial_state)
        new_state, h = cell.step(params, state, inputs["x"])
        if "perturbation" in inputs:
            h = h + inputs["perturbation"].astype(h.dtype)
            new_state = new_state._replace(h=h)
        if "valid" not in inputs:
            return new_state, h
        keep = mask_to_rank(inputs["valid"], rank)
        new_state = jax.tree_util.tree_map(lambda n, o: jnp.where(keep, n, o), new_state, state)
        return new_state, jnp.where(keep, h, jnp.zeros((), h.dtype))

    time, batch = xs.shape[:2]
    scanned = {"x": xs, **{k: v for k, v in per_step.items() if v is not None}}
    if chunk is None or chunk >= time:
        if chunk is not None:
            body = jax.checkpoint(body)
        scanned["x"] = cell.project(params, xs)
        return jax.lax.scan(body, initial_state, scanned, reverse=reverse, unroll=unroll)
    # Checkpoint every `chunk` steps: the backward pass keeps one state per chunk and re-runs
    # each chunk's steps when it reaches it, so saved activations grow as T/chunk + chunk.
    n = -(-time // chunk)
    pad = n * chunk - time
    scanned.setdefault("valid", jnp.ones((time, batch), bool))

    def chunks(x: Array) -> Array:
        fill = jnp.zeros((pad,) + x.shape[1:], x.dtype)
        return jnp.concatenate([x, fill]).reshape((n, chunk) + x.shape[1:])

    @jax.checkpoint
    def run_chunk(state: State, inputs: dict[str, Array]) -> tuple[State, Array]:
        inputs = dict(inputs, x=cell.project(params, inputs["x"]))
        return jax.lax.scan(body, state, inputs, reverse=reverse, unroll=unroll)

    final, ys = jax.lax.scan(run_chunk, initial_state, jax.tree_util.tree_map(chunks, scanned), reverse=reverse)
    return final, ys.reshape((n * chunk,) + ys.shape[2:])[:time]


_unroll = unroll  # the functions below take an argument named `unroll`, which shadows this one


def bidirectional(
    cell: Cell,
    params: dict[str, Params],
    xs: Array,
    initial_state: tuple[State, State] | None = None,
    *,
    lengths: Array | None = None,
    merge: str = "concat",
    unroll: int | bool = 1,
    remat: bool | int = False,
    perturbation: dict[str, Array] | None = None,
    backward: str = "custom",
    resets: Array | None = None,
    truncate_every: int | None = None,
    mode: str = "auto",
) -> tuple[tuple[State, State], Array]:
    """Forward and reverse unrolls of ``xs: [B, T, *F]``, merged.

    ``params`` is ``{"forward": p_fw, "backward": p_bw}``; ``initial_state`` a pair
    ``(fw, bw)`` or ``None``. Returns ``((final_fw, final_bw), ys)`` with ``ys`` of shape
    ``[B, T, *S[:-1], 2H]`` (``merge="concat"`` along the last axis, forward first; ``[B, T, 2H]``
    for vector cells) or ``[B, T, *S]`` (``merge="sum"``). With ``lengths``, the backward
    direction reads each valid prefix from its end. ``perturbation``: optional
    ``{"forward": [B, T, *S], "backward": [B, T, *S]}``; ``unroll``,
    ``remat``, ``backward``, ``resets`` ``[B, T]`` (each segment of a packed row is read forwards
    and backwards on its own), ``truncate_every`` and ``mode`` as in :func:`unroll`.
    """
    stacking.check_merge(merge)
    checks.require_keys("bidirectional params", params, ("forward", "backward"))
    fw_init, bw_init = (None, None) if initial_state is None else initial_state
    kwargs = dict(
        lengths=lengths,
        unroll=unroll,
        remat=remat,
        backward=backward,
        resets=resets,
        truncate_every=truncate_every,
        mode=mode,
    )
    fw_pert, bw_pert = (None, None) if perturbation is None else (perturbation["forward"], perturbation["backward"])
    fw_final, fw_ys = _unroll(cell, params["forward"], xs, fw_init, reverse=False, perturbation=fw_pert, **kwargs)
    bw_final, bw_ys = _unroll(cell, params["backward"], xs, bw_init, reverse=True, perturbation=bw_pert, **kwargs)
    return (fw_final, bw_final), stacking.merge_directions(fw_ys, bw_ys, merge)


_bidirectional = bidirectional  # shadowed by the `bidirectional` flag of `stacked`


def stacked(
    cell: Cell,
    params: Sequence[Any],
    xs: Array,
    initial_states: Sequence[Any] | None = None,
    *,
    lengths: Array | None = None,
    bidirectional: bool = False,
    merge: str = "concat",
    dropout_rate: float = 0.0,
    dropout_rng: Array | None = None,
    variational: bool = False,
    weight_drop: float = 0.0,
    unroll: int | bool = 1,
    remat: bool | int = False,
    perturbations: Sequence[Any] | None = None,
    backward: str = "custom",
    resets: Array | None = None,
    truncate_every: int | None = None,
    mode: str = "auto",
) -> tuple[list[Any], Array]:
    """A multi-layer (optionally bidirectional) RNN, as ``torch.nn.LSTM(num_layers=...)``.

    Args:
      params: one entry per layer, as :func:`init_stacked` returns.
      xs: ``[B, T, *F]`` (``[B, T, D]`` for vector cells).
      initial_states: ``None`` or one state per layer (a ``(fw, bw)`` pair when bidirectional).
      dropout_rate: dropout on the outputs of every layer but the last (the non-recurrent
        connections, Zaremba et al. 2014); applied only when ``dropout_rng`` is given.
      variational: one dropout mask per sequence for all time steps (locked dropout).
      weight_drop: DropConnect on each layer's ``recurrent_kernel`` (AWD-LSTM, Merity et al.
        2018): one mask per call, shared by every step and sequence; needs ``dropout_rng``.
      perturbations: ``None`` or one per layer (see :func:`unroll` and :func:`bidirectional`).
      unroll, remat, backward, resets, truncate_every, mode: as in :func:`unroll`, for every layer.

    Returns:
      ``(final_states, ys)``: a list with each layer's final state (pairs when
      bidirectional) and the last layer's outputs ``[B, T, *S]`` (``[B, T, H]``; the last axis
      ``2H`` for a concatenating bidirectional stack).
    """
    num_layers = len(params)
    if num_layers == 0:
        raise ValueError("params must hold at least one layer")
    if initial_states is not None and len(initial_states) != num_layers:
        raise ValueError(f"initial_states has {len(initial_states)} entries, expected one per layer ({num_layers})")
    if weight_drop > 0.0 and "recurrent_kernel" not in cell.param_shapes(1):
        raise ValueError(f"weight_drop drops recurrent-kernel weights, and {cell.name} has no recurrent kernel")
    rngs: list[Any] = [None] * num_layers
    weight_rngs: list[Any] = [None] * num_layers
    if dropout_rng is not None:
        rngs, weight_rngs = (list(k) for k in jax.random.split(dropout_rng, (2, num_layers)))
    finals = []
    ys = xs
    kwargs = {  # the same for every layer
        "unroll": unroll,
        "remat": remat,
        "backward": backward,
        "truncate_every": truncate_every,
        "mode": mode,
        "lengths": lengths,
        "resets": resets,
    }
    for layer, layer_params in enumerate(params):
        if weight_drop > 0.0 and weight_rngs[layer] is not None:
            layer_params = drop_recurrent_weights(weight_rngs[layer], weight_drop, layer_params)
        init = None if initial_states is None else initial_states[layer]
        pert = None if perturbations is None else perturbations[layer]
        if bidirectional:
            final, ys = _bidirectional(cell, layer_params, ys, init, merge=merge, perturbation=pert, **kwargs)
        else:
            final, ys = _unroll(cell, layer_params, ys, init, perturbation=pert, **kwargs)
        finals.append(final)
        if layer < num_layers - 1 and rngs[layer] is not None and dropout_rate > 0.0:
            ys = dropout(rngs[layer], dropout_rate, ys, broadcast_time=variational)
    return finals, ys
