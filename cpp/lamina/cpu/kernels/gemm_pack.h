// GEMM building blocks around the micro-kernel: the cache sizes of the running CPU, packing of
// strided operands into micro-panels (read straight from the operand's strides, never through a
// whole-matrix copy) and the store of a finished tile into C with alpha, beta, bias and activation.
#pragma once

#include <type_traits>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vmath.h"

namespace lamina::cpu::LAMINA_ISA_NS {

struct CacheSizes {
  int64_t l1 = 32 << 10, l2 = 1 << 20, l3 = 8 << 20;  // used where the system does not say
};

// Data/unified cache sizes of cpu0 from sysfs, else sysconf, else the defaults above.
inline CacheSizes cache_sizes() {
  static const CacheSizes sizes = [] {
    CacheSizes cs;
    int64_t found[4] = {0, 0, 0, 0};
    for (int index = 0; index < 8; ++index) {
      char path[96], type[32] = {0}, size[32] = {0};
      int level = 0;
      auto read = [&](const char* leaf, char* buf, int n) {
        std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/%s", index, leaf);
        FILE* f = std::fopen(path, "r");
        if (!f) return false;
        bool ok = std::fgets(buf, n, f) != nullptr;
        std::fclose(f);
        return ok;
      };
      char lv[16] = {0};
      if (!read("level", lv, sizeof lv) || !read("type", type, sizeof type) || !read("size", size, sizeof size)) break;
      level = std::atoi(lv);
      if (std::strncmp(type, "Instruction", 11) == 0 || level < 1 || level > 3) continue;
      char* end = nullptr;
      int64_t bytes = std::strtoll(size, &end, 10);
      if (end && (*end == 'K' || *end == 'k')) bytes <<= 10;
      else if (end && *end == 'M') bytes <<= 20;
      if (bytes > 0) found[level] = bytes;
    }
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    if (!found[1]) found[1] = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    if (!found[2]) found[2] = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (!found[3]) found[3] = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    if (found[1] >= (8 << 10)) cs.l1 = std::min<int64_t>(found[1], 1 << 20);
    if (found[2] >= (64 << 10)) cs.l2 = std::min<int64_t>(found[2], 64 << 20);
    if (found[3] >= (256 << 10)) cs.l3 = std::min<int64_t>(found[3], 1 << 30);
    return cs;
  }();
  return sizes;
}

// ---- packing ----------------------------------------------------------------------------------
#if defined(__AVX512F__)
// Register transposes written with __builtin_shufflevector (GCC 12's own unpack/shuffle
// intrinsics trip -Wmaybe-uninitialized); the compiler emits vunpck*/vshuf* for them.
// 16 rows x 16 columns of float (rows r[i], 4 shuffle stages) -> out[c] = column c (rows 0..15).
inline void transpose16_f32(const __m512 (&r)[16], __m512 (&out)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {  // unpacklo/hi_ps
    t[2 * i] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
    t[2 * i + 1] =
        __builtin_shufflevector(r[2 * i], r[2 * i + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
  }
  // u[4g + q], 128-bit lane L: rows 4g..4g+3 of column 4L + q (unpacklo/hi_pd)
  for (int g = 0; g < 4; ++g) {
    const __m512 a = t[4 * g], b = t[4 * g + 1], c = t[4 * g + 2], d = t[4 * g + 3];
    u[4 * g + 0] = __builtin_shufflevector(a, c, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
    u[4 * g + 1] = __builtin_shufflevector(a, c, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    u[4 * g + 2] = __builtin_shufflevector(b, d, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
    u[4 * g + 3] = __builtin_shufflevector(b, d, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
  }
  for (int q = 0; q < 4; ++q) {  // 128-bit lane shuffles (shuf_f32x4 0x44, 0xEE, then 0x88, 0xDD)
    const __m512 x_lo = __builtin_shufflevector(u[q], u[4 + q], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512 y_lo = __builtin_shufflevector(u[8 + q], u[12 + q], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512 x_hi = __builtin_shufflevector(u[q], u[4 + q], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m512 y_hi =
        __builtin_shufflevector(u[8 + q], u[12 + q], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    out[q] = __builtin_shufflevector(x_lo, y_lo, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    out[4 + q] = __builtin_shufflevector(x_lo, y_lo, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    out[8 + q] = __builtin_shufflevector(x_hi, y_hi, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    out[12 + q] = __builtin_shufflevector(x_hi, y_hi, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
}

// A panel of MR <= 16 float rows with contiguous columns: 16 k steps at a time by a register
// transpose, MR lanes stored per k step. Returns the k steps done.
template <int MR>
inline int64_t pack_a_rows_avx512(const float* src, int64_t rs, int64_t kc, float* dst) {
  static_assert(MR <= 16, "one zmm holds at most 16 rows");
  const __mmask16 mask = __mmask16((1u << MR) - 1);
  int64_t p0 = 0;
  for (; p0 + 16 <= kc; p0 += 16) {
    __m512 r[16], out[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + (i < MR ? i : MR - 1) * rs + p0);
    transpose16_f32(r, out);
    for (int p = 0; p < 16; ++p) _mm512_mask_storeu_ps(dst + (p0 + p) * MR, mask, out[p]);
  }
  return p0;
}

// 8 rows x 8 columns of double -> out[c] = column c (rows 0..7).
inline void transpose8_f64(const __m512d (&r)[8], __m512d (&out)[8]) {
  __m512d t[8];
  for (int i = 0; i < 4; ++i) {
    // 128-bit lane L: rows 2i, 2i+1 of column 2L (unpacklo_pd), of column 2L + 1 (unpackhi_pd)
    t[2 * i] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    t[2 * i + 1] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int q = 0; q < 2; ++q) {  // 128-bit lane shuffles as in transpose16_f32
    const __m512d x_lo = __builtin_shufflevector(t[q], t[2 + q], 0, 1, 2, 3, 8, 9, 10, 11);
    const __m512d y_lo = __builtin_shufflevector(t[4 + q], t[6 + q], 0, 1, 2, 3, 8, 9, 10, 11);
    const __m512d x_hi = __builtin_shufflevector(t[q], t[2 + q], 4, 5, 6, 7, 12, 13, 14, 15);
    const __m512d y_hi = __builtin_shufflevector(t[4 + q], t[6 + q], 4, 5, 6, 7, 12, 13, 14, 15);
    out[q] = __builtin_shufflevector(x_lo, y_lo, 0, 1, 4, 5, 8, 9, 12, 13);
    out[2 + q] = __builtin_shufflevector(x_lo, y_lo, 2, 3, 6, 7, 10, 11, 14, 15);
    out[4 + q] = __builtin_shufflevector(x_hi, y_hi, 0, 1, 4, 5, 8, 9, 12, 13);
    out[6 + q] = __builtin_shufflevector(x_hi, y_hi, 2, 3, 6, 7, 10, 11, 14, 15);
  }
}

// The double version: MR <= 16 rows as two groups of 8, 8 k steps at a time.
template <int MR>
inline int64_t pack_a_rows_avx512(const double* src, int64_t rs, int64_t kc, double* dst) {
  static_assert(MR > 8 && MR <= 16, "two groups of 8 rows");
  const __mmask8 mask = __mmask8((1u << (MR - 8)) - 1);
  int64_t p0 = 0;
  for (; p0 + 8 <= kc; p0 += 8) {
    __m512d r[8], lo[8], hi[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_pd(src + i * rs + p0);
    transpose8_f64(r, lo);
    for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_pd(src + (8 + i < MR ? 8 + i : MR - 1) * rs + p0);
    transpose8_f64(r, hi);
    for (int p = 0; p < 8; ++p) {
      _mm512_storeu_pd(dst + (p0 + p) * MR, lo[p]);
      _mm512_mask_storeu_pd(dst + (p0 + p) * MR + 8, mask, hi[p]);
    }
  }
  return p0;
}
#endif

// A (mc x kc at `a`, strides rs/cs) into panels of MR rows: panel r holds a[r*MR + i, p] at
// dst[r * MR * kc + p * MR + i], rows past mc zero.
template <class T, int MR>
void pack_a(const T* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc, T* dst) {
  for (int64_t r0 = 0; r0 < mc; r0 += MR, dst += MR * kc) {
    const int64_t mr = std::min<int64_t>(MR, mc - r0);
    const T* src = a + r0 * rs;
    if (rs == 1 && mr == MR) {  // columns contiguous: MR values per k step
      for (int64_t p = 0; p < kc; ++p)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = src[p * cs + i];
    } else if (cs == 1 && mr == MR) {  // rows contiguous: a small transpose through an L1 block
      // Each row's cache line is read once (rows 4 KiB apart would evict each other otherwise).
      constexpr int64_t P = 64 / sizeof(T);
      alignas(64) T block[MR][P];
      int64_t p0 = 0;
#if defined(__AVX512F__)
      if constexpr (MR > 8 && MR <= 16) p0 = pack_a_rows_avx512<MR>(src, rs, kc, dst);
#endif
      for (; p0 + P <= kc; p0 += P) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) std::memcpy(block[i], src + i * rs + p0, sizeof block[i]);
        for (int64_t p = 0; p < P; ++p)
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) dst[(p0 + p) * MR + i] = block[i][p];
      }
      for (; p0 < kc; ++p0)
        for (int i = 0; i < MR; ++i) dst[p0 * MR + i] = src[i * rs + p0];
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t i = 0; i < mr; ++i) dst[p * MR + i] = src[i * rs + p * cs];
        for (int64_t i = mr; i < MR; ++i) dst[p * MR + i] = T(0);
      }
    }
  }
}

// B (kc x nc at `b`, strides rs/cs) into panels of NR columns: panel q holds b[p, q*NR + j] at
// dst[q * NR * kc + p * NR + j], columns past nc zero.
template <class T, int NR>
void pack_b(const T* b, int64_t rs, int64_t cs, int64_t kc, int64_t nc, T* dst) {
  const int64_t full = nc / NR * NR;
  if (cs == 1 && full > 0) {  // rows contiguous: walk each row once (prefetch-friendly)
    for (int64_t p = 0; p < kc; ++p) {
      const T* row = b + p * rs;
      for (int64_t q0 = 0; q0 < full; q0 += NR) std::memcpy(dst + q0 * kc + p * NR, row + q0, sizeof(T) * NR);
    }
    b += full;
    dst += full * kc;
    nc -= full;
  }
  for (int64_t q0 = 0; q0 < nc; q0 += NR, dst += NR * kc) {
    const int64_t nr = std::min<int64_t>(NR, nc - q0);
    const T* src = b + q0 * cs;
    if (rs == 1) {  // columns contiguous: a small transpose, 8 columns at a time
      int64_t j = 0;
#if defined(__AVX512F__)
      if constexpr (std::is_same_v<T, float> && NR % 16 == 0) {
        // 16 columns x 16 k steps per register transpose; the k tail element by element.
        for (; j + 16 <= nr; j += 16) {
          const T* c = src + j * cs;
          int64_t p0 = 0;
          for (; p0 + 16 <= kc; p0 += 16) {
            __m512 r[16], out[16];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(c + i * cs + p0);
            transpose16_f32(r, out);
            for (int p = 0; p < 16; ++p) _mm512_storeu_ps(dst + (p0 + p) * NR + j, out[p]);
          }
          for (int64_t p = p0; p < kc; ++p)
            for (int jj = 0; jj < 16; ++jj) dst[p * NR + j + jj] = c[jj * cs + p];
        }
      }
#endif
      for (; j + 8 <= nr; j += 8) {
        const T* c = src + j * cs;
        for (int64_t p = 0; p < kc; ++p)
#pragma GCC unroll 8
          for (int jj = 0; jj < 8; ++jj) dst[p * NR + j + jj] = c[jj * cs + p];
      }
      for (; j < nr; ++j)
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = src[j * cs + p];
      for (; j < NR; ++j)
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = T(0);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t j = 0; j < nr; ++j) dst[p * NR + j] = src[p * rs + j * cs];
        for (int64_t j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
      }
    }
  }
}

// ---- store with the epilogue -----------------------------------------------------------------
template <class T>
struct GemmStore {
  T alpha, beta;
  const T* bias;
  int64_t bias_rows, bias_cols;
  Activation act;
  T* c;  // C of the current batch item
  int64_t crs, ccs;
};

template <class V>
inline V gemm_activate(Activation act, V x) {
  switch (act) {
    case Activation::None: return x;
    case Activation::Relu:
      if constexpr (is_scalar_v<V>) return x > 0 ? x : elem_t<V>(0);
      else return select(x > splat<V>(0), x, splat<V>(0));
    case Activation::Gelu: return vgelu(x);
    case Activation::GeluTanh: return vgelu_tanh(x);
  }
  return x;
}

// One output value from its raw product t: first K block: alpha t + beta c (c not read when beta
// is 0); later blocks: c + alpha t; the last block adds the bias and applies the activation.
template <class V, class T>
inline V gemm_combine(const GemmStore<T>& s, V t, const T* cp, bool first, bool last, const T* bp) {
  auto ld = [](const T* p) {
    if constexpr (is_scalar_v<V>) return *p;
    else return vload(p);
  };
  V v = splat<V>(s.alpha) * t;
  if (!first) v = ld(cp) + v;
  else if (s.beta != T(0)) v = v + splat<V>(s.beta) * ld(cp);
  if (last) {
    if (bp) v = v + (s.bias_cols == 0 ? splat<V>(*bp) : ld(bp));
    v = gemm_activate(s.act, v);
  }
  return v;
}

// Writes tile rows [0, mr) x cols [0, nr) (tile row stride ldt) to C at (i0, j0). Column vectors
// start at j0 (a multiple of the vector width), so which columns take the vector path depends
// only on n: results do not depend on how the output was split into blocks.
template <class T>
void gemm_store_tile(const GemmStore<T>& s, const T* tile, int64_t ldt, int64_t i0, int64_t j0, int64_t mr,
                     int64_t nr, bool first, bool last) {
  using V = Vec<T>;
  constexpr int64_t L = kLanes<T>;
  const bool has_bias = last && s.bias;
  const bool vec_bias = !has_bias || s.bias_cols == 0 || s.bias_cols == 1;
  for (int64_t i = 0; i < mr; ++i) {
    const T* t = tile + i * ldt;
    T* c = s.c + (i0 + i) * s.crs + j0 * s.ccs;
    const T* b = has_bias ? s.bias + (i0 + i) * s.bias_rows + j0 * s.bias_cols : nullptr;
    int64_t j = 0;
    if (s.ccs == 1 && vec_bias) {
      for (; j + L <= nr; j += L) {
        const T* bp = b ? b + j * s.bias_cols : nullptr;
        vstore(c + j, gemm_combine<V>(s, vload(t + j), c + j, first, last, bp));
      }
    }
    for (; j < nr; ++j) {
      const T* bp = b ? b + j * s.bias_cols : nullptr;
      c[j * s.ccs] = gemm_combine<T>(s, t[j], c + j * s.ccs, first, last, bp);
    }
  }
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
