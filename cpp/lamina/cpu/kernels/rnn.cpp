// One time step of a recurrent layer (LSTM, GRU, Elman RNN), forward and backward, with the
// recurrent GEMM and the gate math fused (see RnnStepArgs); the time loop lives in ops/rnn.cpp.
// Work is split by blocks of NR hidden units: a block's gate columns of W_hh are packed side by
// side, so one pass of the GEMM micro-kernel over h_prev gives every gate of those units, and the
// gate math runs on the tile while it is in L1. A thread keeps the same blocks every step, so its
// part of W_hh stays in its core's L2 for the whole sequence. Every element is one FMA chain over
// the full k in order, whatever the thread count or the blocks: the bits never depend on threads.
#include <algorithm>
#include <cstring>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/gemm_micro.h"
#include "lamina/cpu/kernels/gemm_pack.h"
#include "lamina/cpu/kernels/scratch.h"
#include "lamina/cpu/kernels/task_guard.h"
#include "lamina/cpu/kernels/vmath.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class V>
inline V one() {
  return splat<V>(elem_t<V>(1));
}

// ---- gate math at one group of lanes (V: a vector or a scalar) ---------------------------------
// LSTM grads: from the activations i, f, g, o, the cell c, c_prev, dh, and dc (grad of c from later
// steps, replaced by the grad of c_prev): the pre-activation grads di, df, dg, do.
template <class V>
inline void lstm_grads(V i, V f, V gg, V o, V c, V cp, V dh, V& dc, V& di, V& df, V& dg, V& dout) {
  V tc = vtanh(c);
  V dct = dc + dh * o * (one<V>() - tc * tc);
  di = dct * gg * i * (one<V>() - i);
  df = dct * cp * f * (one<V>() - f);
  dg = dct * i * (one<V>() - gg * gg);
  dout = dh * tc * o * (one<V>() - o);
  dc = dct * f;
}

// Runs body(r, j, V-tag) over rows [0, rows) and units [0, n): vectors first, then the scalar tail.
template <class T, class Body>
inline void for_units(int64_t rows, int64_t n, const Body& body) {
  for (int64_t r = 0; r < rows; ++r) {
    int64_t j = 0;
    for (; j + kLanes<T> <= n; j += kLanes<T>) body(r, j, Vec<T>{});
    for (; j < n; ++j) body(r, j, T{});
  }
}

// ---- packing -------------------------------------------------------------------------------------
// Forward: block u, gate q is a (I + P, NR) panel at ((u G + q)(I + P)) NR holding W_ih[q H + u NR
// + j, p] at p NR + j for p < I, then W_hh[q H + u NR + j, p - I]. Backward (the product dG W_hh):
// block u is a (G H, NR) panel at u G H NR holding W_hh[g, u NR + j] at g NR + j. Units past H
// are zero.
template <class T>
int64_t pack_weights(int64_t G, int64_t H, int64_t I, int64_t P, const T* w_ih, const T* w_hh, bool backward,
                     T* dst) {
  constexpr int64_t NR = kGemmNR<T>;
  const int64_t k = backward ? G * H : I + P, per = backward ? 1 : G;  // panels per block
  const int64_t blocks = ceil_div(H, NR), total = blocks * per * k * NR;
  if (!dst) return total;
  for (int64_t u = 0; u < blocks; ++u) {
    const int64_t nu = std::min(NR, H - u * NR);
    for (int64_t q = 0; q < per; ++q) {
      T* panel = dst + (u * per + q) * k * NR;
      for (int64_t p = 0; p < k; ++p) {
        T* out = panel + p * NR;
        for (int64_t j = 0; j < nu; ++j) {
          const int64_t unit = u * NR + j, row = q * H + unit;
          out[j] = backward ? w_hh[p * H + unit] : p < I ? w_ih[row * I + p] : w_hh[row * P + p - I];
        }
        for (int64_t j = nu; j < NR; ++j) out[j] = T(0);
      }
    }
  }
  return total;
}

