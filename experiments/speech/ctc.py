"""Connectionist temporal classification (Graves et al. 2006): the training loss and two decoders.

A model emits, for each of ``T`` frames, a distribution ``y^t [V]`` over ``V`` symbols, one of which
is the blank ``b``. A path ``pi [T]`` (one symbol a frame) maps to a labelling by ``B``: merge runs of
equal symbols, then drop blanks (``B(a a b b a) = a a``, ``B(a a a) = a``). A labelling's probability
sums its paths:

    p(l | x) = sum_{pi : B(pi) = l} prod_t y^t_{pi_t},        loss(x, l) = -log p(l | x)

:func:`ctc_loss` computes it for a padded batch (``logits [B, T, V]``, ``labels [B, L]`` with their
lengths) by ``optax.ctc_loss``'s forward recursion; padded frames and padded label positions are
masked before it sees them, so whatever they hold changes neither the loss nor its gradient (zero
at padded frames).

Feasibility: two equal adjacent symbols need a blank between them, so a labelling of ``U`` symbols
with ``R`` adjacent equal pairs needs at least ``U + R`` frames (:func:`min_frames`). With fewer,
``p(l | x) = 0``; optax stands ``-1e5`` in for ``log 0``, so the loss of such an example is finite
but about ``1e5`` and its gradient meaningless (it is *not* ``inf``). The speech data loader
refuses such utterances before training, one line naming each (``data.check_fits``, through
:func:`min_frames`); :func:`repeats` and :func:`feasible` give the same check for a padded batch.

Decoding runs on the host in NumPy over ``log_probs [T, V]`` (normalised: ``log_softmax`` of logits):

* :func:`greedy_decode` (best path): ``B(argmax_v y^t_v, t = 1..T)``, the labelling of the single
  most probable path, which need not be the most probable labelling.
* :func:`prefix_beam_search` (Graves 2012 section 7.3, Hannun et al. 2014): a beam of labelling
  prefixes ``l``, each with the probability of the first ``t`` frames emitting ``l`` and ending in a
  blank (``p_b``) or in ``l``'s last symbol (``p_nb``). With ``l = l' + (c,)`` and ``y = y^t``:

      p_b(l, t)  = (p_b(l, t-1) + p_nb(l, t-1)) y_b
      p_nb(l, t) = p_nb(l, t-1) y_c + (p_b(l', t-1) if c == last(l') else p_b(l', t-1) + p_nb(l', t-1)) y_c

  and the beam keeps the ``beam`` prefixes of largest ``p_b + p_nb``. It is exact when the beam
  never drops a prefix; with ``beam = 1`` it is *not* the same as best path in general (see the
  tests for an example and for a condition under which they agree).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax


def ctc_loss(
    logits: jax.Array, logit_lengths: jax.Array, labels: jax.Array, label_lengths: jax.Array, blank: int
) -> jax.Array:
    """-log p(labels | logits) per example, summed over every alignment ``[B]``.

    ``logits [B, T, V]`` (unnormalised), ``logit_lengths [B]`` (frames used of each row),
    ``labels [B, L]`` (ids in ``[0, V)``, never ``blank`` within a row's length), ``label_lengths [B]``,
    ``blank`` (a static int). Values beyond a row's lengths are ignored. An infeasible row (see
    :func:`feasible`) gets about ``1e5``, not ``inf``.
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    logit_lengths, label_lengths = jnp.asarray(logit_lengths), jnp.asarray(label_lengths)
    if logits.ndim != 3:
        raise ValueError(f"logits: expected [B, T, V], got shape {logits.shape}")
    batch, frames, vocab = logits.shape
    if logit_lengths.shape != (batch,):
        raise ValueError(f"logit_lengths: expected shape ({batch},), got {logit_lengths.shape}")
    if labels.ndim != 2 or labels.shape[0] != batch:
        raise ValueError(f"labels: expected [{batch}, L], got shape {labels.shape}")
    if label_lengths.shape != (batch,):
        raise ValueError(f"label_lengths: expected shape ({batch},), got {label_lengths.shape}")
    if not 0 <= blank < vocab:
        raise ValueError(f"blank: {blank} is not a symbol of the {vocab} in logits")
    if labels.shape[1] == 0:  # optax needs one label column; an all-empty batch gets a padded one
        labels = jnp.full((batch, 1), blank, labels.dtype)
    frame_pad = jnp.arange(frames)[None, :] >= logit_lengths[:, None]  # [B, T]
    label_pad = jnp.arange(labels.shape[1])[None, :] >= label_lengths[:, None]  # [B, L]
    # Garbage (even inf / nan) at padded frames must not reach optax's arithmetic (0 * nan = nan).
    # Padded labels become the blank: optax ignores them anyway, this keeps every id in range.
    logits = jnp.where(frame_pad[:, :, None], jnp.zeros((), logits.dtype), logits)
    labels = jnp.where(label_pad, blank, labels)
    return optax.ctc_loss(
        logits, frame_pad.astype(logits.dtype), labels, label_pad.astype(logits.dtype), blank_id=blank
    )


def min_frames(labels: Sequence[int]) -> int:
    """The fewest frames that can emit ``labels``: their number plus their adjacent equal pairs."""
    labels = list(labels)
    return len(labels) + sum(a == b for a, b in zip(labels[:-1], labels[1:]))


