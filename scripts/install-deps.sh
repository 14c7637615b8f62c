#!/usr/bin/env bash
# Installs kvmsim's build and test dependencies from Debian 12 packages.
# Idempotent: checks with dpkg first and calls apt only for what is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libsystemc-dev libeigen3-dev libboost-graph-dev libbenchmark-dev libgtest-dev libgmock-dev
  pybind11-dev libyaml-cpp-dev nlohmann-json3-dev
  python3 python3-dev python3-numpy python3-pandas python3-matplotlib python3-pytest python3-yaml
  python3-distributed jupyter-nbconvert python3-nbclient python3-ipykernel
  sqlite3
)
if [ "${KVMSIM_WITH_FUZZ:-0}" = 1 ]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
