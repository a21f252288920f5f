// softmax / log_softmax along the middle dim of a contiguous (outer, n, inner) tensor, their
// backward, and the fused cross-entropy loss (log_softmax + weighted NLL + label smoothing).
// inner == 1 walks rows with vectors; otherwise vectors run across the inner columns and each
// column is walked along n in order. Every output is computed by one task over fixed blocks in a
// fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vmath.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kGrain = 16384;       // elements of work per parallel task
constexpr int64_t kColumnBlock = 256;   // most inner columns per task in the strided case

template <class V>
inline V vmax(V a, V b) {  // NaN in b never wins; it reaches the result through exp instead
  return select(b > a, b, a);
}
template <class T>
inline T lanes_sum(Vec<T> v) {
  T s = 0;
  for (int64_t l = 0; l < kLanes<T>; ++l) s += v[l];
  return s;
}

// ---- contiguous rows ----
template <class T>
T row_max(const T* x, int64_t n) {
  const int64_t L = kLanes<T>;
  T m = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  if (n >= L) {
    Vec<T> acc = splat<Vec<T>>(m);
    for (; i + L <= n; i += L) acc = vmax(acc, vload(x + i));
    for (int64_t l = 0; l < L; ++l) m = vmax(m, T(acc[l]));
  }
  for (; i < n; ++i) m = vmax(m, x[i]);
  return m;
}

// sum of exp(x - m); writes the terms to y when y != nullptr.
template <class T>
T row_sum_exp(T* y, const T* x, int64_t n, T m) {
  const int64_t L = kLanes<T>;
  Vec<T> acc = splat<Vec<T>>(T(0)), vm = splat<Vec<T>>(m);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    Vec<T> e = vexp(vload(x + i) - vm);
    if (y) vstore(y + i, e);
    acc += e;
  }
  T s = lanes_sum<T>(acc);
  for (; i < n; ++i) {
    T e = vexp(x[i] - m);
    if (y) y[i] = e;
    s += e;
  }
  return s;
}

template <class T>
void softmax_row(T* y, const T* x, int64_t n, bool log) {
  const int64_t L = kLanes<T>;
  T m = row_max(x, n);
  int64_t i = 0;
  if (log) {
    T ls = std::log(row_sum_exp<T>(nullptr, x, n, m));
    Vec<T> vm = splat<Vec<T>>(m), vls = splat<Vec<T>>(ls);
    for (; i + L <= n; i += L) vstore(y + i, (vload(x + i) - vm) - vls);
    for (; i < n; ++i) y[i] = (x[i] - m) - ls;
  } else {
    T inv = T(1) / row_sum_exp<T>(y, x, n, m);
    Vec<T> vinv = splat<Vec<T>>(inv);
    for (; i + L <= n; i += L) vstore(y + i, vload(y + i) * vinv);
    for (; i < n; ++i) y[i] *= inv;
  }
}

template <class T>
void softmax_backward_row(T* gi, const T* g, const T* y, int64_t n, bool log) {
  const int64_t L = kLanes<T>;
  Vec<T> acc = splat<Vec<T>>(T(0));
  int64_t i = 0;
  for (; i + L <= n; i += L) acc += log ? vload(g + i) : vload(g + i) * vload(y + i);
  T s = lanes_sum<T>(acc);
  for (; i < n; ++i) s += log ? g[i] : g[i] * y[i];
  Vec<T> vs = splat<Vec<T>>(s);
  for (i = 0; i + L <= n; i += L) {
    Vec<T> yv = vload(y + i), gv = vload(g + i);
    vstore(gi + i, log ? gv - vexp(yv) * vs : yv * (gv - vs));
  }
  for (; i < n; ++i) gi[i] = log ? g[i] - vexp(y[i]) * s : y[i] * (g[i] - s);
}

