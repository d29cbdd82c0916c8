"""Range and choice checks of the generic config fields (``configs/base.py``), run before a run
writes anything: a bad value is one line naming the key, the value and what it must be, and the
workdir is left as it was (no ``config.json`` to block the corrected command).

Only fields present in the config are checked (an experiment's own config may lack some);
experiments check their own ``data``/``task`` fields where they read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ml_collections


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_at_least(least: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _integer(v) and v >= least), f"an integer >= {least}"


def _at_least(least: float, strict: bool = False) -> tuple[Callable[[Any], bool], str]:
    if strict:
        return (lambda v: _number(v) and v > least), f"a finite number > {least:g}"
    return (lambda v: _number(v) and v >= least), f"a finite number >= {least:g}"


def _fraction() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _number(v) and 0 <= v < 1), "a number in [0, 1)"


def _one_of(*choices: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in choices), "one of " + ", ".join(repr(c) for c in choices)


# key -> (test, what the value must be)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (_integer, "an integer"),
    "model.hidden_size": _int_at_least(1),
    "model.num_layers": _int_at_least(1),
    "model.dropout": _fraction(),
    "model.init_scale": _at_least(0),
    "model.unroll": _int_at_least(1),
    "model.remat": _int_at_least(-1),
    "model.truncate_every": _int_at_least(0),
    "optim.learning_rate": _at_least(0),
    "optim.momentum": _fraction(),
    "optim.weight_decay": _at_least(0),
    "optim.rmsprop_decay": _fraction(),
    "optim.eps": _at_least(0, strict=True),
    "optim.clip_norm": _at_least(0),
    "optim.warmup_steps": _int_at_least(0),
    "optim.min_learning_rate": _at_least(0),
    "optim.decay_factor": _at_least(0, strict=True),
    "optim.decay_after_epochs": _int_at_least(0),
    "optim.steps_per_epoch": _int_at_least(0),
    "optim.ema_decay": _fraction(),
    "train.batch_size": _int_at_least(1),
    "train.num_epochs": _at_least(0),
    "train.log_every": _int_at_least(1),
    "train.eval_every": _int_at_least(0),
    "train.checkpoint_every": _int_at_least(0),
    "train.keep_checkpoints": _int_at_least(1),
    "train.early_stopping_evals": _int_at_least(0),
    "train.diagnostics_every": _int_at_least(0),
    "train.nonfinite": _one_of("halt", "skip"),
    "train.best_mode": _one_of("min", "max"),
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


def check_config(config: ml_collections.ConfigDict) -> None:
    """Raises ``ValueError`` (one line: ``train.log_every=0 must be an integer >= 1``) for the
    first generic field out of its range; ``train.num_steps`` must be >= 1 unless
    ``train.num_epochs`` sets the length."""
    for key, (test, must) in RULES.items():
        present, value = _get(config, key)
        if present and not test(value):
            raise ValueError(f"{key}={value!r} must be {must}{NOTES.get(key, '')}")
    present, steps = _get(config, "train.num_steps")
    _, epochs = _get(config, "train.num_epochs")
    if present and not epochs and not (_integer(steps) and steps >= 1):
        raise ValueError(f"train.num_steps={steps!r} must be an integer >= 1 (or set train.num_epochs > 0)")
