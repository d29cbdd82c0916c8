"""Batched beam search with the GNMT length penalty over a step function (the rules are in
:mod:`rnn_research.decoding`'s docstring)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rnn_research import checks
from rnn_research.decoding.loops import StepFn, check_count, check_logits

Array = jax.Array


class Beams(NamedTuple):
    """Beam search, best first: ``sequences [B, K, L]``, ``scores [B, K]`` (normalised), ``lengths [B, K]``.

    Slots with no hypothesis (more beams than possible sequences) have score ``-inf``,
    length 0 and only ``pad_id`` tokens.
    """

    sequences: Array
    scores: Array
    lengths: Array


# ------------------------------------------------------------------------------- beam search
def length_penalty(lengths: Array, alpha: float) -> Array:
    """The GNMT length penalty ``((5 + lengths) / 6) ** alpha`` for ``lengths [...]``; 1 when ``alpha=0``."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    return ((5.0 + jnp.asarray(lengths, jnp.float32)) / 6.0) ** alpha


def beam_search(
    step_fn: StepFn,
    state: Any,
    first_token: Array,
    num_steps: int,
    beam_size: int,
    *,
    eos_id: int,
    pad_id: int = 0,
    alpha: float = 0.0,
    context: Any = None,
) -> Beams:
    """Batched beam search with the GNMT length penalty; see the module docstring for the rules.

    ``state`` and ``context`` leaves ``[B, ...]`` are repeated to ``[B*K, ...]`` (row ``b * K + k``
    is beam ``k`` of example ``b``) and the state is gathered by each survivor's parent beam every
    step. A hypothesis is finished when it emits ``eos_id`` (its length counts the eos) or when it
    reaches ``num_steps`` tokens; its score is ``log p / length_penalty(length, alpha)``.

    Args:
      step_fn: ``(state, tokens [B*K], context) -> (state, logits [B*K, V])``.
      state: pytree of ``[B, ...]`` leaves.
      first_token: ``[B]`` integer ids fed to the first step.
      num_steps: the most tokens per hypothesis ``L >= 1``.
      beam_size: ``K >= 1``.
      eos_id: the end-of-sequence id.
      pad_id: fills each sequence after its end.
      alpha: length-penalty exponent ``>= 0``.
      context: pytree of ``[B, ...]`` leaves, repeated per beam.

    Returns:
      ``Beams(sequences [B, K, L], scores [B, K], lengths [B, K])``, best first.
    """
    check_count("num_steps", num_steps)
    check_count("beam_size", beam_size)
    length_penalty(0, alpha)  # checks alpha
    checks.require_rank("first_token", first_token, 1, "[B]")
    checks.require_integer("first_token", first_token)
    batch, k, steps = first_token.shape[0], beam_size, num_steps

    def expand(tree: Any) -> Any:
        return jax.tree.map(lambda x: jnp.repeat(x, k, axis=0, total_repeat_length=batch * k), tree)

    context = expand(context)
    positions = jnp.arange(steps, dtype=jnp.int32)[None, None, :]
    rows = jnp.arange(batch, dtype=jnp.int32)[:, None] * k

    def body(carry: tuple[Any, ...], t: Array) -> tuple[tuple[Any, ...], None]:
        state, tokens, seqs, logp, done_seqs, done_scores, done_lengths = carry
        state, logits = step_fn(state, tokens.reshape(batch * k), context)
        check_logits(logits, batch * k, eos_id, pad_id)
        vocab = logits.shape[-1]
        token_logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1).reshape(batch, k, vocab)
        extended = (logp[:, :, None] + token_logp).reshape(batch, k * vocab)
        logp, best = jax.lax.top_k(extended, k)  # [B, K]: the K best extensions
        parent, tokens = best // vocab, (best % vocab).astype(jnp.int32)
        seqs = jnp.take_along_axis(seqs, parent[:, :, None], axis=1)
        seqs = jnp.where(positions == t, tokens[:, :, None], seqs)
        ends = (tokens == eos_id) | (t == steps - 1)
        scores = jnp.where(ends, logp / length_penalty(t + 1, alpha), -jnp.inf)
        pool = jnp.concatenate([done_scores, scores], axis=1)  # [B, 2K]: finished so far, then the new ones
        done_scores, chosen = jax.lax.top_k(pool, k)
        done_seqs = jnp.take_along_axis(jnp.concatenate([done_seqs, seqs], axis=1), chosen[:, :, None], axis=1)
        new_lengths = jnp.concatenate([done_lengths, jnp.full((batch, k), t + 1, jnp.int32)], axis=1)
        done_lengths = jnp.take_along_axis(new_lengths, chosen, axis=1)
        logp = jnp.where(tokens == eos_id, -jnp.inf, logp)  # an ended hypothesis leaves the alive set
        state = jax.tree.map(lambda x: jnp.take(x, (rows + parent).reshape(-1), axis=0), state)
        return (state, tokens, seqs, logp, done_seqs, done_scores, done_lengths), None

    pads = jnp.full((batch, k, steps), pad_id, jnp.int32)
    init = (
        expand(state),
        jnp.repeat(first_token.astype(jnp.int32)[:, None], k, axis=1),
        pads,
        jnp.where(jnp.arange(k)[None, :] == 0, 0.0, -jnp.inf) * jnp.ones((batch, 1)),  # one live beam at first
        pads,
        jnp.full((batch, k), -jnp.inf),
        jnp.zeros((batch, k), jnp.int32),
    )
    (*_, done_seqs, done_scores, done_lengths), _ = jax.lax.scan(body, init, jnp.arange(steps, dtype=jnp.int32))
    empty = done_scores == -jnp.inf
    return Beams(jnp.where(empty[:, :, None], pad_id, done_seqs), done_scores, jnp.where(empty, 0, done_lengths))
