"""Batches with static shapes from variable-length rows: buckets, padding, epoch plans, steps, hosts.

* :func:`bucket_lengths` -- a few padded lengths (length quantiles), so a run compiles at most
  one program per bucket; :func:`fit_bucket` picks the smallest that holds a row.
* :func:`pad_batch` -- any dict of row lists (``[L_i, *F]`` each) padded to one bucket length
  (a pad value per key) and to ``batch_size`` rows; per-row values padded too; adds
  ``lengths [B] int32`` (padding rows: 1) and ``weights [B] float32`` (1 real, 0 padding).
* :func:`epoch_plan` -- one epoch's batches of example indices: a seeded shuffle, sorted by
  length within pools of batches, batches in random order (:func:`epoch_rng` seeds it from
  ``(seed, epoch)``).
* :func:`step_indices` / :func:`step_stream` -- the batch of each global step as a pure function
  of (lengths, batch size, seed, step), so a resumed run sees exactly the batches it would have.
* :func:`host_rows` -- the rows of a global batch that process ``process_index`` of
  ``process_count`` produces (plain ints, no JAX).
* :func:`eval_batches` -- every example once, sorted by length, the last batch padded with
  weight-0 rows.

No JAX here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

__all__ = [
    "bucket_lengths",
    "epoch_plan",
    "epoch_rng",
    "eval_batches",
    "fit_bucket",
    "host_rows",
    "pad_batch",
    "round_up",
    "step_indices",
    "step_stream",
    "steps_per_epoch",
]


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is ``>= n``."""
    return int(-(-int(n) // multiple) * multiple)


def bucket_lengths(lengths: Sequence[int], num_buckets: int, *, multiple: int = 8) -> tuple[int, ...]:
    """A few padded lengths: the quantiles ``(i + 1) / num_buckets`` of ``lengths`` rounded up to
    ``multiple``; the last always holds the longest row."""
    if not len(lengths):
        raise ValueError("no sequences to bucket")
    count = max(num_buckets, 1)
    qs = np.quantile(np.asarray(lengths), [(i + 1) / count for i in range(count)])
    edges = {round_up(int(np.ceil(q)), multiple) for q in qs}
    edges.add(round_up(max(lengths), multiple))
    return tuple(sorted(e for e in edges if e > 0))


def fit_bucket(longest: int, buckets: Sequence[int]) -> int:
    """The smallest bucket ``>= longest``; an error when none is."""
    fits = [b for b in buckets if b >= longest]
    if not fits:
        raise ValueError(f"a row of {longest} tokens is longer than the largest bucket ({max(buckets)})")
    return min(fits)


def pad_batch(
    sequences: Mapping[str, Sequence[np.ndarray]],
    buckets: Sequence[int],
    batch_size: int,
    *,
    per_row: Mapping[str, np.ndarray] | None = None,
    pad_values: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """``n <= batch_size`` rows as one batch.

    ``sequences[key]``: ``n`` arrays ``[L_i, *F]`` -> ``[batch_size, bucket, *F]`` (their dtype),
    the bucket the smallest holding the longest row of any key; ``per_row[key]``: ``[n]`` ->
    ``[batch_size]``. Padding is ``pad_values.get(key, 0)``. Adds ``lengths`` (of the first
    sequence key; padding rows 1, so they read one pad step) and ``weights`` (1.0 real, 0.0 padding).
    """
    pads = pad_values or {}
    first = next(iter(sequences))
    n = len(sequences[first])
    if not 0 < n <= batch_size:
        raise ValueError(f"a batch needs 1..{batch_size} rows, got {n}")
    length = fit_bucket(max(len(r) for rows in sequences.values() for r in rows), buckets)
    out: dict[str, np.ndarray] = {}
    for key, rows in sequences.items():
        padded = np.full((batch_size, length, *rows[0].shape[1:]), pads.get(key, 0), rows[0].dtype)
        for i, r in enumerate(rows):
            padded[i, : len(r)] = r
        out[key] = padded
    lengths = np.ones(batch_size, np.int32)
    lengths[:n] = [len(r) for r in sequences[first]]
    out["lengths"] = lengths
    for key, values in (per_row or {}).items():
        values = np.asarray(values)
        column = np.full((batch_size, *values.shape[1:]), pads.get(key, 0), values.dtype)
        column[:n] = values
        out[key] = column
    weights = np.zeros(batch_size, np.float32)
    weights[:n] = 1.0
    out["weights"] = weights
    return out


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of epoch ``epoch``'s plan: ``numpy.random.default_rng([seed, epoch])``."""
    return np.random.default_rng([seed, epoch])


def epoch_plan(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """One epoch's batches of example indices: shuffled, then sorted by length within pools of
    ``pool`` batches (batches of similar lengths), batches in random order; every example once."""
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    size = batch_size * pool
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches in an epoch: ``ceil(num_examples / batch_size)`` (the last one may be short)."""
    return -(-num_examples // batch_size)


def step_indices(lengths: Sequence[int], batch_size: int, seed: int, pool: int = 50) -> Callable[[int], np.ndarray]:
    """``step -> example indices [<= batch_size]`` of that global step: batch ``step % E`` of
    epoch ``step // E``'s :func:`epoch_plan` from :func:`epoch_rng` (``E`` = steps per epoch).
    A pure function of its arguments and ``step``; the latest epoch's plan is cached."""
    per_epoch = steps_per_epoch(len(lengths), batch_size)
    plans: dict[int, list[np.ndarray]] = {}

    def at(step: int) -> np.ndarray:
        epoch, index = divmod(step, per_epoch)
        if epoch not in plans:
            plans.clear()
            plans[epoch] = epoch_plan(lengths, batch_size, epoch_rng(seed, epoch), pool)
        return plans[epoch][index]

    return at


def step_stream(batch_at: Callable[[int], T], start: int) -> Iterator[T]:
    """``batch_at(start), batch_at(start + 1), ...`` (endless)."""
    return (batch_at(step) for step in itertools.count(start))


def host_rows(batch_size: int, process_index: int, process_count: int) -> slice:
    """The contiguous rows ``[i * B / P, (i + 1) * B / P)`` of a global batch of ``B`` rows that
    process ``i`` of ``P`` produces; ``B`` must be a positive multiple of ``P``."""
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index={process_index} is not in [0, process_count={process_count})")
    if batch_size <= 0 or batch_size % process_count:
        raise ValueError(f"batch size {batch_size} must be a positive multiple of {process_count} processes")
    per_process = batch_size // process_count
    return slice(process_index * per_process, (process_index + 1) * per_process)


def eval_batches(
    sequences: Mapping[str, Sequence[np.ndarray]],
    buckets: Sequence[int],
    batch_size: int,
    *,
    per_row: Mapping[str, Sequence] | None = None,
    pad_values: Mapping[str, float] | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Every example once as :func:`pad_batch` batches, sorted by the first key's row lengths
    (least padding); the last batch padded with weight-0 rows."""
    first = next(iter(sequences))
    order = np.argsort([len(r) for r in sequences[first]], kind="stable")
    columns = {k: np.asarray(v) for k, v in (per_row or {}).items()}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        yield pad_batch(
            {k: [rows[i] for i in chunk] for k, rows in sequences.items()},
            buckets,
            batch_size,
            per_row={k: v[chunk] for k, v in columns.items()},
            pad_values=pad_values,
        )
