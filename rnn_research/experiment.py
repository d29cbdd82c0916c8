"""The experiment contract: what a task gives the one training harness.

An experiment supplies data, a model, a loss and metrics; :func:`rnn_research.train.train_and_evaluate`
does everything else (optimisation, sharding, evaluation, checkpoints, metrics, diagnostics).

Batches are dicts of host-local NumPy arrays with static shapes whose leading axis is this
host's share of the global batch (``config.train.batch_size``; see
:func:`rnn_research.sharding.host_slice`). ``train_batches(step)`` must yield the batches of
steps ``step, step + 1, ...`` and depend only on the config and the step, so that a resumed
run sees exactly the data an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

import flax.linen as nn
import jax
import ml_collections

Batch = Mapping[str, Any]
Metrics = dict[str, jax.Array]


class Data(tuple):
    """``(train_batches, eval_sets, info)`` as returned by ``make_data``.

    * ``train_batches(start_step) -> Iterator[Batch]``
    * ``eval_sets``: ``{name: () -> Iterable[Batch]}``, finite and the same at every call
    * ``info``: sizes the model needs (vocabulary, features), ``steps_per_epoch`` if the
      schedule decays per epoch; the locked config is never written to.
    """

    def __new__(
        cls,
        train_batches: Callable[[int], Iterator[Batch]],
        eval_sets: Mapping[str, Callable[[], Iterable[Batch]]],
        info: Mapping[str, Any],
    ) -> Data:
        return super().__new__(cls, (train_batches, dict(eval_sets), dict(info)))


class Experiment(Protocol):
    """What an experiment module (or object) provides."""

    def make_data(self, config: ml_collections.ConfigDict) -> Data:
        """``Data(train_batches, eval_sets, info)``: host-local batches of ``[B, ...]`` arrays."""
        ...

    def make_model(self, config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> nn.Module:
        """The Flax module that ``loss_and_metrics`` applies (``info`` carries sizes such as the vocabulary)."""
        ...

    def init_carry(self, config: ml_collections.ConfigDict, info: Mapping[str, Any], batch_size: int) -> Any:
        """State held across batches (e.g. an LM's hidden state), host-local ``[B, ...]`` arrays; ``{}`` if none."""
        ...

    def model_inputs(self, batch: Batch, carry: Any) -> tuple:
        """Positional arguments of ``model.init``/``model.apply`` for ``batch`` (used to initialise)."""
        ...

    def loss_and_metrics(
        self, model: nn.Module, variables: Any, batch: Batch, carry: Any, rng: jax.Array, train: bool
    ) -> tuple[jax.Array, tuple[Metrics, Any]]:
        """``(loss, (metrics, new_carry))`` for ``batch`` (a dict of ``[B, ...]`` arrays); ``variables`` is ``{"params": ...}`` (plus
        ``"perturbations"`` for gradient diagnostics): pass it to ``model.apply`` unchanged.
        Metrics are scalar means over the batch, averaged over batches by the harness, except
        those named ``total_*``: per-batch sums (counts) that the harness adds up over a split
        (or a logging window), so that ``finalize_metrics`` can form exact ratios such as accuracy
        when the last batch is padded."""
        ...


def has(experiment: Any, name: str) -> bool:
    """Whether ``experiment`` provides the optional hook ``name`` (e.g. ``"init_carry"``) as a callable."""
    return callable(getattr(experiment, name, None))
