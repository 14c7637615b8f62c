"""backend="dask": the same worker function on a Dask cluster gives the same numbers."""
import logging

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # tornado, in Debian 12

GRID = {"kvm.hv_timer": [True, False], "kvm.halt_poll_ns": [0, 200000]}


@pytest.fixture(scope="module")
def cluster():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    yield cluster
    cluster.close()


def test_dask_equals_process_backend(kvmsim, timers, cluster, tmp_path):
    local = kvmsim.sweep(timers, grid=GRID, seeds=[1, 2], jobs=2, store=None, progress=False)
    with distributed.Client(cluster) as client:
        on_dask = kvmsim.sweep(timers, grid=GRID, seeds=[1, 2], backend="dask", client=client,
                               store=tmp_path / "d.sqlite", progress=False)
        assert on_dask.attrs["computed"] == 8
        pd.testing.assert_frame_equal(local, on_dask, check_exact=True)
        # The store stays with the client: a second sweep submits nothing.
        again = kvmsim.sweep(timers, grid=GRID, seeds=[1, 2], backend="dask", client=client,
                             store=tmp_path / "d.sqlite", progress=False)
        assert again.attrs["computed"] == 0
        pd.testing.assert_frame_equal(local, again, check_exact=True)


def test_dask_scheduler_address(kvmsim, small, cluster):
    grid = {"kvm.fastpath": [True, False]}
    local = kvmsim.sweep(small, grid=grid, store=None, progress=False, backend="inline")
    by_address = kvmsim.sweep(small, grid=grid, backend="dask",
                              client=cluster.scheduler_address, store=None, progress=False)
    pd.testing.assert_frame_equal(local, by_address, check_exact=True)


def test_dask_bad_value_fails_before_submitting(kvmsim, small, cluster):
    with distributed.Client(cluster) as client:
        with pytest.raises(kvmsim.ConfigError) as info:
            kvmsim.sweep(small, grid={"kvm.ple_window": [1, "x"]}, backend="dask",
                         client=client, store=None, progress=False)
        assert info.value.key == "kvm.ple_window"