int64_t rnn_pack_weights(DType dt, int64_t gates, int64_t hidden, int64_t input, int64_t P, const void* w_ih,
                         const void* w_hh, bool backward, void* dst) {
  if (dt == DType::Float64)
    return pack_weights(gates, hidden, input, P, static_cast<const double*>(w_ih), static_cast<const double*>(w_hh),
                        backward, static_cast<double*>(dst));
  return pack_weights(gates, hidden, input, P, static_cast<const float*>(w_ih), static_cast<const float*>(w_hh),
                      backward, static_cast<float*>(dst));
}

// ---- the fused product -------------------------------------------------------------------------
// Asks for the NR values at p + i * stride, i < n (a block's units in n rows or gates), to be in L2.
// Each call fetches the next step's rows of its blocks: they were last touched many steps ago (the
// input projection) or never (fresh outputs), and loading them at use stalled the gate math. L2,
// not L1: the product streams its weight panels through L1 and would evict them.
template <class T>
inline void prefetch(const T* p, int64_t stride, int64_t n) {
  constexpr int64_t NR = kGemmNR<T>, line = 64 / int64_t(sizeof(T));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < NR; j += line) __builtin_prefetch(p + i * stride + j, 0, 2);
}

// tile (MR x NR, row-major) = a packed MR-row panel (pack_a: MR values per k step) times the
// (kc, NR) panel b; a short panel (half) computes only the first MR / 2 rows.
template <class T>
inline void micro(bool half, int64_t kc, const T* a, const T* b, T* tile) {
  constexpr int MR = kGemmMR<T>, NV = kGemmNV<T>;
  if (half) gemm_micro_kernel_ldb<T, MR, NV, false, MR / 2>(kc, a, b, kGemmNR<T>, tile);
  else gemm_micro_kernel<T>(kc, a, b, tile);
}

// a (rows, k) packed into MR-row panels in this thread's scratch: read in place, rows a multiple
// of 4 KiB apart (k = 4 H = 1024 floats, say) share L1 sets and evict each other mid-product.
// Returns the panels; panel(r0) is at r0 * k.
template <class T>
const T* pack_rows(int64_t rows, int64_t k, const T* a) {
  constexpr int64_t MR = kGemmMR<T>;
  T* dst = scratch<T, 1>(ceil_div(rows, MR) * MR * k);
  pack_a<T, kGemmMR<T>>(a, k, 1, rows, k, dst);
  return dst;
}

// Runs panel(r0, mr, half) for each panel of MR rows: a short last one (half) takes the
// half-height kernel.
template <class Panel>
void for_panels(int64_t rows, int64_t MR, const Panel& panel) {
  for (int64_t r0 = 0; r0 < rows; r0 += MR) {
    const int64_t mr = std::min(MR, rows - r0);
    panel(r0, mr, mr <= MR / 2);
  }
}

// Runs fn(u0, u1) over the unit blocks, one contiguous range per thread.
template <class F>
void for_blocks(int64_t H, int64_t NR, const F& fn) {
  const int64_t blocks = ceil_div(H, NR);
  guarded_parallel_for(0, blocks, ceil_div(blocks, get_num_threads()), fn);
}

