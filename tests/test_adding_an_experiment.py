"""docs/adding_an_experiment.md is executable: its blocks, laid out in a fresh directory as the page
says, make an experiment that the launcher's discovery finds, whose own tests pass and whose
smoke preset trains through the harness."""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
import re
import subprocess
import sys

import pytest

import configs
import experiments
from rnn_research import train
from rnn_research.experiment import check_hooks

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adding_an_experiment.md"
PATH_LINE = re.compile(r"^# ([\w/]+\.py)$")


def blocks(language: str) -> list[str]:
    """The page's fenced ``language`` blocks, in order."""
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def lay_out(root: pathlib.Path) -> list[str]:
    """Runs the layout block in ``root``, writes every Python block whose first line is ``# <path>``
    there; returns the other Python blocks (snippets)."""
    subprocess.run(["bash", "-euc", blocks("bash")[0]], cwd=root, check=True)
    snippets = []
    for code in blocks("python"):
        match = PATH_LINE.match(code.splitlines()[0])
        if match:
            (root / match.group(1)).write_text(code, encoding="utf-8")
        else:
            snippets.append(code)
    return snippets


@pytest.fixture
def example(tmp_path, monkeypatch):
    """The page's files under ``tmp_path/doc``, importable as ``experiments.reverse`` and
    ``configs.reverse`` and the only experiment discovery sees."""
    root = tmp_path / "doc"
    root.mkdir()
    snippets = lay_out(root)
    monkeypatch.setattr(experiments, "__path__", [*experiments.__path__, str(root / "experiments")])
    monkeypatch.setattr(configs, "__path__", [*configs.__path__, str(root / "configs")])
    monkeypatch.setattr(experiments, "ROOT", root / "experiments")
    monkeypatch.setattr(experiments, "CONFIGS", root / "configs")
    yield root, snippets
    for name in [m for m in sys.modules if m.startswith(("experiments.reverse", "configs.reverse"))]:
        del sys.modules[name]


def test_the_page_names_every_file_it_asks_for():
    paths = {PATH_LINE.match(code.splitlines()[0]).group(1) for code in blocks("python") if code.startswith("# ")}
    assert paths == {
        "experiments/reverse/task.py",
        "configs/reverse/short.py",
        "tests/experiments/reverse/test_task.py",
    }
    assert "configs/reverse/short.py:smoke" in blocks("bash")[-1]


def test_the_example_is_discovered_and_its_own_tests_pass(example, tmp_path):
    root, snippets = example
    assert experiments.names() == ["reverse"]
    task = experiments.get("reverse")
    check_hooks(task)
    assert "  --config=configs/reverse/short.py[:gru|lstm|smoke]" in experiments.listing().splitlines()

    spec = importlib.util.spec_from_file_location("doc_reverse_test", root / "tests/experiments/reverse/test_task.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
    assert len(tests) == 2
    for number, test in enumerate(tests):
        kwargs = {"tmp_path": tmp_path / f"run{number}"} if "tmp_path" in inspect.signature(test).parameters else {}
        for path in kwargs.values():
            path.mkdir()
        test(**kwargs)

    # The closing snippet: constants a task adds later; a workdir saved as "mirror" resumes as "reverse".
    (snippet,) = snippets
    namespace: dict = {}
    exec(compile(snippet, f"{DOC.name}:snippet", "exec"), namespace)
    for name in ("ADDED_FIELDS", "FORMER_NAMES"):
        setattr(task, name, namespace[name])
    check_hooks(task)
    config = sys.modules["configs.reverse.short"].get_config("smoke")
    saved = json.loads(config.to_json_best_effort())
    saved["experiment"] = "mirror"
    workdir = tmp_path / "renamed"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps(saved))
    train.check_config_for_resume(config, workdir, task)
