// Convolution forward as one implicit GEMM per group: y_g (cog x N) = w_g (cog x K) @ col_g (K x N)
// with N = batch * out_h * out_w columns over all the images and K = cig * k_h * k_w. col is never
// built in full: a task takes a block of columns and, for each k slice, copies that slice of col
// (row-major, one row per tap) straight from the images: with masked AVX-512 vectors a row is one
// masked copy per image (stride 1, in_w == out_w) or per output row, zeros where the tap falls
// into the padding. The micro-kernel reads its B panels from those rows in place, and the weights
// are packed into MR-row panels once per call and shared by all tasks. Every output value is the
// same chain of micro-kernel FMAs over the k slices in order, whatever its block or thread, so
// the bits never depend on the thread count.
#include "lamina/cpu/kernels/conv_implicit_gemm.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "lamina/core/storage.h"
#include "lamina/cpu/kernels/gemm_micro.h"
#include "lamina/cpu/kernels/gemm_pack.h"
#include "lamina/cpu/kernels/scratch.h"
#include "lamina/cpu/kernels/task_guard.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// n values shared by one call's tasks, from the tensor allocator and its cache of freed blocks (64-byte
// aligned; a fresh multi-MiB allocation per call would page-fault on every call).
template <class T>
std::shared_ptr<Storage> call_buffer(int64_t n) {
  return Storage::allocate(size_t(n) * sizeof(T), Device{});
}

// dst[i] = row[iw0 + i * sw] where that column lies in [0, in_w), else 0, for i < len.
template <class T>
inline void copy_clipped(T* dst, const T* row, int64_t iw0, int64_t sw, int64_t len, int64_t in_w) {
  int64_t lo = iw0 >= 0 ? 0 : ceil_div(-iw0, sw);
  int64_t hi = in_w - iw0 > 0 ? ceil_div(in_w - iw0, sw) : 0;
  lo = std::min(lo, len);
  hi = std::clamp(hi, lo, len);
  for (int64_t i = 0; i < lo; ++i) dst[i] = T(0);
  if (sw == 1) {
    for (int64_t i = lo; i < hi; ++i) dst[i] = row[iw0 + i];
  } else {
    for (int64_t i = lo; i < hi; ++i) dst[i] = row[iw0 + i * sw];
  }
  for (int64_t i = hi; i < len; ++i) dst[i] = T(0);
}

#if defined(__AVX512F__)
// Masked loads and stores of one zmm of T: lanes outside a mask are neither read (no fault) nor
// written, and load as zeros. A store with every lane set goes out as a plain store: a masked
// one, even with every lane set, holds up the loads behind it (measured 3-5% of a whole conv on
// a Zen 5).
template <class T>
struct Masked;
template <>
struct Masked<float> {
  using V = __m512;
  static constexpr int64_t W = 16;
  static V load(uint32_t m, const float* p) { return _mm512_maskz_loadu_ps(__mmask16(m), p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, uint32_t m, V v) {
    if ((m & 0xFFFFu) == 0xFFFFu) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, __mmask16(m), v);
  }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V set1(float v) { return _mm512_set1_ps(v); }
};
template <>
struct Masked<double> {
  using V = __m512d;
  static constexpr int64_t W = 8;
  static V load(uint32_t m, const double* p) { return _mm512_maskz_loadu_pd(__mmask8(m), p); }
  static V loadu(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, uint32_t m, V v) {
    if ((m & 0xFFu) == 0xFFu) _mm512_storeu_pd(p, v);
    else _mm512_mask_storeu_pd(p, __mmask8(m), v);
  }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V set1(double v) { return _mm512_set1_pd(v); }
};
constexpr bool kMasked = true;
#else
constexpr bool kMasked = false;
#endif

