"""The README and the docs pages are executable documentation: their python blocks run, CI runs
the README's test command."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from tests import xla
from tests.paths import HANG, ROOT

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
def test_training_from_python_runs_as_written_as_a_script_elsewhere(tmp_path):
    """The notebook example of the harness (docs/harness.md), saved as a script outside the
    repository and run with no ``PYTHONPATH``: ``configs`` and ``experiments`` import as installed
    packages (a smoke run through ``train_and_evaluate``)."""
    (code,) = python_blocks(HARNESS, "Training from Python")
    script = tmp_path / "train_example.py"
    report = 'print("RESULT", json.dumps({"mse": final["test"]["mse"], "splits": [r["split"] for r in curves]}))\n'
    script.write_text("import json\n" + code + report)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(XLA_FLAGS=xla.flags(1), TMPDIR=str(tmp_path))  # a laptop; mkdtemp() under tmp_path
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert 0.0 < result["mse"] < 1.0
    assert set(result["splits"]) >= {"train", "valid", "test", "best_test"}


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
