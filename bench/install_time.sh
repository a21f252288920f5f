#!/usr/bin/env bash
# Times the README's two install commands as a new user runs them: a fresh clone of HEAD and a fresh
# venv, `pip install ".[examples]"`, then `pip install ".[test]"` and pytest's collection (the
# moment the first test can run). Then the developer loop: an incremental CMake build after touching
# one kernel file, listing what it recompiled. Run it on a quiet machine.
#
#   bash bench/install_time.sh        (writes bench/results/install_time.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/results/install_time.txt
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$(dirname "$OUT")"

git clone --quiet "$ROOT" "$WORK/lamina"
cd "$WORK/lamina"
python3 -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
pip install --quiet --upgrade pip

seconds() { local t0=$SECONDS; "$@" > "$WORK/log" 2>&1 || { cat "$WORK/log"; exit 1; }; echo $((SECONDS - t0)); }
{
  echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "pip install \".[examples]\" (fresh clone, fresh venv): $(seconds pip install ".[examples]") s"
  echo "pip install \".[test]\" (second README command): $(seconds pip install ".[test]") s"
  echo "python -m pytest tests --collect-only: $(seconds python -m pytest tests --collect-only -q) s"
  pip install --quiet pybind11   # the developer build's own requirement (README, "Developing")
  cmake -S . -B build/dev -G Ninja -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" > /dev/null
  echo "developer build (cmake + ninja, no cache): $(seconds ninja -C build/dev) s"
  touch cpp/lamina/cpu/kernels/softmax.cpp
  t0=$SECONDS
  ninja -C build/dev > "$WORK/log"
  echo "rebuild after touching cpu/kernels/softmax.cpp: $((SECONDS - t0)) s, compiled:"
  grep -E "Building|Linking" "$WORK/log" | sed 's/^/  /'
} | tee "$OUT"
