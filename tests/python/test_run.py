"""kvmsim.run: the same numbers as the CLI, repeatable in one interpreter, dict scenarios,
and ConfigError."""
import json
import math
import pickle
import subprocess

import pytest
import yaml


def write_yaml(path, doc):
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli_run(cli, scenario_path, out, *args):
    subprocess.run([cli, "run", str(scenario_path), "--out", str(out), "--quiet", *args],
                   check=True, capture_output=True, text=True)
    return json.loads((out / "summary.json").read_text())


def same_number(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                      and math.isnan(b))


def test_run_equals_cli(kvmsim, cli_binary, timers, tmp_path):
    path = write_yaml(tmp_path / "timers.yaml", timers)
    summary = cli_run(cli_binary, path, tmp_path / "cli", "--set", "kvm.hv_timer=false",
                      "--seed", "7")
    r = kvmsim.run(path, overrides={"kvm.hv_timer": False}, seed=7)
    cli_metrics = {k: (math.nan if v is None else v) for k, v in summary["metrics"].items()}
    assert r.metrics.keys() == cli_metrics.keys()
    for k in cli_metrics:  # exact, not approximate
        assert same_number(r.metrics[k], cli_metrics[k]), k
    assert r.exit_totals == summary["exits"]
    assert r.summary["scenario"] == summary["scenario"] == r.config
    assert r.summary["seed"] == 7 and r.config["kvm"]["hv_timer"] is False
    assert r.exits_by_vcpu_csv == (tmp_path / "cli" / "exits_by_vcpu.csv").read_text()
    for name, text in r.files.items():
        assert text == (tmp_path / "cli" / name).read_text(), name
    # The same scenario as a dict gives the same numbers.
    assert kvmsim.run(timers, overrides=["kvm.hv_timer=false"], seed=7).metrics == r.metrics


def test_write_matches_cli_folder(kvmsim, cli_binary, small, tmp_path):
    path = write_yaml(tmp_path / "small.yaml", small)
    cli_run(cli_binary, path, tmp_path / "cli")
    out = kvmsim.run(path).write(tmp_path / "py")
    cli_files = sorted(p.name for p in (tmp_path / "cli").iterdir())
    assert sorted(p.name for p in (tmp_path / "py").iterdir()) == cli_files
    for name in cli_files:
        a, b = (tmp_path / "cli" / name).read_text(), (tmp_path / "py" / name).read_text()
        if name == "summary.json":  # wall time differs, everything else is identical
            a, b = json.loads(a), json.loads(b)
            a.pop("wall_time_s"), b.pop("wall_time_s")
        assert a == b, name
    assert out == str(tmp_path / "py")


def test_two_runs_in_a_row(kvmsim, small, timers):
    first = kvmsim.run(small)
    other = kvmsim.run(timers)
    again = kvmsim.run(small)
    assert first.metrics == again.metrics
    assert first.exit_totals == again.exit_totals
    assert first.exits_by_vcpu_csv == again.exits_by_vcpu_csv
    assert other.metrics != first.metrics
    assert first.metrics["exits.total"] > 0


def test_dict_scenarios_nested_and_dotted(kvmsim):
    nested = {"vm": {"vcpus": 3}, "kvm": {"hv_timer": False},
              "vmexit": {"tests": ["tscdeadline"], "goal_cycles": 300000}}
    dotted = {"vm.vcpus": 3, "kvm.hv_timer": False, "vmexit.tests": ["tscdeadline"],
              "vmexit.goal_cycles": 300000}
    mixed = {"vm.vcpus": 3, "kvm": {"hv_timer": False},
             "vmexit": {"tests": "tscdeadline", "goal_cycles": 300000}}  # scalar: 1-element list
    r1, r2, r3 = kvmsim.run(nested), kvmsim.run(dotted), kvmsim.run(mixed)
    assert r1.config == r2.config == r3.config
    assert r1.config["vm"]["vcpus"] == 3 and r1.config["kvm"]["hv_timer"] is False
    assert r1.metrics == r2.metrics == r3.metrics
    assert r1.metrics["timer.sw_armed"] > 0 and r1.metrics["timer.hv_armed"] == 0
    # resolve() gives the same echo without running
    assert kvmsim.resolve(dotted) == r1.config


def test_exits_dataframe(kvmsim, timers):
    r = kvmsim.run(timers)
    ex = r.exits
    assert list(ex.columns) == ["vm", "vcpu", "reason", "count", "mean_us", "max_us"]
    assert ex.groupby("reason")["count"].sum().to_dict() == r.exit_totals
    assert set(ex["vcpu"]) <= set(range(r.config["vm"]["vcpus"]))
    assert r.histograms == {} and r.timeline is None
    assert "perf-kvm-stat.txt" in r.files and "vmexit.txt" in r.files


def test_config_error_unknown_key(kvmsim, small, tmp_path):
    with pytest.raises(kvmsim.ConfigError) as info:
        kvmsim.run({**small, "kvm": {"no_such_knob": 1}})
    e = info.value
    assert isinstance(e, ValueError)
    assert e.key == "kvm.no_such_knob"
    assert e.file == "<dict>" and e.line == 0
    assert "known key" in e.expected and e.found
    assert "kvm.no_such_knob" in str(e)
    # From a file: the line of the offending key.
    path = tmp_path / "bad.yaml"
    path.write_text("vmexit:\n  tests: [cpuid]\n  goal_cycles: 200000\nkvm:\n  hv_timerr: true\n")
    with pytest.raises(kvmsim.ConfigError) as info:
        kvmsim.run(path)
    assert (info.value.file, info.value.line, info.value.key) == (str(path), 5, "kvm.hv_timerr")
    # A bad override value.
    with pytest.raises(kvmsim.ConfigError) as info:
        kvmsim.run(small, overrides={"kvm.halt_poll_ns": "lots"})
    assert info.value.key == "kvm.halt_poll_ns" and info.value.line == 0
    # Picklable with its attributes (it crosses process boundaries in sweeps).
    e2 = pickle.loads(pickle.dumps(info.value))
    assert type(e2) is kvmsim.ConfigError and e2.key == "kvm.halt_poll_ns"


def test_isolated_run(kvmsim, small):
    assert kvmsim.run(small, isolate=True).metrics == kvmsim.run(small).metrics


def test_result_pickles(kvmsim, small):
    r = kvmsim.run(small)
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.metrics == r.metrics and r2.summary == r.summary


def test_python_m_kvmsim_run(kvmsim, python, small, tmp_path):
    path = write_yaml(tmp_path / "small.yaml", small)
    p = subprocess.run([python, "-m", "kvmsim", "run", str(path), "--out", str(tmp_path / "o"),
                        "--set", "kvm.fastpath=false"], capture_output=True, text=True, check=True)
    assert "exits by reason" in p.stdout
    got = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert got["metrics"] == kvmsim.run(path, ["kvm.fastpath=false"]).metrics
    bad = subprocess.run([python, "-m", "kvmsim", "run", str(path), "--set", "nope=1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "nope" in bad.stderr
