"""The toy experiment plus host-side evaluators, and a second eval set ``valid`` after ``test``.

Two evaluators run after the in-graph metrics of each split:

* ``host``: the mean absolute error recomputed on the host from ``model.apply`` over the split's
  batches (the carry threaded as the toy's loss does), ``host_abs_err`` -- equal to the in-graph
  ``abs_err``, which checks what an evaluator is given;
* ``schedule``: ``score``, read from :data:`SCORES` by how many times the split has been
  evaluated in this run, so that the best ``valid/score`` is at a known step (the second
  evaluation) that is not the step of the best in-graph loss.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import Any

import ml_collections
import numpy as np

from rnn_research import cells
from rnn_research.experiment import Data, Evaluator
from tests import toy_experiment as toy
from tests.toy_experiment import init_carry, loss_and_metrics, make_model, model_inputs  # noqa: F401

# Per split, the score of its 1st, 2nd, 3rd, ... evaluation in one run (then 0.0).
SCORES = {"valid": (0.5, 0.9, 0.7), "test": (0.9, 0.1, 0.2)}


def get_config(**train_overrides: Any) -> ml_collections.ConfigDict:
    config = toy.get_config(**train_overrides)
    config.experiment = "toy_evaluator"
    return config


def make_data(config: ml_collections.ConfigDict) -> Data:
    """The toy's data with its eval set also offered as ``valid`` (second, so a bare metric name
    reads ``test``)."""
    train_batches, eval_sets, info = toy.make_data(config)
    return Data(train_batches, {"test": eval_sets["test"], "valid": eval_sets["test"]}, info)


def host_abs_err(model: Any, params: Any, split: str, batches: Iterable[Mapping[str, np.ndarray]]) -> dict:
    """``{"host_abs_err": mean |prediction - target|}`` over ``batches`` (``inputs [B, T, D]``)."""
    carry, errors = None, []
    for batch in batches:
        if carry is None:
            carry = [c["h"] for c in init_carry(None, None, len(batch["inputs"]))]
        preds, finals = model.apply({"params": params}, batch["inputs"], [cells.GRUState(h) for h in carry])
        errors.append(np.mean(np.abs(np.asarray(preds) - batch["targets"])))
        carry = [0.5 * np.asarray(s.h) for s in finals]
    return {"host_abs_err": float(np.mean(errors))}


host_abs_err.metrics = ("host_abs_err",)


def evaluators(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> dict[str, Evaluator]:
    calls: collections.Counter[str] = collections.Counter()

    def schedule(model: Any, params: Any, split: str, batches: Iterable[Any]) -> dict[str, float]:
        calls[split] += 1
        scores = SCORES[split]
        return {"score": scores[calls[split] - 1] if calls[split] <= len(scores) else 0.0}

    schedule.metrics = ("score",)  # declared: a best_metric naming neither is refused before training
    return {"host": host_abs_err, "schedule": schedule}
