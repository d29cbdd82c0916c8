"""The experiment contract: what a task gives the one training harness.

An experiment supplies data, a model, a loss and metrics; :func:`rnn_research.train.train_and_evaluate`
does everything else (optimisation, sharding, evaluation, checkpoints, metrics, diagnostics).

Batches are dicts of host-local NumPy arrays with static shapes whose leading axis is this
host's share of the global batch (``config.train.batch_size``; see
:func:`rnn_research.sharding.host_slice`). ``train_batches(step)`` must yield the batches of
steps ``step, step + 1, ...`` and depend only on the config and the step, so that a resumed
run sees exactly the data an uninterrupted run would have seen.

Hooks: the four methods of :class:`Experiment` without "optional" in their docstring are
required; the others, and the constants :data:`OPTIONAL_CONSTANTS` lists, are optional. Every
name the harness or the launcher reads is in :data:`HOOKS`; :func:`check_hooks` refuses, in one
line, a public name of an experiment that is close to a hook but is not one (``finalise_metrics``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import flax.linen as nn
import jax
import ml_collections

Batch = Mapping[str, Any]
Metrics = dict[str, jax.Array]
# ``evaluator(model, params, split, batches) -> {metric: float}``: see ``Experiment.evaluators``.
Evaluator = Callable[[nn.Module, Any, str, Iterable[Batch]], Mapping[str, float]]


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
        """Optional. State held across batches (e.g. an LM's hidden state), host-local
        ``[batch_size, ...]`` arrays; without the hook (or ``{}``) no carry."""
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

    def prepare(self, config: ml_collections.ConfigDict, workdir: Path, info: Mapping[str, Any]) -> None:
        """Optional. Called on the chief process before training or evaluation: save what inference
        needs next to the checkpoints (a vocabulary), or refuse data that differs from it."""
        ...

    def finalize_metrics(self, config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
        """Optional. A split's (or logging window's) reduced metrics -> the metrics logged: means,
        sums for ``total_*``, plus derived ones (perplexity from nats, accuracy from counts)."""
        ...

    def evaluators(self, config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> Mapping[str, Evaluator]:
        """Optional. Host-side metrics: ``{name: evaluator}``, built once per run.

        At every evaluation, after the in-graph metrics of a split, the harness calls
        ``evaluator(model, params, split, batches) -> {metric: float}`` where ``model`` is
        ``make_model``'s module, ``params`` the evaluated parameters (replicated; pass
        ``{"params": params}`` to ``model.apply``), ``split`` the eval set's name and ``batches``
        a fresh iterable of that set's host-local batches (dicts of ``[B, ...]`` NumPy arrays).
        It runs on every process; decode there (beam search, CTC) and score on the host (BLEU,
        WER). The metrics join that split's: logged, plotted, usable as ``train.best_metric``
        (``"valid/bleu"``) and in ``train.stop_when``; a name the split already has is an error.
        An evaluator may declare the names it returns as a ``metrics`` attribute (a tuple), so that
        a ``train.best_metric`` naming none of a split's metrics is refused before training.
        """
        ...


# Optional module constants (name -> what it holds), read by the harness and the launcher:
OPTIONAL_CONSTANTS = {
    # {mode: fn(config, workdir) -> JSON-able result}: extra ``--mode``s (sample, predict, ...).
    "MODES": "dict[str, Callable[[ConfigDict, str | Path], Any]]",
    # {flat config key: value}: fields this experiment added after workdirs were written, with the
    # value an older saved config ran with (resume and inference fill them in).
    "ADDED_FIELDS": "dict[str, Any]",
    # Names this experiment had before a rename: a workdir saved under one resumes under the new name.
    "FORMER_NAMES": "tuple[str, ...]",
    # ``config.model`` fields inference ignores (extend ``rnn_research.configured.TRAINING_ONLY``),
    # for ``configured.check_model_config`` in the experiment's modes.
    "TRAINING_ONLY": "tuple[str, ...]",
    # Files ``prepare`` writes into the workdir that inference reads (``vocab.json``): their SHA-256
    # is saved with every checkpoint, and evaluation and inference refuse one that changed since.
    "ARTEFACTS": "tuple[str, ...]",
    # {flat config key: (test, what the value must be)}: ranges and choices of the experiment's own
    # fields, checked with the generic ones before a run writes anything (rnn_research.train.validate).
    "CONFIG_RULES": "dict[str, tuple[Callable[[Any], bool], str]]",
    # {flat config key: note}: what a special value of a field means, added to its error line.
    "CONFIG_NOTES": "dict[str, str]",
    # Metric names a console line shows, in this order (absent: every metric); names a record lacks
    # are skipped, and the line ends with ``(+N in metrics.jsonl)`` for those hidden. metrics.jsonl
    # and TensorBoard always get every metric.
    "CONSOLE_METRICS": "tuple[str, ...]",
    # {label: metric names}: shown once per split, on a line of their own (``[valid] label: ...``),
    # at the split's first record in the process: values that do not change, such as baselines.
    "CONSOLE_ONCE": "dict[str, tuple[str, ...]]",
}
REQUIRED_HOOKS = ("make_data", "make_model", "model_inputs", "loss_and_metrics")
OPTIONAL_HOOKS = ("init_carry", "prepare", "finalize_metrics", "evaluators")
HOOKS = (*REQUIRED_HOOKS, *OPTIONAL_HOOKS, *OPTIONAL_CONSTANTS)
# How close (difflib ratio) a public name must be to a hook's to be taken for a misspelling.
MISSPELLING_CUTOFF = 0.8


def misspelt_hooks(experiment: Any) -> dict[str, str]:
    """``{name: hook}`` for each public function or UPPER_CASE constant of ``experiment`` that is
    not a hook but is spelt like one (``finalise_metrics`` -> ``finalize_metrics``, ``modes`` -> ``MODES``)."""
    found = {}
    for name in dir(experiment):
        if name.startswith("_") or name in HOOKS:
            continue
        value = getattr(experiment, name, None)
        if inspect.ismodule(value):
            continue  # e.g. ``from experiments.forecasting import modes``
        same_letters = [h for h in HOOKS if h.lower() == name.lower()]
        if not (same_letters or inspect.isroutine(value) or name.isupper()):
            continue  # hooks are functions and UPPER_CASE constants, never classes or type aliases
        close = same_letters or difflib.get_close_matches(name, HOOKS, n=1, cutoff=MISSPELLING_CUTOFF)
        if close:
            found[name] = close[0]
    return found


def check_hooks(experiment: Any) -> None:
    """Refuses, in one line naming the module, an experiment with a misspelt hook (a name close to
    one of :data:`HOOKS`) or without a required one."""
    where = getattr(experiment, "__name__", type(experiment).__name__)
    missing = [h for h in REQUIRED_HOOKS if not has(experiment, h)]
    if missing:
        raise ValueError(f"experiment {where} lacks the required hook(s) {', '.join(missing)}")
    misspelt = misspelt_hooks(experiment)
    if misspelt:
        details = ", ".join(f"{name!r} (did you mean {hook!r}?)" for name, hook in misspelt.items())
        raise ValueError(f"experiment {where} has a name that is not a hook but is spelt like one: {details}")


def has(experiment: Any, name: str) -> bool:
    """Whether ``experiment`` provides the optional hook ``name`` (e.g. ``"init_carry"``) as a callable."""
    return callable(getattr(experiment, name, None))
