// GEMM (see GemmArgs in core/kernel_table.h), BLIS/GotoBLAS style. Tasks are output blocks
// (batch item x NC columns x a group of rows). A task packs its B columns into NR-column panels
// and walks its rows MC at a time; for each KC slice of k it packs A into MR-row panels
// (gemm_pack.h), runs the register-blocked micro-kernel (gemm_micro.h) and folds each tile into
// C (alpha/beta on the first slice, bias and activation on the last). KC comes from the cache
// sizes only, never from the thread count, and every output element is one FMA chain per slice
// taken in slice order, so the bits do not depend on the threads or on how the output is split.
// GEMV shapes (m == 1 or n == 1) and small products skip packing. The straightforward reference
// kernel stays as the oracle of the tests (and handles k == 0).
#include <cmath>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/gemm_micro.h"
#include "lamina/cpu/kernels/gemm_pack.h"
#include "lamina/cpu/kernels/gemm_small.h"
#include "lamina/cpu/kernels/scratch.h"
#include "lamina/cpu/kernels/task_guard.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

// ---- reference --------------------------------------------------------------------------------
template <class T>
T activate(Activation act, T x) {
  switch (act) {
    case Activation::None: return x;
    case Activation::Relu: return x > T(0) ? x : T(0);
    case Activation::Gelu: return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
    case Activation::GeluTanh: {
      const T c = T(0.7978845608028654);  // sqrt(2 / pi)
      return T(0.5) * x * (T(1) + std::tanh(c * (x + T(0.044715) * x * x * x)));
    }
  }
  return x;
}

// One output row per task, k accumulated in order, epilogue applied at the store.
template <class T>
void gemm_reference(const GemmArgs& g) {
  const T* A = static_cast<const T*>(g.a.data);
  const T* B = static_cast<const T*>(g.b.data);
  const T* bias = static_cast<const T*>(g.epilogue.bias);
  T* C = static_cast<T*>(g.c.data);
  const T alpha = T(g.alpha), beta = T(g.beta);
  guarded_parallel_for(0, g.batch * g.m, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> acc(size_t(g.n));
    for (int64_t row = begin; row < end; ++row) {
      int64_t bi = row / g.m, i = row % g.m;
      std::fill(acc.begin(), acc.end(), T(0));
      const T* a = A + bi * g.a.batch + i * g.a.rows;
      const T* b = B + bi * g.b.batch;
      for (int64_t p = 0; p < g.k; ++p) {
        T ap = a[p * g.a.cols];
        const T* bp = b + p * g.b.rows;
        for (int64_t j = 0; j < g.n; ++j) acc[size_t(j)] += ap * bp[j * g.b.cols];
      }
      T* c = C + bi * g.c.batch + i * g.c.rows;
      for (int64_t j = 0; j < g.n; ++j) {
        T v = alpha * acc[size_t(j)];
        if (beta != T(0)) v += beta * c[j * g.c.cols];
        if (bias) v += bias[i * g.epilogue.bias_rows + j * g.epilogue.bias_cols];
        c[j * g.c.cols] = activate(g.epilogue.act, v);
      }
    }
  });
}

// ---- per-thread buffers -----------------------------------------------------------------------
struct GemmBuffers {
  AlignedBuffer a, b, tile, vec;
};
GemmBuffers& thread_buffers() {
  static thread_local GemmBuffers buffers;
  return buffers;
}