// ---- forward step ------------------------------------------------------------------------------
template <class T, int G>
void step(const RnnStepArgs& a) {
  constexpr int64_t MR = kGemmMR<T>, NR = kGemmNR<T>, TS = MR * NR;  // TS: one tile
  const int64_t H = a.hidden, I = a.input, k = a.k, P = k - I, GH = G * H;
  const T* xh = static_cast<const T*>(a.xh);
  const T* W = static_cast<const T*>(a.w_packed);
  const T *bi = static_cast<const T*>(a.b_ih), *bh = static_cast<const T*>(a.b_hh);
  const T* cp = static_cast<const T*>(a.c_prev);
  T *Gout = static_cast<T*>(a.gates_out), *C = static_cast<T*>(a.c), *HN = static_cast<T*>(a.hn),
    *Hout = static_cast<T*>(a.h);
  const bool relu = a.relu;
  constexpr int64_t tiles_per_row = G == 3 ? 4 : G;  // GRU: n's input and state products apart
  // A bias value (0 without one) of gate q at unit u.
  auto bias = [](const T* b, int64_t q, int64_t H, int64_t u, auto v) {
    using V = decltype(v);
    return b ? load<V>(b + q * H + u) : splat<V>(T(0));
  };
  for_blocks(H, NR, [&](int64_t u0, int64_t u1) {
    T* tiles = scratch<T, 0>(tiles_per_row * TS);
    const T* A = pack_rows(a.rows, k, xh);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t j0 = u * NR, nu = std::min(NR, H - j0);
      // The next step's rows of this block, for L2 (the block stays with this thread).
      if (a.next) {
        const RnnStepArgs& nx = *a.next;
        for (int64_t r = 0; r < nx.rows; ++r) {
          prefetch(static_cast<const T*>(nx.gates_out) + r * GH + j0, H, G);
          prefetch(static_cast<const T*>(nx.h) + r * H + j0, 0, 1);
          if (G == 4) prefetch(static_cast<const T*>(nx.c) + r * H + j0, 0, 1);
          if (G == 3) prefetch(static_cast<const T*>(nx.hn) + r * H + j0, 0, 1);
        }
      }
      const T* wb = W + u * G * k * NR;  // this block's panels, one per gate
      for_panels(a.rows, MR, [&](int64_t r0, int64_t mr, bool half) {
        const T* panel = A + r0 * k;
        for (int64_t q = 0; q < G; ++q) {
          if (G == 3 && q == 2) {  // n: input part, then state part
            micro<T>(half, I, panel, wb + q * k * NR, tiles + 2 * TS);
            micro<T>(half, P, panel + I * MR, wb + (q * k + I) * NR, tiles + 3 * TS);
          } else {
            micro<T>(half, k, panel, wb + q * k * NR, tiles + q * TS);
          }
        }
        for_units<T>(mr, nu, [&](int64_t r, int64_t j, auto v) {
          using V = decltype(v);
          const T* acc = tiles + r * NR + j;  // gate q's product at acc + q TS
          const int64_t x = (r0 + r) * GH + j0 + j, e = (r0 + r) * H + j0 + j, uj = j0 + j;
          if constexpr (G == 4) {
            auto pre = [&](int64_t q) { return load<V>(acc + q * TS) + bias(bi, q, H, uj, v) + bias(bh, q, H, uj, v); };
            V i = vsigmoid(pre(0)), f = vsigmoid(pre(1)), gg = vtanh(pre(2)), o = vsigmoid(pre(3));
            V cv = f * load<V>(cp + e) + i * gg;
            store(Gout + x, i), store(Gout + x + H, f), store(Gout + x + 2 * H, gg), store(Gout + x + 3 * H, o);
            store(C + e, cv);
            store(Hout + e, o * vtanh(cv));
          } else if constexpr (G == 3) {
            V rg = vsigmoid(load<V>(acc) + bias(bi, 0, H, uj, v) + bias(bh, 0, H, uj, v));
            V z = vsigmoid(load<V>(acc + TS) + bias(bi, 1, H, uj, v) + bias(bh, 1, H, uj, v));
            V hn = load<V>(acc + 3 * TS) + bias(bh, 2, H, uj, v);
            V n = vtanh(load<V>(acc + 2 * TS) + bias(bi, 2, H, uj, v) + rg * hn);
            V hv = (one<V>() - z) * n + z * load<V>(xh + (r0 + r) * k + I + uj);
            store(Gout + x, rg), store(Gout + x + H, z), store(Gout + x + 2 * H, n);
            store(HN + e, hn);
            store(Hout + e, hv);
          } else {
            V pre = load<V>(acc) + bias(bi, 0, H, uj, v) + bias(bh, 0, H, uj, v);
            // relu keeps NaN (select the input where !(x <= 0)).
            store(Hout + e, relu ? select(pre <= splat<V>(T(0)), splat<V>(T(0)), pre) : vtanh(pre));
          }
        });
      });
    }
  });
}

template <class T>
void step_dispatch(const RnnStepArgs& a) {
  if (a.gates == 4) step<T, 4>(a);
  else if (a.gates == 3) step<T, 3>(a);
  else step<T, 1>(a);
}

