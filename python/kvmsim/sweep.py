"""Parameter sweeps: many runs of one scenario over a grid of overrides and seeds, in local
worker processes or on a Dask cluster, collected into a DataFrame and a resumable store."""
from __future__ import annotations

import hashlib
import itertools
import json
import numbers
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _kvmsim
from ._kvmsim import ConfigError
from ._scenario import Scenario, check_seed, plain, to_sets, yaml_value
from .store import Store, canonical_json, run_key

DEFAULT_STORE = "kvmsim-sweeps.sqlite"
BACKENDS = ("process", "dask", "inline")


@dataclass
class _Point:
    params: dict       # grid key -> value, as given
    seed: int          # resolved seed
    key: str           # store key
    scenario: str      # canonical JSON of the resolved echo (what the worker runs)


class SweepError(RuntimeError):
    """A run of the sweep failed in its worker (runs that finished are stored)."""


def _config_error_at(e: ConfigError, params: dict, seed: int | None) -> ConfigError:
    """The same ConfigError, its message naming the grid point it came from."""
    where = ", ".join(f"{k}={v!r}" for k, v in params.items())
    if seed is not None:
        where = f"{where}, seed={seed}" if where else f"seed={seed}"
    new = type(e)(f"{e} (sweep point {where or 'base scenario'})")
    for attr in ("file", "line", "key", "expected", "found"):
        setattr(new, attr, getattr(e, attr, None))
    return new


class _Progress:
    """One line on stderr: n/total, cached, elapsed, estimated time left."""

    def __init__(self, total: int, cached: int, enabled: bool):
        self.total, self.cached, self.done = total, cached, 0
        self.enabled = enabled and total > 0
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.t0 = self.last = time.monotonic()
        if self.enabled:
            self._print(force=True)

    def _print(self, force=False, end=""):
        now = time.monotonic()
        if not force and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        el = now - self.t0
        n = self.cached + self.done
        line = f"kvmsim sweep: {n}/{self.cached + self.total} runs"
        if self.cached:
            line += f" ({self.cached} from the store)"
        line += f", {el:.1f} s elapsed"
        if 0 < self.done < self.total:
            line += f", ~{el / self.done * (self.total - self.done):.0f} s left"
        sys.stderr.write(("\r" + line + "\x1b[K" + end) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def step(self):
        self.done += 1
        if self.enabled:
            self._print(force=self.done == self.total)

    def close(self):
        if self.enabled and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _platform_digest(name: str, cache: dict) -> str:
    if name not in cache:
        path = _kvmsim.platform_file(name)
        with open(path, "rb") as f:
            cache[name] = hashlib.sha256(f.read()).hexdigest()
    return cache[name]


def _points(sc: Scenario, base_sets: list[str], grid: dict, seeds: list) -> list[_Point]:
    version = _kvmsim.version()
    platforms: dict[str, str] = {}
    points = []
    for combo in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), combo))
        sets = base_sets + [f"{k}={yaml_value(v)}" for k, v in params.items()]
        for seed in seeds:
            try:
                echo = json.loads(sc.resolve_text(sets, seed))
                digest = _platform_digest(echo["platform"], platforms)
            except ConfigError as e:
                raise _config_error_at(e, params, seed) from None
            canon = canonical_json(echo)
            points.append(_Point({k: plain(v) for k, v in params.items()}, echo["seed"],
                                 run_key(canon, echo["seed"], version, digest), canon))
    return points


def _resolve_client(client):
    """A distributed.Client from a Client, a scheduler address, or the current default."""
    try:
        import distributed
    except ImportError as e:  # pragma: no cover
        raise ImportError("backend='dask' needs the distributed package "
                          "(Debian: python3-distributed)") from e
    if client is None:
        try:
            return distributed.get_client(), False
        except ValueError:
            raise ValueError("backend='dask' needs client=<distributed.Client> or a scheduler "
                             "address such as 'tcp://host:8786'") from None
    if isinstance(client, str):
        return distributed.Client(client), True
    return client, False


