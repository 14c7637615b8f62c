"""A sweep killed with SIGKILL resumes from its store, losing and duplicating nothing."""
import os
import signal
import sqlite3
import subprocess
import textwrap
import time

import pandas as pd

# 8 points of ~0.3-0.6 s each, so the kill lands mid-sweep.
SCENARIO = {"vmexit": {"tests": ["tscdeadline", "ipi_halt"], "goal_cycles": 120_000_000}}
GRID = {"kvm.hv_timer": [True, False], "kvm.halt_poll_ns": [0, 50000, 200000, 400000]}

SWEEP = textwrap.dedent(f"""
    import kvmsim
    kvmsim.sweep({SCENARIO!r}, grid={GRID!r}, jobs=1, store="resume.sqlite", progress=False)
""")


def stored(path):
    if not os.path.exists(path):
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0
    finally:
        db.close()


def live_in_group(pgid):
    """Processes of a process group that are still running (not zombies)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def test_kill_and_resume(kvmsim, python, tmp_path):
    store = tmp_path / "resume.sqlite"
    proc = subprocess.Popen([python, "-c", SWEEP], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while stored(store) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sweep stored nothing in 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # the sweep's own process, as `kill -9 PID`
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        # Its spawned worker notices the parent is gone and exits by itself.
        deadline = time.monotonic() + 10
        while live_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not live_in_group(proc.pid), "orphaned sweep workers kept running"
    finally:
        try:  # whatever is left: it never writes, but must not outlive the test
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = stored(store)
    assert 2 <= before < 8, f"the kill came too late to test anything ({before} stored)"

    df = kvmsim.sweep(SCENARIO, grid=GRID, jobs=2, store=store, progress=False)
    assert len(df) == 8
    assert df.attrs["cached"] == before
    assert df.attrs["computed"] == 8 - before
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 8
        assert db.execute("SELECT COUNT(DISTINCT key) FROM runs").fetchone()[0] == 8
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(df.attrs["keys"]) == sorted(set(df.attrs["keys"]))

    # The resumed table is bit-identical to one computed from scratch.
    fresh = kvmsim.sweep(SCENARIO, grid=GRID, jobs=2, store=None, progress=False)
    pd.testing.assert_frame_equal(df, fresh, check_exact=True)
