// Normalization kernels: layer_norm over rows (M, K) and its backward, and the per-channel pieces
// of batch_norm / group_norm on (N, C, S): statistics, gradient sums and the affine map.
// Determinism: a row is reduced by one task in a fixed order; column and channel sums are formed
// per fixed chunk of rows (chunk size from the shape only) and the chunks added in order.
#include <algorithm>
#include <cmath>
#include <vector>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vec.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kGrain = 16384;  // elements of work per parallel task

template <class T>
inline T lanes_sum(Vec<T> v) {
  T s = 0;
  for (int64_t l = 0; l < kLanes<T>; ++l) s += v[l];
  return s;
}

// sum of f(i) over a contiguous run, f returning Vec<T> for a vector start or T for one element.
template <class T, class FV, class FS>
inline T run_sum(int64_t n, const FV& fv, const FS& fs) {
  const int64_t L = kLanes<T>;
  Vec<T> acc0 = splat<Vec<T>>(T(0)), acc1 = acc0;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    acc0 += fv(i);
    acc1 += fv(i + L);
  }
  for (; i + L <= n; i += L) acc0 += fv(i);
  T s = lanes_sum<T>(acc0 + acc1);
  for (; i < n; ++i) s += fs(i);
  return s;
}

// ---- layer_norm ----
template <class T>
void layer_norm_row(T* y, T* mean_out, T* rstd_out, const T* x, const T* w, const T* b, int64_t K, T eps) {
  const int64_t L = kLanes<T>;
  T mean = run_sum<T>(K, [&](int64_t i) { return vload(x + i); }, [&](int64_t i) { return x[i]; }) / T(K);
  Vec<T> vm = splat<Vec<T>>(mean);
  T var = run_sum<T>(K, [&](int64_t i) { Vec<T> d = vload(x + i) - vm; return d * d; },
                     [&](int64_t i) { T d = x[i] - mean; return d * d; }) / T(K);
  // A variance past T's range gives rstd = 1 / sqrt(inf) = 0, so the row becomes the bias (as in
  // batch_norm). PyTorch's Welford kernel returns the bias or NaN there, depending on how its
  // partial sums overflow (tests/fuzz/allowlist.txt).
  T rstd = T(1) / std::sqrt(var + eps);
  *mean_out = mean;
  *rstd_out = rstd;
  Vec<T> vr = splat<Vec<T>>(rstd);
  int64_t i = 0;
  for (; i + L <= K; i += L) {
    Vec<T> v = (vload(x + i) - vm) * vr;
    if (w) v *= vload(w + i);
    if (b) v += vload(b + i);
    vstore(y + i, v);
  }
  for (; i < K; ++i) {
    T v = (x[i] - mean) * rstd;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = v;
  }
}

void layer_norm_kernel(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                       const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t M = in.shape()[0], K = in.shape()[1];
  if (M == 0 || K == 0) return;
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    T *y = out.data<T>(), *mu = mean.data<T>(), *rs = rstd.data<T>();
    parallel_for(0, M, std::max<int64_t>(1, kGrain / K), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) layer_norm_row<T>(y + r * K, mu + r, rs + r, x + r * K, w, b, K, T(eps));
    });
  });
}

// dx = rstd (wg - mean(wg) - xhat mean(wg xhat)) with wg = g * w, xhat = (x - mean) rstd.
template <class T>
void layer_norm_backward_row(T* gi, const T* g, const T* x, const T* w, T mean, T rstd, int64_t K) {
  const int64_t L = kLanes<T>;
  Vec<T> vm = splat<Vec<T>>(mean), vr = splat<Vec<T>>(rstd);
  auto wgv = [&](int64_t i) { return w ? vload(g + i) * vload(w + i) : vload(g + i); };
  auto wgs = [&](int64_t i) { return w ? g[i] * w[i] : g[i]; };
  T a = run_sum<T>(K, wgv, wgs) / T(K);
  T b = run_sum<T>(K, [&](int64_t i) { return wgv(i) * ((vload(x + i) - vm) * vr); },
                   [&](int64_t i) { return wgs(i) * ((x[i] - mean) * rstd); }) / T(K);
  Vec<T> va = splat<Vec<T>>(a), vb = splat<Vec<T>>(b);
  int64_t i = 0;
  for (; i + L <= K; i += L) vstore(gi + i, vr * (wgv(i) - va - (vload(x + i) - vm) * vr * vb));
  for (; i < K; ++i) gi[i] = rstd * (wgs(i) - a - (x[i] - mean) * rstd * b);
}

