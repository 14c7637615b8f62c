"""python/notebooks/*.ipynb execute headlessly (nbclient) with Debian's Python, and are
stored without outputs."""
import json
import os
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "python" / "notebooks").glob("*.ipynb"))
KERNEL = "kvmsim-test-python3"


@pytest.fixture
def kernel(tmp_path, monkeypatch, python):
    """A kernel spec of our own, in a temporary Jupyter data dir, so the kernel is
    /usr/bin/python3 (which has ipykernel, numpy, pandas) whatever else is installed, and
    sees the build tree's kvmsim package."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "kvmsim test (Debian python3)",
        "language": "python",
        "env": {"PYTHONPATH": os.environ["PYTHONPATH"], "KVMSIM_ROOT": str(REPO),
                "MPLBACKEND": "module://matplotlib_inline.backend_inline"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return KERNEL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: strip outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, kernel, tmp_path):
    nb = nbformat.read(path, as_version=4)
    work = tmp_path / "work"  # the notebook's working directory (its store lands here)
    work.mkdir()
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name=kernel,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, "the notebook drew no plot"
    if path.name == "quickstart.ipynb":  # the quick start shows the results store
        assert (work / "kvmsim-sweeps.sqlite").exists()
