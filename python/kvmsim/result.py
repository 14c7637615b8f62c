"""One simulation run from Python: kvmsim.run() and the Result it returns."""
from __future__ import annotations

import io
import json
import math
import os
from typing import Any

from . import _kvmsim
from ._scenario import Scenario, check_seed, to_sets

EXIT_COLUMNS = ["vm", "vcpu", "reason", "count", "mean_us", "max_us"]


def _metrics(raw: dict) -> dict[str, float]:
    # nlohmann::json writes NaN/inf as null; give Python users a float either way.
    return {k: (math.nan if v is None else v) for k, v in raw.items()}


class Result:
    """The outputs of one run, as `kvmsim run --out DIR` writes them.

    metrics      flat name -> number, identical to summary.json's "metrics"
    exits        DataFrame, one row per (vm, vcpu, reason): count, mean_us, max_us
    exit_totals  reason -> count over the VM (summary.json's "exits")
    summary      summary.json as a dict
    config       the resolved scenario echo (summary["scenario"])
    histograms   name -> DataFrame for every histogram table the run produced (may be empty)
    timeline     the vCPU timeline trace (Chrome/Perfetto JSON) when one was recorded, else None
    files        the text outputs: perf-kvm-stat.txt, vmexit.txt, ...
    """

    def __init__(self, result_json: str):
        self._json = result_json
        doc = json.loads(result_json)
        self.summary: dict = doc["summary"]
        self.metrics: dict[str, float] = _metrics(doc["metrics"])
        self.exit_totals: dict[str, int] = dict(doc["exits"])
        self.exits_by_vcpu_csv: str = doc["exits_by_vcpu_csv"]
        self.files: dict[str, str] = dict(doc["files"])
        self._exits = None
        self._histograms = None

    # -- derived views ---------------------------------------------------------------
    @property
    def config(self) -> dict:
        return self.summary.get("scenario", {})

    @property
    def seed(self) -> int:
        return self.summary.get("seed")

    @property
    def exits(self):
        if self._exits is None:
            import pandas as pd

            if self.exits_by_vcpu_csv.strip():
                # round_trip: the CSV's numbers come back exactly as the simulator wrote them
                self._exits = pd.read_csv(io.StringIO(self.exits_by_vcpu_csv),
                                          float_precision="round_trip")
            else:
                self._exits = pd.DataFrame(columns=EXIT_COLUMNS)
        return self._exits.copy()

    @property
    def histograms(self) -> dict:
        if self._histograms is None:
            import pandas as pd

            hist = {}
            for name, value in (self.summary.get("histograms") or {}).items():
                hist[name] = pd.DataFrame(value) if isinstance(value, (list, dict)) else value
            for name, text in self.files.items():
                base, ext = os.path.splitext(name)
                if ext == ".csv" and ("hist" in base or "latency" in base):
                    hist[base] = pd.read_csv(io.StringIO(text), float_precision="round_trip")
            self._histograms = hist
        return dict(self._histograms)

    @property
    def timeline(self) -> Any:
        for name, text in self.files.items():
            base, ext = os.path.splitext(name)
            if ext == ".json" and ("timeline" in base or "trace" in base):
                return json.loads(text)
        return self.summary.get("timeline")

    # -- output ----------------------------------------------------------------------
    def write(self, directory: str | os.PathLike) -> str:
        """Write the result folder exactly as `kvmsim run --out DIR` does; returns DIR."""
        directory = os.fspath(directory)
        _kvmsim.write_results(self._json, directory)
        return directory

    def to_json(self) -> str:
        """The result as the JSON text the simulator returned (what the store keeps)."""
        return self._json

    def format_summary(self) -> str:
        """The summary text `kvmsim run` prints."""
        return _kvmsim.format_summary(self._json)

    def __repr__(self) -> str:
        s = self.summary
        return (f"<kvmsim.Result {s.get('scenario', {}).get('name') or s.get('scenario_file')!s}"
                f" seed={s.get('seed')} exits={self.metrics.get('exits.total')}"
                f" sim={s.get('sim_time_ns', 0) / 1e6:.3f} ms>")

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(repr(self) if cycle else self.format_summary())

    def __getstate__(self):
        return {"json": self._json}

    def __setstate__(self, state):
        self.__init__(state["json"])


def run(scenario: Any, overrides: Any = None, seed: int | None = None, *,
        isolate: bool = False) -> Result:
    """Run one scenario and return its Result.

    scenario   a YAML file path, or a dict (nested {"kvm": {"hv_timer": False}} or dotted
               {"kvm.hv_timer": False} keys, or both)
    overrides  {key: value} (Python values) or ["key=value", ...] (YAML values), applied
               after the scenario, like `kvmsim run --set`
    seed       the seed of every random stream (like `kvmsim run --seed`)
    isolate    run in a fresh child process instead of in this one (a crash in the
               simulator then cannot take the interpreter down)

    Raises ConfigError (a ValueError with file, line, key, expected, found) for a bad
    scenario or override.
    """
    sc = Scenario(scenario)
    sets = to_sets(overrides)
    seed = check_seed(seed)
    if not isolate:
        return Result(sc.run_text(sets, seed))
    sc.resolve_text(sets, seed)  # a bad scenario raises here, with its own traceback
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from . import _worker

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker.init_worker,
                             initargs=(os.getpid(),)) as pool:
        text = pool.submit(_worker.run_scenario, sc.path, sc.text, sc.name, sets, seed).result()
    return Result(text)
