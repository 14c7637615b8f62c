"""Turning what a Python user passes (paths, dicts, override dicts) into what the C++ side
reads (a file path or JSON text, plus "key=value" overrides whose value is YAML)."""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any, Iterable

from . import _kvmsim


class YamlText(str):
    """An override value given as YAML text, passed through verbatim ("[cpuid, vmcall]",
    "0x10", "1e5"). `python -m kvmsim sweep --grid` values are YamlText, so they mean exactly
    what they mean after `kvmsim run --set`."""

    __slots__ = ()


def plain(value: Any) -> Any:
    """numpy scalars/arrays and tuples to plain Python, recursively."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalar or array
        return plain(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot pass a {type(value).__name__} to a scenario: {value!r}")


def yaml_value(value: Any) -> str:
    """One override value as YAML text. Python strings become quoted YAML strings (never a
    bool or number), so {"host.scheduler": "eevdf"} means the string; use YamlText for raw
    YAML."""
    if isinstance(value, YamlText):
        return str(value)
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    return json.dumps(value, allow_nan=False)  # JSON is YAML's flow style


def to_sets(overrides: Mapping[str, Any] | Iterable[str] | str | None) -> list[str]:
    """Overrides as a dict {key: python value} or "key=value" strings (value is YAML)."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, Mapping):
        return [f"{key}={yaml_value(value)}" for key, value in overrides.items()]
    sets = []
    for item in overrides:
        if isinstance(item, str):
            sets.append(item)
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            sets.append(f"{item[0]}={yaml_value(item[1])}")
        else:
            raise TypeError(f"an override is 'key=value' or (key, value), not {item!r}")
    return sets


class Scenario:
    """A scenario file path or an in-memory dict, normalized once."""

    def __init__(self, scenario: Any):
        if isinstance(scenario, Scenario):
            self.path, self.text, self.name = scenario.path, scenario.text, scenario.name
        elif isinstance(scenario, (str, os.PathLike)):
            self.path = os.fspath(scenario)
            self.text = None
            self.name = self.path
        elif isinstance(scenario, Mapping):
            self.path = None
            self.text = json.dumps(plain(scenario), allow_nan=False)
            self.name = "<dict>"
        else:
            raise TypeError(
                f"a scenario is a file path or a dict, not {type(scenario).__name__}")

    def resolve_text(self, sets: list[str], seed: int | None = None) -> str:
        """The resolved scenario echo (defaults filled in) as JSON text. Raises ConfigError."""
        if self.path is not None:
            return _kvmsim.resolve_file(self.path, sets, seed)
        return _kvmsim.resolve_json(self.text, self.name, sets, seed)

    def run_text(self, sets: list[str], seed: int | None = None) -> str:
        if self.path is not None:
            return _kvmsim.run_file(self.path, sets, seed)
        return _kvmsim.run_json(self.text, self.name, sets, seed)


def check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    seed = plain(seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"a seed is an int, not {seed!r}")
    return seed


def resolve(scenario: Any, overrides: Any = None, seed: int | None = None) -> dict:
    """Validate a scenario without running it; returns the resolved configuration (every key,
    defaults filled in) as a nested dict, the same echo a result's summary["scenario"] holds.
    Raises ConfigError naming the file, line and key of the first problem."""
    return json.loads(Scenario(scenario).resolve_text(to_sets(overrides), check_seed(seed)))


def schema() -> list[dict]:
    """Every scenario key: [{key, type, default, min, max, choices, doc, group}, ...]."""
    return json.loads(_kvmsim.schema())


def schema_markdown() -> str:
    """Every scenario key as the Markdown table `kvmsim schema` prints."""
    return _kvmsim.schema_markdown()