// acc_w[j] += g xhat, acc_b[j] += g over one row.
template <class T>
void accumulate_row(T* acc_w, T* acc_b, const T* g, const T* x, T mean, T rstd, int64_t K) {
  const int64_t L = kLanes<T>;
  Vec<T> vm = splat<Vec<T>>(mean), vr = splat<Vec<T>>(rstd);
  int64_t i = 0;
  for (; i + L <= K; i += L) {
    Vec<T> gv = vload(g + i);
    if (acc_w) vstore(acc_w + i, vload(acc_w + i) + gv * ((vload(x + i) - vm) * vr));
    if (acc_b) vstore(acc_b + i, vload(acc_b + i) + gv);
  }
  for (; i < K; ++i) {
    if (acc_w) acc_w[i] += g[i] * ((x[i] - mean) * rstd);
    if (acc_b) acc_b[i] += g[i];
  }
}

void layer_norm_backward_kernel(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                                const Tensor& grad_out, const Tensor& in, const Tensor& mean, const Tensor& rstd,
                                const Tensor& weight) {
  const int64_t M = in.shape()[0], K = in.shape()[1];
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *g = grad_out.data<T>(), *x = in.data<T>(), *mu = mean.data<T>(), *rs = rstd.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const bool want_w = grad_weight.defined(), want_b = grad_bias.defined();
    const int64_t rows = std::max<int64_t>(8, kGrain / std::max<int64_t>(K, 1));
    const int64_t chunks = M == 0 ? 0 : (M + rows - 1) / rows;
    // Per-chunk partial column sums: [chunk][0..K) for weight, [chunk][K..2K) for bias.
    std::vector<T> partial(want_w || want_b ? size_t(chunks * 2 * K) : 0, T(0));
    parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        T* pw = want_w ? partial.data() + c * 2 * K : nullptr;
        T* pb = want_b ? partial.data() + c * 2 * K + K : nullptr;
        for (int64_t r = c * rows; r < std::min(M, (c + 1) * rows); ++r) {
          if (grad_in.defined())
            layer_norm_backward_row<T>(grad_in.data<T>() + r * K, g + r * K, x + r * K, w, mu[r], rs[r], K);
          if (pw || pb) accumulate_row<T>(pw, pb, g + r * K, x + r * K, mu[r], rs[r], K);
        }
      }
    });
    if (!want_w && !want_b) return;
    T* gw = want_w ? grad_weight.data<T>() : nullptr;
    T* gb = want_b ? grad_bias.data<T>() : nullptr;
    parallel_for(0, K, std::max<int64_t>(64, kGrain / std::max<int64_t>(chunks, 1)), [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        T sw = 0, sb = 0;
        for (int64_t c = 0; c < chunks; ++c) {
          sw += partial[size_t(c * 2 * K + j)];
          sb += partial[size_t(c * 2 * K + K + j)];
        }
        if (gw) gw[j] = sw;
        if (gb) gb[j] = sb;
      }
    });
  });
}

// ---- per-channel work on (N, C, S) ----
// Sums of `nsum` quantities per channel: body(c, n0, n1, sums) adds the batch rows [n0, n1) of
// channel c into sums[0..nsum); fixed row chunks are added in order into result[k * C + c].
template <class T, class Body>
void channel_reduce(int64_t N, int64_t C, int64_t S, int nsum, T* const* result, const Body& body) {
  const int64_t rows = std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1));
  const int64_t chunks = std::max<int64_t>(1, (N + rows - 1) / rows);
  std::vector<T> partial(size_t(C * chunks * nsum), T(0));
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, rows * S));
  parallel_for(0, C * chunks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t c = t / chunks, k = t % chunks;
      body(c, k * rows, std::min(N, (k + 1) * rows), partial.data() + t * nsum);
    }
  });
  for (int64_t c = 0; c < C; ++c)
    for (int s = 0; s < nsum; ++s) {
      T acc = 0;
      for (int64_t k = 0; k < chunks; ++k) acc += partial[size_t((c * chunks + k) * nsum + s)];
      result[s][c] = acc;
    }
}

