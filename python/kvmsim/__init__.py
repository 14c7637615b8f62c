"""kvmsim: run and sweep KVM-on-x86 simulations from Python.

    import kvmsim
    r = kvmsim.run("scenarios/demo.yaml", overrides={"kvm.hv_timer": False})
    r.metrics["exits.total"], r.exits, r.exit_totals

    df = kvmsim.sweep("scenarios/vmexit.yaml",
                      grid={"kvm.hv_timer": [True, False], "kvm.halt_poll_ns": [0, 200000]},
                      seeds=[1, 2], jobs=4)

    kvmsim.compare("perf-kvm-stat.txt", "runs/mix")["score"]     # real vs simulated
    kvmsim.validate(quick=True)                                  # the seeds' tables
    kvmsim.calibrate("skylake-sp-2s", "vmexit.log", fit="kvm.handle_").write("new.yaml")

See python/README.md for the full API, the results store and Dask.
"""
import os as _os

# SystemC prints a copyright banner when its kernel first starts; keep it out of notebooks.
# Set before the extension is loaded (and inherited by worker processes).
_os.environ.setdefault("SC_COPYRIGHT_MESSAGE", "DISABLE")

from . import _kvmsim  # noqa: E402
from ._kvmsim import ConfigError  # noqa: E402
from ._scenario import resolve, schema, schema_markdown  # noqa: E402
from .result import Result, run  # noqa: E402
from .store import Store, open_store  # noqa: E402
from .sweep import DEFAULT_STORE, SweepError, sweep  # noqa: E402
from .validation import Calibration, Comparison, calibrate, compare, validate  # noqa: E402


def version() -> str:
    """The simulator's version string (project version + git commit), as in summary.json."""
    return _kvmsim.version()


def parse(source, format: str = "auto") -> dict:
    """Parse a real tool's output with kvmsim's C++ parsers (the ones `kvmsim compare` uses).

    `source` is the text or a path to a file; `format` is "auto" (detected from the content),
    "perf-kvm-stat", "ftrace", "cyclictest", "vmexit" or "kvm-stats". Returns
    {"format": ..., "result": {...}} with the shapes docs/validation.md lists. Truncated and
    garbled input parses as far as it can (bad lines are counted, not fatal).
    """
    import json

    if isinstance(source, _os.PathLike) or (isinstance(source, str) and "\n" not in source and _os.path.isfile(source)):
        with open(source, encoding="utf-8", errors="replace") as f:
            source = f.read()
    return json.loads(_kvmsim.parse_tool_output(source, format))


__version__ = version()

__all__ = [
    "Calibration",
    "Comparison",
    "ConfigError",
    "DEFAULT_STORE",
    "Result",
    "Store",
    "SweepError",
    "calibrate",
    "compare",
    "open_store",
    "parse",
    "plot",
    "resolve",
    "run",
    "schema",
    "schema_markdown",
    "sweep",
    "validate",
    "version",
]


def __getattr__(name):
    # kvmsim.plot imports matplotlib: load it only when asked for.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'kvmsim' has no attribute {name!r}")