def _compute(tasks: list[dict], on_done, backend: str, jobs: int, client) -> None:
    """Run tasks, calling on_done(key, result_text, wall_s) in the calling thread as each
    finishes. On the first failure, stops dispatching, keeps what finishes, then raises."""
    from . import _worker

    errors: list[tuple[dict, BaseException]] = []
    by_key = {t["key"]: t for t in tasks}

    if backend == "inline":
        for t in tasks:
            try:
                result = _worker.run_point(t)
            except Exception as exc:  # noqa: BLE001
                raise SweepError(f"run failed: {t['label']}: {type(exc).__name__}: {exc}") from exc
            on_done(*result)
        return

    if backend == "process":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn, never fork: SystemC keeps global state that a forked child must not inherit
        pool = ProcessPoolExecutor(max_workers=max(1, min(jobs, len(tasks))),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker.init_worker, initargs=(os.getpid(),))
        try:
            futures = {pool.submit(_worker.run_point, t): t for t in tasks}
            for fut in as_completed(futures):
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is not None:
                    if not errors:
                        for other in futures:
                            other.cancel()
                    errors.append((futures[fut], exc))
                    continue
                on_done(*fut.result())
        except BaseException:
            # Interrupted (Ctrl-C, or on_done failed): stop now rather than when the runs in
            # flight finish. Workers never write the store, so killing them loses nothing
            # that a rerun would not compute again.
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    elif backend == "dask":
        import distributed

        client, owned = _resolve_client(client)
        try:
            futures = [client.submit(_worker.run_point, t, key=f"kvmsim-run-{t['key']}",
                                     pure=False, retries=0) for t in tasks]
            try:
                for fut in distributed.as_completed(futures):
                    if fut.status == "cancelled":
                        continue
                    try:
                        key, text, wall = fut.result()
                    except Exception as exc:  # noqa: BLE001
                        if not errors:
                            for other in futures:
                                if not other.done():
                                    other.cancel()
                        errors.append((by_key[fut.key.removeprefix("kvmsim-run-")], exc))
                        continue
                    on_done(key, text, wall)
            finally:
                client.cancel([f for f in futures if not f.done()])
        finally:
            if owned:
                client.close()
    else:
        raise ValueError(f"backend is one of {BACKENDS}, not {backend!r}")

    if errors:
        task, exc = errors[0]
        raise SweepError(f"{len(errors)} run(s) failed; first: {task['label']}: "
                         f"{type(exc).__name__}: {exc}") from exc