template <class T>
GemmStore<T> make_store(const GemmArgs& g) {
  return GemmStore<T>{T(g.alpha), T(g.beta), static_cast<const T*>(g.epilogue.bias), g.epilogue.bias_rows,
                      g.epilogue.bias_cols, g.epilogue.act, static_cast<T*>(g.c.data), g.c.rows, g.c.cols};
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- packed path ------------------------------------------------------------------------------
struct Blocking {
  int64_t kc, mc, nc;
};

// KC: a B micro-panel (KC x NR) takes about 2/3 of L1. MC: an A block (MC x KC) and the C block
// (MC x NC) each take under half of L2, so C stays in L2 while the k slices accumulate into it.
// NC: B packed for all of k (k x NC) takes a quarter of L3.
template <class T>
Blocking cache_blocking(int64_t m, int64_t k) {
  constexpr int64_t MR = kGemmMR<T>, NR = kGemmNR<T>, sz = sizeof(T);
  const CacheSizes cs = cache_sizes();
  Blocking b;
  b.kc = std::clamp<int64_t>(cs.l1 * 2 / 3 / (NR * sz), 64, 1024) / 8 * 8;
  b.mc = std::max<int64_t>(MR, cs.l2 / 2 / (b.kc * sz) / MR * MR);
  // One row block (m <= MC): B is packed a slice at a time right before its use instead.
  const int64_t kpack = m <= b.mc ? b.kc : std::max<int64_t>(k, b.kc);
  b.nc = std::clamp<int64_t>(cs.l3 / 4 / (kpack * sz) / NR * NR, 4 * NR, 4096 / NR * NR);
  return b;
}

template <class T>
void gemm_packed(const GemmArgs& g) {
  constexpr int64_t MR = kGemmMR<T>, NR = kGemmNR<T>, sz = sizeof(T);
  const int64_t m = g.m, n = g.n, k = g.k, batch = g.batch;
  const Blocking bl = cache_blocking<T>(m, k);
  // k slices of equal size: depends on k and the cache only.
  const int64_t kb = ceil_div(k, bl.kc), kc = ceil_div(k, kb);
  // Tasks: (batch item, NC column block, group of rows), at least one per thread and balanced
  // (the split never changes any output bit). A task packs its B column block for all of k once,
  // then takes its rows MC at a time through every k slice.
  const int64_t threads = get_num_threads();
  int64_t nb = ceil_div(n, bl.nc), gm = 1;
  const int64_t max_gm = ceil_div(m, MR), max_nb = ceil_div(n, NR);
  auto balanced = [&] {
    int64_t tasks = batch * gm * nb;
    return tasks >= threads && (tasks % threads == 0 || tasks >= 8 * threads);
  };
  while (!balanced()) {
    bool can_m = gm < max_gm, can_n = nb < max_nb;
    if (!can_m && !can_n) break;
    if (can_m && (!can_n || ceil_div(m, gm) >= ceil_div(n, nb))) ++gm;
    else ++nb;
  }
  const int64_t rows = ceil_div(ceil_div(m, gm), MR) * MR, nc = ceil_div(ceil_div(n, nb), NR) * NR;
  gm = ceil_div(m, rows);
  nb = ceil_div(n, nc);
  // Several row blocks: small enough that the C block stays in L2 (see cache_blocking).
  const int64_t mc_cap = m <= bl.mc ? bl.mc : std::clamp<int64_t>(cache_sizes().l2 / 2 / (nc * sz), MR, bl.mc);
  const int64_t mc = ceil_div(ceil_div(rows, ceil_div(rows, mc_cap)), MR) * MR;

  const T* A = static_cast<const T*>(g.a.data);
  const T* B = static_cast<const T*>(g.b.data);
  T* C = static_cast<T*>(g.c.data);
  const GemmStore<T> store0 = make_store<T>(g);
  // A prepacked B (pack_b_all): slice s starts at s * kc * npad, column block j0 at j0 * kcur in it.
  const T* prepacked = static_cast<const T*>(g.b_packed);
  const int64_t npad = ceil_div(n, NR) * NR;
  guarded_parallel_for(0, batch * nb * gm, 1, [&](int64_t t0, int64_t t1) {
    GemmBuffers& buf = thread_buffers();
    T* pa = buf.a.get<T>(mc * kc);
    T* pb = prepacked ? nullptr : buf.b.get<T>(nc * kc * (rows <= mc ? 1 : kb));
    T* tile = buf.tile.get<T>(MR * NR);
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t bi = task / (nb * gm), jb = task / gm % nb, gi = task % gm;
      const int64_t j0 = jb * nc, ncur = std::min(nc, n - j0);
      const int64_t r0 = gi * rows, r1 = std::min(m, r0 + rows);
      const T* a = A + bi * g.a.batch;
      GemmStore<T> st = store0;
      st.c = C + bi * g.c.batch;
      // Slice s of the B column block goes to pb + s * kc * nc, all up front when several row
      // blocks reuse it, else each right before its use (into the same place: it stays in L2).
      const bool one_block = r1 - r0 <= mc;
      auto pack_b_slice = [&](int64_t s, T* dst) {
        const int64_t p0 = s * kc;
        pack_b<T, NR>(B + bi * g.b.batch + p0 * g.b.rows + j0 * g.b.cols, g.b.rows, g.b.cols, std::min(kc, k - p0),
                      ncur, dst);
      };
      if (!one_block && !prepacked)
        for (int64_t s = 0; s < kb; ++s) pack_b_slice(s, pb + s * kc * nc);
      for (int64_t i0 = r0; i0 < r1; i0 += mc) {
        const int64_t mcur = std::min(mc, r1 - i0);
        for (int64_t s = 0; s < kb; ++s) {
          const int64_t p0 = s * kc, kcur = std::min(kc, k - p0);
          const T* bslice = prepacked ? prepacked + s * kc * npad + j0 * kcur : one_block ? pb : pb + s * kc * nc;
          if (one_block && !prepacked) pack_b_slice(s, pb);
          pack_a<T, MR>(a + i0 * g.a.rows + p0 * g.a.cols, g.a.rows, g.a.cols, mcur, kcur, pa);
          for (int64_t jr = 0; jr < ncur; jr += NR) {
            const T* bpanel = bslice + jr * kcur;
            for (int64_t ir = 0; ir < mcur; ir += MR) {
              // C rows of this tile head for L2 while the micro-kernel runs.
              const int64_t mr = std::min(MR, mcur - ir), nr = std::min(NR, ncur - jr);
              T* ct = st.c + (i0 + ir) * g.c.rows + (j0 + jr) * g.c.cols;
              for (int64_t r = 0; r < mr; ++r) {
                __builtin_prefetch(ct + r * g.c.rows, 1, 2);
                __builtin_prefetch(ct + r * g.c.rows + (nr - 1) * g.c.cols, 1, 2);
              }
              if (mr <= MR / 2)  // a short last panel (32 rows = 14 + 14 + 4): half the work
                gemm_micro_kernel_ldb<T, MR, kGemmNV<T>, false, MR / 2>(kcur, pa + ir * kcur, bpanel, NR, tile);
              else
                gemm_micro_kernel<T>(kcur, pa + ir * kcur, bpanel, tile);
              gemm_store_tile(st, tile, NR, i0 + ir, j0 + jr, mr, nr, s == 0, s == kb - 1);
            }
          }
        }
      }
    }
  });
}

