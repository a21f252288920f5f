// Small matrix products without packing, for GEMM's small shapes (gemm.cpp) and the tiles of
// fused kernels (attention.cpp): out (m x n, row stride n) = A (m x k, strides ars, acs) times
// B (k x n, rows contiguous, row stride brs), or out += A B when Accumulate. Every element is one
// FMA chain over k in order, whatever the vector width that covers its column, so the way n is
// cut into widths never shows in the bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "lamina/cpu/kernels/vec.h"

namespace lamina::cpu::LAMINA_ISA_NS {

// c + a * b rounded once where the ISA has FMA, as the compiler contracts the vector code below:
// the scalar columns then round like the vector ones (GCC does not contract every scalar loop).
template <class T>
inline T mul_add(T a, T b, T c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Columns [j, j + NV * W) of R rows, with R x NV accumulators of W lanes.
template <class T, int R, int W, int NV, bool Accumulate>
inline void small_block(const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t n, int64_t k, T* out,
                        int64_t j) {
  using V = typename VecOfN<T, W>::type;
  V acc[R][NV] = {};
  for (int64_t p = 0; p < k; ++p) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + p * brs + j + v * W, sizeof(V));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      V av = splat<V>(a[r * ars + p * acs]);
      for (int v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      if constexpr (Accumulate) {
        V old;
        std::memcpy(&old, out + r * n + j + v * W, sizeof(V));
        acc[r][v] += old;
      }
      std::memcpy(out + r * n + j + v * W, &acc[r][v], sizeof(V));
    }
}

// R rows of A times B.
template <class T, int R, bool Accumulate = false>
inline void small_rows(const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t n, int64_t k, T* out) {
  constexpr int L = int(kLanes<T>);
  int64_t j = 0;
  if constexpr (kVecBytes >= 64) {  // 32 vector registers: 4 x 4 accumulators fit
    for (; j + 4 * L <= n; j += 4 * L) small_block<T, R, L, 4, Accumulate>(a, ars, acs, b, brs, n, k, out, j);
  }
  for (; j + 2 * L <= n; j += 2 * L) small_block<T, R, L, 2, Accumulate>(a, ars, acs, b, brs, n, k, out, j);
  if (j + L <= n) small_block<T, R, L, 1, Accumulate>(a, ars, acs, b, brs, n, k, out, j), j += L;
  if constexpr (L >= 4) {
    if (j + L / 2 <= n) small_block<T, R, L / 2, 1, Accumulate>(a, ars, acs, b, brs, n, k, out, j), j += L / 2;
  }
  if constexpr (L >= 8) {
    if (j + L / 4 <= n) small_block<T, R, L / 4, 1, Accumulate>(a, ars, acs, b, brs, n, k, out, j), j += L / 4;
  }
  for (; j < n; ++j) {
    T acc[R] = {};
    for (int64_t p = 0; p < k; ++p) {
      const T bv = b[p * brs + j];
      for (int r = 0; r < R; ++r) acc[r] = mul_add(a[r * ars + p * acs], bv, acc[r]);
    }
    for (int r = 0; r < R; ++r) out[r * n + j] = Accumulate ? out[r * n + j] + acc[r] : acc[r];
  }
}

// All m rows: four at a time, then one at a time.
template <class T, bool Accumulate = false>
inline void small_gemm(int64_t m, const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t n, int64_t k,
                       T* out) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) small_rows<T, 4, Accumulate>(a + i * ars, ars, acs, b, brs, n, k, out + i * n);
  for (; i < m; ++i) small_rows<T, 1, Accumulate>(a + i * ars, ars, acs, b, brs, n, k, out + i * n);
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