// Where a block's columns come from. Row runs (any shape) are the columns [j, j + len) of the block
// that lie in one output row; with masked vectors chunk c of such a run is the W lanes from
// j + c * W, and for kernel column kb its load mask is masks[mask0 + kb * chunks + c] (zeros where
// the tap falls into the padding). Flat runs (stride 1 and in_w == out_w, so that tap t reads
// x[l + shift(t)] for output column l: see FlatTaps) are the columns of one image, from l0 (a
// multiple of W). The last chunk of either stores the lanes of `tail`.
template <class T>
struct Run {
  const T* x;        // channel 0 of the group in this image
  int64_t ih0, iw0;  // row runs: input row and column of tap (0, 0) for the first column
  int64_t l0;        // flat runs: the first column within the image
  int64_t j, len, chunks, mask0;
  uint32_t tail;
};

// The columns [j, j + len) of a panel that lie in one image: they go to y (channel 0 of the
// group, at the first column) from tile columns j.
constexpr int kMaxChunks = 4;
template <class T>
struct Segment {
  T* y;
  int64_t j, len, chunks;
  uint32_t store[kMaxChunks];
};

// Element types of the std::vectors below live in this (ISA) namespace: a std::vector<uint32_t>
// or <int64_t> member instantiated here would be a COMDAT copy shared with the baseline build,
// and the linker may pick one compiled with AVX (tests/test_isa_build.py).
struct LaneMask {
  uint32_t bits;
};
struct Index {
  int64_t i;
};

// Lanes [lo, hi) of a vector as a bit mask.
inline uint32_t lane_mask(int64_t lo, int64_t hi) {
  return hi <= lo ? 0u : uint32_t((uint64_t(1) << hi) - 1) & ~uint32_t((uint64_t(1) << lo) - 1);
}

// Flat runs: for stride 1 and in_w == out_w, tap t = (ka, kb) of output column l = oh * out_w + ow
// reads input offset l + shift[t] of its plane when the tap lies inside the image, so a row of the
// column matrix over a whole image is one masked copy. mask[t * (L / W) + c] holds the lanes of
// chunk c (columns c * W ...) whose tap t lies inside; shared by every block of the call.
struct FlatTaps {
  std::vector<Index> shift;
  std::vector<LaneMask> mask;
  int64_t chunks = 0;
};

bool flat_shape(const ConvArgs& a, int64_t W) {
  return a.stride_h == 1 && a.stride_w == 1 && a.in_w == a.out_w && (a.out_h * a.out_w) % W == 0;
}

FlatTaps flat_taps(const ConvArgs& a, int64_t W) {
  FlatTaps f;
  const int64_t L = a.out_h * a.out_w, kk = a.k_h * a.k_w;
  f.chunks = L / W;
  f.shift.resize(size_t(kk));
  f.mask.resize(size_t(kk * f.chunks), LaneMask{0u});
  for (int64_t t = 0; t < kk; ++t) {
    const int64_t dh = t / a.k_w * a.dil_h - a.pad_h, dw = t % a.k_w * a.dil_w - a.pad_w;
    f.shift[size_t(t)].i = dh * a.in_w + dw;
    for (int64_t oh = 0, l = 0; oh < a.out_h; ++oh) {
      const bool row_inside = oh + dh >= 0 && oh + dh < a.in_h;
      for (int64_t ow = 0; ow < a.out_w; ++ow, ++l)
        if (row_inside && ow + dw >= 0 && ow + dw < a.in_w) f.mask[size_t(t * f.chunks + l / W)].bits |= 1u << (l % W);
    }
  }
  return f;
}

// The block's runs (columns [j0, j1)) and its panels' segments (cut at images and at every NR
// columns; panel q's are segs[first[q], first[q + 1])).
template <class T>
struct Block {
  std::vector<Run<T>> runs;
  std::vector<Segment<T>> segs;
  std::vector<Index> first;
  std::vector<LaneMask> masks;