// ---- GEMV (n == 1) ----------------------------------------------------------------------------
// R dot products of contiguous rows with x: two vector accumulators per row, lanes summed in
// order, then the scalar tail. A row's result does not depend on R.
template <class T, int R>
inline void dot_rows(const T* const* rows, const T* x, int64_t k, T* out) {
  using V = Vec<T>;
  constexpr int64_t L = kLanes<T>;
  V acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = V{};
  int64_t p = 0;
  for (; p + 2 * L <= k; p += 2 * L) {
    V x0 = vload(x + p), x1 = vload(x + p + L);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      acc0[r] += vload(rows[r] + p) * x0;
      acc1[r] += vload(rows[r] + p + L) * x1;
    }
  }
  for (int r = 0; r < R; ++r) {
    V s = acc0[r] + acc1[r];
    T sum = T(0);
    for (int64_t l = 0; l < L; ++l) sum += s[l];
    for (int64_t q = p; q < k; ++q) sum += rows[r][q] * x[q];
    out[r] = sum;
  }
}

template <class T>
void gemv(const GemmArgs& g) {
  const int64_t m = g.m, k = g.k;
  const T* A = static_cast<const T*>(g.a.data);
  const T* X = static_cast<const T*>(g.b.data);
  T* C = static_cast<T*>(g.c.data);
  const GemmStore<T> store0 = make_store<T>(g);
  // Rows per chunk of work: dot products take 256; the column walk takes 2048 (its accumulators
  // stay in L1 while it reads long runs of each column).
  const int64_t kRows = g.a.cols == 1 ? 256 : 2048;
  const int64_t chunks = ceil_div(m, kRows);
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, kRows * k));
  guarded_parallel_for(0, g.batch * chunks, grain, [&](int64_t t0, int64_t t1) {
    GemmBuffers& buf = thread_buffers();
    T* acc = buf.tile.get<T>(kRows);
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t bi = task / chunks, i0 = task % chunks * kRows, rows = std::min(kRows, m - i0);
      const T* a = A + bi * g.a.batch + i0 * g.a.rows;
      const T* x = X + bi * g.b.batch;
      if (g.a.cols == 1) {  // rows contiguous: dot products with a contiguous x
        if (g.b.rows != 1) {
          T* xc = buf.vec.get<T>(k);
          for (int64_t p = 0; p < k; ++p) xc[p] = x[p * g.b.rows];
          x = xc;
        }
        int64_t i = 0;
        for (; i + 4 <= rows; i += 4) {
          const T* r[4] = {a + i * g.a.rows, a + (i + 1) * g.a.rows, a + (i + 2) * g.a.rows, a + (i + 3) * g.a.rows};
          dot_rows<T, 4>(r, x, k, acc + i);
        }
        for (; i < rows; ++i) {
          const T* r[1] = {a + i * g.a.rows};
          dot_rows<T, 1>(r, x, k, acc + i);
        }
      } else {  // columns contiguous (or general): acc += x[p] * column p, one chain per row
        std::fill(acc, acc + rows, T(0));
        int64_t p = 0;
        if (g.a.rows == 1) {  // four columns per pass over acc, each element still in k order
          for (; p + 4 <= k; p += 4) {
            const T x0 = x[p * g.b.rows], x1 = x[(p + 1) * g.b.rows], x2 = x[(p + 2) * g.b.rows],
                    x3 = x[(p + 3) * g.b.rows];
            const T *c0 = a + p * g.a.cols, *c1 = c0 + g.a.cols, *c2 = c1 + g.a.cols, *c3 = c2 + g.a.cols;
            for (int64_t i = 0; i < rows; ++i) {
              T v = acc[i] + x0 * c0[i];
              v = v + x1 * c1[i];
              v = v + x2 * c2[i];
              acc[i] = v + x3 * c3[i];
            }
          }
        }
        for (; p < k; ++p) {
          const T xp = x[p * g.b.rows];
          const T* col = a + p * g.a.cols;
          if (g.a.rows == 1) {
            for (int64_t i = 0; i < rows; ++i) acc[i] += xp * col[i];
          } else {
            for (int64_t i = 0; i < rows; ++i) acc[i] += xp * col[i * g.a.rows];
          }
        }
      }
      GemmStore<T> st = store0;
      st.c = C + bi * g.c.batch;
      gemm_store_tile(st, acc, 1, i0, 0, rows, 1, true, true);
    }
  });
}

