"""Resume compatibility: which config changes a workdir accepts, and which fields it may lack.

A workdir's ``config.json`` is the config it was trained with. A later run (or evaluation) in
it is refused when a field that changes the trained function differs. Three lists decide:

* :data:`RESUMABLE_CHANGES`: flat keys that may change between a run and its resumption (the
  schedule's length, logging, and :data:`COMPUTATION_ONLY`: how the same function is computed);
* :data:`ADDED_FIELDS`: keys added to the base config after workdirs were written, with the
  value a saved config without them ran with; an experiment extends them with its own
  ``ADDED_FIELDS`` (see :mod:`rnn_research.experiment`);
* an experiment's ``FORMER_NAMES``: names it had before a rename, equal to its name now.

The harness names no experiment's field: experiment fields come from the experiment module.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from rnn_research import io

# ``config.model`` fields that choose how the same function is computed (the backward pass, scan
# unrolling, rematerialisation, the scan algorithm): they may change on resume and at inference.
COMPUTATION_ONLY = ("backward", "unroll", "remat", "scan_mode")
# ``config.model`` fields that do not change the trained function (those above, and training-only
# regularisers): evaluation and inference accept other values. Experiments extend it with their own.
TRAINING_ONLY = (*COMPUTATION_ONLY, "dropout", "truncate_every")

# Flat keys that may change between a run and its resumption; any other change is refused.
RESUMABLE_CHANGES = (
    "train.num_steps",
    "train.num_epochs",
    "train.log_every",
    "train.plots",
    "train.early_stopping_evals",
    "train.stop_when",
    *(f"model.{field}" for field in COMPUTATION_ONLY),
)

# Generic fields added to the base config after workdirs were written: a saved config without one
# ran with this value, so it still resumes (and still loads for inference).
ADDED_FIELDS = {
    "model.learn_initial_state": False,
    "model.truncate_every": 0,
    "model.scan_mode": "auto",
    "optim.ema_decay": 0.0,
}


def added_fields(experiment: Any = None) -> dict[str, Any]:
    """:data:`ADDED_FIELDS` merged with ``experiment.ADDED_FIELDS`` (flat key -> old value), if any."""
    own = getattr(experiment, "ADDED_FIELDS", None) or {}
    if not isinstance(own, Mapping):
        raise ValueError(f"{_name(experiment)}.ADDED_FIELDS must be a dict of flat key -> value, not {own!r}")
    return {**ADDED_FIELDS, **own}


def former_names(experiment: Any = None) -> tuple[str, ...]:
    """``experiment.FORMER_NAMES`` (names the experiment had before a rename), or ``()``."""
    names = getattr(experiment, "FORMER_NAMES", ()) or ()
    if isinstance(names, str):
        raise ValueError(f"{_name(experiment)}.FORMER_NAMES must be a tuple of names, not the string {names!r}")
    return tuple(names)


def _name(experiment: Any) -> str:
    return getattr(experiment, "__name__", type(experiment).__name__)


def with_added_fields(
    saved: dict[str, Any], now: dict[str, Any], prefix: str = "", added: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Flat ``saved`` config with the ``added`` fields (default :data:`ADDED_FIELDS`) it lacks (those
    ``now`` has) filled in; ``prefix`` is stripped from their names (``"model."`` for a ``model`` sub-dict)."""
    fields = ADDED_FIELDS if added is None else added
    stripped = {k.removeprefix(prefix): v for k, v in fields.items() if k.startswith(prefix)}
    return {**{k: v for k, v in stripped.items() if k in now}, **saved}


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one dict keyed by dotted paths (``{"model": {"cell": "lstm"}}`` -> ``{"model.cell": "lstm"}``)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_saved(path: Path) -> dict[str, Any]:
    """The nested config a workdir's ``config.json`` holds; a malformed file is a one-line error."""
    try:
        return json.loads(io.read_utf8(path, key="--workdir"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); use a new --workdir") from None


def saved_flat(path: Path, now: dict[str, Any], experiment: Any = None) -> dict[str, Any]:
    """``path``'s flat config with added fields filled in and a former experiment name read as the
    current one (``now["experiment"]``)."""
    saved = with_added_fields(flatten(read_saved(path)), now, added=added_fields(experiment))
    if "experiment" in now and saved.get("experiment") in former_names(experiment):
        saved["experiment"] = now["experiment"]
    return saved


def check_config_for_resume(
    config: ml_collections.ConfigDict, workdir: Path, experiment: Any = None, *, saved_nothing: bool = False
) -> None:
    """Refuses a resume under an incompatible config, then writes ``config.json``.

    Called once the experiment has been built from the config, so a config that fails to build
    leaves no ``config.json`` behind to block the corrected run. ``experiment`` contributes its
    ``ADDED_FIELDS`` and ``FORMER_NAMES``. ``saved_nothing``: the workdir holds no checkpoint (its
    run failed or was stopped before the first save), so there is nothing to resume and a
    ``config.json`` that differs is replaced, with a note on stderr.
    """
    path = Path(workdir) / "config.json"
    current = json.loads(config.to_json_best_effort())
    if path.exists() and saved_nothing:
        try:
            same = read_saved(path) == current
        except ValueError:  # malformed: replaced like any other
            same = False
        if not same:
            print(
                f"note: {path} is from a run that saved no checkpoint; starting afresh under this config",
                file=sys.stderr,
            )
    elif path.exists():
        now = flatten(current)
        saved = saved_flat(path, now, experiment)
        _check_experiment(path, saved, now)
        changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
        refused = [k for k in changed if k not in RESUMABLE_CHANGES]
        if refused:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in refused)
            raise ValueError(f"{path} holds a run with a different config ({details}); use a new --workdir")
    io.atomic_write_json(path, current, indent=2, sort_keys=True)