def sweep(scenario: Any, grid: Mapping[str, Any] | None = None, seeds: Any = None, *,
          overrides: Any = None, jobs: int | None = None, backend: str = "process",
          client: Any = None, store: str | os.PathLike | Store | None = DEFAULT_STORE,
          progress: bool = True, exit_columns: bool = True):
    """Run `scenario` at every point of `grid` x `seeds` and return a pandas DataFrame.

    scenario      a YAML path or a dict, as for kvmsim.run()
    grid          {key: [values]}: the cartesian product, first key slowest
    seeds         seeds of each grid point (default: the scenario's own seed)
    overrides     applied to every point before the grid values (dict or "k=v" list)
    jobs          worker processes (backend "process"; default: CPU count)
    backend       "process" (local spawn-started processes), "dask", or "inline" (this
                  process, one run after another)
    client        for "dask": a distributed.Client or a scheduler address string
                  (default: the current default client)
    store         SQLite results store path (default ./kvmsim-sweeps.sqlite), an open Store,
                  or None for none. Points already stored are read, not run again.
    progress      a progress line on stderr
    exit_columns  add an "exit.<REASON>" column per exit reason (counts)

    Rows: one a run, in the grid's order then seeds. Columns: the grid keys, "seed", every
    metric (sorted by name), then "exit.<REASON>" counts. df.attrs holds "computed" and
    "cached" (runs computed now / read from the store), "keys" (each row's store key),
    "grid_keys", "store" and "version".

    A bad key or value anywhere in the grid raises ConfigError before anything runs.
    """
    t0 = time.monotonic()
    if backend not in BACKENDS:
        raise ValueError(f"backend is one of {BACKENDS}, not {backend!r}")
    sc = Scenario(scenario)
    base_sets = to_sets(overrides)
    grid = dict(grid or {})
    for k, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"grid[{k!r}] must be a list of values, not {values!r}")
        grid[k] = list(values)
        if not grid[k]:
            raise ValueError(f"grid[{k!r}] is empty")
    if seeds is None:
        seed_list = [None]
    else:
        if "seed" in grid:
            raise ValueError("give seeds either in grid['seed'] or as seeds=, not both")
        seed_list = [check_seed(s) for s in ([seeds] if isinstance(seeds, numbers.Integral) else seeds)]
        if not seed_list:
            raise ValueError("seeds is empty")
    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs < 1:
        raise ValueError("jobs must be at least 1")

    points = _points(sc, base_sets, grid, seed_list)
    version = _kvmsim.version()

    owned_store = store is not None and not isinstance(store, Store)
    st = Store(store) if owned_store else store
    try:
        unique: dict[str, _Point] = {}
        for p in points:
            unique.setdefault(p.key, p)
        results: dict[str, str] = st.get_many(unique) if st is not None else {}
        cached = len(results)
        todo = [p for k, p in unique.items() if k not in results]

        def label(p: _Point) -> str:
            return ", ".join([f"{k}={v!r}" for k, v in p.params.items()] + [f"seed={p.seed}"])

        tasks = [{"key": p.key, "scenario": p.scenario, "name": sc.name, "label": label(p)}
                 for p in todo]
        bar = _Progress(len(tasks), cached, progress)

        def on_done(key: str, text: str, wall_s: float) -> None:
            got = json.loads(text)["summary"].get("version")
            if got != version:
                raise SweepError(f"a worker runs kvmsim {got}, this process {version}: "
                                 "give every worker the same build")
            p = unique[key]
            if st is not None:
                st.put(key, version=version, seed=p.seed, scenario=p.scenario, result=text,
                       wall_s=wall_s)
            results[key] = text
            bar.step()

        try:
            if tasks:
                _compute(tasks, on_done, backend, jobs, client)
        finally:
            bar.close()
    finally:
        if owned_store:
            st.close()

    df = _frame(points, results, list(grid.keys()), exit_columns)
    df.attrs.update({
        "computed": len(tasks),
        "cached": cached,
        "keys": [p.key for p in points],
        "grid_keys": list(grid.keys()),
        "store": (os.fspath(store) if owned_store else getattr(st, "path", None)),
        "version": version,
        "elapsed_s": time.monotonic() - t0,
    })
    return df


def _frame(points: list[_Point], results: dict[str, str], grid_keys: list[str],
           exit_columns: bool):
    import pandas as pd

    parsed = {}
    metric_names: set[str] = set()
    reasons: set[str] = set()
    for key, text in results.items():
        doc = json.loads(text)
        m = {k: (float("nan") if v is None else v) for k, v in doc["metrics"].items()}
        parsed[key] = (m, doc["exits"])
        metric_names.update(m)
        reasons.update(doc["exits"])
    metric_cols = sorted(metric_names)
    exit_cols = [f"exit.{r}" for r in sorted(reasons)] if exit_columns else []
    fixed = [k for k in grid_keys if k != "seed"] + ["seed"]
    clash = set(fixed) & (set(metric_cols) | set(exit_cols))
    if clash:
        raise ValueError(f"grid keys {sorted(clash)} collide with result column names")

    rows = []
    for p in points:
        metrics, exits = parsed[p.key]
        row = [p.params.get(k) for k in fixed[:-1]] + [p.seed]
        row += [metrics.get(c, float("nan")) for c in metric_cols]
        row += [int(exits.get(c[5:], 0)) for c in exit_cols]
        rows.append(row)
    df = pd.DataFrame(rows, columns=fixed + metric_cols + exit_cols)
    if metric_cols:
        df[metric_cols] = df[metric_cols].astype("float64")
    if exit_cols:
        df[exit_cols] = df[exit_cols].astype("int64")
    df["seed"] = df["seed"].astype("int64")
    return df
