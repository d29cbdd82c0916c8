"""notebooks/quickstart.ipynb runs top to bottom in a fresh Jupyter kernel (nbclient)."""

import pathlib

import pytest

from tests import xla
from tests.paths import HANG

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"

nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat, nbclient and ipykernel")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def execute(path: pathlib.Path, monkeypatch) -> "nbformat.NotebookNode":
    """Runs every cell in a new kernel started in the notebook's own folder, as Jupyter does, with
    no ``PYTHONPATH``: ``configs`` and ``experiments`` must import as installed packages."""
    monkeypatch.setenv("XLA_FLAGS", xla.flags(1))  # a laptop, not 8 fake devices
    monkeypatch.delenv("PYTHONPATH", raising=False)
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=HANG, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    return client.execute()


@pytest.mark.slow
def test_quickstart_notebook_runs_top_to_bottom(monkeypatch):
    notebook = execute(NOTEBOOK, monkeypatch)
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert "max |difference|" in text and "test MSE of the best checkpoint" in text and "predicted" in text
    differences = [float(line.split("=")[1]) for line in text.splitlines() if "max |difference|" in line]
    assert len(differences) == 3 and max(differences) < 1e-5
    assert any("image/png" in out.get("data", {}) for out in outputs)  # the curves and the heatmap