void rnn_step(const RnnStepArgs& a) {
  if (a.rows <= 0 || a.hidden <= 0) return;
  if (a.dtype == DType::Float64) step_dispatch<double>(a);
  else step_dispatch<float>(a);
}

// ---- backward step -----------------------------------------------------------------------------
template <class T, int G>
void step_backward(const RnnStepBackwardArgs& a) {
  constexpr int64_t NR = kGemmNR<T>, MR = kGemmMR<T>;
  const int64_t H = a.hidden, GH = G * H;
  const bool relu = a.relu;
  const T* dgn = static_cast<const T*>(a.dg_next);
  const T* W = static_cast<const T*>(a.w_packed);
  const T *dout = static_cast<const T*>(a.dout), *gates = static_cast<const T*>(a.gates_in),
          *cc = static_cast<const T*>(a.c), *cp = static_cast<const T*>(a.c_prev), *hnp = static_cast<const T*>(a.hn),
          *hp = static_cast<const T*>(a.h_prev), *hv = static_cast<const T*>(a.h);
  T *dh = static_cast<T*>(a.dh), *dc = static_cast<T*>(a.dc), *DX = static_cast<T*>(a.dgx), *DH = static_cast<T*>(a.dgh);
  // The product's k (= G H, long) in slices whose weight panel stays in L1 while every row panel
  // uses it; each row panel sums its slices' tiles in slice order. The slices depend on k and the
  // cache size only, never on the threads.
  const int64_t kc_max = std::clamp<int64_t>(cache_sizes().l1 * 2 / 3 / (NR * int64_t(sizeof(T))), 64, 1024);
  const int64_t slices = ceil_div(GH, kc_max), kc = ceil_div(GH, slices);
  const int64_t panels = ceil_div(a.rows_next, MR);
  for_blocks(H, NR, [&](int64_t u0, int64_t u1) {
    T* tile = scratch<T, 0>((panels + 1) * MR * NR);  // one sum per row panel, then the slice's tile
    T* sums = tile + MR * NR;
    const T* A = a.rows_next > 0 ? pack_rows(a.rows_next, GH, dgn) : nullptr;
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t j0 = u * NR, nu = std::min(NR, H - j0);
      // The recurrent product of the next step: this block's units of dh.
      // The next call's rows of this block, for L2 (the block stays with this thread).
      if (a.next) {
        const RnnStepBackwardArgs& nx = *a.next;
        auto at = [](const void* p, int64_t i) { return static_cast<const T*>(p) + i; };
        for (int64_t r = 0; r < nx.rows; ++r) {
          const int64_t e = r * H + j0, x = r * GH + j0;
          prefetch(at(nx.dout, e), 0, 1);
          prefetch(at(nx.gates_in, x), H, G);
          prefetch(at(nx.dgx, x), H, G);
          if (G == 4) prefetch(at(nx.c, e), 0, 1), prefetch(at(nx.c_prev, e), 0, 1);
          if (G == 3) prefetch(at(nx.hn, e), 0, 1), prefetch(at(nx.h_prev, e), 0, 1), prefetch(at(nx.dgh, x), H, G);
          if (G == 1) prefetch(at(nx.h, e), 0, 1);
        }
      }
      for (int64_t sl = 0; sl < (a.rows_next > 0 ? slices : 0); ++sl) {
        const int64_t p0 = sl * kc, kcur = std::min(kc, GH - p0);
        for_panels(a.rows_next, MR, [&](int64_t r0, int64_t mr, bool half) {
          T* sum = sums + r0 * NR;  // panel r0 / MR
          micro<T>(half, kcur, A + r0 * GH + p0 * MR, W + (u * GH + p0) * NR, sl == 0 ? sum : tile);
          if (sl > 0)
            for (int64_t i = 0; i < mr * NR; ++i) sum[i] += tile[i];
          if (sl + 1 < slices) return;
          for (int64_t r = 0; r < mr; ++r) {
            T* d = dh + (r0 + r) * H + j0;
            const T* acc = sum + r * NR;
            for (int64_t j = 0; j < nu; ++j) d[j] = G == 3 ? d[j] + acc[j] : acc[j];
          }
        });
      }
      // This step's gates.
      for_units<T>(a.rows, nu, [&](int64_t r, int64_t j, auto v) {
        using V = decltype(v);
        const int64_t e = r * H + j0 + j, x = r * GH + j0 + j;
        V d = load<V>(dh + e) + load<V>(dout + e);
        if constexpr (G == 4) {
          V dcv = load<V>(dc + e), di, df, dg, dov;
          lstm_grads(load<V>(gates + x), load<V>(gates + x + H), load<V>(gates + x + 2 * H), load<V>(gates + x + 3 * H),
                     load<V>(cc + e), load<V>(cp + e), d, dcv, di, df, dg, dov);
          store(DX + x, di), store(DX + x + H, df), store(DX + x + 2 * H, dg), store(DX + x + 3 * H, dov);
          store(dc + e, dcv);
        } else if constexpr (G == 3) {
          V rg = load<V>(gates + x), z = load<V>(gates + x + H), n = load<V>(gates + x + 2 * H);
          V dan = d * (one<V>() - z) * (one<V>() - n * n);
          V dar = dan * load<V>(hnp + e) * rg * (one<V>() - rg);
          V daz = d * (load<V>(hp + e) - n) * z * (one<V>() - z);
          store(DX + x, dar), store(DX + x + H, daz), store(DX + x + 2 * H, dan);
          store(DH + x, dar), store(DH + x + H, daz), store(DH + x + 2 * H, dan * rg);
          store(dh + e, d * z);
        } else {
          V h = load<V>(hv + e);
          store(DX + x, relu ? select(h > splat<V>(T(0)), d, splat<V>(T(0))) : d * (one<V>() - h * h));
        }
      });
    }
  });
}

