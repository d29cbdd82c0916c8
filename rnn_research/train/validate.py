"""Range and choice checks of the generic config fields (``configs/base.py``), run before a run
writes anything: a bad value is one line naming the key, the value and what it must be, and the
workdir is left as it was (no ``config.json`` to block the corrected command).

Only fields present in the config are checked (an experiment's own config may lack some). An
experiment adds the rules of its own fields (``data.*``, ``sample.*``, ...) as its optional
``CONFIG_RULES`` constant, built from the same helpers: :func:`int_at_least`, :func:`at_least`,
:func:`fraction`, :func:`one_of`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ml_collections

from rnn_research.train import evaluators


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


Rule = tuple[Callable[[Any], bool], str]  # (test of a value, what the value must be)


def integer() -> Rule:
    """Any integer (not a bool)."""
    return _integer, "an integer"


def int_at_least(least: int) -> Rule:
    """An integer ``>= least``."""
    return (lambda v: _integer(v) and v >= least), f"an integer >= {least}"


def at_least(least: float, strict: bool = False) -> Rule:
    """A finite number ``>= least`` (``> least`` when ``strict``)."""
    if strict:
        return (lambda v: _number(v) and v > least), f"a finite number > {least:g}"
    return (lambda v: _number(v) and v >= least), f"a finite number >= {least:g}"


def fraction(low_open: bool = False, high_closed: bool = False) -> Rule:
    """A number in ``[0, 1)`` (a dropout rate); ``(0, 1)`` with ``low_open``, ``[0, 1]`` with ``high_closed``."""
    low, high = ("(", "<") if low_open else ("[", "<="), ("]", "<=") if high_closed else (")", "<")

    def test(v: Any) -> bool:
        return _number(v) and (v > 0 if low_open else v >= 0) and (v <= 1 if high_closed else v < 1)

    return test, f"a number in {low[0]}0, 1{high[0]}"


def one_of(*choices: Any) -> Rule:
    """One of ``choices``."""
    return (lambda v: v in choices), "one of " + ", ".join(repr(c) for c in choices)


def boolean() -> Rule:
    """True or False."""
    return (lambda v: isinstance(v, bool)), "True or False"


# key -> (test, what the value must be)
RULES: dict[str, Rule] = {
    "seed": (_integer, "an integer"),
    "model.hidden_size": int_at_least(1),
    "model.num_layers": int_at_least(1),
    "model.dropout": fraction(),
    "model.init_scale": at_least(0),
    "model.unroll": int_at_least(1),
    "model.remat": int_at_least(-1),
    "model.truncate_every": int_at_least(0),
    "optim.learning_rate": at_least(0),
    "optim.momentum": fraction(),
    "optim.weight_decay": at_least(0),
    "optim.rmsprop_decay": fraction(),
    "optim.eps": at_least(0, strict=True),
    "optim.clip_norm": at_least(0),
    "optim.warmup_steps": int_at_least(0),
    "optim.min_learning_rate": at_least(0),
    "optim.decay_factor": at_least(0, strict=True),
    "optim.decay_after_epochs": int_at_least(0),
    "optim.steps_per_epoch": int_at_least(0),
    "optim.ema_decay": fraction(),
    "train.batch_size": int_at_least(1),
    "train.num_epochs": at_least(0),
    "train.log_every": int_at_least(1),
    "train.eval_every": int_at_least(0),
    "train.checkpoint_every": int_at_least(0),
    "train.keep_checkpoints": int_at_least(1),
    "train.early_stopping_evals": int_at_least(0),
    "train.diagnostics_every": int_at_least(0),
    "train.nonfinite": one_of("halt", "skip"),
    "train.best_mode": one_of("min", "max"),
    "train.best_metric": (
        (lambda v: isinstance(v, str) and v.strip() != ""),
        "a metric name ('loss', 'valid/accuracy')",
    ),
    "train.stop_when": ((lambda v: isinstance(v, str)), "a string such as 'mse<0.01' ('': never)"),
    "train.plots": boolean(),
    "model.learn_initial_state": boolean(),
}

NOTES = {  # what a special value means, added to the message
    "train.eval_every": " (0: once per epoch)",
    "train.checkpoint_every": " (0: once per epoch)",
    "model.remat": " (0: off, -1: every ceil(sqrt(T)) steps)",
}


def _get(config: ml_collections.ConfigDict, key: str) -> tuple[bool, Any]:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_config(config: ml_collections.ConfigDict, experiment: Any = None) -> None:
    """Raises ``ValueError`` (one line: ``train.log_every=0 must be an integer >= 1``) for the
    first field out of its range: the generic fields (:data:`RULES`), then the experiment's
    ``CONFIG_RULES`` (with their ``CONFIG_NOTES``); ``train.num_steps`` must be >= 1 unless
    ``train.num_epochs`` sets the length."""
    rules = {**RULES, **dict(getattr(experiment, "CONFIG_RULES", None) or {})}
    notes = {**NOTES, **dict(getattr(experiment, "CONFIG_NOTES", None) or {})}
    for key, (test, must) in rules.items():
        present, value = _get(config, key)
        if present and not test(value):
            raise ValueError(f"{key}={value!r} must be {must}{notes.get(key, '')}")
    present, stop_when = _get(config, "train.stop_when")
    if present:
        evaluators.parse_stop_when(stop_when)  # its syntax; the metric it names is checked once the model is built
    present, steps = _get(config, "train.num_steps")
    _, epochs = _get(config, "train.num_epochs")
    if present and not epochs and not (_integer(steps) and steps >= 1):
        raise ValueError(f"train.num_steps={steps!r} must be an integer >= 1 (or set train.num_epochs > 0)")
