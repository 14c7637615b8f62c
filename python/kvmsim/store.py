"""The results store: an embedded SQLite database that sweeps read finished runs from and
write new ones to, so a sweep interrupted at any point (Ctrl-C, a crash, kill -9) resumes
where it stopped.

One row a run, keyed by run_key(): the sha256 of the canonical resolved scenario (every key
with defaults filled in, after overrides), the seed, the simulator version and the content of
the platform file. Each finished run is committed in its own transaction (WAL journal,
INSERT OR IGNORE on the key), so a kill loses at most the runs still in flight and never
stores one twice. Only the process that drives the sweep writes; workers just compute.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from typing import Iterable, Iterator

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  key        TEXT PRIMARY KEY,   -- run_key(): sha256 hex
  version    TEXT NOT NULL,      -- kvmsim version that produced the run
  seed       INTEGER NOT NULL,
  scenario   TEXT NOT NULL,      -- canonical JSON of the resolved scenario echo
  metrics    TEXT NOT NULL,      -- JSON object name -> number (shortest round-trip floats)
  result     TEXT NOT NULL,      -- the full result JSON as the simulator returned it
  wall_s     REAL,               -- wall time of the run in its worker
  created_at REAL NOT NULL       -- unix time the row was written
);
"""


def canonical_json(value) -> str:
    """The one text form of a JSON value that the key hashes: sorted keys, no spaces, floats
    in Python's shortest round-trip repr."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=True)


def run_key(canonical_scenario: str, seed: int, version: str, platform_digest: str = "") -> str:
    """The store's key of one run."""
    h = hashlib.sha256()
    for part in ("kvmsim-run/1", canonical_scenario, str(seed), version, platform_digest):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


class Store:
    """A sweep results database. Usable as a context manager.

        with kvmsim.Store("kvmsim-sweeps.sqlite") as st:
            len(st); st.frame(); st.result(key)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        # Autocommit mode: every write below opens and commits its own transaction.
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against a killed process
        self._db.executescript(_DDL)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                         (str(SCHEMA_VERSION),))
        found = self._db.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()[0]
        if int(found) != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: results store schema {found}, this kvmsim reads "
                               f"{SCHEMA_VERSION}")

    # -- reading ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM runs WHERE key=?", (key,)).fetchone() is not None

    def keys(self) -> list[str]:
        return [k for (k,) in self._db.execute("SELECT key FROM runs ORDER BY created_at, key")]

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> result JSON text for those of `keys` that are stored."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, result FROM runs WHERE key IN ({','.join('?' * len(chunk))})"
            found.update(self._db.execute(q, chunk).fetchall())
        return found

    def result(self, key: str):
        """The stored run as a kvmsim.Result."""
        from .result import Result

        row = self._db.execute("SELECT result FROM runs WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return Result(row[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def frame(self):
        """Every stored run as a DataFrame: key, version, seed, wall_s, created_at, then every
        metric as a column."""
        import pandas as pd

        rows = []
        for key, version, seed, metrics, wall_s, created in self._db.execute(
                "SELECT key, version, seed, metrics, wall_s, created_at FROM runs "
                "ORDER BY created_at, key"):
            row = {"key": key, "version": version, "seed": seed, "wall_s": wall_s,
                   "created_at": created}
            row.update(json.loads(metrics))
            rows.append(row)
        return pd.DataFrame(rows)

    # -- writing ---------------------------------------------------------------------
    def put(self, key: str, *, version: str, seed: int, scenario: str, result: str,
            wall_s: float | None = None) -> bool:
        """Store one finished run in its own transaction; False if the key was already there."""
        metrics = json.dumps(json.loads(result)["metrics"], sort_keys=True,
                             separators=(",", ":"))
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?,?,?)",
                        (key, version, seed, scenario, metrics, result, wall_s, time.time()))
            inserted = cur.rowcount == 1
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return inserted

    def delete(self, keys: Iterable[str]) -> int:
        """Forget runs (so the next sweep computes them again); returns how many were stored."""
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            n = sum(cur.execute("DELETE FROM runs WHERE key=?", (k,)).rowcount for k in keys)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return n

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<kvmsim.Store {self.path!r}: {len(self)} runs>"


def open_store(path: str | os.PathLike = "kvmsim-sweeps.sqlite") -> Store:
    """Open (creating if needed) a results store."""
    return Store(path)
