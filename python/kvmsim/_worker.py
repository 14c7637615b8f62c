"""Functions that run in worker processes (process pools, Dask workers). They take and
return plain picklable values; the parent owns the results store."""
from __future__ import annotations

import os
import threading
import time


def init_worker(parent_pid: int) -> None:
    """Initializer of local worker processes: exit as soon as the parent is gone. A sweep
    killed with -9 (or an OOM kill) would otherwise leave its spawned workers blocked on
    their task queue forever. The simulator releases the GIL, so this thread notices even
    in the middle of a run; a worker never writes the store, so exiting loses nothing."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.25)

    threading.Thread(target=watch, name="kvmsim-parent-watch", daemon=True).start()


def run_scenario(path: str | None, text: str | None, name: str, sets: list[str],
                 seed: int | None) -> str:
    """One run of a file or JSON scenario; returns the result as JSON text."""
    from . import _kvmsim

    if path is not None:
        return _kvmsim.run_file(path, sets, seed)
    return _kvmsim.run_json(text, name, sets, seed)


def run_point(task: dict) -> tuple[str, str, float]:
    """One sweep point. task = {"key", "scenario" (resolved echo, JSON text), "name"}.
    The echo is complete (seed included), so the worker needs no scenario file: what runs is
    exactly what was hashed into the key. Returns (key, result JSON text, wall seconds)."""
    from . import _kvmsim

    t0 = time.perf_counter()
    text = _kvmsim.run_json(task["scenario"], task["name"], [], None)
    return task["key"], text, time.perf_counter() - t0