// ---- strided columns: V covers 1 or kLanes adjacent columns, stepping `inner` along n ----
template <class V>
V cols_max(const elem_t<V>* x, int64_t n, int64_t inner) {
  V m = splat<V>(-std::numeric_limits<elem_t<V>>::infinity());
  for (int64_t k = 0; k < n; ++k) m = vmax(m, load<V>(x + k * inner));
  return m;
}
template <class V>
V cols_sum_exp(elem_t<V>* y, const elem_t<V>* x, int64_t n, int64_t inner, V m) {
  V s = splat<V>(0);
  for (int64_t k = 0; k < n; ++k) {
    V e = vexp(load<V>(x + k * inner) - m);
    if (y) store(y + k * inner, e);
    s += e;
  }
  return s;
}
template <class V>
void softmax_cols(elem_t<V>* y, const elem_t<V>* x, int64_t n, int64_t inner, bool log) {
  V m = cols_max<V>(x, n, inner);
  if (log) {
    V ls = vlog(cols_sum_exp<V>(nullptr, x, n, inner, m));
    for (int64_t k = 0; k < n; ++k) store(y + k * inner, (load<V>(x + k * inner) - m) - ls);
  } else {
    V inv = splat<V>(1) / cols_sum_exp<V>(y, x, n, inner, m);
    for (int64_t k = 0; k < n; ++k) store(y + k * inner, load<V>(y + k * inner) * inv);
  }
}
template <class V>
void softmax_backward_cols(elem_t<V>* gi, const elem_t<V>* g, const elem_t<V>* y, int64_t n, int64_t inner, bool log) {
  V s = splat<V>(0);
  for (int64_t k = 0; k < n; ++k) s += log ? load<V>(g + k * inner) : load<V>(g + k * inner) * load<V>(y + k * inner);
  for (int64_t k = 0; k < n; ++k) {
    V yv = load<V>(y + k * inner), gv = load<V>(g + k * inner);
    store(gi + k * inner, log ? gv - vexp(yv) * s : yv * (gv - s));
  }
}

// Runs col(offset) for every column start of (outer, n, inner): vectors, then a scalar tail,
// within fixed blocks of kColumnBlock columns.
template <class T, class VecFn, class ScalarFn>
void for_columns(int64_t outer, int64_t n, int64_t inner, const VecFn& vec_fn, const ScalarFn& scalar_fn) {
  const int64_t L = kLanes<T>;
  // Columns per block: the block's n rows stay in cache across the passes (about kGrain elements).
  const int64_t width = std::min(kColumnBlock, std::max(L, (kGrain / std::max<int64_t>(n, 1) + L - 1) / L * L));
  const int64_t blocks = (inner + width - 1) / width;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * std::min(inner, width)));
  parallel_for(0, outer * blocks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t o = t / blocks, j0 = (t % blocks) * width, j1 = std::min(inner, j0 + width);
      int64_t base = o * n * inner, j = j0;
      for (; j + L <= j1; j += L) vec_fn(base + j);
      for (; j < j1; ++j) scalar_fn(base + j);
    }
  });
}

void softmax_kernel(const Tensor& out, const Tensor& in, bool log) {
  const int64_t outer = in.shape()[0], n = in.shape()[1], inner = in.shape()[2];
  if (out.numel() == 0) return;
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.data<T>();
    T* y = out.data<T>();
    if (inner == 1) {
      parallel_for(0, outer, std::max<int64_t>(1, kGrain / n), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) softmax_row<T>(y + r * n, x + r * n, n, log);
      });
    } else {
      for_columns<T>(outer, n, inner, [&](int64_t p) { softmax_cols<Vec<T>>(y + p, x + p, n, inner, log); },
                     [&](int64_t p) { softmax_cols<T>(y + p, x + p, n, inner, log); });
    }
  });
}

void softmax_backward_kernel(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  const int64_t outer = out.shape()[0], n = out.shape()[1], inner = out.shape()[2];
  if (out.numel() == 0) return;
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* g = grad_out.data<T>();
    const T* y = out.data<T>();
    T* gi = grad_in.data<T>();
    if (inner == 1) {
      parallel_for(0, outer, std::max<int64_t>(1, kGrain / n), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) softmax_backward_row<T>(gi + r * n, g + r * n, y + r * n, n, log);
      });
    } else {
      for_columns<T>(
          outer, n, inner, [&](int64_t p) { softmax_backward_cols<Vec<T>>(gi + p, g + p, y + p, n, inner, log); },
          [&](int64_t p) { softmax_backward_cols<T>(gi + p, g + p, y + p, n, inner, log); });
    }
  });
}

