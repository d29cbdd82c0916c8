"""The decoding loops: the generic autoregressive loop, greedy and sampled token decoding, and one
step of a stack of cells (see :mod:`rnn_research.decoding` for the step-function contract)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rnn_research import checks
from rnn_research.cells import Cell, Params, State

Array = jax.Array
StepFn = Callable[[Any, Any, Any], tuple[Any, Any]]


class Generated(NamedTuple):
    """What :func:`generate` returns: the final state and, per step, the outputs and the chosen inputs."""

    state: Any  # the state after the last step
    outputs: Any  # step outputs, leaves [B, T, ...]
    inputs: Any  # what choose fed back after each step, leaves [B, T, ...]


class Decoded(NamedTuple):
    """Token decoding: ``tokens [B, L]`` (pad after eos), ``scores [B]`` (sum of log-probs), ``lengths [B]``."""

    tokens: Array
    scores: Array
    lengths: Array


# ------------------------------------------------------------------------------- the generic loop
def generate(
    step_fn: StepFn,
    state: Any,
    first_input: Any,
    num_steps: int,
    choose: Callable[[Any, Array, Any], Any],
    context: Any = None,
    *,
    key: Array | None = None,
) -> Generated:
    """Runs ``num_steps`` steps, each feeding back what ``choose`` makes of the step's output.

    Step ``t``: ``state, out = step_fn(state, x_t, context)``, then
    ``x_{t+1} = choose(out, t, key_t)`` with ``t`` an int32 scalar and ``key_t`` the ``t``-th of
    ``jax.random.split(key, num_steps)`` (``None`` without ``key``). ``choose`` must return the
    structure, shapes and dtypes of ``first_input`` (a forecaster returns its prediction, or the
    true value under teacher forcing; a token decoder returns token ids).

    Args:
      step_fn: ``(state, inputs [B, ...], context) -> (state, outputs [B, ...])``.
      state: pytree of ``[B, ...]`` leaves.
      first_input: the first step's input ``[B, ...]`` (pytree allowed).
      num_steps: the number of steps ``T >= 1``.
      choose: ``(outputs [B, ...], t, key_t) -> next input [B, ...]``.
      context: passed unchanged to every step.
      key: optional PRNG key split into one key per step.

    Returns:
      ``Generated(state, outputs [B, T, ...], inputs [B, T, ...])``.
    """
    check_count("num_steps", num_steps)
    keys = None if key is None else jax.random.split(key, num_steps)

    def body(carry: tuple[Any, Any], xs: tuple[Array, Any]) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        state, inputs = carry
        t, step_key = xs
        state, outputs = step_fn(state, inputs, context)
        chosen = choose(outputs, t, step_key)
        return (state, chosen), (outputs, chosen)

    steps = jnp.arange(num_steps, dtype=jnp.int32)
    (state, _), (outputs, chosen) = jax.lax.scan(body, (state, first_input), (steps, keys))
    return Generated(state, batch_major(outputs), batch_major(chosen))


def step_stack(
    cell: Cell, layer_params: Sequence[Params], states: Sequence[State], x: Array
) -> tuple[list[State], Array]:
    """One time step through a stack of cells: ``s_i, x = cell(p_i, s_i, x)`` for layers ``i = 0 .. N-1``.

    Args:
      cell: the cell every layer runs.
      layer_params: one ``cell.init`` dict per layer (layer 0 reads ``F`` features, the rest ``H``).
      states: one state per layer, leaves ``[B, ...]``.
      x: the step's input ``[B, F]``.

    Returns:
      ``(new states, the last layer's output [B, H])``.
    """
    if len(layer_params) != len(states):
        raise ValueError(f"step_stack: {len(layer_params)} layers of params but {len(states)} states")
    new_states = []
    for p, s in zip(layer_params, states):
        s, x = cell(p, s, x)
        new_states.append(s)
    return new_states, x


# ------------------------------------------------------------------------------- token decoding
def filter_logits(logits: Array, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> Array:
    """Sampling logits ``[..., V]``: divided by ``temperature``, then top-k, then top-p; removed ones are -inf.

    ``top_k`` keeps the ``min(top_k, V)`` largest (and any tied with the smallest of them);
    0 turns it off. ``top_p`` (nucleus) keeps the smallest set of most probable tokens whose
    probability (after temperature and top-k) reaches ``top_p`` (ties at the cut-off are kept
    too); 1 turns it off.
    """
    check_sampling(temperature, top_k, top_p)
    if temperature > 0:
        logits = logits / temperature
    if top_k:
        kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][..., -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p < 1.0:
        ranked = jax.lax.top_k(logits, logits.shape[-1])[0]  # descending
        probs = jax.nn.softmax(ranked, axis=-1)
        before = jnp.cumsum(probs, axis=-1)[..., :-1]
        before = jnp.concatenate([jnp.zeros_like(probs[..., :1]), before], axis=-1)  # mass of the better ones
        cutoff = jnp.min(jnp.where(before < top_p, ranked, jnp.inf), axis=-1, keepdims=True)
        logits = jnp.where(logits < cutoff, -jnp.inf, logits)
    return logits


def greedy(
    step_fn: StepFn,
    state: Any,
    first_token: Array,
    num_steps: int,
    *,
    eos_id: int | None = None,
    pad_id: int = 0,
    context: Any = None,
) -> Decoded:
    """Emits the most likely token each step (argmax of the logits).

    Args:
      step_fn: ``(state, tokens [B], context) -> (state, logits [B, V])``.
      state: pytree of ``[B, ...]`` leaves.
      first_token: ``[B]`` integer ids fed to the first step (e.g. bos, or a prompt's last token).
      num_steps: tokens to emit ``L >= 1``.
      eos_id: the end-of-sequence id, or ``None`` to never stop.
      pad_id: what a finished row emits.
      context: passed unchanged to every step.

    Returns:
      ``Decoded(tokens [B, L], scores [B], lengths [B])``; scores sum the model's log-probs.
    """

    def pick(logits: Array, keys: Any) -> Array:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)

    return _decode_tokens(step_fn, state, first_token, num_steps, pick, None, eos_id, pad_id, context)


def sample(
    step_fn: StepFn,
    state: Any,
    first_token: Array,
    num_steps: int,
    key: Array,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    eos_id: int | None = None,
    pad_id: int = 0,
    context: Any = None,
) -> Decoded:
    """Samples each token from the filtered logits (see :func:`filter_logits`); ``temperature=0`` is greedy.

    Each row's randomness depends only on its own key, never on the batch size: ``key`` is either
    one PRNG key (row ``b`` then uses ``jax.random.fold_in(key, b)``) or one key per row (``[B, 2]``
    raw or ``[B]`` typed). Row ``b`` samples step ``t`` with ``jax.random.split(row_key, L)[t]``.

    Args:
      step_fn: ``(state, tokens [B], context) -> (state, logits [B, V])``.
      state: pytree of ``[B, ...]`` leaves.
      first_token: ``[B]`` integer ids fed to the first step.
      num_steps: tokens to emit ``L >= 1``.
      key: a PRNG key, or ``[B]`` of them.
      temperature, top_k, top_p: see :func:`filter_logits`.
      eos_id, pad_id, context: as in :func:`greedy`.

    Returns:
      ``Decoded(tokens [B, L], scores [B], lengths [B])``; scores sum the model's own log-probs
      (temperature 1, unfiltered), so they compare with greedy's and beam search's.
    """
    check_sampling(temperature, top_k, top_p)
    checks.require_rank("first_token", first_token, 1, "[B]")
    keys = _row_keys(key, first_token.shape[0])
    keys = jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, num_steps))(keys), 0, 1)  # [L, B]

    def pick(logits: Array, row_keys: Array) -> Array:
        if temperature == 0:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        filtered = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)
        return jax.vmap(jax.random.categorical)(row_keys, filtered).astype(jnp.int32)

    return _decode_tokens(step_fn, state, first_token, num_steps, pick, keys, eos_id, pad_id, context)


def _decode_tokens(
    step_fn: StepFn,
    state: Any,
    first_token: Array,
    num_steps: int,
    pick: Callable[[Array, Any], Array],
    keys: Array | None,
    eos_id: int | None,
    pad_id: int,
    context: Any,
) -> Decoded:
    """The loop shared by greedy and sampling: ``pick(logits [B, V], keys_t) -> [B]``, eos bookkeeping."""
    check_count("num_steps", num_steps)
    checks.require_rank("first_token", first_token, 1, "[B]")
    checks.require_integer("first_token", first_token)
    batch = first_token.shape[0]

    def body(carry: tuple[Any, ...], xs: tuple[Array, Any]) -> tuple[tuple[Any, ...], Array]:
        state, token, done, score, length = carry
        _, step_keys = xs
        state, logits = step_fn(state, token, context)
        check_logits(logits, batch, eos_id, pad_id)
        logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        token = jnp.where(done, pad_id, pick(logits, step_keys)).astype(jnp.int32)
        gained = jnp.take_along_axis(logp, token[:, None], axis=-1)[:, 0]
        score = score + jnp.where(done, 0.0, gained)
        length = length + jnp.where(done, 0, 1).astype(jnp.int32)
        if eos_id is not None:
            done = done | (token == eos_id)
        return (state, token, done, score, length), token

    zeros = jnp.zeros((batch,), jnp.int32)
    init = (state, first_token.astype(jnp.int32), zeros == 1, zeros.astype(jnp.float32), zeros)
    steps = jnp.arange(num_steps, dtype=jnp.int32)
    (_, _, _, score, length), tokens = jax.lax.scan(body, init, (steps, keys))
    return Decoded(jnp.swapaxes(tokens, 0, 1), score, length)


# ------------------------------------------------------------------------------- helpers
def batch_major(tree: Any) -> Any:
    """Stacked scan outputs ``[T, B, ...]`` -> ``[B, T, ...]``."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1) if x.ndim >= 2 else x, tree)


def check_count(name: str, value: Any) -> None:
    """Raises a one-line ``ValueError`` unless ``value`` is a positive int (``name`` in the message)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    """One-line ``ValueError`` naming the setting unless ``temperature >= 0``, ``top_k >= 0``, ``0 < top_p <= 1``."""
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be an int >= 0 (0 keeps all), got {top_k!r}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must lie in (0, 1] (1 keeps all), got {top_p}")


def check_logits(logits: Any, rows: int, eos_id: int | None, pad_id: int) -> None:
    """Trace-time check of what the step function returned for token decoding."""
    if checks.shape_of(logits)[:1] != (rows,) or len(checks.shape_of(logits)) != 2:
        raise ValueError(f"step_fn must return logits of shape [{rows}, V], got shape {checks.shape_of(logits)}")
    vocab = logits.shape[-1]
    for name, value in (("eos_id", eos_id), ("pad_id", pad_id)):
        if value is not None and not 0 <= value < vocab:
            raise ValueError(f"{name}={value} is outside the step function's vocabulary [0, {vocab})")


def _row_keys(key: Array, batch: int) -> Array:
    """One key per row: ``fold_in(key, b)`` for a single key, or the given ``[B]`` keys."""
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    single_rank = 0 if typed else 1
    if key.ndim == single_rank:
        return jax.vmap(lambda b: jax.random.fold_in(key, b))(jnp.arange(batch))
    if key.ndim != single_rank + 1 or key.shape[0] != batch:
        raise ValueError(f"key must be one PRNG key or one per row ({batch}), got shape {key.shape}")
    return key
