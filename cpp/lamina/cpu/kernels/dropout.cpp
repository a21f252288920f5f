// Dropout: out = keep ? in * scale : 0 with keep decided by lamina's counter-based Philox
// generator. Element i reads 32-bit word i % 4 of block first_block + i / 4, so the mask is a
// pure function of (seed, offset, i) whatever the thread split.
#include <algorithm>
#include <cmath>

#include "lamina/core/generator.h"
#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vec.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kGrain = 32768;  // elements per parallel task (a multiple of 4)

void dropout_kernel(const Tensor& out, const Tensor& mask, const Tensor& in, double p, double scale, uint64_t seed,
                    uint64_t first_block) {
  const int64_t n = in.numel();
  // Keep when the word is >= p * 2^32: P(keep) = 1 - p up to 2^-32.
  const uint64_t threshold = uint64_t(std::ldexp(p, 32));
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.data<T>();
    T* y = out.data<T>();
    bool* m = mask.data<bool>();
    const T s = T(scale);
    parallel_for(0, (n + 3) / 4, kGrain / 4, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        auto r = philox_block(seed, first_block + uint64_t(blk));
        for (int64_t k = 0; k < 4 && blk * 4 + k < n; ++k) {
          int64_t i = blk * 4 + k;
          bool keep = uint64_t(r[size_t(k)]) >= threshold;
          m[i] = keep;
          y[i] = x[i] * (keep ? s : T(0));  // NaN stays NaN, as in PyTorch
        }
      }
    });
  });
}

}  // namespace

void register_dropout(KernelTable& table) { table.dropout = dropout_kernel; }

}  // namespace lamina::cpu::LAMINA_ISA_NS