  void build(const ConvArgs& a, int64_t gi, int64_t NR, int64_t W, bool masked, bool flat, int64_t j0, int64_t j1,
             const T* x, T* y) {
    const int64_t L = a.out_h * a.out_w, cig = a.c_in / a.groups, cog = a.c_out / a.groups, HW = a.in_h * a.in_w;
    runs.clear();
    segs.clear();
    first.clear();
    masks.clear();
    for (int64_t j = j0; j < j1;) {
      const int64_t n = j / L, l = j % L, oh = l / a.out_w, ow = l % a.out_w;
      const int64_t len = flat ? std::min(j1 - j, L - l) : std::min(j1 - j, a.out_w - ow);
      Run<T> r{x + (n * a.c_in + gi * cig) * HW, oh * a.stride_h - a.pad_h, ow * a.stride_w - a.pad_w, l,
               j - j0, len, ceil_div(len, W), 0, 0u};
      if (masked) {
        r.tail = lane_mask(0, len - (r.chunks - 1) * W);
        if (!flat) {
          r.mask0 = int64_t(masks.size());
          for (int64_t kb = 0; kb < a.k_w; ++kb)
            for (int64_t c = 0; c < r.chunks; ++c) {
              const int64_t s = r.iw0 + kb * a.dil_w + c * W;  // input column of the chunk's lane 0
              masks.push_back({lane_mask(std::max<int64_t>(0, -s), std::min({a.in_w - s, len - c * W, W}))});
            }
        }
      }
      runs.push_back(r);
      j += len;
    }
    for (int64_t j = j0; j < j1;) {
      const int64_t n = j / L, l = j % L, jb = j - j0, q = jb / NR, piece = std::min({j1 - j, L - l, (q + 1) * NR - jb});
      if (q == int64_t(first.size())) first.push_back({int64_t(segs.size())});
      Segment<T> sg{y + (n * a.c_out + gi * cog) * L + l, jb - q * NR, piece, ceil_div(piece, W), {0, 0, 0, 0}};
      if (masked && sg.chunks <= kMaxChunks)  // the forward's panels; wider segments store no masks
        for (int64_t c = 0; c < sg.chunks; ++c) sg.store[c] = lane_mask(0, std::min(W, piece - c * W));
      segs.push_back(sg);
      j += piece;
    }
    first.push_back({int64_t(segs.size())});
  }
};

// Rows [p0, p0 + kcur) of the block's column matrix, row p at dst + (p - p0) * ldb; the columns
// from `cols` to ldb are zero.
template <class T>
void pack_block(const ConvArgs& a, bool masked, const FlatTaps* flat, const Block<T>& blk, int64_t cols, int64_t ldb,
                int64_t p0, int64_t kcur, T* dst) {
  const int64_t kk = a.k_h * a.k_w, HW = a.in_h * a.in_w;
  // Row p is tap t = (ka, kb) of channel c, stepped along with p: divisions per row would cost
  // more than copying a short row.
  int64_t c = p0 / kk, t = p0 % kk, ka = t / a.k_w, kb = t % a.k_w;
  for (int64_t p = p0; p < p0 + kcur; ++p, ++t, ++kb) {
    if (kb == a.k_w) {
      kb = 0;
      if (++ka == a.k_h) ka = 0, t = 0, ++c;
    }
    const int64_t dh = ka * a.dil_h, dw = kb * a.dil_w;
    T* d = dst + (p - p0) * ldb;
#if defined(__AVX512F__)
    if (flat) {
      using M = Masked<T>;
      const int64_t shift = flat->shift[size_t(t)].i;
      const LaneMask* tm = flat->mask.data() + t * flat->chunks;
      for (const Run<T>& run : blk.runs) {
        const T* src = run.x + c * HW + run.l0 + shift;
        const LaneMask* lm = tm + run.l0 / M::W;
        T* dr = d + run.j;
        const int64_t last = run.chunks - 1;
        for (int64_t ch = 0; ch < last; ++ch) M::store(dr + ch * M::W, ~0u, M::load(lm[ch].bits, src + ch * M::W));
        M::store(dr + last * M::W, run.tail, M::load(lm[last].bits, src + last * M::W));
      }
      std::fill(d + cols, d + ldb, T(0));
      continue;
    }
#endif
    for (const Run<T>& run : blk.runs) {
      const int64_t ih = run.ih0 + dh;
      const bool inside = ih >= 0 && ih < a.in_h;
#if defined(__AVX512F__)
      if (masked) {
        using M = Masked<T>;
        T* dr = d + run.j;
        const int64_t last = run.chunks - 1;
        if (!inside) {
          for (int64_t ch = 0; ch < last; ++ch) M::store(dr + ch * M::W, ~0u, M::set1(T(0)));
          M::store(dr + last * M::W, run.tail, M::set1(T(0)));
          continue;
        }
        const T* src = run.x + c * HW + ih * a.in_w + run.iw0 + dw;
        const LaneMask* lm = blk.masks.data() + run.mask0 + kb * run.chunks;
        for (int64_t ch = 0; ch < last; ++ch) M::store(dr + ch * M::W, ~0u, M::load(lm[ch].bits, src + ch * M::W));
        M::store(dr + last * M::W, run.tail, M::load(lm[last].bits, src + last * M::W));
        continue;
      }
#endif
      if (!inside) std::fill(d + run.j, d + run.j + run.len, T(0));
      else copy_clipped(d + run.j, run.x + c * HW + ih * a.in_w, run.iw0 + dw, a.stride_w, run.len, a.in_w);
    }
    std::fill(d + cols, d + ldb, T(0));
  }
}

