"""python -m kvmsim: the sweep command line (and a thin `run` like the C++ `kvmsim run`).

  python -m kvmsim run FILE [--set key=value]... [--seed N] [--out DIR] [--quiet] [--isolate]
  python -m kvmsim sweep FILE --grid key=v1,v2 [--grid key=...]... [--seeds 1,2 | 1-8]
                    [--set key=value]... [--jobs N] [--store PATH | --no-store]
                    [--backend process|dask|inline] [--scheduler ADDRESS]
                    [--out results.csv] [--metrics m1,m2] [--quiet]
  python -m kvmsim schema | version
"""
from __future__ import annotations

import argparse
import os
import sys


def split_values(text: str) -> list[str]:
    """Split "a,b,[c, d],'e,f'" on the commas outside brackets, braces and quotes."""
    out, cur, depth, quote = [], [], 0, None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch in "[{":
            depth += 1
            cur.append(ch)
        elif ch in "]}":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [v for v in out if v != ""]


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in split_values(text):
        if "-" in part[1:]:
            lo, hi = part.split("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part, 0))
    return seeds


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kvmsim",
                                description="kvmsim from Python: run one scenario or sweep one.")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="simulate one scenario (like the C++ `kvmsim run`)")
    r.add_argument("file")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key (value is YAML)")
    r.add_argument("--seed", type=lambda s: int(s, 0))
    r.add_argument("--out", help="result folder (default: runs/<scenario name>)")
    r.add_argument("--quiet", "-q", action="store_true")
    r.add_argument("--isolate", action="store_true", help="run in a child process")

    s = sub.add_parser("sweep", help="run a scenario over a grid of values and seeds")
    s.add_argument("file")
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a swept key and its values (YAML, comma-separated; brackets keep "
                        "lists whole: vmexit.tests=[cpuid],[ipi,ipi_halt]); repeatable, first "
                        "varies slowest")
    s.add_argument("--seeds", type=parse_seeds, help="1,2,3 or 1-8 (default: the scenario's)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every point")
    s.add_argument("--jobs", "-j", type=int, default=None,
                   help="worker processes (default: CPU count)")
    s.add_argument("--store", default=None,
                   help="SQLite results store (default: ./kvmsim-sweeps.sqlite)")
    s.add_argument("--no-store", action="store_true", help="keep nothing; compute every point")
    s.add_argument("--backend", choices=["process", "dask", "inline"], default="process")
    s.add_argument("--scheduler", help="Dask scheduler address (backend dask), e.g. "
                                       "tcp://head:8786")
    s.add_argument("--out", help="write the full table (every metric) as CSV")
    s.add_argument("--metrics", default="exits.total,exits.per_s",
                   help="metrics to print (comma-separated, 'all' for every one)")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress line, no table")

    sub.add_parser("schema", help="every scenario key as Markdown")
    sub.add_parser("version")
    return p


def _cmd_run(a) -> int:
    import kvmsim

    res = kvmsim.run(a.file, overrides=a.set, seed=a.seed, isolate=a.isolate)
    out = a.out
    if not out:
        name = res.config.get("name") or os.path.basename(a.file).split(".")[0]
        out = os.path.join("runs", name)
    res.write(out)
    if not a.quiet:
        print(res.format_summary())
        print(f"results: {out}/")
    return 0


def _cmd_sweep(a) -> int:
    import pandas as pd

    import kvmsim
    from kvmsim._scenario import YamlText

    grid = {}
    for g in a.grid:
        if "=" not in g:
            raise SystemExit(f"kvmsim: --grid needs KEY=V1,V2,..., got {g!r}")
        key, values = g.split("=", 1)
        key = key.strip()
        if key in grid:
            raise SystemExit(f"kvmsim: --grid {key} given twice")
        grid[key] = [YamlText(v) for v in split_values(values)]
        if not grid[key]:
            raise SystemExit(f"kvmsim: --grid {key} has no values")
    store = None if a.no_store else (a.store or kvmsim.DEFAULT_STORE)
    client = a.scheduler if a.backend == "dask" else None
    df = kvmsim.sweep(a.file, grid=grid, seeds=a.seeds, overrides=a.set, jobs=a.jobs,
                      backend=a.backend, client=client, store=store, progress=not a.quiet)
    if a.out:
        df.to_csv(a.out, index=False, float_format="%.17g")
    if not a.quiet:
        fixed = list(grid) + ["seed"]
        if a.metrics == "all":
            shown = df
        else:
            wanted = [m for m in split_values(a.metrics)]
            missing = [m for m in wanted if m not in df.columns]
            if missing:
                print(f"kvmsim: no metric {', '.join(missing)}", file=sys.stderr)
            shown = df[fixed + [m for m in wanted if m in df.columns]]
        with pd.option_context("display.max_rows", 500, "display.width", 200):
            print(shown.to_string(index=False))
        print(f"\n{len(df)} runs: {df.attrs['computed']} computed, {df.attrs['cached']} from "
              f"the store" + (f" ({store})" if store else "")
              + (f"; table: {a.out}" if a.out else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    import kvmsim

    try:
        if a.cmd == "run":
            return _cmd_run(a)
        if a.cmd == "sweep":
            return _cmd_sweep(a)
        if a.cmd == "schema":
            sys.stdout.write(kvmsim.schema_markdown())
            return 0
        if a.cmd == "version":
            print(f"kvmsim {kvmsim.version()}")
            return 0
    except kvmsim.ConfigError as e:
        print(f"kvmsim: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nkvmsim: interrupted (finished runs are in the store)", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
