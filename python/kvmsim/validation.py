"""Validation against measured hardware from Python: kvmsim.compare, kvmsim.calibrate and
kvmsim.validate. Each calls the C++ engine of the command of the same name (bound in
_kvmsim, no subprocess), so the numbers are the CLI's. See docs/validation.md."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Iterable

from . import _kvmsim

_FORMATS = ("auto", "perf-kvm-stat", "ftrace", "cyclictest", "vmexit", "kvm-stats")


def _is_path(x: Any) -> bool:
    return isinstance(x, os.PathLike) or (isinstance(x, str) and "\n" not in x and os.path.isfile(x))


def _read(x: Any) -> tuple[str, str]:
    """(text, name) of a path or of text given directly."""
    if _is_path(x):
        path = os.fspath(x)
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(), path
    if isinstance(x, str):
        if "\n" not in x and not x.strip().count(" "):
            # One word that is no file: almost certainly a mistyped path, not a log.
            raise FileNotFoundError(f"{x}: no such file")
        return x, "<text>"
    raise TypeError(f"expected a path or the tool's output as text, not {type(x).__name__}")


def _frame(rows: list[dict], as_frame: bool | None):
    if as_frame is False:
        return rows
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise
        return rows
    return pd.DataFrame(rows)


# ---- compare -------------------------------------------------------------------------------

class Comparison(dict):
    """What `kvmsim compare --json` prints: {"kind", "real", "sim", "score"[, "details"]}
    (a dict, equal to the CLI's JSON), plus

    text       the side-by-side table `kvmsim compare` prints
    plot_data  the data `--plot` draws: {"bars": {label: [real, sim]}, "bar_unit",
               "cdf": {"real": [[x, F]...], "sim": [...]}, "cdf_unit"}
    plot(...)  draws it with matplotlib (the same figure as `kvmsim compare --plot`)
    """

    def __init__(self, doc: dict, text: str, plot_data: dict):
        super().__init__(doc)
        self.text = text
        self.plot_data = plot_data or {}

    @property
    def score(self) -> float | None:
        return self.get("score")

    def plot(self, axes=None):
        """Bars (exit shares, cycles, or cyclictest avg/max) and the two latency CDFs.
        Returns the matplotlib Figure."""
        import matplotlib.pyplot as plt

        bars, cdf = self.plot_data.get("bars") or {}, self.plot_data.get("cdf") or {}
        if axes is None:
            n = (1 if bars else 0) + (1 if cdf else 0)
            fig, axes = plt.subplots(1, max(n, 1), figsize=(6 * max(n, 1), 4), squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(axes) if isinstance(axes, (list, tuple)) else [axes]
            fig = axes[0].figure
        i = 0
        if bars:
            ax = axes[i]
            i += 1
            labels = list(bars)
            xs = range(len(labels))
            ax.bar([x - 0.2 for x in xs], [bars[k][0] for k in labels], 0.4, label="real")
            ax.bar([x + 0.2 for x in xs], [bars[k][1] for k in labels], 0.4, label="simulated")
            ax.set_xticks(list(xs), labels, rotation=60, ha="right", fontsize=7)
            ax.set_ylabel(self.plot_data.get("bar_unit", ""))
            ax.legend()
        if cdf and i < len(axes):
            ax = axes[i]
            for side, label in (("real", "real"), ("sim", "simulated")):
                pts = cdf.get(side) or []
                if pts:
                    ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", label=label)
            ax.set_xlabel(self.plot_data.get("cdf_unit", ""))
            ax.set_ylabel("CDF")
            ax.legend()
        score = self.get("score")
        fig.suptitle(f"{self.get('kind')}: realism score "
                     f"{'-' if score is None else format(score, '.1f')} / 100")
        fig.tight_layout()
        return fig

    def _repr_pretty_(self, p, cycle):  # IPython shows the table
        p.text(self.text)


def compare(real: Any, sim_dir: Any = None, kind: str = "auto") -> Comparison:
    """A real tool's output beside a simulated run's, as `kvmsim compare REAL [SIM_DIR] --json`.

    real     path to (or the text of) perf kvm stat, trace-cmd/ftrace kvm events, cyclictest
             or kvm-unit-tests vmexit output, or KVM stats
    sim_dir  a result folder (`kvmsim run --out DIR`, Result.write(DIR)), a kvmsim.Result,
             or None (the real side alone, no score)
    kind     "auto" (detected from the content) or the format: perf-kvm-stat, ftrace,
             cyclictest, vmexit, kvm-stats

    Returns a Comparison: the dict the CLI prints with --json ({"kind", "real", "sim",
    "score", "details"}; score 0..100, None without a simulated side), with .text (the
    table) and .plot(). Raises ValueError for text no tool printed, FileNotFoundError when
    the folder lacks the simulated file of that format (e.g. trace.txt without
    output.trace=true).
    """
    if kind not in _FORMATS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(_FORMATS)}")
    text, name = _read(real)
    tmp = None
    try:
        if sim_dir is None:
            sim = ""
        elif hasattr(sim_dir, "write") and hasattr(sim_dir, "files"):  # a kvmsim.Result
            tmp = tempfile.TemporaryDirectory(prefix="kvmsim-compare-")
            sim = sim_dir.write(tmp.name)
        else:
            sim = os.fspath(sim_dir)
            if not os.path.isdir(sim):
                raise FileNotFoundError(f"{sim}: not a result folder")
        try:
            out = json.loads(_kvmsim.compare_json(text, name, sim, kind))
        except RuntimeError as e:  # a file of the simulated side is missing
            if "does not exist" in str(e) or "cannot read" in str(e):
                raise FileNotFoundError(str(e)) from None
            raise
    finally:
        if tmp is not None:
            tmp.cleanup()
    return Comparison(out["json"], out["text"], out["plot"])


# ---- validate ------------------------------------------------------------------------------

ROW_COLUMNS = ["source", "name", "published", "simulated", "error_pct", "tolerance",
               "within_tolerance", "status", "scenario", "sets", "metric", "op", "pending_reason"]


def validate(quick: bool = False, only: str | None = None, *, reference: Any = None,
             scenarios: Any = None, as_frame: bool | None = None):
    """Every published number of the seeds simulated, as `kvmsim validate --json`.

    quick      only the rows marked quick (the vmexit microbenchmarks, a few seconds)
    only       only rows whose name or source contains this text
    reference  the CSV of rows (default: the repository's validation/reference/seeds.csv)
    scenarios  the folder of the rows' scenarios (default: the repository's scenarios/)
    as_frame   True: a pandas DataFrame; False: a list of dicts; None (default): a DataFrame
               when pandas is importable, else a list

    One row per published number: source, name, published, simulated, error_pct, tolerance,
    within_tolerance (True/False, None when pending), status ("pass", "FAIL", "pending"),
    scenario, sets, metric, op, pending_reason. The rows equal the CLI's; the DataFrame's
    .attrs hold "passed", "failed", "pending" and "table" (the text the CLI prints). The
    runs happen in this process, one at a time (the full table takes about half a minute).
    """
    for what, x in (("reference", reference), ("scenarios", scenarios)):
        if x is not None and not os.path.exists(os.fspath(x)):
            raise FileNotFoundError(f"{what} {os.fspath(x)}: no such file or folder")
    doc = json.loads(_kvmsim.validate_json(os.fspath(reference) if reference is not None else "",
                                           os.fspath(scenarios) if scenarios is not None else "",
                                           bool(quick), only or ""))
    rows = [{c: r.get(c) for c in ROW_COLUMNS} for r in doc["rows"]]
    out = _frame(rows, as_frame)
    if hasattr(out, "attrs"):
        out.attrs.update({k: doc[k] for k in ("passed", "failed", "pending", "table")})
    return out


# ---- calibrate -----------------------------------------------------------------------------

class Calibration:
    """The fit `kvmsim.calibrate` made.

    table            one row per candidate entry: key, prior, fitted, change_pct, touched (some
                     measurement depends on it), pinned (determined by the data alone),
                     null_share (0 pinned .. 1 invisible); a DataFrame when pandas is there
    measurements     one row per measurement: source, kind, name, measured, simulated_prior,
                     simulated (with the fit), residual_pct
    fitted           {key: value} of the entries some measurement depends on
    rank             numerical rank of the weighted design matrix
    unidentifiable   {key: null-space share} of entries seen only in combination with others
    untouched        entries no measurement depends on (kept at the prior)
    left_out         notes on measurements the model cannot simulate
    max_rel_residual the largest |simulated - measured| / measured after the fit
    report           the text `kvmsim calibrate` prints
    platform_yaml    the new platform file (`--out`)
    """

    def __init__(self, doc: dict, as_frame: bool | None = None):
        self._doc = doc
        self.platform: str = doc["platform"]
        self.platform_file: str = doc["platform_file"]
        self.rank: int = doc["rank"]
        self.simulations: int = doc["simulations"]
        self.iterations: int = doc["iterations"]
        self.max_rel_residual: float = doc["max_rel_residual"]
        self.unidentifiable: dict[str, float] = dict(doc["unidentifiable"])
        self.untouched: list[str] = list(doc["untouched"])
        self.left_out: list[str] = list(doc["left_out"])
        self.report: str = doc["report"]
        self.platform_yaml: str = doc["platform_yaml"]
        self.fitted: dict[str, float] = {e["key"]: e["fitted"] for e in doc["entries"] if e["touched"]}
        self.table = _frame(doc["entries"], as_frame)
        self.measurements = _frame(doc["measurements"], as_frame)

    def overrides(self) -> dict[str, float]:
        """The fitted entries as run overrides: kvmsim.run(s, overrides=cal.overrides())."""
        return {f"cost.{k}": v for k, v in self.fitted.items()}

    def write(self, path: str | os.PathLike) -> str:
        """Write the calibrated platform file (what `kvmsim calibrate --out PATH` writes);
        returns PATH. A scenario uses it with `platform: PATH`."""
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.platform_yaml)
        return path

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self._doc))

    def __repr__(self) -> str:
        return (f"<kvmsim.Calibration {self.platform}: {len(self.fitted)} entries fitted, rank "
                f"{self.rank}, largest residual {100 * self.max_rel_residual:.3f}%>")

    def _repr_pretty_(self, p, cycle):
        p.text(repr(self) if cycle else self.report)


def _is_pair(x: Any) -> bool:
    """(measurement, {overrides}): a measurement with the host setting it was taken under."""
    from collections.abc import Mapping

    return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], Mapping)


def _measurement_items(measurements: Any) -> Iterable[Any]:
    if isinstance(measurements, (str, os.PathLike, dict)) or _is_pair(measurements):
        return [measurements]
    return list(measurements)


def calibrate(platform: Any, measurements: Any, fit: Any = None, *, scenario: Any = None,
              goal_cycles: int = 1 << 20, overrides: Any = None,
              as_frame: bool | None = None) -> Calibration:
    """Fit a platform's cost-table entries to measurements, as `kvmsim calibrate`.

    platform      a platform name (skylake-sp-2s) or file
    measurements  one or a list of: a kvm-unit-tests vmexit log or perf kvm stat report
                  (path or text), or a dict {test: cycles} of vmexit results; each may be a
                  pair (measurement, {overrides}) to simulate it under the host setting it
                  was taken with, e.g. (log, {"kvm.hlt_in_guest": True})
    fit           key prefixes to fit ("vmx.vmexit" or ["kvm.handle_", "apic.bus"]);
                  None: every entry (the data then rarely pins all of them down)
    scenario      the scenario perf kvm stat measurements were taken under (needed for those)
    goal_cycles   loop goal of the simulated vmexit runs
    overrides     {key: value} or ["key=value"] applied to every simulated run

    Returns a Calibration (fitted table, residuals, rank, what the data cannot pin down,
    .write(path) for the new platform file). The simulations run in this process.
    """
    from ._scenario import to_sets

    given: list[dict] = []
    for i, item in enumerate(_measurement_items(measurements)):
        m, own = item if _is_pair(item) else (item, None)
        sets = to_sets(own)
        if isinstance(m, dict):
            for name, value in m.items():
                given.append({"source": "dict", "kind": "vmexit", "name": str(name), "value": float(value),
                              "sets": sets})
        elif _is_path(m):
            given.append({"path": os.fspath(m), "sets": sets})
        else:
            text, _ = _read(m)
            given.append({"source": f"measurements[{i}]", "text": text, "sets": sets})
    if isinstance(fit, str):
        fit = [fit]
    if scenario is not None:
        scenario = os.fspath(scenario)
        if not os.path.isfile(scenario):
            raise FileNotFoundError(f"scenario {scenario}: no such file")
    doc = json.loads(_kvmsim.calibrate_json(os.fspath(platform), json.dumps(given), scenario or "",
                                            list(fit or []), int(goal_cycles), to_sets(overrides)))
    return Calibration(doc, as_frame)