def _check_experiment(path: Path, saved: dict[str, Any], now: dict[str, Any]) -> None:
    """Another experiment's workdir is named as such (not as a list of every key that differs)."""
    if "experiment" in now and saved.get("experiment") != now["experiment"]:
        raise ValueError(
            f"{path} holds a run of experiment {saved.get('experiment')!r}, not {now['experiment']!r}; "
            "use a new --workdir"
        )


def check_model_for_eval(config: ml_collections.ConfigDict, workdir: Path, experiment: Any = None) -> None:
    """Refuses, in one line naming the keys, evaluating ``workdir`` under another experiment or
    another ``model`` config than it was trained with (fields the experiment's ``TRAINING_ONLY``
    or :data:`COMPUTATION_ONLY` name may differ: they do not change the trained function)."""
    path = Path(workdir) / "config.json"
    if not path.exists():
        return
    now = flatten(json.loads(config.to_json_best_effort()))
    saved = saved_flat(path, now, experiment)
    _check_experiment(path, saved, now)
    free = {f"model.{k}" for k in (getattr(experiment, "TRAINING_ONLY", None) or TRAINING_ONLY)}
    changed = sorted(
        k for k in saved.keys() | now.keys() if k.startswith("model.") and k not in free and saved.get(k) != now.get(k)
    )
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ValueError(f"{path} was trained with another model ({details}); use that run's --config")


def check_optimizer_for_restore(config: ml_collections.ConfigDict, workdir: Path, experiment: Any = None) -> None:
    """Refuses, in one line naming the keys, an ``optim`` config other than the one ``workdir``
    was trained with: the checkpoint holds that optimizer's state (moments, a weight average),
    which another optimizer cannot read back."""
    path = Path(workdir) / "config.json"
    if not path.exists():
        return
    now = {k: v for k, v in flatten(json.loads(config.to_json_best_effort())).items() if k.startswith("optim.")}
    saved = saved_flat(path, now, experiment)
    changed = sorted(k for k in now if k in saved and saved[k] != now[k])
    if changed:
        details = ", ".join(f"{k}={saved[k]!r}, not {now[k]!r}" for k in changed)
        raise ValueError(f"{path} was trained with {details}; use that run's --config")
