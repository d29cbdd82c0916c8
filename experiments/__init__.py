"""Experiments: one package per task, found by convention.

``experiments/<name>/task.py`` is the contract module of the experiment ``<name>`` (what
``config.experiment`` names; see :class:`rnn_research.experiment.Experiment`), and
``configs/<name>/*.py`` are its presets. Adding an experiment edits no central list: a new
package with a ``task.py`` is found by :func:`get` and listed by ``python -m experiments.main
--list``. A task may declare ``FORMER_NAMES = ("old_name",)`` (names it had before a rename), so
that presets and workdirs written under an old name still resolve: :func:`canonical` reads them
from the ``task.py`` sources (without importing every task), and the harness reads them from the
task module when it compares a workdir's saved ``config.json``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent
CONFIGS = ROOT.parent / "configs"


def names() -> list[str]:
    """Every experiment: the packages under ``experiments/`` that hold a ``task.py``."""
    return sorted(p.parent.name for p in ROOT.glob("*/task.py"))


def declared_former_names(task_py: Path) -> tuple[str, ...]:
    """The ``FORMER_NAMES`` tuple a ``task.py`` assigns at module level (``()`` if none), read from its source."""
    for node in ast.parse(task_py.read_text(encoding="utf-8"), filename=str(task_py)).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "FORMER_NAMES" for t in node.targets):
            try:
                return tuple(ast.literal_eval(node.value))
            except ValueError:
                raise ValueError(f"{task_py}: FORMER_NAMES must be a literal tuple of names") from None
    return ()


def former_names() -> dict[str, str]:
    """Every name an experiment had before a rename -> its name now (from each task's ``FORMER_NAMES``)."""
    return {old: name for name in names() for old in declared_former_names(ROOT / name / "task.py")}


def canonical(name: str) -> str:
    """``name`` as the experiment is called now (a former name maps to the current one)."""
    return name if name in names() else former_names().get(name, name)


def get(name: str) -> ModuleType:
    """The contract module of the experiment ``name`` (``config.experiment``)."""
    known = names()
    name = canonical(str(name))
    if name not in known:
        raise ValueError(
            f"config.experiment={name!r} is not one of {known} (packages under experiments/ with a task.py)"
        )
    return importlib.import_module(f"experiments.{name}.task")


def presets(name: str) -> list[str]:
    """The preset files of experiment ``name``, as ``configs/<name>/<preset>.py`` paths."""
    folder = CONFIGS / name
    return sorted(f"configs/{name}/{p.name}" for p in folder.glob("*.py") if p.stem not in {"__init__", "common"})


def variants(path: str) -> list[str]:
    """The variants a preset file names in its ``VARIANTS`` tuple (empty if it declares none)."""
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return list(getattr(module, "VARIANTS", ()))


BUILTIN_MODES = {
    "train": "train (resuming from the latest checkpoint in --workdir), then evaluate the best",
    "eval": "evaluate the best (else the latest) checkpoint in --workdir",
}


def modes(name: str) -> dict[str, str]:
    """``{mode: first line of its docstring}`` for experiment ``name``: train, eval and its ``MODES``."""
    task = importlib.import_module(f"experiments.{canonical(name)}.task")
    extra = {
        mode: ((fn.__doc__ or "").strip().splitlines() or [""])[0].split(": ", 1)[-1].rstrip(".").replace("``", "")
        for mode, fn in getattr(task, "MODES", {}).items()
    }
    return {**BUILTIN_MODES, **extra}


def listing() -> str:
    """Every experiment with its modes, presets and their variants, one preset a line."""
    lines = []
    for name in names():
        doc = (importlib.import_module(f"experiments.{name}.task").__doc__ or "").strip().splitlines()
        lines.append(f"{name}: {doc[0].replace('``', '') if doc else ''}")
        lines.append(f"  --mode={'|'.join(modes(name))}")
        for mode, what in modes(name).items():
            if mode not in BUILTIN_MODES:
                lines.append(f"      {mode}: {what}")
        for path in presets(name):
            found = variants(path)
            if len(found) > 8:  # e.g. every data set x feature mode x horizon
                found = [*found[:3], f"... ({len(found)} in all; see the file)", found[-1]]
            lines.append(f"  --config={path}" + (f"[:{'|'.join(found)}]" if found else ""))
    return "\n".join(lines)
