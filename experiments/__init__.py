"""Experiments: each module supplies data, a model head, a loss and metrics (see rnn_research.experiment)."""

import importlib
from types import ModuleType

EXPERIMENTS = ("synthetic", "lm", "sentiment", "forecasting")


def get(name: str) -> ModuleType:
    """The experiment module called ``name`` (``config.experiment``)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"config.experiment={name!r} is not one of {list(EXPERIMENTS)}")
    return importlib.import_module(f"experiments.{name}")
