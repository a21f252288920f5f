// Fused gate math of one recurrent time step (LSTM, GRU, Elman RNN) and its backward, on `rows`
// contiguous rows; the GEMMs and the time loop live in ops/rnn.cpp. Every output element depends
// only on its own row and column, so the fixed row chunks give the same bits for any thread count.
#include <algorithm>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vmath.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kGrain = 16384;  // gate elements per parallel task

// Runs body(r, j, V-tag) over rows [0, rows) and columns [0, H): vectors first, then the scalar tail.
template <class T, class Body>
void for_rows(int64_t rows, int64_t H, int64_t width, const Body& body) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(width, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t j = 0;
      for (; j + kLanes<T> <= H; j += kLanes<T>) body(r, j, Vec<T>{});
      for (; j < H; ++j) body(r, j, T{});
    }
  });
}

template <class V>
inline V one() {
  return splat<V>(elem_t<V>(1));
}

// ---- LSTM: gates (i, f, g, o) ----
void lstm_cell(DType dt, int64_t rows, int64_t H, void* gates, const void* c_prev, void* c, void* h) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* G = static_cast<T*>(gates);
    const T* cp = static_cast<const T*>(c_prev);
    T *cn = static_cast<T*>(c), *hn = static_cast<T*>(h);
    for_rows<T>(rows, H, 4 * H, [&](int64_t r, int64_t j, auto v) {
      using V = decltype(v);
      T* g = G + r * 4 * H + j;
      V i = vsigmoid(load<V>(g)), f = vsigmoid(load<V>(g + H)), gg = vtanh(load<V>(g + 2 * H)),
        o = vsigmoid(load<V>(g + 3 * H));
      V cv = f * load<V>(cp + r * H + j) + i * gg;
      store(g, i), store(g + H, f), store(g + 2 * H, gg), store(g + 3 * H, o);
      store(cn + r * H + j, cv);
      store(hn + r * H + j, o * vtanh(cv));
    });
  });
}

void lstm_cell_backward(DType dt, int64_t rows, int64_t H, const void* gates, const void* c, const void* c_prev,
                        const void* dh, void* dc, void* dgates) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *G = static_cast<const T*>(gates), *cc = static_cast<const T*>(c), *cp = static_cast<const T*>(c_prev),
            *dhp = static_cast<const T*>(dh);
    T *dcp = static_cast<T*>(dc), *dG = static_cast<T*>(dgates);
    for_rows<T>(rows, H, 4 * H, [&](int64_t r, int64_t j, auto v) {
      using V = decltype(v);
      const T* g = G + r * 4 * H + j;
      T* d = dG + r * 4 * H + j;
      const int64_t k = r * H + j;
      V i = load<V>(g), f = load<V>(g + H), gg = load<V>(g + 2 * H), o = load<V>(g + 3 * H);
      V tc = vtanh(load<V>(cc + k)), dhv = load<V>(dhp + k);
      V dct = load<V>(dcp + k) + dhv * o * (one<V>() - tc * tc);
      store(d, dct * gg * i * (one<V>() - i));
      store(d + H, dct * load<V>(cp + k) * f * (one<V>() - f));
      store(d + 2 * H, dct * i * (one<V>() - gg * gg));
      store(d + 3 * H, dhv * tc * o * (one<V>() - o));
      store(dcp + k, dct * f);
    });
  });
}

// ---- GRU: gates (r, z, n), n = tanh(x_n + r * (W_hn h + b_hn)) ----
void gru_cell(DType dt, int64_t rows, int64_t H, void* gates, const void* hg, const void* h_prev, void* hn, void* h) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* G = static_cast<T*>(gates);
    const T *HG = static_cast<const T*>(hg), *hp = static_cast<const T*>(h_prev);
    T *hnp = static_cast<T*>(hn), *ho = static_cast<T*>(h);
    for_rows<T>(rows, H, 3 * H, [&](int64_t r, int64_t j, auto v) {
      using V = decltype(v);
      T* g = G + r * 3 * H + j;
      const T* q = HG + r * 3 * H + j;
      const int64_t k = r * H + j;
      V rg = vsigmoid(load<V>(g) + load<V>(q)), z = vsigmoid(load<V>(g + H) + load<V>(q + H));
      V hnv = load<V>(q + 2 * H);
      V n = vtanh(load<V>(g + 2 * H) + rg * hnv);
      V hv = (one<V>() - z) * n + z * load<V>(hp + k);
      store(g, rg), store(g + H, z), store(g + 2 * H, n);
      store(hnp + k, hnv);
      store(ho + k, hv);
    });
  });
}

void gru_cell_backward(DType dt, int64_t rows, int64_t H, const void* gates, const void* hn, const void* h_prev,
                       void* dh, void* dgx, void* dgh) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *G = static_cast<const T*>(gates), *hnp = static_cast<const T*>(hn), *hp = static_cast<const T*>(h_prev);
    T *dhp = static_cast<T*>(dh), *DX = static_cast<T*>(dgx), *DH = static_cast<T*>(dgh);
    for_rows<T>(rows, H, 3 * H, [&](int64_t r, int64_t j, auto v) {
      using V = decltype(v);
      const T* g = G + r * 3 * H + j;
      T *dx = DX + r * 3 * H + j, *dhh = DH + r * 3 * H + j;
      const int64_t k = r * H + j;
      V rg = load<V>(g), z = load<V>(g + H), n = load<V>(g + 2 * H), d = load<V>(dhp + k);
      V dan = d * (one<V>() - z) * (one<V>() - n * n);
      V dar = dan * load<V>(hnp + k) * rg * (one<V>() - rg);
      V daz = d * (load<V>(hp + k) - n) * z * (one<V>() - z);
      store(dx, dar), store(dx + H, daz), store(dx + 2 * H, dan);
      store(dhh, dar), store(dhh + H, daz), store(dhh + 2 * H, dan * rg);
      store(dhp + k, d * z);
    });
  });
}

// ---- Elman RNN: h = tanh(pre) or relu(pre), in place ----
void rnn_cell(DType dt, int64_t rows, int64_t H, bool relu, void* gates) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* G = static_cast<T*>(gates);
    for_rows<T>(rows, H, H, [&](int64_t r, int64_t j, auto v) {
      using V = decltype(v);
      T* g = G + r * H + j;
      V x = load<V>(g);
      // relu keeps NaN (x > 0 is false for NaN, so select the input where !(x <= 0)).
      store(g, relu ? select(x <= splat<V>(T(0)), splat<V>(T(0)), x) : vtanh(x));
    });
  });
}

void rnn_cell_backward(DType dt, int64_t rows, int64_t H, bool relu, const void* h, const void* dh, void* dgates) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *hp = static_cast<const T*>(h), *dhp = static_cast<const T*>(dh);
    T* dG = static_cast<T*>(dgates);
    for_rows<T>(rows, H, H, [&](int64_t r, int64_t j, auto v) {
      using V = decltype(v);
      const int64_t k = r * H + j;
      V hv = load<V>(hp + k), d = load<V>(dhp + k);
      store(dG + k, relu ? select(hv > splat<V>(T(0)), d, splat<V>(T(0))) : d * (one<V>() - hv * hv));
    });
  });
}

}  // namespace

void register_rnn(KernelTable& table) {
  table.lstm_cell = lstm_cell;
  table.lstm_cell_backward = lstm_cell_backward;
  table.gru_cell = gru_cell;
  table.gru_cell_backward = gru_cell_backward;
  table.rnn_cell = rnn_cell;
  table.rnn_cell_backward = rnn_cell_backward;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