// Output rows [o0, o0 + mr) of a panel's segments from the tile: the first k slice stores, later
// ones add; the last adds the bias.
template <class T>
void store_tile(const T* tile, int64_t NR, bool masked, const Segment<T>* segs, int64_t nsegs, int64_t o0, int64_t mr,
                int64_t L, const T* bias, bool first, bool last) {
  const bool add_bias = last && bias;
  for (int64_t r = 0; r < nsegs; ++r) {
    const Segment<T>& sg = segs[r];
    for (int64_t i = 0; i < mr; ++i) {
      T* yr = sg.y + (o0 + i) * L;
      const T* t = tile + i * NR + sg.j;
#if defined(__AVX512F__)
      if (masked) {
        using M = Masked<T>;
        const auto b = M::set1(add_bias ? bias[o0 + i] : T(0));
        for (int64_t ch = 0; ch < sg.chunks; ++ch) {
          const uint32_t m = sg.store[ch];
          auto v = M::loadu(t + ch * M::W);
          if (!first) v = M::add(M::load(m, yr + ch * M::W), v);
          if (add_bias) v = M::add(v, b);
          M::store(yr + ch * M::W, m, v);
        }
        continue;
      }
#endif
      if (add_bias) {
        const T b = bias[o0 + i];
        if (first) {
          for (int64_t j = 0; j < sg.len; ++j) yr[j] = t[j] + b;
        } else {
          for (int64_t j = 0; j < sg.len; ++j) yr[j] = yr[j] + t[j] + b;
        }
      } else if (first) {
        for (int64_t j = 0; j < sg.len; ++j) yr[j] = t[j];
      } else {
        for (int64_t j = 0; j < sg.len; ++j) yr[j] += t[j];
      }
    }
  }
}

