"""The one training harness: ``train_and_evaluate(config, workdir, experiment)``.

It owns everything an experiment does not (see :mod:`rnn_research.experiment`): the jitted
train step (``value_and_grad``, global-norm clipping and the optax optimizer from
``config.optim``), sharding of batches over every device, periodic evaluation (in-graph, then
the experiment's host-side evaluators), checkpoints (latest and best), early stopping, the
non-finite guard, metrics (JSONL, TensorBoard, console, PNG curves), gradient-flow diagnostics,
and a final evaluation of the best checkpoint. Started again in the same workdir, it resumes
from the latest checkpoint and ends with the same parameters and metrics as a run that was
never interrupted.

Modules: :mod:`~rnn_research.train.loop` (the loop, ``evaluate_checkpoint``),
:mod:`~rnn_research.train.harness` (the pieces of a run), :mod:`~rnn_research.train.evaluators`
(host-side metrics, ``best_metric``, ``stop_when``), :mod:`~rnn_research.train.resume` (which
config changes a workdir accepts), :mod:`~rnn_research.train.validate` (ranges and choices of the
generic fields, checked before anything is written).

Usable from a notebook::

    from experiments.synthetic import task as synthetic
    from configs.synthetic import adding as synthetic_adding
    metrics = train.train_and_evaluate(synthetic_adding.get_config("smoke"), "/tmp/run", synthetic)
"""

from __future__ import annotations

from rnn_research.train.evaluators import (
    best_metric_value,
    check_metric_names,
    make_evaluators,
    parse_stop_when,
    run_evaluators,
)
from rnn_research.train.harness import Harness, NonFiniteError, TrainState, mean_metrics, total_steps
from rnn_research.train.loop import evaluate_checkpoint, train_and_evaluate
from rnn_research.train.resume import (
    ADDED_FIELDS,
    COMPUTATION_ONLY,
    RESUMABLE_CHANGES,
    added_fields,
    check_config_for_resume,
    check_optimizer_for_restore,
    with_added_fields,
)
from rnn_research.train.validate import check_config

__all__ = [
    "ADDED_FIELDS",
    "COMPUTATION_ONLY",
    "RESUMABLE_CHANGES",
    "Harness",
    "NonFiniteError",
    "TrainState",
    "added_fields",
    "best_metric_value",
    "check_metric_names",
    "check_config",
    "check_config_for_resume",
    "check_optimizer_for_restore",
    "evaluate_checkpoint",
    "make_evaluators",
    "mean_metrics",
    "parse_stop_when",
    "run_evaluators",
    "total_steps",
    "train_and_evaluate",
    "with_added_fields",
]
