#!/usr/bin/env bash
# Determinism across build types: every shipped scenario (shortened as in the scenario smoke
# test) gives a bit-identical summary.json, wall time aside, from a Debug build (-O0, in
# ./build-debug) and from the Release build (./build).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh > /dev/null
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug -DKVMSIM_BUILD_TESTS=OFF -DKVMSIM_BUILD_BENCH=OFF \
      -DKVMSIM_BUILD_PYTHON=OFF > /tmp/kvmsim-debug-cmake.log 2>&1 || { cat /tmp/kvmsim-debug-cmake.log; exit 1; }
cmake --build build-debug -j "$(nproc)" --target kvmsim > /dev/null
export SC_COPYRIGHT_MESSAGE=DISABLE
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
for f in scenarios/*.yaml; do
  name=$(basename "$f" .yaml)
  # The smoke test's shortening options (every --set in tests/scenarios_smoke.sh).
  sets=$(grep -o -- '--set [^ ]*' tests/scenarios_smoke.sh | tr '\n' ' ')
  for b in build build-debug; do
    # shellcheck disable=SC2086
    "$b/apps/kvmsim" run "$f" --quiet --keep-going --out "$out/$b-$name" $sets > /dev/null
  done
  if /usr/bin/python3 - "$out/build-$name/summary.json" "$out/build-debug-$name/summary.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for s in (a, b):
    s.pop("wall_time_s")
    s.pop("version")  # Debug and Release of one commit; the version string is the same anyway
sys.exit(0 if a == b else 1)
PY
  then echo "same: $name"
  else echo "DIFFERENT: $name (Debug vs Release summary.json)"; failed=1
  fi
done
exit $failed
