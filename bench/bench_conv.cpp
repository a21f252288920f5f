// ResNet-style conv2d layers at batch 32 (float32, NCHW), forward and forward+backward (input,
// weight and bias gradients), in GFLOP/s: forward does 2 * N * C_out * H_out * W_out * C_in * kH * kW
// / groups flops, the backward twice that. Best-of / median of repeated runs; see compare_torch.py
// for the same cases against PyTorch.
//
//   cmake -S . -B build/bench -G Ninja -DLAMINA_BUILD_BENCH=ON -Dpybind11_DIR=$(python -m pybind11 --cmakedir)
//   ninja -C build/bench bench_conv && build/bench/bench_conv [threads...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "bench_timing.h"
#include "lamina/autograd/engine.h"
#include "lamina/autograd/grad_mode.h"
#include "lamina/cpu/isa.h"
#include "lamina/cpu/parallel.h"
#include "lamina/ops/ops.h"

using namespace lamina;

namespace {

struct Layer {
  const char* name;
  int64_t c_in, hw, c_out, k, stride, pad;
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<int> thread_counts = bench::thread_counts(argc, argv);
  cpu::init_kernels();
  const int64_t batch = 32;
  const std::vector<Layer> layers = {
      {"3->64 32x32 3x3", 3, 32, 64, 3, 1, 1},       {"64->64 32x32 3x3", 64, 32, 64, 3, 1, 1},
      {"128->128 16x16 3x3", 128, 16, 128, 3, 1, 1}, {"256->256 8x8 3x3", 256, 8, 256, 3, 1, 1},
      {"64->128 32x32 1x1 s2", 64, 32, 128, 1, 2, 0},
  };
  std::printf("lamina bench_conv: batch %lld, float32, ISA %s (GFLOP/s of the median run, best run in brackets)\n",
              (long long)batch, cpu::isa_name(cpu::active_isa()));
  for (int threads : thread_counts) {
    cpu::set_num_threads(threads);
    std::printf("\nthreads=%d\n%-24s %10s %18s %10s %18s\n", threads, "layer", "fwd ms", "fwd GFLOP/s", "f+b ms",
                "f+b GFLOP/s");
    for (const Layer& l : layers) {
      Tensor x = randn({batch, l.c_in, l.hw, l.hw}), w = randn({l.c_out, l.c_in, l.k, l.k}) * 0.05,
             b = randn({l.c_out});
      x.set_requires_grad(true);
      w.set_requires_grad(true);
      b.set_requires_grad(true);
      const int64_t out_hw = (l.hw + 2 * l.pad - l.k) / l.stride + 1;
      const double flops = 2.0 * batch * l.c_out * out_hw * out_hw * l.c_in * l.k * l.k;
      Tensor gy = randn({batch, l.c_out, out_hw, out_hw});
      const int reps = flops > 2e9 ? 7 : 15;
      bench::RunTimes fwd = bench::repeat_timed([&] {
        autograd::GradModeGuard no_grad(false);
        conv2d(x, w, b, IntList{l.stride}, IntList{l.pad}, IntList{1}, 1);
      }, reps);
      bench::RunTimes both = bench::repeat_timed([&] {
        Tensor y = conv2d(x, w, b, IntList{l.stride}, IntList{l.pad}, IntList{1}, 1);
        autograd::grad({y}, {x, w, b}, {gy}, false, false, false);
      }, reps);
      std::printf("%-24s %10.2f %8.1f (%6.1f) %10.2f %8.1f (%6.1f)\n", l.name, fwd.median * 1e3,
                  flops / fwd.median / 1e9, flops / fwd.best / 1e9, both.median * 1e3, 3 * flops / both.median / 1e9,
                  3 * flops / both.best / 1e9);
    }
  }
  return 0;
}
