"""The README is executable documentation: its quickstart runs and CI runs its test command."""

import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks(section: str) -> list[str]:
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_quickstart_runs_as_written():
    blocks = python_blocks("Quickstart")
    assert blocks, "README has no python block under '## Quickstart'"
    for code in blocks:
        exec(compile(code, "README.md:quickstart", "exec"), {"__name__": "__readme__"})


def test_ci_runs_the_readme_test_command():
    marker = README.split("<!-- test-command -->\n", 1)[1].splitlines()
    assert marker[0] == "```bash" and "pytest" in marker[1]
    script = ROOT / ".ci" / "run"
    extracted = subprocess.run(
        ["sed", "-n", "/<!-- test-command -->/{n;n;p;q}", "README.md"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert extracted == marker[1]
    assert "sed -n '/<!-- test-command -->/{n;n;p;q}' README.md" in script.read_text()
