"""kvmsim.parse: the C++ tool-output parsers from Python, on real-format samples, on
truncated input, and on the simulator's own perf-kvm-stat.txt."""
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "validation" / "samples"

CASES = [
    ("perf-kvm-stat-report.txt", "perf-kvm-stat"),
    ("trace-cmd-report.txt", "ftrace"),
    ("cyclictest-h.txt", "cyclictest"),
    ("vmexit.log", "vmexit"),
    ("kvm-stats.txt", "kvm-stats"),
]


@pytest.mark.parametrize("name,fmt", CASES)
def test_samples_are_detected_and_parsed(kvmsim, name, fmt):
    out = kvmsim.parse(SAMPLES / name)
    assert out["format"] == fmt
    assert out["result"]
    # The same text with the format named gives the same result.
    assert kvmsim.parse((SAMPLES / name).read_text(), format=fmt) == out


def test_perf_rows(kvmsim):
    r = kvmsim.parse(SAMPLES / "perf-kvm-stat-report.txt")["result"]
    assert r["exits"]["MSR_WRITE"]["samples"] == 42521
    assert r["exits"]["HLT"]["avg_us"] == pytest.approx(8224.34)


def test_truncated_input_parses_as_far_as_it_can(kvmsim):
    text = (SAMPLES / "perf-kvm-stat-report.txt").read_text()
    cut = text[: text.index("IO_INSTRUCTION") + 20]
    r = kvmsim.parse(cut, format="perf-kvm-stat")["result"]
    assert r["exits"]["MSR_WRITE"]["samples"] == 42521
    assert "IO_INSTRUCTION" not in r["exits"]


def test_unknown_format_is_a_clear_error(kvmsim):
    with pytest.raises(ValueError, match="format 'perf'"):
        kvmsim.parse("x", format="perf")
    with pytest.raises(ValueError, match="not output of a tool"):
        kvmsim.parse("hello\nworld\n")


def test_simulated_perf_output_round_trips(kvmsim, small):
    res = kvmsim.run(small)
    out = kvmsim.parse(res.files["perf-kvm-stat.txt"], format="perf-kvm-stat")["result"]
    df = res.exits
    cpuid = int(df[df["reason"] == "CPUID"]["count"].sum())
    assert cpuid > 0
    assert out["exits"]["CPUID"]["samples"] == cpuid