// ---- cross entropy on (N, C, S) logits: one sample is the C logits at (n, :, s) ----
template <class T>
struct CrossEntropyArgs {
  const T* x;
  const int64_t* target;
  const T* w;  // null: all weights 1
  int64_t C, S, ignore_index;
  T ls, wsum;  // label smoothing, sum of the weights
  T weight(int64_t c) const { return w ? w[c] : T(1); }
};

// The loss of sample (n, s) given its logsumexp m + log_sum (m the max): each -log p_c is formed
// as (m - x_c) + log_sum, which keeps small losses exact (m + log_sum first loses an ulp of it).
template <class T>
T sample_loss(const CrossEntropyArgs<T>& a, int64_t n, int64_t s, T m, T log_sum) {
  int64_t t = a.target[n * a.S + s];
  if (t == a.ignore_index) return T(0);
  const T* x = a.x + n * a.C * a.S + s;
  T loss = (T(1) - a.ls) * a.weight(t) * ((m - x[t * a.S]) + log_sum);
  if (a.ls > 0) {
    T smooth = 0;
    for (int64_t c = 0; c < a.C; ++c) smooth += a.weight(c) * ((m - x[c * a.S]) + log_sum);
    loss += a.ls / T(a.C) * smooth;
  }
  return loss;
}

void cross_entropy_kernel(const Tensor& loss, const Tensor& lse, const Tensor& in, const Tensor& target,
                          const Tensor& weight, int64_t ignore_index, double label_smoothing) {
  const int64_t N = in.shape()[0], C = in.shape()[1], S = in.shape()[2];
  if (N * S == 0) return;
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    CrossEntropyArgs<T> a{in.data<T>(), target.data<int64_t>(), weight.defined() ? weight.data<T>() : nullptr,
                          C, S, ignore_index, T(label_smoothing), T(0)};
    T* lo = loss.data<T>();
    T* l = lse.data<T>();
    if (S == 1) {
      parallel_for(0, N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const T* x = a.x + r * C;
          T m = row_max(x, C), log_sum = std::log(row_sum_exp<T>(nullptr, x, C, m));
          l[r] = m + log_sum;
          lo[r] = sample_loss(a, r, 0, m, log_sum);
        }
      });
    } else {
      auto col = [&](auto v, int64_t p) {  // p = n * C * S + s
        using V = decltype(v);
        const T* x = a.x + p;
        V m = cols_max<V>(x, C, S);
        V log_sum = vlog(cols_sum_exp<V>(nullptr, x, C, S, m));
        int64_t n = p / (C * S), s = p % (C * S);
        store(l + n * S + s, m + log_sum);
        for (int64_t k = 0; k < int64_t(sizeof(V) / sizeof(T)); ++k) {
          if constexpr (is_scalar_v<V>) lo[n * S + s + k] = sample_loss(a, n, s + k, m, log_sum);
          else lo[n * S + s + k] = sample_loss(a, n, s + k, m[k], log_sum[k]);
        }
      };
      for_columns<T>(N, C, S, [&](int64_t p) { col(Vec<T>{}, p); }, [&](int64_t p) { col(T{}, p); });
    }
  });
}