template <class T, int MR, int NV>
void forward(const ConvArgs& a, const T* x, const T* w, const T* bias, T* y) {
  constexpr int64_t NR = NV * Simd<T>::kLanes, sz = sizeof(T);
  const int64_t cig = a.c_in / a.groups, cog = a.c_out / a.groups, K = cig * a.k_h * a.k_w;
  const int64_t L = a.out_h * a.out_w, N = a.batch * L;
  if (N == 0 || cog == 0) return;
  // Masked vectors (AVX-512, unit column stride) copy the runs and store the tiles: a panel's
  // segment takes at most NV <= kMaxChunks of them.
  constexpr int64_t W = 64 / sz;
  const bool masked = kMasked && a.stride_w == 1 && NR <= kMaxChunks * W;
  const bool flat = masked && flat_shape(a, W);
  const FlatTaps taps = flat ? flat_taps(a, W) : FlatTaps{};
  const int64_t mpad = ceil_div(cog, MR) * MR;
  const CacheSizes cs = cache_sizes();
  // k slices of equal size: the weights' slice (mpad x kc) within 3/4 of L2, where it stays while
  // the block's panels stream past it, and kc between 256 and 768 (measured best on 64 to 256
  // channels: smaller slices store the output more often, larger ones spill).
  const int64_t kc_max = std::clamp<int64_t>(cs.l2 * 3 / 4 / (mpad * sz), 256, 768);
  const int64_t nk = ceil_div(K, kc_max), kc = ceil_div(K, nk);
  // Blocks of about 16 panels (measured best of 4 to 24 on 8x8 to 32x32 images), as many as make
  // the tasks balance over the threads, all of the same number of panels give or take one (the
  // split never changes a bit).
  const int64_t panels = ceil_div(N, NR), threads = get_num_threads();
  int64_t nb = ceil_div(panels, 16);
  while (nb < panels && (a.groups * nb < threads || ((a.groups * nb) % threads != 0 && a.groups * nb < 8 * threads))) ++nb;
  auto block_cols = [&](int64_t b, int64_t& j0, int64_t& j1) {
    j0 = b * panels / nb * NR;
    j1 = std::min(N, (b + 1) * panels / nb * NR);
  };
  const int64_t nc = ceil_div(panels, nb) * NR;  // the widest block

  // The weights of every group and k slice in MR-row panels: slice s of group g at
  // ap + g * mpad * K + s * kc * mpad, its panel i at + i * MR * kcur.
  const auto apack = call_buffer<T>(a.groups * mpad * K);
  T* ap = static_cast<T*>(apack->data());
  guarded_parallel_for(0, a.groups * nk, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t gi = t / nk, p0 = t % nk * kc, kcur = std::min(kc, K - p0);
      pack_a<T, MR>(w + gi * cog * K + p0, K, 1, cog, kcur, ap + gi * mpad * K + p0 * mpad);
    }
  });

  guarded_parallel_for(0, a.groups * nb, 1, [&](int64_t t0, int64_t t1) {
    const int64_t ldb = ceil_div(nc, NR) * NR;
    T* pb = scratch<T, 0>(kc * ldb);
    T* tile = scratch<T, 1>(MR * NR);
    static thread_local Block<T> blk;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t gi = t / nb;
      int64_t j0, j1;
      block_cols(t % nb, j0, j1);
      blk.build(a, gi, NR, W, masked, flat, j0, j1, x, y);
      const int64_t npanels = ceil_div(j1 - j0, NR);
      const T* bg = bias ? bias + gi * cog : nullptr;
      for (int64_t s = 0; s < nk; ++s) {
        const int64_t p0 = s * kc, kcur = std::min(kc, K - p0);
        pack_block(a, masked, flat ? &taps : nullptr, blk, j1 - j0, npanels * NR, p0, kcur, pb);
        const T* as = ap + gi * mpad * K + p0 * mpad;
        for (int64_t q = 0; q < npanels; ++q) {
          const Segment<T>* sq = blk.segs.data() + blk.first[size_t(q)].i;
          const int64_t ns = blk.first[size_t(q) + 1].i - blk.first[size_t(q)].i;
          for (int64_t i0 = 0; i0 < cog; i0 += MR) {
            gemm_micro_kernel_ldb<T, MR, NV>(kcur, as + i0 * kcur, pb + q * NR, npanels * NR, tile);
            store_tile(tile, NR, masked, sq, ns, i0, std::min<int64_t>(MR, cog - i0), L, bg, s == 0, s == nk - 1);
          }
        }
      }
    }
  });
}

