#!/usr/bin/python3
"""Plot of `kvmsim compare --plot OUT.png`: real against simulated.

Reads the JSON kvmsim writes ({"kind", "score", "plot": {"bars": {label: [real, sim]},
"bar_unit", "cdf": {"real": [[x, F], ...], "sim": [...]}, "cdf_unit"}}) and draws the
bars (exit mix, microbenchmark cycles, cyclictest avg/max) beside the latency CDFs.
usage: compare_plot.py DATA.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(data_path, out_path):
    with open(data_path) as f:
        d = json.load(f)
    plot = d.get("plot") or {}
    bars = plot.get("bars") or {}
    cdf = plot.get("cdf") or {}
    panels = [p for p in ("bars", "cdf") if (bars if p == "bars" else any(cdf.values()))]
    if not panels:
        print("compare_plot: nothing to plot", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "bars":
            labels = list(bars)
            x = range(len(labels))
            ax.bar([i - 0.2 for i in x], [bars[k][0] for k in labels], width=0.4, label="real")
            ax.bar([i + 0.2 for i in x], [bars[k][1] for k in labels], width=0.4, label="sim")
            ax.set_xticks(list(x))
            ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
            ax.set_ylabel(plot.get("bar_unit", ""))
        else:
            for side in ("real", "sim"):
                pts = cdf.get(side) or []
                if pts:
                    ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", label=side)
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlabel(plot.get("cdf_unit", ""))
            ax.set_ylabel("CDF")
        ax.legend()
    score = d.get("score")
    fig.suptitle("kvmsim compare (%s)%s" % (d.get("kind", "?"), "" if score is None else ", realism score %.1f" % score))
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
