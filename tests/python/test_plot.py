"""kvmsim.plot: every function draws and returns its Axes (headless, Agg)."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def plot():
    import matplotlib

    matplotlib.use("Agg")
    import kvmsim.plot

    return kvmsim.plot


def test_plots(kvmsim, plot, timers, tmp_path):
    import matplotlib.pyplot as plt

    df = kvmsim.sweep(timers, grid={"kvm.hv_timer": [True, False],
                                    "kvm.halt_poll_ns": [0, 200000]}, store=None,
                      progress=False)
    ax = plot.metric_vs_param(df, x="kvm.halt_poll_ns", y="exits.per_s", hue="kvm.hv_timer")
    assert len(ax.get_lines()) == 2
    ax = plot.metric_vs_param(df, x="kvm.hv_timer", y="exits.total")
    assert len(ax.get_lines()) == 1
    ax = plot.exit_breakdown(df)
    assert len(ax.get_xticklabels()) == 4
    r = kvmsim.run(timers)
    assert plot.exit_breakdown(r).patches
    assert plot.exit_breakdown([r, r]).patches
    assert plot.exit_breakdown({"a": r}).patches
    samples = np.random.default_rng(1).exponential(5.0, 1000)
    assert plot.latency_cdf(samples, label="x").get_lines()
    assert plot.latency_cdf({1: 10, 2: 5, 10: 1}).get_lines()
    assert plot.latency_histogram(samples) is not None
    assert plot.latency_histogram(([1, 2, 3], [5, 3, 1])).get_lines()
    ax.figure.savefig(tmp_path / "x.png")
    plt.close("all")