// ---- small products: no packing (small_rows in gemm_small.h) ---------------------------------
template <class T>
void gemm_small(const GemmArgs& g) {
  const int64_t m = g.m, n = g.n, k = g.k;
  const T* A = static_cast<const T*>(g.a.data);
  const T* B = static_cast<const T*>(g.b.data);
  T* C = static_cast<T*>(g.c.data);
  const GemmStore<T> store0 = make_store<T>(g);
  const int64_t mb = ceil_div(m, 4);  // blocks of 4 rows
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / (4 * n * k));
  guarded_parallel_for(0, g.batch * mb, grain, [&](int64_t t0, int64_t t1) {
    T* out = thread_buffers().tile.get<T>(4 * n);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bi = t / mb, i = t % mb * 4, rows = std::min<int64_t>(4, m - i);
      const T* a = A + bi * g.a.batch + i * g.a.rows;
      const T* b = B + bi * g.b.batch;
      if (rows == 4) small_rows<T, 4>(a, g.a.rows, g.a.cols, b, g.b.rows, n, k, out);
      else
        for (int64_t r = 0; r < rows; ++r) small_rows<T, 1>(a + r * g.a.rows, g.a.rows, g.a.cols, b, g.b.rows, n, k, out + r * n);
      GemmStore<T> st = store0;
      st.c = C + bi * g.c.batch;
      gemm_store_tile(st, out, n, i, 0, rows, n, true, true);
    }
  });
}