// ---- weight gradient ---------------------------------------------------------------------------
// gw_g (cog x K) = gy_g (cog x N) @ col_g^T, computed transposed: gwT (K x cog) = col (K x N) @
// gy^T (N x cog), so that the long sum over the columns is the GEMM's k. Per block of columns,
// gy^T is packed into NR-channel panels once, and each MR rows of col are copied from the images
// (as in the forward) and read in place by the micro-kernel. The columns are split into nq
// chunks fixed by the shape: chunk q sums its blocks in order into its own gwT, and the chunks
// are added in order at the end, so the bits never depend on the thread count.
template <class T, int MR, int NV>
void weight_grad(const ConvArgs& a, const T* x, const T* gy, T* gw) {
  constexpr int64_t NR = NV * Simd<T>::kLanes, sz = sizeof(T), W = 64 / sz;
  const int64_t cig = a.c_in / a.groups, cog = a.c_out / a.groups, K = cig * a.k_h * a.k_w;
  const int64_t L = a.out_h * a.out_w, N = a.batch * L;
  const bool masked = kMasked && a.stride_w == 1;
  const bool flat = masked && flat_shape(a, W);
  const FlatTaps taps = flat ? flat_taps(a, W) : FlatTaps{};
  const int64_t cpad = ceil_div(cog, NR) * NR, npan = cpad / NR;
  // Columns per block: gy^T's block (nc x cpad) within half of L2, where it stays while the rows
  // of col stream past it; a multiple of W so that flat runs start on whole vectors.
  const int64_t nc = std::clamp<int64_t>(cache_sizes().l2 / 2 / (cpad * sz) / W * W, 4 * W, 2048);
  // Tasks: a long sum (N >= 4 K) is split into 4 chunks of whole vectors, fixed by the shape,
  // whose partial sums are added at the end (while those take at most 64 MiB); the rows of gwT
  // are split into as many ranges as the threads need. Each output is summed within one task
  // either way, so the row split may follow the thread count (each range packs gy^T itself).
  const int64_t part = K * cpad;
  const bool split_sum = N >= 4 * K && a.groups * 4 * part * sz <= (int64_t(64) << 20);
  int64_t nq = split_sum ? std::min<int64_t>(4, ceil_div(N, nc)) : 1;
  const int64_t per = ceil_div(ceil_div(N, nq), W) * W;
  nq = ceil_div(N, per);
  const int64_t ranges = std::min(ceil_div(K, MR), ceil_div(get_num_threads(), a.groups * nq));
  const int64_t kr = ceil_div(ceil_div(K, ranges), MR) * MR, nr = ceil_div(K, kr);
  const auto partials = call_buffer<T>(a.groups * nq * part);
  T* partial = static_cast<T*>(partials->data());
  guarded_parallel_for(0, a.groups * nq * nr, 1, [&](int64_t t0, int64_t t1) {
    const int64_t ldr = ceil_div(nc, W) * W;
    T* rows = scratch<T, 0>(MR * ldr);
    T* gyt = scratch<T, 1>(cpad * nc);
    T* tile = scratch<T, 2>(MR * NR);
    static thread_local Block<T> blk;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t gi = t / (nq * nr), q = t / nr % nq, r0 = t % nr * kr, r1 = std::min(K, r0 + kr);
      const int64_t c0 = q * per, c1 = std::min(N, c0 + per);
      T* out = partial + (gi * nq + q) * part;
      for (int64_t j0 = c0; j0 < c1; j0 += nc) {
        const int64_t j1 = std::min(c1, j0 + nc), cols = j1 - j0;
        // One panel as wide as the block: the segments are the block's pieces of gy's images
        // (read only here).
        blk.build(a, gi, cols, W, masked, flat, j0, j1, x, const_cast<T*>(gy));
        for (const Segment<T>& sg : blk.segs)
          for (int64_t op = 0; op < npan; ++op)
            pack_b<T, NR>(sg.y + op * NR * L, 1, L, sg.len, std::min(NR, cog - op * NR), gyt + op * NR * cols + sg.j * NR);
        const bool first = j0 == c0;
        for (int64_t i0 = r0; i0 < r1; i0 += MR) {
          const int64_t mr = std::min<int64_t>(MR, r1 - i0);
          pack_block(a, masked, flat ? &taps : nullptr, blk, cols, ldr, i0, mr, rows);
          if (mr < MR) std::fill(rows + mr * ldr, rows + MR * ldr, T(0));
          for (int64_t op = 0; op < npan; ++op) {
            gemm_micro_kernel_ldb<T, MR, NV, true>(cols, rows, gyt + op * NR * cols, NR, tile, ldr);
            for (int64_t i = 0; i < mr; ++i) {
              T* o = out + (i0 + i) * cpad + op * NR;
              const T* tt = tile + i * NR;
              if (first) {
                for (int64_t j = 0; j < NR; ++j) o[j] = tt[j];
              } else {
                for (int64_t j = 0; j < NR; ++j) o[j] += tt[j];
              }
            }
          }
        }
      }
    }
  });
  // gw[g][o][p] = sum over chunks, in order, of gwT_q[p][o], 16 values of p at a time (a
  // transpose by single values would write one cache line per value).
  constexpr int64_t PB = 16;
  const int64_t pblocks = ceil_div(K, PB);
  guarded_parallel_for(0, a.groups * pblocks, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t gi = b / pblocks, p0 = b % pblocks * PB, p1 = std::min(K, p0 + PB);
      const T* src = partial + gi * nq * part;
      for (int64_t o = 0; o < cog; ++o) {
        T* dst = gw + (gi * cog + o) * K;
        for (int64_t p = p0; p < p1; ++p) {
          T v = src[p * cpad + o];
          for (int64_t q = 1; q < nq; ++q) v += src[q * part + p * cpad + o];
          dst[p] = v;
        }
      }
    }
  });
}

}  // namespace