// d loss / d x_k = p_k ((1 - ls) w_t + ls / C * W) - ls / C * w_k - (1 - ls) w_t [k == t].
void cross_entropy_backward_kernel(const Tensor& grad_in, const Tensor& grad, const Tensor& in, const Tensor& lse,
                                   const Tensor& target, const Tensor& weight, int64_t ignore_index,
                                   double label_smoothing) {
  const int64_t N = in.shape()[0], C = in.shape()[1], S = in.shape()[2];
  if (grad_in.numel() == 0) return;
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.data<T>();
    const T* g = grad.data<T>();
    const T* l = lse.data<T>();
    const int64_t* tg = target.data<int64_t>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    T* gi = grad_in.data<T>();
    const T ls = T(label_smoothing), lsc = ls / T(C);
    // The smoothing terms only exist when ls > 0 (else 0 * an infinite weight would be NaN), and
    // an ignored sample's gradient is exactly 0 (a select, as PyTorch's, not 0 * inf or 0 * NaN).
    const T* wl = ls != T(0) ? w : nullptr;
    T wsum = 0;
    for (int64_t c = 0; c < C; ++c) wsum += w ? w[c] : T(1);
    const T smooth_coef = ls != T(0) ? lsc * wsum : T(0);
    // One sample's scale (0 when ignored) and coefficient of p.
    auto sample = [&](int64_t i, T& gs, T& coef) {
      int64_t t = tg[i];
      gs = t == ignore_index ? T(0) : g[i];
      coef = t == ignore_index ? T(0) : (T(1) - ls) * (w ? w[t] : T(1)) + smooth_coef;
    };
    auto fix_target = [&](int64_t i, T* gcol, T gs) {  // gcol: the sample's class 0, stride S
      int64_t t = tg[i];
      if (t != ignore_index) gcol[t * S] -= gs * (T(1) - ls) * (w ? w[t] : T(1));
    };
    auto col = [&](auto v, int64_t p) {  // p = n * C * S + s
      using V = decltype(v);
      constexpr int64_t kW = int64_t(sizeof(V) / sizeof(T));
      int64_t n = p / (C * S), s = p % (C * S), i = n * S + s;
      V gs{}, coef{}, lv = load<V>(l + i);
      for (int64_t k = 0; k < kW; ++k) {
        T a, b;
        sample(i + k, a, b);
        if constexpr (is_scalar_v<V>) gs = a, coef = b;
        else gs[k] = a, coef[k] = b;
      }
      for (int64_t c = 0; c < C; ++c) {
        V e = vexp(load<V>(x + p + c * S) - lv);
        store(gi + p + c * S, gs * (e * coef - splat<V>(lsc * (wl ? wl[c] : T(1)))));
      }
      for (int64_t k = 0; k < kW; ++k) {
        T gk;
        if constexpr (is_scalar_v<V>) gk = gs;
        else gk = gs[k];
        fix_target(i + k, gi + p + k, gk);
        if (tg[i + k] == ignore_index)
          for (int64_t c = 0; c < C; ++c) gi[p + k + c * S] = T(0);
      }
    };
    if (S == 1) {
      const int64_t L = kLanes<T>;
      parallel_for(0, N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          T gs, coef;
          sample(r, gs, coef);
          const T* xr = x + r * C;
          T* gr = gi + r * C;
          if (tg[r] == ignore_index) {
            std::fill(gr, gr + C, T(0));
            continue;
          }
          int64_t c = 0;
          Vec<T> vl = splat<Vec<T>>(l[r]), vg = splat<Vec<T>>(gs), vc = splat<Vec<T>>(coef),
                 vs = splat<Vec<T>>(lsc);
          for (; c + L <= C; c += L)
            vstore(gr + c, vg * (vexp(vload(xr + c) - vl) * vc - (wl ? vs * vload(wl + c) : vs)));
          for (; c < C; ++c) gr[c] = gs * (vexp(xr[c] - l[r]) * coef - lsc * (wl ? wl[c] : T(1)));
          fix_target(r, gr, gs);
        }
      });
    } else {
      for_columns<T>(N, C, S, [&](int64_t p) { col(Vec<T>{}, p); }, [&](int64_t p) { col(T{}, p); });
    }
  });
}

}  // namespace

void register_softmax(KernelTable& table) {
  table.softmax = softmax_kernel;
  table.softmax_backward = softmax_backward_kernel;
  table.cross_entropy = cross_entropy_kernel;
  table.cross_entropy_backward = cross_entropy_backward_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