template <class T>
void step_backward_dispatch(const RnnStepBackwardArgs& a) {
  if (a.gates == 4) step_backward<T, 4>(a);
  else if (a.gates == 3) step_backward<T, 3>(a);
  else step_backward<T, 1>(a);
}

void rnn_step_backward(const RnnStepBackwardArgs& a) {
  if (a.hidden <= 0) return;
  if (a.dtype == DType::Float64) step_backward_dispatch<double>(a);
  else step_backward_dispatch<float>(a);
}

// ---- LSTM gate grads alone (layers with projections, whose product is not fused) ---------------
void lstm_cell_backward(DType dt, int64_t rows, int64_t H, const void* gates, const void* c, const void* c_prev,
                        const void* dh, void* dc, void* dgates) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *G = static_cast<const T*>(gates), *cc = static_cast<const T*>(c), *cp = static_cast<const T*>(c_prev),
            *dhp = static_cast<const T*>(dh);
    T *dcp = static_cast<T*>(dc), *dG = static_cast<T*>(dgates);
    // Rows are independent: fixed chunks of rows per task.
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(4 * H, 1)), [&](int64_t r0, int64_t r1) {
      for_units<T>(r1 - r0, H, [&](int64_t rr, int64_t j, auto v) {
        using V = decltype(v);
        const int64_t r = r0 + rr, k = r * H + j;
        const T* g = G + r * 4 * H + j;
        T* d = dG + r * 4 * H + j;
        V dcv = load<V>(dcp + k), di, df, dg, dov;
        lstm_grads(load<V>(g), load<V>(g + H), load<V>(g + 2 * H), load<V>(g + 3 * H), load<V>(cc + k), load<V>(cp + k),
                   load<V>(dhp + k), dcv, di, df, dg, dov);
        store(d, di), store(d + H, df), store(d + 2 * H, dg), store(d + 3 * H, dov);
        store(dcp + k, dcv);
      });
    });
  });
}

}  // namespace

void register_rnn(KernelTable& table) {
  table.rnn_pack_weights = rnn_pack_weights;
  table.rnn_step = rnn_step;
  table.rnn_step_backward = rnn_step_backward;
  table.lstm_cell_backward = lstm_cell_backward;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
