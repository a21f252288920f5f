#!/usr/bin/env bash
# Runs every benchmark in sequence and keeps the raw output in bench/results/ (the figures quoted in
# bench/RESULTS.md come from there). Run it on a quiet machine: no build or test beside it.
#
#   bash bench/run_all.sh            (builds build/bench first; needs torch for the comparisons)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/results
mkdir -p "$OUT"
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DLAMINA_BUILD_BENCH=ON \
      -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" > /dev/null
ninja -C build/bench > /dev/null
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | sed 's/Flags:.*avx512f.*/Flags: ... avx512f .../' > "$OUT/machine.txt"
build/bench/bench_ops 1 2 | tee "$OUT/bench_ops.txt"
build/bench/bench_gemm 1 2 | tee "$OUT/bench_gemm.txt"
build/bench/bench_conv 1 2 | tee "$OUT/bench_conv.txt"
export PYTHONPATH=python
python bench/compare_torch.py | tee "$OUT/compare_torch.txt"
python bench/contention.py | tee "$OUT/contention.txt"
python bench/anomaly_overhead.py | tee "$OUT/anomaly_overhead.txt"
# PyTorch's OpenMP workers spin after each op and take the second core from lamina's next run in
# the interleaved comparison; the same 2-thread sections with torch's workers sleeping instead:
OMP_WAIT_POLICY=PASSIVE python bench/compare_torch.py --only conv --threads 2 > "$OUT/compare_torch_conv_2t_passive.txt"
OMP_WAIT_POLICY=PASSIVE python bench/compare_torch.py --only training --threads 2 > "$OUT/compare_torch_training_2t_passive.txt"
OMP_WAIT_POLICY=PASSIVE python bench/compare_torch.py --only gemm --threads 2 > "$OUT/compare_torch_gemm_2t_passive.txt"
