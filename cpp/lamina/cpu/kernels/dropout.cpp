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

constexpr int64_t kGrain = 32768;  // elements per parallel task (a multiple of 4 * kBatch)
constexpr int kBatch = 8;          // Philox blocks computed together in vector lanes

using U64 = VecOfN<uint64_t, kBatch>::type;

// kBatch consecutive Philox4x32-10 blocks (counters first, first + 1, ...): word w of block j is
// out[w][j]. The same arithmetic as philox4x32_10 in core/generator.h, with each 32-bit word held
// in a 64-bit lane so that the 32 x 32 -> 64-bit products are plain lane multiplies.
inline void philox_batch(uint64_t seed, uint64_t first, U64 (&out)[4]) {
  constexpr uint64_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  const U64 lo = splat<U64>(0xffffffffull);
  U64 ctr;
  for (int j = 0; j < kBatch; ++j) ctr[j] = first + uint64_t(j);
  U64 c0 = ctr & lo, c1 = ctr >> 32, c2 = U64{}, c3 = U64{};
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    U64 p0 = c0 * kM0, p1 = c2 * kM1;
    U64 n0 = (p1 >> 32) ^ c1 ^ uint64_t(k0), n2 = (p0 >> 32) ^ c3 ^ uint64_t(k1);
    c1 = p1 & lo;
    c3 = p0 & lo;
    c0 = n0;
    c2 = n2;
    k0 += uint32_t(kW0);
    k1 += uint32_t(kW1);
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

template <class T>
inline void apply_word(T* y, bool* m, const T* x, int64_t i, uint64_t word, uint64_t threshold, T s) {
  bool keep = word >= threshold;
  m[i] = keep;
  y[i] = x[i] * (T(keep) * s);  // branch-free; NaN stays NaN, as in PyTorch's x * mask
}

void dropout_kernel(const Tensor& out, const Tensor& mask, const Tensor& in, double p, double scale, uint64_t seed,
                    uint64_t first_block) {
  const int64_t n = in.numel(), nblocks = (n + 3) / 4;
  // Keep when the word is >= p * 2^32: P(keep) = 1 - p up to 2^-32.
  const uint64_t threshold = uint64_t(std::ldexp(p, 32));
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.data<T>();
    T* y = out.data<T>();
    bool* m = mask.data<bool>();
    const T s = T(scale);
    parallel_for(0, nblocks, kGrain / 4, [&](int64_t b0, int64_t b1) {
      int64_t blk = b0;
      for (; blk + kBatch <= b1 && (blk + kBatch) * 4 <= n; blk += kBatch) {
        U64 words[4];
        philox_batch(seed, first_block + uint64_t(blk), words);
        for (int j = 0; j < kBatch; ++j)
          for (int w = 0; w < 4; ++w) apply_word(y, m, x, (blk + j) * 4 + w, words[w][j], threshold, s);
      }
      for (; blk < b1; ++blk) {
        auto r = philox_block(seed, first_block + uint64_t(blk));
        for (int64_t k = 0; k < 4 && blk * 4 + k < n; ++k) apply_word(y, m, x, blk * 4 + k, r[size_t(k)], threshold, s);
      }
    });
  });
}

}  // namespace

void register_dropout(KernelTable& table) { table.dropout = dropout_kernel; }

}  // namespace lamina::cpu::LAMINA_ISA_NS