bool conv_implicit_suits(const ConvArgs& a) {
  // Measured against im2col + gemm on AVX-512 and AVX2: faster or level for every kernel with
  // more than one tap once k >= 64 and there are 8 or more output channels per group (grouped
  // 3x3 convs with 8 to 64 channels per group included). Below
  // that, the 3-channel stem (k = 27) spends more on tile stores than on columns, and its input
  // gradient (a conv with 3 output channels) would fill 3 of 8 rows of every tile.
  const int64_t kk = a.k_h * a.k_w;
  return kk > 1 && a.c_in / a.groups * kk >= 64 && a.c_out / a.groups >= 8;
}

template <class T>
void conv_forward_implicit(const ConvArgs& a, const T* x, const T* w, const T* bias, T* y) {
#if defined(__AVX512F__)
  // 8 x 3 vectors where the output channels are a multiple of 8 (no padded rows for 64, 128,
  // 256...), else whichever of 8 x 3 and 14 x 2 pads fewer rows. Both run at the same speed.
  const int64_t cog = a.c_out / a.groups;
  if (ceil_div(cog, 8) * 8 <= ceil_div(cog, 14) * 14) return forward<T, 8, 3>(a, x, w, bias, y);
#endif
  forward<T, kGemmMR<T>, kGemmNV<T>>(a, x, w, bias, y);
}

template <class T>
void conv_weight_grad_implicit(const ConvArgs& a, const T* x, const T* gy, T* gw) {
#if defined(__AVX512F__)
  // 6 rows of col x 4 vectors of channels: 64 for float, 32 for double.
  weight_grad<T, 6, 4>(a, x, gy, gw);
#else
  weight_grad<T, kGemmMR<T>, kGemmNV<T>>(a, x, gy, gw);
#endif
}

template void conv_forward_implicit<float>(const ConvArgs&, const float*, const float*, const float*, float*);
template void conv_forward_implicit<double>(const ConvArgs&, const double*, const double*, const double*, double*);
template void conv_weight_grad_implicit<float>(const ConvArgs&, const float*, const float*, float*);
template void conv_weight_grad_implicit<double>(const ConvArgs&, const double*, const double*, double*);

}  // namespace lamina::cpu::LAMINA_ISA_NS
