"""pytest setup for the kvmsim Python package.

The package is used from the build tree, never installed: $KVMSIM_BUILD_DIR/python holds
kvmsim/ (the pure-Python files and the compiled _kvmsim module). Run with Debian's Python:

    KVMSIM_BUILD_DIR=/work/main/build-py /usr/bin/python3 -m pytest tests/python -q
"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("KVMSIM_BUILD_DIR", str(REPO / "build"))).resolve()
PYDIR = BUILD / "python"

if not (PYDIR / "kvmsim" / "__init__.py").exists():
    raise pytest.UsageError(
        f"no kvmsim package under {PYDIR}: build with -DKVMSIM_BUILD_PYTHON=ON and set "
        "KVMSIM_BUILD_DIR to the build directory")

sys.path.insert(0, str(PYDIR))
# Child processes (spawned sweep workers, Dask workers, the notebook kernel, `python -m`)
# find the package through PYTHONPATH.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(PYDIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ.setdefault("KVMSIM_ROOT", str(REPO))

PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable

# Small inline scenarios: a run takes ~10-50 ms.
SMALL = {"vmexit": {"tests": ["cpuid"], "goal_cycles": 200000}}
TIMERS = {"vmexit": {"tests": ["tscdeadline", "ipi_halt"], "goal_cycles": 400000}}


@pytest.fixture(scope="session")
def kvmsim():
    import kvmsim as k

    return k


@pytest.fixture(scope="session")
def cli_binary():
    path = BUILD / "apps" / "kvmsim"
    if not path.exists():
        pytest.skip(f"no CLI binary at {path}")
    return str(path)


@pytest.fixture
def small():
    return {k: dict(v) for k, v in SMALL.items()}


@pytest.fixture
def timers():
    return {k: dict(v) for k, v in TIMERS.items()}


@pytest.fixture
def python():
    return PYTHON


@pytest.fixture(autouse=True)
def _no_store_in_repo(tmp_path, monkeypatch):
    # The default store is ./kvmsim-sweeps.sqlite: keep every test's in its own directory.
    monkeypatch.chdir(tmp_path)
