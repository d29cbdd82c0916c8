"""Unrolling cells over time with ``jax.lax.scan``.

All functions take batch-major inputs ``xs: [B, T, D]`` and return ``ys: [B, T, H]``
(``[B, T, 2H]`` for a bidirectional layer merged by concatenation).

``lengths: [B]`` (integers in ``[0, T]``) marks the valid prefix of each padded sequence.
Padded steps never change a result: their inputs are zeroed before the projection (so
garbage, even NaN, in the padding cannot leak into values or gradients), the state is
frozen through them, and their outputs are zero. The final state is each sequence's state
after its last valid step. With ``reverse=True`` the scan runs from ``T-1`` down to ``0``
and the state stays at its initial value until the valid prefix begins, so only each
valid prefix is reversed, as with PyTorch's packed sequences.

``resets: [B, T]`` restarts the state from the initial state before a step (packed segments),
``truncate_every=k`` cuts the gradient into the state every ``k`` steps, and cells with an
affine recurrence (minGRU, minLSTM) run as a parallel scan over time
(:mod:`rnn_research.parallel`); see :func:`unroll`.

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

from rnn_research import _checks, fused
from rnn_research import _unroll_options as _options
from rnn_research import parallel as _parallel
from rnn_research.cells import Cell, Params, State

Array = jax.Array
MERGES = ("concat", "sum")
BACKWARDS = ("custom", "autodiff")
MODES = _options.MODES


def _valid_mask(lengths: Array, time: int) -> Array:
    """``[B, T]`` boolean mask, true where ``t < lengths[b]``."""
    return jnp.arange(time)[None, :] < lengths[:, None]


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
    """Runs ``cell`` over ``xs: [B, T, D]``; returns ``(final_state, ys: [B, T, H])``.

    Args:
      cell: a :mod:`rnn_research.cells` cell.
      params: its parameter dict (from ``cell.init``).
      xs: inputs ``[B, T, D]``, floating point.
      initial_state: the cell's state NamedTuple with ``[B, H]`` leaves; zeros if ``None``.
      lengths: optional ``[B]`` integer valid lengths in ``[0, T]`` (see module docstring).
      reverse: run from the last valid step to the first; ``ys`` stay in input order.
      unroll: steps per scan iteration (``lax.scan``'s ``unroll``; ``True`` unrolls fully).
      remat: save memory on long sequences: keep the state only every ``k`` steps and re-run
        each ``k``-step chunk in the backward pass (``True``: ``k = ceil(sqrt(T))``; an int:
        that ``k``), so the saved activations grow as ``T/k + k`` instead of ``T``, for one
        extra forward pass.
      perturbation: optional ``[B, T, H]`` added to ``h_t`` after each step, in the state
        carried forward as well as in ``ys``. Zeros change nothing; the gradient with
        respect to it is the total ``dLoss/dh_t`` (through the output and all later steps),
        which :mod:`rnn_research.diagnostics` uses to show vanishing gradients through time.
      backward: ``"custom"`` (default) differentiates the recurrence of SimpleRNN, LSTM and GRU
        by the hand-written backward pass of :mod:`rnn_research.fused` (every weight gradient
        one matmul after the backward scan); other cells, and ``"autodiff"``, use JAX's
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
    _checks.require_rank("xs", xs, 3, "[B, T, D]")
    _checks.require_floating("xs", xs)
    batch, time = _checks.shape_of(xs)[:2]
    if initial_state is None:
        initial_state = cell.initial_state(batch, params=params)
    else:
        cell.check_state(initial_state, batch_size=batch, name="initial_state")
    parallel = _options.resolve_mode(cell, mode)
    truncate_every = _options.truncation(truncate_every)

    mask = None
    if lengths is not None:
        lengths = jnp.asarray(lengths)
        _checks.check_lengths(lengths, batch, time)
        mask = _valid_mask(jnp.asarray(lengths), time)
        xs = jnp.where(mask[:, :, None], xs, jnp.zeros((), xs.dtype))
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
    chunk = _options.remat_chunk(remat, time)

    cell.check_inputs(params, xs)
    xs_t = jnp.swapaxes(xs, 0, 1)  # [T, B, D]
    if perturbation is not None:
        if _checks.shape_of(perturbation) != (batch, time, cell.hidden_size):
            raise ValueError(
                f"perturbation must have shape {(batch, time, cell.hidden_size)} [B, T, H], "
                f"got {_checks.shape_of(perturbation)}"
            )
        perturbation = jnp.swapaxes(perturbation, 0, 1)
    valid = None if mask is None else mask.T
    restarts = None if resets is None else _options.restarts(resets, batch, time, reverse, valid)
    cuts = None if truncate_every is None else _options.cuts(truncate_every, lengths, batch, time, reverse, valid)

    if parallel:
        final_state, hs = _parallel.recurrence(
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
    ys = hs if valid is None else jnp.where(valid[:, :, None], hs, jnp.zeros((), hs.dtype))
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
    """The plain ``lax.scan`` over ``cell.step`` on time-major ``xs: [T, B, D]``, differentiated by
    JAX (any cell). ``per_step`` holds the optional time-major ``valid``/``reset``/``cut``
    ``[T, B]`` and ``perturbation`` ``[T, B, H]``. The input projection of all steps is one matmul before the
    scan, or, with ``chunk``, one per chunk inside the checkpoint (recomputed, not saved)."""

    def body(state: State, inputs: dict[str, Array]) -> tuple[State, Array]:
        if "cut" in inputs:
            cut = inputs["cut"][:, None]
            state = jax.tree_util.tree_map(lambda s: jnp.where(cut, jax.lax.stop_gradient(s), s), state)
        if "reset" in inputs:
            restart = inputs["reset"][:, None]
            state = jax.tree_util.tree_map(lambda s, s0: jnp.where(restart, s0, s), state, initial_state)
        new_state, h = cell.step(params, state, inputs["x"])
        if "perturbation" in inputs:
            h = h + inputs["perturbation"].astype(h.dtype)
            new_state = new_state._replace(h=h)
        if "valid" not in inputs:
            return new_state, h
        keep = inputs["valid"][:, None]
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


def _merge(forward: Array, backward: Array, merge: str) -> Array:
    if merge == "concat":
        return jnp.concatenate([forward, backward], axis=-1)
    if merge == "sum":
        return forward + backward
    raise ValueError(f"merge must be one of {MERGES}, got {merge!r}")


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
    """Forward and reverse unrolls of ``xs: [B, T, D]``, merged.

    ``params`` is ``{"forward": p_fw, "backward": p_bw}``; ``initial_state`` a pair
    ``(fw, bw)`` or ``None``. Returns ``((final_fw, final_bw), ys)`` with ``ys`` of shape
    ``[B, T, 2H]`` (``merge="concat"``, forward first) or ``[B, T, H]`` (``merge="sum"``).
    With ``lengths``, the backward direction reads each valid prefix from its end.
    ``perturbation``: optional ``{"forward": [B, T, H], "backward": [B, T, H]}``; ``unroll``,
    ``remat``, ``backward``, ``resets`` ``[B, T]`` (each segment of a packed row is read forwards
    and backwards on its own), ``truncate_every`` and ``mode`` as in :func:`unroll`.
    """
    if merge not in MERGES:
        raise ValueError(f"merge must be one of {MERGES}, got {merge!r}")
    _checks.require_keys("bidirectional params", params, ("forward", "backward"))
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
    return (fw_final, bw_final), _merge(fw_ys, bw_ys, merge)


_bidirectional = bidirectional  # shadowed by the `bidirectional` flag of `stacked`


def layer_input_size(cell: Cell, layer: int, input_size: int, *, bidirectional: bool, merge: str = "concat") -> int:
    """Input feature size of layer ``layer`` in a stack over ``input_size`` features."""
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
    """Parameters for :func:`stacked`: a list with one entry per layer, each ``cell.init``'s
    dict, or ``{"forward": ..., "backward": ...}`` when ``bidirectional``. Layer 0's
    ``input_kernel`` is ``[input_size, G*H]``; later layers read ``[H]`` (``[2H]`` for a
    concatenating bidirectional stack)."""
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

    With ``broadcast_time`` (``x: [B, T, F]``) one mask per sequence is shared by every time step:
    variational or "locked" dropout (Gal & Ghahramani 2016; Merity et al. 2018).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if rate == 0.0:
        return x
    shape = (x.shape[0], 1, *x.shape[2:]) if broadcast_time else x.shape
    keep = jax.random.bernoulli(rng, 1.0 - rate, shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype)).astype(x.dtype)


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
      xs: ``[B, T, D]``.
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
      bidirectional) and the last layer's outputs ``[B, T, H]`` (``[B, T, 2H]`` concat).
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
    options = {"unroll": unroll, "remat": remat, "backward": backward, "truncate_every": truncate_every, "mode": mode}
    kwargs = dict(options, lengths=lengths, resets=resets)  # the same for every layer
    for layer, layer_params in enumerate(params):
        if weight_drop > 0.0 and weight_rngs[layer] is not None:
            layer_params = _drop_recurrent_weights(weight_rngs[layer], weight_drop, layer_params)
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


def _drop_recurrent_weights(rng: Array, rate: float, layer_params: Any) -> Any:
    """DropConnect on every ``recurrent_kernel`` in one layer's params (both directions)."""
    if "recurrent_kernel" not in layer_params:  # {"forward": ..., "backward": ...}
        keys = jax.random.split(rng, len(layer_params))
        return {k: _drop_recurrent_weights(key, rate, v) for key, (k, v) in zip(keys, sorted(layer_params.items()))}
    return dict(layer_params, recurrent_kernel=dropout(rng, rate, layer_params["recurrent_kernel"]))