void channel_stats_kernel(const Tensor& mean, const Tensor& var, const Tensor& in) {
  const int64_t N = in.shape()[0], C = in.shape()[1], S = in.shape()[2];
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.data<T>();
    T* mu = mean.data<T>();
    T* va = var.data<T>();
    const T count = T(N * S);
    T* const sums[1] = {mu};
    channel_reduce<T>(N, C, S, 1, sums, [&](int64_t c, int64_t n0, int64_t n1, T* out) {
      for (int64_t n = n0; n < n1; ++n) {
        const T* p = x + (n * C + c) * S;
        out[0] += run_sum<T>(S, [&](int64_t i) { return vload(p + i); }, [&](int64_t i) { return p[i]; });
      }
    });
    for (int64_t c = 0; c < C; ++c) mu[c] /= count;
    T* const sq[1] = {va};
    channel_reduce<T>(N, C, S, 1, sq, [&](int64_t c, int64_t n0, int64_t n1, T* out) {
      const T m = mu[c];
      Vec<T> vm = splat<Vec<T>>(m);
      for (int64_t n = n0; n < n1; ++n) {
        const T* p = x + (n * C + c) * S;
        out[0] += run_sum<T>(S, [&](int64_t i) { Vec<T> d = vload(p + i) - vm; return d * d; },
                             [&](int64_t i) { T d = p[i] - m; return d * d; });
      }
    });
    for (int64_t c = 0; c < C; ++c) va[c] /= count;
  });
}

void channel_grad_sums_kernel(const Tensor& sum_g, const Tensor& sum_gx, const Tensor& grad, const Tensor& in,
                              const Tensor& center) {
  const int64_t N = in.shape()[0], C = in.shape()[1], S = in.shape()[2];
  dispatch_float(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *g = grad.data<T>(), *x = in.data<T>(), *ctr = center.data<T>();
    T* const sums[2] = {sum_g.data<T>(), sum_gx.data<T>()};
    channel_reduce<T>(N, C, S, 2, sums, [&](int64_t c, int64_t n0, int64_t n1, T* out) {
      const T m = ctr[c];
      Vec<T> vm = splat<Vec<T>>(m);
      for (int64_t n = n0; n < n1; ++n) {
        const T* gp = g + (n * C + c) * S;
        const T* xp = x + (n * C + c) * S;
        out[0] += run_sum<T>(S, [&](int64_t i) { return vload(gp + i); }, [&](int64_t i) { return gp[i]; });
        out[1] += run_sum<T>(S, [&](int64_t i) { return vload(gp + i) * (vload(xp + i) - vm); },
                             [&](int64_t i) { return gp[i] * (xp[i] - m); });
      }
    });
  });
}

void channel_affine_kernel(const Tensor& out, const Tensor& a, const Tensor& sa, const Tensor& center, const Tensor& b,
                           const Tensor& sb, const Tensor& shift) {
  const int64_t N = a.shape()[0], C = a.shape()[1], S = a.shape()[2];
  if (out.numel() == 0) return;
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t L = kLanes<T>;
    const T *ap = a.data<T>(), *sap = sa.data<T>(), *shp = shift.data<T>();
    const T* cp = center.defined() ? center.data<T>() : nullptr;
    const T* bp = b.defined() ? b.data<T>() : nullptr;
    const T* sbp = b.defined() ? sb.data<T>() : nullptr;
    T* o = out.data<T>();
    parallel_for(0, N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t c = r % C, base = r * S, i = 0;
        const T ka = sap[c], kc = cp ? cp[c] : T(0), kb = bp ? sbp[c] : T(0), ks = shp[c];
        Vec<T> va = splat<Vec<T>>(ka), vc = splat<Vec<T>>(kc), vb = splat<Vec<T>>(kb), vs = splat<Vec<T>>(ks);
        for (; i + L <= S; i += L) {
          Vec<T> v = (cp ? vload(ap + base + i) - vc : vload(ap + base + i)) * va + vs;
          if (bp) v += vload(bp + base + i) * vb;
          vstore(o + base + i, v);
        }
        for (; i < S; ++i) o[base + i] = (ap[base + i] - kc) * ka + ks + (bp ? bp[base + i] * kb : T(0));
      }
    });
  });
}

}  // namespace

void register_norm(KernelTable& table) {
  table.layer_norm = layer_norm_kernel;
  table.layer_norm_backward = layer_norm_backward_kernel;
  table.channel_stats = channel_stats_kernel;
  table.channel_grad_sums = channel_grad_sums_kernel;
  table.channel_affine = channel_affine_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
