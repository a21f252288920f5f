// GEMM micro-kernels: an MR x NR tile of C from packed panels (A: MR values per k step, B: NR
// values per k step, both 64-byte aligned), accumulated in registers over kc steps in k order and
// written raw (no alpha, no epilogue) to a row-major MR x NR tile buffer. One template serves every
// ISA through a tiny SIMD wrapper: AVX-512 and AVX2+FMA intrinsics, or vec.h's GCC vectors for the
// baseline build. Each output element is one FMA chain over k, whatever its place in the tile.
#pragma once

#include <cstdint>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "lamina/cpu/kernels/vec.h"

namespace lamina::cpu::LAMINA_ISA_NS {

template <class T>
struct Simd;

#if defined(__AVX512F__)
template <>
struct Simd<float> {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V bcast(const float* p) { return _mm512_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
};
template <>
struct Simd<double> {
  using V = __m512d;
  static constexpr int kLanes = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const double* p) { return _mm512_load_pd(p); }
  static V bcast(const double* p) { return _mm512_set1_pd(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static void store(double* p, V v) { _mm512_store_pd(p, v); }
};
// 28 / 30 of the 32 zmm registers hold accumulators; B takes two, the broadcast is folded.
template <class T>
constexpr int kGemmMR = 14;
template <class T>
constexpr int kGemmNV = 2;
#elif defined(__AVX2__)
template <>
struct Simd<float> {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_load_ps(p); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
};
template <>
struct Simd<double> {
  using V = __m256d;
  static constexpr int kLanes = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_load_pd(p); }
  static V bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static void store(double* p, V v) { _mm256_store_pd(p, v); }
};
// 6 x 2 vectors: 12 accumulators, 2 for B, 1 broadcast of the 16 ymm registers.
template <class T>
constexpr int kGemmMR = 6;
template <class T>
constexpr int kGemmNV = 2;
#else
template <class T>
struct Simd {
  using V = Vec<T>;
  static constexpr int kLanes = int(sizeof(V) / sizeof(T));
  static V zero() { return V{}; }
  static V load(const T* p) { return vload(p); }
  static V bcast(const T* p) { return splat<V>(*p); }
  static V fma(V a, V b, V c) { return a * b + c; }
  static void store(T* p, V v) { vstore(p, v); }
};
template <class T>
constexpr int kGemmMR = 6;
template <class T>
constexpr int kGemmNV = 2;
#endif

template <class T>
constexpr int kGemmNR = kGemmNV<T> * Simd<T>::kLanes;

// tile[i * NR + j] = sum_p A(i, p) * b[p * ldb + j] for p < kc (tile 64-byte aligned, ldb a
// multiple of the vector width; packed panels have ldb = NR). A(i, p) is a[p * MR + i] (a packed
// panel) or, with RowsA, a[i * lda + p] (MR rows read in place). Only the first Rows rows are
// computed and stored (a panel's last few rows cost no more than they need).
template <class T, int MR = kGemmMR<T>, int NV = kGemmNV<T>, bool RowsA = false, int Rows = MR>
inline void gemm_micro_kernel_ldb(int64_t kc, const T* __restrict a, const T* __restrict b, int64_t ldb,
                                  T* __restrict tile, int64_t lda = 0) {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int L = S::kLanes, NR = NV * L;
  V acc[Rows][NV];
#pragma GCC unroll 16
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < Rows; ++i) {
      V ai = S::bcast(RowsA ? a + i * lda : a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fma(ai, bv[v], acc[i][v]);
    }
    a += RowsA ? 1 : MR;
    b += ldb;
  }
#pragma GCC unroll 16
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) S::store(tile + i * NR + v * L, acc[i][v]);
}

template <class T, int MR = kGemmMR<T>, int NV = kGemmNV<T>>
inline void gemm_micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict tile) {
  gemm_micro_kernel_ldb<T, MR, NV>(kc, a, b, NV * Simd<T>::kLanes, tile);
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
