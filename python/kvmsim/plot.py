"""Plots of kvmsim results (matplotlib). Every function draws on `ax` (a new figure when
None) and returns the Axes.

    kvmsim.plot.metric_vs_param(df, x="kvm.halt_poll_ns", y="exits.per_s", hue="kvm.hv_timer")
    kvmsim.plot.exit_breakdown(result)          # one bar per vCPU, stacked by exit reason
    kvmsim.plot.exit_breakdown(df)              # one bar per sweep row
    kvmsim.plot.latency_cdf(samples_or_histogram, label="hv timer")
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

# Headless (CI, SSH, a batch job): use Agg unless a backend was chosen already (Jupyter's
# inline backend sets MPLBACKEND) or pyplot is in use.
if ("matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND")
        and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
        and sys.platform.startswith("linux")):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["latency_cdf", "latency_histogram", "exit_breakdown", "metric_vs_param"]


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _as_histogram(data: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, counts) if `data` is a histogram, None if it is raw samples.

    Histograms: {value: count}; a (values, counts) pair of equal-length sequences; a
    DataFrame with a count column ("count"/"counts"/"n") and a value column ("value",
    "us", "latency_us", "bin", "le", "upper", or the first other column)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if isinstance(data, Mapping):
        items = sorted((float(k), float(v)) for k, v in data.items())
        return np.array([k for k, _ in items]), np.array([v for _, v in items])
    if pd is not None and isinstance(data, pd.DataFrame):
        cols = list(data.columns)
        ccol = next((c for c in ("count", "counts", "n", "samples") if c in cols), None)
        if ccol is None:
            raise ValueError(f"a histogram DataFrame needs a 'count' column, has {cols}")
        vcol = next((c for c in ("value", "us", "latency_us", "bin", "le", "upper", "ns")
                     if c in cols), None) or next(c for c in cols if c != ccol)
        d = data[[vcol, ccol]].sort_values(vcol)
        return d[vcol].to_numpy(dtype=float), d[ccol].to_numpy(dtype=float)
    if (isinstance(data, tuple) and len(data) == 2 and all(np.ndim(x) == 1 for x in data)
            and len(data[0]) == len(data[1])):
        v, c = np.asarray(data[0], dtype=float), np.asarray(data[1], dtype=float)
        order = np.argsort(v)
        return v[order], c[order]
    return None


def latency_cdf(values_or_hist: Any, ax=None, label: str | None = None, *,
                unit: str = "us", logx: bool = False):
    """Cumulative distribution of latencies: raw samples (any 1-D sequence) or a histogram
    (see _as_histogram). y is the fraction of samples <= x."""
    ax = _axes(ax)
    hist = _as_histogram(values_or_hist)
    if hist is None:
        v = np.sort(np.asarray(values_or_hist, dtype=float).ravel())
        frac = np.arange(1, len(v) + 1) / max(len(v), 1)
    else:
        v, c = hist
        total = c.sum()
        frac = np.cumsum(c) / total if total > 0 else np.zeros_like(c)
    ax.step(v, frac, where="post", label=label)
    ax.set_xlabel(f"latency ({unit})")
    ax.set_ylabel("fraction of samples ≤ x")
    ax.set_ylim(0, 1.02)
    if logx:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    if label:
        ax.legend()
    return ax


def latency_histogram(values_or_hist: Any, ax=None, label: str | None = None, *,
                      bins: int | Sequence[float] = 50, unit: str = "us", logy: bool = True):
    """Histogram of latencies, from raw samples (binned into `bins`) or an existing
    histogram (drawn as is). Counts on a log scale by default, as cyclictest plots are."""
    ax = _axes(ax)
    hist = _as_histogram(values_or_hist)
    if hist is None:
        ax.hist(np.asarray(values_or_hist, dtype=float).ravel(), bins=bins, histtype="step",
                label=label)
    else:
        v, c = hist
        ax.step(v, c, where="mid", label=label)
    ax.set_xlabel(f"latency ({unit})")
    ax.set_ylabel("samples")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if label:
        ax.legend()
    return ax


def _exit_table(data: Any):
    """A DataFrame: one row per bar (index = bar label), one column per exit reason."""
    import pandas as pd

    from .result import Result

    if isinstance(data, Result):
        ex = data.exits
        if ex.empty:
            return pd.DataFrame()
        ex["bar"] = ex["vm"].astype(str) + "/vcpu" + ex["vcpu"].astype(str)
        return ex.pivot_table(index="bar", columns="reason", values="count", aggfunc="sum",
                              fill_value=0, sort=False)
    if isinstance(data, Mapping) and all(isinstance(v, Result) for v in data.values()):
        return pd.DataFrame({str(k): pd.Series(r.exit_totals) for k, r in data.items()}
                            ).T.fillna(0)
    if isinstance(data, Sequence) and data and all(isinstance(v, Result) for v in data):
        return pd.DataFrame([pd.Series(r.exit_totals) for r in data],
                            index=[f"run {i}" for i in range(len(data))]).fillna(0)
    if isinstance(data, pd.DataFrame):
        cols = list(data.columns)
        if {"reason", "count"} <= set(cols):  # Result.exits or a concatenation of them
            idx = [c for c in ("vm", "vcpu") if c in cols] or None
            d = data.copy()
            d["bar"] = (d[idx].astype(str).agg("/".join, axis=1) if idx else "all")
            return d.pivot_table(index="bar", columns="reason", values="count", aggfunc="sum",
                                 fill_value=0, sort=False)
        exit_cols = [c for c in cols if c.startswith("exit.")]
        if exit_cols:  # a sweep DataFrame
            keys = [k for k in data.attrs.get("grid_keys", []) if k in cols and k != "seed"]
            if "seed" in cols and data["seed"].nunique() > 1:
                keys.append("seed")
            if keys:
                labels = data[keys].astype(str).agg(
                    lambda r: ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, r)),
                    axis=1)
            else:
                labels = [str(i) for i in data.index]
            t = data[exit_cols].copy()
            t.columns = [c[len("exit."):] for c in exit_cols]
            t.index = list(labels)
            return t
    raise TypeError("exit_breakdown takes a Result, a list or dict of Results, Result.exits, "
                    "or a sweep DataFrame with exit.<REASON> columns")


def exit_breakdown(results_or_df: Any, ax=None, *, normalize: bool = False,
                   top: int | None = 8):
    """Stacked bars of VM exits by reason: per vCPU for one Result, per run for a list/dict
    of Results, per row for a sweep DataFrame. normalize=True shows fractions; top keeps
    the `top` most frequent reasons and folds the rest into "other"."""
    ax = _axes(ax)
    t = _exit_table(results_or_df)
    if t.empty:
        ax.set_title("no exits")
        return ax
    t = t.astype(float)
    order = t.sum(axis=0).sort_values(ascending=False).index
    t = t[order]
    if top is not None and t.shape[1] > top:
        rest = t.iloc[:, top:].sum(axis=1)
        t = t.iloc[:, :top].copy()
        t["other"] = rest
    if normalize:
        t = t.div(t.sum(axis=1).replace(0, np.nan), axis=0).fillna(0)
    x = np.arange(len(t.index))
    bottom = np.zeros(len(t.index))
    for reason in t.columns:
        ax.bar(x, t[reason].to_numpy(), bottom=bottom, label=reason)
        bottom += t[reason].to_numpy()
    ax.set_xticks(x)
    ax.set_xticklabels([str(i) for i in t.index], rotation=30 if len(t.index) > 3 else 0,
                       ha="right" if len(t.index) > 3 else "center")
    ax.set_ylabel("fraction of exits" if normalize else "exits")
    ax.legend(title="exit reason", fontsize="small", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def metric_vs_param(df, x: str, y: str, hue: str | None = None, ax=None, *,
                    logx: bool = False, marker: str = "o"):
    """y against x, one line per value of `hue`. Rows that share (hue, x) (several seeds)
    are averaged, with their min-max range shaded. A non-numeric x (bool, text) is
    categorical, in order of first appearance."""
    ax = _axes(ax)
    for col in [x, y] + ([hue] if hue else []):
        if col not in df.columns:
            raise KeyError(f"{col!r} is not a column; columns: {list(df.columns)}")
    numeric_x = _is_numeric(df[x])
    categories = list(dict.fromkeys(df[x].tolist())) if not numeric_x else None
    groups = [(None, df)] if hue is None else list(df.groupby(hue, sort=False))
    for key, g in groups:
        stats = g.groupby(x, sort=False)[y].agg(["mean", "min", "max"])
        if numeric_x:
            stats = stats.sort_index()
            xs = stats.index.to_numpy(dtype=float)
        else:
            stats = stats.reindex([c for c in categories if c in stats.index])
            xs = np.array([categories.index(c) for c in stats.index], dtype=float)
        label = None if hue is None else f"{hue}={key}"
        line, = ax.plot(xs, stats["mean"].to_numpy(), marker=marker, label=label)
        if (stats["max"] > stats["min"]).any():
            ax.fill_between(xs, stats["min"].to_numpy(), stats["max"].to_numpy(),
                            color=line.get_color(), alpha=0.15)
    if not numeric_x:
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels([str(c) for c in categories])
    elif logx:
        ax.set_xscale("symlog" if (df[x] <= 0).any() else "log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(True, alpha=0.3)
    if hue is not None:
        ax.legend()
    return ax
