"""The README and the docs pages are executable documentation: their python blocks run, CI runs
the README's test command."""

import importlib.util
import re
import subprocess
import tempfile

import pytest

from tests.paths import ROOT

README = (ROOT / "README.md").read_text()
HARNESS = (ROOT / "docs" / "harness.md").read_text()


def python_blocks(text: str, section: str, level: str = "##") -> list[str]:
    """The python code blocks under the heading ``{level} {section}`` of ``text``."""
    body = text.split(f"\n{level} {section}\n", 1)[1].split(f"\n{level} ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_quickstart_runs_as_written():
    """Every python block of the quickstart, in order, in one namespace, as a notebook runs them."""
    blocks = python_blocks(README, "Quickstart")
    assert blocks, "README has no python blocks under '## Quickstart'"
    namespace = {"__name__": "__readme__"}
    for number, code in enumerate(blocks):
        if "import torch" in code and importlib.util.find_spec("torch") is None:
            continue  # the interop example needs the optional torch install
        exec(compile(code, f"README.md:quickstart[{number}]", "exec"), namespace)


def test_cells_page_runs_as_written():
    """The python blocks of docs/cells.md continue the README's quickstart, in one namespace."""
    text = (ROOT / "docs" / "cells.md").read_text()
    blocks = python_blocks(README, "Quickstart") + re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace = {"__name__": "__docs__"}
    for number, code in enumerate(blocks):
        if "import torch" in code and importlib.util.find_spec("torch") is None:
            continue
        exec(compile(code, f"docs/cells.md[{number}]", "exec"), namespace)


@pytest.mark.slow
def test_training_from_python_runs_as_written(tmp_path, monkeypatch):
    """The notebook example of the harness (docs/harness.md): a smoke run through ``train_and_evaluate``."""
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: str(tmp_path))
    monkeypatch.chdir(ROOT)
    (code,) = python_blocks(HARNESS, "Training from Python")
    namespace = {"__name__": "__docs__"}
    exec(compile(code, "docs/harness.md:training", "exec"), namespace)
    assert 0.0 < namespace["final"]["test"]["mse"] < 1.0
    assert {r["split"] for r in namespace["curves"]} >= {"train", "valid", "test", "best_test"}


def test_readme_is_short_with_its_commands_on_the_first_screen():
    lines = README.splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail to docs/"
    first_screen = "\n".join(lines[:60])
    assert "pip install" in first_screen and "python -m experiments.main" in first_screen
    assert "python -m pytest" in "\n".join(lines[: lines.index("<!-- test-command -->") + 3])
    assert lines.index("<!-- test-command -->") < 60


def test_ci_runs_the_readme_test_command():
    marker = README.split("<!-- test-command -->\n", 1)[1].splitlines()
    assert marker[0] == "```bash" and "pytest" in marker[1]
    script = ROOT / ".ci" / "run"
    extracted = subprocess.run(
        ["sed", "-n", "/<!-- test-command -->/{n;n;p;q}", "README.md"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert extracted == marker[1]
    assert "sed -n '/<!-- test-command -->/{n;n;p;q}' README.md" in script.read_text()
