"""The README is executable documentation: its quickstart runs and CI runs its test command."""

import importlib.util
import pathlib
import re
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks(section: str, level: str = "##") -> list[str]:
    body = README.split(f"{level} {section}\n", 1)[1].split(f"\n{level} ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_quickstart_runs_as_written():
    """Every python block of the quickstart, in order, in one namespace, as a notebook runs them."""
    blocks = python_blocks("Quickstart")
    assert len(blocks) >= 2, "README has no python blocks under '## Quickstart'"
    namespace = {"__name__": "__readme__"}
    for number, code in enumerate(blocks):
        if "import torch" in code and importlib.util.find_spec("torch") is None:
            continue  # the interop example needs the optional torch install
        exec(compile(code, f"README.md:quickstart[{number}]", "exec"), namespace)


@pytest.mark.slow
def test_training_from_python_runs_as_written(tmp_path, monkeypatch):
    """The notebook example of the harness: a smoke run through ``train_and_evaluate``."""
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: str(tmp_path))
    monkeypatch.chdir(ROOT)
    (code,) = python_blocks("Training from Python", level="###")
    namespace = {"__name__": "__readme__"}
    exec(compile(code, "README.md:training", "exec"), namespace)
    assert 0.0 < namespace["final"]["test"]["mse"] < 1.0
    assert {r["split"] for r in namespace["curves"]} >= {"train", "valid", "test", "best_test"}


def test_ci_runs_the_readme_test_command():
    marker = README.split("<!-- test-command -->\n", 1)[1].splitlines()
    assert marker[0] == "```bash" and "pytest" in marker[1]
    script = ROOT / ".ci" / "run"
    extracted = subprocess.run(
        ["sed", "-n", "/<!-- test-command -->/{n;n;p;q}", "README.md"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert extracted == marker[1]
    assert "sed -n '/<!-- test-command -->/{n;n;p;q}' README.md" in script.read_text()
