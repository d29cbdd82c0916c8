"""What an evaluation yields and how the harness reads it.

Host-side evaluators (the experiment's optional ``evaluators(config, info)`` hook, see
:class:`rnn_research.experiment.Experiment`) run after the in-graph evaluation of each split and
add float metrics to it (BLEU after beam search, WER after CTC decoding). Every metric of a split,
in-graph or host-side, is logged, plotted, and can be ``train.best_metric`` (``"bleu"``: on the
first eval set; ``"valid/bleu"``: on the set ``valid``) and ``train.stop_when``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ml_collections

from rnn_research.experiment import Evaluator, has


def make_evaluators(
    experiment: Any, config: ml_collections.ConfigDict, info: Mapping[str, Any]
) -> dict[str, Evaluator]:
    """``experiment.evaluators(config, info)`` checked to be ``{name: callable}``; ``{}`` without the hook."""
    if not has(experiment, "evaluators"):
        return {}
    made = experiment.evaluators(config, info)
    name = getattr(experiment, "__name__", type(experiment).__name__)
    if not isinstance(made, Mapping) or not all(isinstance(k, str) and callable(v) for k, v in made.items()):
        raise ValueError(f"{name}.evaluators(config, info) must return {{name: callable}}, not {made!r}")
    return dict(made)


def run_evaluators(
    evaluators: Mapping[str, Evaluator],
    model: Any,
    params: Any,
    split: str,
    batches: Callable[[], Iterable[Any]],
    values: dict[str, float],
) -> dict[str, float]:
    """``values`` (a split's in-graph metrics) plus every evaluator's metrics on that split.

    Each evaluator is called as ``evaluator(model, params, split, batches())`` and returns
    ``{metric: float}``; a metric the split already has, or a value that is not a real number,
    is a one-line error naming the evaluator.
    """
    merged = dict(values)
    for name, evaluate in evaluators.items():
        found = evaluate(model, params, split, batches())
        if not isinstance(found, Mapping):
            raise ValueError(
                f"evaluator {name!r} returned {type(found).__name__}, not {{metric: float}} (split {split!r})"
            )
        for metric, value in found.items():
            if metric in merged:
                raise ValueError(f"evaluator {name!r} returns {metric!r}, which split {split!r} already has")
            try:
                merged[metric] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"evaluator {name!r}: {metric}={value!r} is not a number (split {split!r})") from None
    return merged


def best_metric_value(results: Mapping[str, Mapping[str, float]], best_metric: str) -> float:
    """The value of ``train.best_metric`` in one evaluation's ``{split: {metric: value}}``:
    ``"split/metric"`` names the split, a bare ``"metric"`` reads the first split."""
    split, _, metric = best_metric.rpartition("/")
    if split and split not in results:
        raise ValueError(f"train.best_metric={best_metric!r} names split {split!r}, not one of {sorted(results)}")
    values = results[split] if split else next(iter(results.values()))
    if metric not in values:
        raise ValueError(f"train.best_metric={best_metric!r} is not an eval metric ({sorted(values)})")
    return float(values[metric])


_STOP_WHEN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$")
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def stop_when_metric(text: str) -> str | None:
    """The metric ``train.stop_when`` names (``"mse<0.01"`` -> ``"mse"``), or None when empty."""
    parse_stop_when(text)  # a malformed value is its one-line error
    match = _STOP_WHEN.match(text) if text else None
    return match.group(1) if match else None


def check_metric_names(config: ml_collections.ConfigDict, names: Mapping[str, set[str] | None]) -> None:
    """Refuses, before training, a ``train.best_metric`` or ``train.stop_when`` that names a split
    or metric the evaluation will not report. ``names``: per eval set (in order), the metric names
    it reports, or None where they are not known in advance (an evaluator that declares no
    ``metrics``); those sets are not checked."""
    if not names:
        return
    tc = config.train
    wanted = [("train.best_metric", str(tc.best_metric))]
    named = stop_when_metric(tc.get("stop_when", ""))
    if named:
        wanted.append(("train.stop_when", named))
    first = next(iter(names))
    for key, value in wanted:
        split, _, metric = value.rpartition("/")
        if key == "train.stop_when":
            split, metric = first, value  # stop_when reads the first eval set
        if split and split not in names:
            raise ValueError(f"{key}={value!r} names split {split!r}, not one of {list(names)}")
        known = names[split or first]
        if known is not None and metric not in known:
            raise ValueError(
                f"{key}={value!r}: {metric!r} is not a metric of eval set {split or first!r} ({sorted(known)})"
            )


def parse_stop_when(text: str) -> Callable[[dict[str, float]], bool] | None:
    """``train.stop_when`` (``"mse<0.01"``, ``"copy_accuracy>=0.99"``; empty: never) -> a test on
    the first eval set's metrics (evaluators' included). A malformed value is a one-line error
    naming the key."""
    if not text:
        return None
    match = _STOP_WHEN.match(text)
    if match is None:
        raise ValueError(f"train.stop_when={text!r} must read '<metric><op><number>' with op one of <, <=, >, >=")
    try:
        value = float(match.group(3))
    except ValueError:
        raise ValueError(f"train.stop_when={text!r}: {match.group(3)!r} is not a number") from None
    name, op = match.group(1), _COMPARE[match.group(2)]

    def met(values: dict[str, float]) -> bool:
        if name not in values:
            raise ValueError(f"train.stop_when names {name!r}, which is not an eval metric ({sorted(values)})")
        return bool(op(values[name], value))

    return met