def repeats(labels: np.ndarray, label_lengths: np.ndarray) -> np.ndarray:
    """Adjacent equal pairs within each row's length ``[B]`` of padded ``labels [B, L]``, ``label_lengths [B]``."""
    labels, label_lengths = np.asarray(labels), np.asarray(label_lengths)
    if labels.ndim != 2:
        raise ValueError(f"labels: expected [B, L], got shape {labels.shape}")
    if label_lengths.shape != labels.shape[:1]:
        raise ValueError(f"label_lengths: expected shape {labels.shape[:1]}, got {label_lengths.shape}")
    inside = np.arange(1, labels.shape[1])[None, :] < label_lengths[:, None]  # [B, L - 1]: pair (n-1, n) in the row
    return np.sum((labels[:, 1:] == labels[:, :-1]) & inside, axis=1)


def feasible(label_lengths: np.ndarray | int, repeats: np.ndarray | int, logit_lengths: np.ndarray | int) -> np.ndarray:
    """Whether each example can be emitted at all, ``label_lengths + repeats <= logit_lengths`` (all ``[B]``)."""
    return np.asarray(label_lengths) + np.asarray(repeats) <= np.asarray(logit_lengths)


def _frames(log_probs: np.ndarray, length: int, blank: int) -> np.ndarray:
    """``log_probs [T, V]`` checked against ``length`` and ``blank``, its first ``length`` frames in float64."""
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs: expected [T, V], got shape {log_probs.shape}")
    if not 0 <= length <= log_probs.shape[0]:
        raise ValueError(f"length: {length} is not in [0, {log_probs.shape[0]}]")
    if not 0 <= blank < log_probs.shape[1]:
        raise ValueError(f"blank: {blank} is not a symbol of the {log_probs.shape[1]} in log_probs")
    return log_probs[:length].astype(np.float64)


def greedy_decode(log_probs: np.ndarray, length: int, blank: int) -> list[int]:
    """Best path: the most probable symbol of each of the first ``length`` frames of ``log_probs [T, V]``,
    runs merged and blanks dropped."""
    best = np.argmax(_frames(log_probs, length, blank), axis=-1)  # [length]
    new_run = np.concatenate([[True], best[1:] != best[:-1]])
    return [int(s) for s in best[new_run & (best != blank)]]


def prefix_beam_search(
    log_probs: np.ndarray, length: int, blank: int, beam: int
) -> list[tuple[tuple[int, ...], float]]:
    """The ``beam`` most probable labelling prefixes of the first ``length`` frames of ``log_probs [T, V]``.

    Returns up to ``beam`` ``(prefix, log(p_b + p_nb))`` pairs, best first. Prefixes of probability zero
    are dropped; ties keep the earlier candidate (kept prefixes before extensions, then by parent's rank
    and symbol id).
    """
    frames = _frames(log_probs, length, blank)
    if beam < 1:
        raise ValueError(f"beam: must be at least 1, got {beam}")
    vocab = frames.shape[1]
    prefixes: list[tuple[int, ...]] = [()]
    log_b, log_nb = np.zeros(1), np.full(1, -np.inf)  # [K] each, K = len(prefixes)
    for y in frames:
        total = np.logaddexp(log_b, log_nb)  # [K]
        last = np.array([p[-1] if p else -1 for p in prefixes], dtype=np.int64)  # [K], -1: empty prefix
        stay_b = total + y[blank]
        stay_nb = np.where(last >= 0, log_nb + y[np.maximum(last, 0)], -np.inf)
        extend = total[:, None] + y[None, :]  # [K, V]: prefix k followed by symbol v
        rows = np.flatnonzero(last >= 0)
        extend[rows, last[rows]] = log_b[rows] + y[last[rows]]  # a repeat needs a blank in between
        extend[:, blank] = -np.inf
        rank = {p: k for k, p in enumerate(prefixes)}
        for k, p in enumerate(prefixes):  # an extension already in the beam merges into it
            parent = rank.get(p[:-1]) if p else None
            if parent is not None:
                stay_nb[k] = np.logaddexp(stay_nb[k], extend[parent, p[-1]])
                extend[parent, p[-1]] = -np.inf
        scores = np.concatenate([np.logaddexp(stay_b, stay_nb), extend.ravel()])
        chosen = np.argsort(-scores, kind="stable")[:beam]
        chosen = chosen[scores[chosen] > -np.inf]
        state = []  # (prefix, log p_b, log p_nb) of the chosen, best first
        for j in chosen:
            if j < len(prefixes):
                state.append((prefixes[j], stay_b[j], stay_nb[j]))
            else:
                k, v = divmod(j - len(prefixes), vocab)
                state.append((prefixes[k] + (v,), -np.inf, extend[k, v]))
        if not state:  # every prefix has probability zero (log_probs of -inf)
            return []
        prefixes = [p for p, _, _ in state]
        log_b, log_nb = np.array([b for _, b, _ in state]), np.array([nb for _, _, nb in state])
    return [(p, float(s)) for p, s in zip(prefixes, np.logaddexp(log_b, log_nb))]


def batch_decode(log_probs: np.ndarray, lengths: np.ndarray, blank: int, beam: int) -> list[list[int]]:
    """One labelling per row of ``log_probs [B, T, V]`` over its ``lengths [B]`` frames: best path when
    ``beam == 1`` (which can differ from a one-prefix beam search), else the best of a prefix beam search."""
    log_probs, lengths = np.asarray(log_probs), np.asarray(lengths)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs: expected [B, T, V], got shape {log_probs.shape}")
    if lengths.shape != log_probs.shape[:1]:
        raise ValueError(f"lengths: expected shape {log_probs.shape[:1]}, got {lengths.shape}")
    if beam < 1:
        raise ValueError(f"beam: must be at least 1, got {beam}")
    if beam == 1:
        return [greedy_decode(row, int(n), blank) for row, n in zip(log_probs, lengths)]
    decoded = []
    for row, n in zip(log_probs, lengths):
        hypotheses = prefix_beam_search(row, int(n), blank, beam)
        decoded.append(list(hypotheses[0][0]) if hypotheses else [])
    return decoded