// C^T = B^T A^T: the same product with the roles of rows and columns swapped.
GemmArgs transposed(const GemmArgs& g) {
  GemmArgs t = g;
  std::swap(t.m, t.n);
  t.a = MatrixView{g.b.data, g.b.cols, g.b.rows, g.b.batch};
  t.b = MatrixView{g.a.data, g.a.cols, g.a.rows, g.a.batch};
  std::swap(t.c.rows, t.c.cols);
  std::swap(t.epilogue.bias_rows, t.epilogue.bias_cols);
  return t;
}

int64_t iabs(int64_t x) { return x < 0 ? -x : x; }

template <class T>
void gemm_fast(const GemmArgs& g0) {
  // Row vectors become column vectors, and a C with columns closer in memory than rows is
  // computed as C^T, so that the fast paths see unit-stride C rows where there are any.
  const bool row_vector = g0.m == 1 && g0.n > 1;
  const bool col_major = g0.m > 1 && g0.n > 1 && g0.c.cols != 1 && (g0.c.rows == 1 || iabs(g0.c.rows) < iabs(g0.c.cols));
  const GemmArgs g = row_vector || col_major ? transposed(g0) : g0;
  if (g.n == 1) return gemv<T>(g);
  if (g.b.cols == 1 && g.m * g.n * g.k <= 64 * 64 * 64) return gemm_small<T>(g);
  gemm_packed<T>(g);
}

// B (k x n) packed for GemmArgs::b_packed: every k slice of gemm_packed (whose size depends on k
// and the cache only) for all n columns, in pack_b's panels. Returns the element count.
template <class T>
int64_t pack_b_all(const GemmArgs& g, void* dst) {
  constexpr int64_t NR = kGemmNR<T>;
  const int64_t k = g.k, n = g.n, npad = ceil_div(n, NR) * NR;
  if (!dst || k <= 0 || n <= 0) return std::max<int64_t>(k, 0) * npad;
  const int64_t kb = ceil_div(k, cache_blocking<T>(1, k).kc), kc = ceil_div(k, kb);
  const T* B = static_cast<const T*>(g.b.data);
  for (int64_t s = 0; s < kb; ++s)
    pack_b<T, NR>(B + s * kc * g.b.rows, g.b.rows, g.b.cols, std::min(kc, k - s * kc), n,
                  static_cast<T*>(dst) + s * kc * npad);
  return k * npad;
}

int64_t gemm_pack_b_kernel(const GemmArgs& g, void* dst) {
  return g.dtype == DType::Float64 ? pack_b_all<double>(g, dst) : pack_b_all<float>(g, dst);
}

void gemm_kernel(const GemmArgs& g) {
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {  // beta * C + bias, through the reference
    if (g.dtype == DType::Float64) gemm_reference<double>(g);
    else gemm_reference<float>(g);
    return;
  }
  if (g.b_packed) {  // only the packed path reads that layout (no transposed or unpacked variants)
    if (g.dtype == DType::Float64) gemm_packed<double>(g);
    else gemm_packed<float>(g);
    return;
  }
  if (g.dtype == DType::Float64) gemm_fast<double>(g);
  else gemm_fast<float>(g);
}

void gemm_reference_kernel(const GemmArgs& g) {
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  if (g.dtype == DType::Float64) gemm_reference<double>(g);
  else gemm_reference<float>(g);
}

}  // namespace

void register_gemm(KernelTable& table) {
  table.gemm = gemm_kernel;
  table.gemm_pack_b = gemm_pack_b_kernel;
}

// The oracle for tests: bindings/gemm_testing.cpp calls the baseline copy (reference=True).
void gemm_reference_entry(const GemmArgs& g) { gemm_reference_kernel(g); }

}  // namespace lamina::cpu::LAMINA_ISA_NS
