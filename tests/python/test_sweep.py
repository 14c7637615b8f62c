"""kvmsim.sweep: rows and columns, determinism across backends and job counts, the store,
fast failure on a bad grid value, and `python -m kvmsim sweep`."""
import sqlite3
import subprocess

import pandas as pd
import pytest

GRID = {"kvm.hv_timer": [True, False], "kvm.halt_poll_ns": [0, 200000]}


def test_2x2_sweep_jobs2(kvmsim, timers, tmp_path):
    store = tmp_path / "s.sqlite"
    df = kvmsim.sweep(timers, grid=GRID, jobs=2, store=store, progress=False)
    assert len(df) == 4
    assert list(df.columns[:3]) == ["kvm.hv_timer", "kvm.halt_poll_ns", "seed"]
    # the grid's cartesian product in the given order, first key slowest
    assert df[["kvm.hv_timer", "kvm.halt_poll_ns"]].values.tolist() == [
        [True, 0], [True, 200000], [False, 0], [False, 200000]]
    for metric in ("exits.total", "exits.per_s", "halt.successful_poll", "timer.hv_armed"):
        assert metric in df.columns and df[metric].dtype == "float64"
    assert any(c.startswith("exit.") for c in df.columns)
    assert (df["timer.hv_armed"] > 0).tolist() == [True, True, False, False]
    assert df.attrs["computed"] == 4 and df.attrs["cached"] == 0
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4

    # Again: everything comes from the store, and the table is identical.
    again = kvmsim.sweep(timers, grid=GRID, jobs=2, store=store, progress=False)
    assert again.attrs["computed"] == 0 and again.attrs["cached"] == 4
    pd.testing.assert_frame_equal(df, again, check_exact=True)

    # One more grid value computes only the new points.
    more = kvmsim.sweep(timers, grid={**GRID, "kvm.halt_poll_ns": [0, 200000, 50000]},
                        jobs=2, store=store, progress=False)
    assert len(more) == 6 and more.attrs["computed"] == 2 and more.attrs["cached"] == 4


def test_sweep_row_equals_single_run(kvmsim, timers):
    df = kvmsim.sweep(timers, grid=GRID, seeds=[3], jobs=2, store=None, progress=False)
    row = df.iloc[2]  # hv_timer False, halt_poll_ns 0
    r = kvmsim.run(timers, overrides={"kvm.hv_timer": False, "kvm.halt_poll_ns": 0}, seed=3)
    for k, v in r.metrics.items():
        assert row[k] == v, k
    for reason, n in r.exit_totals.items():
        assert row[f"exit.{reason}"] == n


def test_bit_identical_across_jobs_and_backends(kvmsim, timers):
    kw = dict(grid=GRID, seeds=[1, 2], store=None, progress=False)
    one = kvmsim.sweep(timers, jobs=1, **kw)
    two = kvmsim.sweep(timers, jobs=2, **kw)
    inline = kvmsim.sweep(timers, backend="inline", **kw)
    assert len(one) == 8 and one["seed"].tolist() == [1, 2] * 4
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    pd.testing.assert_frame_equal(one, inline, check_exact=True)


def test_bad_grid_value_fails_fast(kvmsim, small, tmp_path):
    store = tmp_path / "s.sqlite"
    with pytest.raises(kvmsim.ConfigError) as info:
        kvmsim.sweep(small, grid={"kvm.halt_poll_ns": [0, 1000, -5]}, store=store,
                     progress=False)
    assert info.value.key == "kvm.halt_poll_ns"
    assert "-5" in str(info.value)
    with pytest.raises(kvmsim.ConfigError) as info:
        kvmsim.sweep(small, grid={"kvm.no_such": [1, 2]}, store=store, progress=False)
    assert info.value.key == "kvm.no_such"
    assert not store.exists()  # every point is checked before anything runs or opens


def test_default_store_in_cwd(kvmsim, small, tmp_path):
    df = kvmsim.sweep(small, grid={"kvm.fastpath": [True, False]}, jobs=1, progress=False)
    assert (tmp_path / kvmsim.DEFAULT_STORE).exists() and df.attrs["computed"] == 2
    with kvmsim.open_store(kvmsim.DEFAULT_STORE) as st:
        assert len(st) == 2
        assert st.result(df.attrs["keys"][1]).config["kvm"]["fastpath"] is False
        assert len(st.frame()) == 2


def test_python_m_kvmsim_sweep(kvmsim, python, timers, tmp_path):
    import yaml

    path = tmp_path / "timers.yaml"
    path.write_text(yaml.safe_dump(timers))
    cmd = [python, "-m", "kvmsim", "sweep", str(path), "--grid", "kvm.hv_timer=true,false",
           "--grid", "vmexit.tests=[tscdeadline],[ipi_halt, tscdeadline]", "--seeds", "1-2",
           "--jobs", "2", "--store", str(tmp_path / "cli.sqlite"), "--out",
           str(tmp_path / "out.csv")]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "8 runs: 8 computed" in p.stdout
    table = pd.read_csv(tmp_path / "out.csv", float_precision="round_trip")
    assert len(table) == 8 and "exits.total" in table.columns
    py = kvmsim.sweep(path, grid={"kvm.hv_timer": [True, False],
                                  "vmexit.tests": [["tscdeadline"], ["ipi_halt", "tscdeadline"]]},
                      seeds=[1, 2], store=tmp_path / "cli.sqlite", progress=False)
    assert py.attrs["computed"] == 0  # same keys as the command line's runs
    assert table["exits.total"].tolist() == py["exits.total"].tolist()
    p = subprocess.run(cmd[:5] + ["--grid", "kvm.hv_timer=maybe", "--no-store"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "kvm.hv_timer" in p.stderr


def test_same_configuration_same_key(kvmsim, tmp_path):
    import yaml

    nested = {"kvm": {"hv_timer": False}, "vmexit": {"tests": ["cpuid"], "goal_cycles": 200000}}
    dotted = {"kvm.hv_timer": False, "vmexit.tests": "cpuid", "vmexit.goal_cycles": 200000,
              "kvm.fastpath": True}  # a default given explicitly
    path = tmp_path / "n.yaml"
    path.write_text(yaml.safe_dump(nested))
    store = tmp_path / "k.sqlite"
    first = kvmsim.sweep(nested, store=store, progress=False)
    for other in (dotted, path):
        df = kvmsim.sweep(other, store=store, progress=False)
        assert df.attrs["keys"] == first.attrs["keys"] and df.attrs["computed"] == 0
    # ... and a different seed or value is a different run
    assert kvmsim.sweep(nested, seeds=[2], store=store, progress=False).attrs["computed"] == 1
