#!/usr/bin/env bash
# The main job: set up, build, run scenarios/demo.yaml and print its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
export SC_COPYRIGHT_MESSAGE=DISABLE
"${KVMSIM_BUILD_DIR:-build}/apps/kvmsim" run scenarios/demo.yaml --out runs/demo "$@"
