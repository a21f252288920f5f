// Fused scaled-dot-product attention (flash-attention style) and its backward; see AttentionArgs.
// Forward: one task per (batch, head, block of kBr queries) walks the keys kBc at a time with an
// online softmax (running max m, running sum l, accumulator rescaled when m grows), so no (L, S)
// matrix exists; it stores out = acc / l and lse = m + log(l). Backward: one task per (batch, kv
// head) recomputes each score tile from q, k and the saved lse (P = exp(s - lse)) and accumulates
// dq, dk, dv into rows only it owns. Causal tiles above the diagonal are skipped. Each task runs
// serially in a fixed order, so the bits never depend on the thread count. A row whose scores are
// all masked gives output 0 and no gradient (PyTorch's CPU flash kernel does the same).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "lamina/core/generator.h"
#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/gemm_small.h"
#include "lamina/cpu/kernels/scratch.h"
#include "lamina/cpu/kernels/task_guard.h"
#include "lamina/cpu/kernels/vmath.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kBr = 64;  // queries per tile
constexpr int64_t kBc = 64;  // keys per tile

// One (batch, query head) slice of the operands.
template <class T>
struct Slice {
  const T *q, *k, *v;
  int64_t b, h;  // batch item and query head (for the mask and the dropout counter)
};

template <class T>
Slice<T> slice(const AttentionArgs& a, int64_t b, int64_t h) {
  const int64_t hk = h / (a.heads / a.kv_heads);
  return {static_cast<const T*>(a.q) + b * a.q_strides[0] + h * a.q_strides[1],
          static_cast<const T*>(a.k) + b * a.k_strides[0] + hk * a.k_strides[1],
          static_cast<const T*>(a.v) + b * a.v_strides[0] + hk * a.v_strides[1], b, h};
}

// kt (E x nb, row stride nb) = rows [j0, j0 + nb) of k (or v), transposed, times `scale`.
template <class T>
void pack_transposed(T* kt, const T* k, int64_t row_stride, int64_t j0, int64_t nb, int64_t E, T scale = T(1)) {
  for (int64_t c = 0; c < nb; ++c) {
    const T* row = k + (j0 + c) * row_stride;
    for (int64_t d = 0; d < E; ++d) kt[d * nb + c] = row[d] * scale;
  }
}

// Scores are (q * scale) k^T: scaling q first, as PyTorch does, keeps a product near the float
// limit finite when the scale is below 1, and costs one multiply per query element per task.
// s (nr x nb) = the scores of queries [i0, i0 + nr) against keys [j0, j0 + nb) from qs, the
// scaled queries (row stride E), plus the mask. -inf is added where the bool mask excludes a key (so a NaN score stays NaN, as in
// PyTorch's definition) and stored where causality does (those keys are never read at all in
// tiles above the diagonal, which are skipped).
template <class T>
void score_tile(const AttentionArgs& a, const Slice<T>& sl, const T* qs, const T* kt, int64_t i0, int64_t nr,
                int64_t j0, int64_t nb, T* s) {
  small_gemm<T>(nr, qs + i0 * a.E, a.E, 1, kt, nb, nb, a.E, s);
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t* ms = a.mask_strides;
  for (int64_t r = 0; r < nr; ++r) {
    T* row = s + r * nb;
    if (a.mask) {
      const int64_t at = sl.b * ms[0] + sl.h * ms[1] + (i0 + r) * ms[2] + j0 * ms[3];
      if (a.mask_is_bool) {
        const bool* m = static_cast<const bool*>(a.mask) + at;
        for (int64_t c = 0; c < nb; ++c)
          if (!m[c * ms[3]]) row[c] += ninf;
      } else {
        const T* m = static_cast<const T*>(a.mask) + at;
        for (int64_t c = 0; c < nb; ++c) row[c] += m[c * ms[3]];
      }
    }
    if (a.causal)
      for (int64_t c = std::max<int64_t>(0, i0 + r - j0 + 1); c < nb; ++c) row[c] = ninf;
  }
}

// keep[c] = whether dropout keeps score (b, h, i, j0 + c) (the Philox words of AttentionArgs).
void dropout_keep(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t nb, bool* keep) {
  const uint64_t threshold = uint64_t(std::ldexp(a.dropout_p, 32));
  const uint64_t n0 = uint64_t(((b * a.heads + h) * a.L + i) * a.S + j0);
  std::array<uint32_t, 4> words{};
  uint64_t block = ~uint64_t(0);
  for (int64_t c = 0; c < nb; ++c) {
    const uint64_t n = n0 + uint64_t(c);
    if (n / 4 != block) block = n / 4, words = philox_block(a.seed, a.first_block + block);
    keep[c] = words[n % 4] >= threshold;
  }
}

// Multiplies row by keep / (1 - p) (0 when p == 1).
template <class T>
void apply_dropout(const AttentionArgs& a, T* row, const bool* keep, int64_t nb) {
  const T inv = a.dropout_p < 1 ? T(1 / (1 - a.dropout_p)) : T(0);
  for (int64_t c = 0; c < nb; ++c) row[c] *= keep[c] ? inv : T(0);
}

// The larger of a and b, NaN if either is (a NaN score reaches the output, as in PyTorch).
template <class T>
T max_nan(T a, T b) {
  return b > a || b != b ? b : a;
}

// x = exp(x - m) in place; returns the sum.
template <class T>
T exp_shifted(T* x, int64_t n, T m) {
  constexpr int64_t L = kLanes<T>;
  const Vec<T> vm = splat<Vec<T>>(m);
  Vec<T> acc = splat<Vec<T>>(T(0));
  int64_t c = 0;
  for (; c + L <= n; c += L) {
    Vec<T> e = vexp(vload(x + c) - vm);
    vstore(x + c, e);
    acc += e;
  }
  T s = 0;
  for (int64_t l = 0; l < L; ++l) s += acc[l];
  for (; c < n; ++c) s += (x[c] = vexp(x[c] - m));
  return s;
}

// ---- forward ----------------------------------------------------------------------------------
// The forward works on transposed tiles st (nb keys x nr queries): q^T is packed once per task,
// each key tile is one product k_tile q^T, and the softmax statistics of the nr queries are
// vectors across a tile row.

// st (nb x nr) = the scores of keys [j0, j0 + nb) against queries [i0, i0 + nr) from qt, the
// scaled queries transposed, plus the mask (as score_tile).
template <class T>
void score_tile_t(const AttentionArgs& a, const Slice<T>& sl, const T* qt, int64_t i0, int64_t nr, int64_t j0,
                  int64_t nb, T* st) {
  const int64_t ks = a.k_strides[2];
  small_gemm<T>(nb, sl.k + j0 * ks, ks, 1, qt, nr, nr, a.E, st);
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t* ms = a.mask_strides;
  if (a.mask) {
    for (int64_t c = 0; c < nb; ++c) {
      T* row = st + c * nr;
      const int64_t at = sl.b * ms[0] + sl.h * ms[1] + i0 * ms[2] + (j0 + c) * ms[3];
      if (a.mask_is_bool) {
        const bool* m = static_cast<const bool*>(a.mask) + at;
        for (int64_t r = 0; r < nr; ++r)
          if (!m[r * ms[2]]) row[r] += ninf;
      } else {
        const T* m = static_cast<const T*>(a.mask) + at;
        for (int64_t r = 0; r < nr; ++r) row[r] += m[r * ms[2]];
      }
    }
  }
  if (a.causal)  // key j0 + c is hidden from queries i0 + r < j0 + c
    for (int64_t c = std::max<int64_t>(0, i0 + 1 - j0); c < nb; ++c)
      std::fill(st + c * nr, st + c * nr + std::min(nr, j0 + c - i0), ninf);
}

// m[r] = max(m[r], the column maxima of st), NaN when any score is NaN (it then reaches the output).
template <class T>
void column_max(const T* st, int64_t nb, int64_t nr, T* m) {
  constexpr int64_t L = kLanes<T>;
  int64_t r = 0;
  for (; r + L <= nr; r += L) {
    Vec<T> mx = vload(m + r);
    auto nan = mx != mx;
    for (int64_t c = 0; c < nb; ++c) {
      Vec<T> x = vload(st + c * nr + r);
      mx = select(x > mx, x, mx);
      nan = nan | (x != x);
    }
    vstore(m + r, select(nan, splat<Vec<T>>(std::numeric_limits<T>::quiet_NaN()), mx));
  }
  for (; r < nr; ++r)
    for (int64_t c = 0; c < nb; ++c) m[r] = max_nan(m[r], st[c * nr + r]);
}

// st = exp(st - m) by columns (0 where m is -inf: every key so far masked); l += the column sums.
template <class T>
void column_exp(T* st, int64_t nb, int64_t nr, const T* m, T* l) {
  constexpr int64_t L = kLanes<T>;
  const T ninf = -std::numeric_limits<T>::infinity();
  int64_t r = 0;
  for (; r + L <= nr; r += L) {
    const Vec<T> vm = vload(m + r);
    const auto dead = vm == splat<Vec<T>>(ninf);
    const Vec<T> shift = select(dead, splat<Vec<T>>(T(0)), vm);
    Vec<T> sum = vload(l + r);
    for (int64_t c = 0; c < nb; ++c) {
      Vec<T> e = vexp(vload(st + c * nr + r) - shift);  // exp(-inf - 0) = 0 for dead columns
      vstore(st + c * nr + r, e);
      sum += e;
    }
    vstore(l + r, sum);
  }
  for (; r < nr; ++r) {
    const T shift = m[r] == ninf ? T(0) : m[r];
    for (int64_t c = 0; c < nb; ++c) l[r] += (st[c * nr + r] = vexp(st[c * nr + r] - shift));
  }
}

template <class T>
void forward_block(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0) {
  const Slice<T> sl = slice<T>(a, b, h);
  const int64_t E = a.E, Ev = a.Ev, nr = std::min(kBr, a.L - i0);
  T* qt = scratch<T, 0>(E * kBr);
  T* st = scratch<T, 1>(kBr * kBc);
  T* acc = scratch<T, 2>(kBr * Ev + 3 * kBr);
  T *m = acc + kBr * Ev, *l = m + kBr, *m_old = l + kBr;
  bool keep[kBc];
  pack_transposed(qt, sl.q, a.q_strides[2], i0, nr, E, T(a.scale));
  std::fill(acc, acc + nr * Ev, T(0));
  std::fill(m, m + nr, -std::numeric_limits<T>::infinity());
  std::fill(l, l + nr, T(0));
  const int64_t S = a.causal ? std::min(a.S, i0 + nr) : a.S;  // keys after the last query's are masked
  for (int64_t j0 = 0; j0 < S; j0 += kBc) {
    const int64_t nb = std::min(kBc, S - j0);
    score_tile_t(a, sl, qt, i0, nr, j0, nb, st);
    std::copy(m, m + nr, m_old);
    column_max(st, nb, nr, m);
    for (int64_t r = 0; r < nr; ++r) {  // rescale what was summed under the old maximum
      if (m_old[r] == m[r] || m[r] == -std::numeric_limits<T>::infinity()) continue;
      const T alpha = std::exp(m_old[r] - m[r]);
      l[r] *= alpha;
      for (int64_t e = 0; e < Ev; ++e) acc[r * Ev + e] *= alpha;
    }
    column_exp(st, nb, nr, m, l);
    if (a.dropout_p > 0) {
      const T inv = a.dropout_p < 1 ? T(1 / (1 - a.dropout_p)) : T(0);
      for (int64_t r = 0; r < nr; ++r) {
        dropout_keep(a, b, h, i0 + r, j0, nb, keep);
        for (int64_t c = 0; c < nb; ++c) st[c * nr + r] *= keep[c] ? inv : T(0);
      }
    }
    // acc += p v with p = st^T
    small_gemm<T, true>(nr, st, 1, nr, sl.v + j0 * a.v_strides[2], a.v_strides[2], Ev, nb, acc);
  }
  T* out = static_cast<T*>(a.out) + ((b * a.heads + h) * a.L + i0) * Ev;
  T* lse = static_cast<T*>(a.lse) + (b * a.heads + h) * a.L + i0;
  for (int64_t r = 0; r < nr; ++r) {
    const T inv = l[r] > 0 ? T(1) / l[r] : T(0);
    for (int64_t e = 0; e < Ev; ++e) out[r * Ev + e] = acc[r * Ev + e] * inv;
    lse[r] = l[r] > 0 ? m[r] + std::log(l[r]) : -std::numeric_limits<T>::infinity();
  }
}

template <class T>
void forward(const AttentionArgs& a) {
  const int64_t blocks = (a.L + kBr - 1) / kBr;
  guarded_parallel_for(0, a.batch * a.heads * blocks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / blocks;
      forward_block<T>(a, bh / a.heads, bh % a.heads, t % blocks * kBr);
    }
  });
}

// ---- backward ---------------------------------------------------------------------------------
struct Grads {
  const void* grad_out;
  void *gq, *gk, *gv;
};

// Accumulates query head h's contribution into gq (its own rows) and gk, gv (its kv head's rows).
template <class T>
void backward_head(const AttentionArgs& a, const Grads& g, int64_t b, int64_t h, T* gk, T* gv) {
  const Slice<T> sl = slice<T>(a, b, h);
  const int64_t E = a.E, Ev = a.Ev, L = a.L, qs = a.q_strides[2], ks = a.k_strides[2], bh = b * a.heads + h;
  const T* out = static_cast<const T*>(a.out) + bh * L * Ev;
  const T* lse = static_cast<const T*>(a.lse) + bh * L;
  const T* go = static_cast<const T*>(g.grad_out) + bh * L * Ev;
  T* gq = static_cast<T*>(g.gq) + bh * L * E;
  T* kt = scratch<T, 0>(E * kBc);
  T* p = scratch<T, 1>(kBr * kBc);
  T* vt = scratch<T, 2>(Ev * kBc + 2 * kBr * kBc + L + L * E);
  T *pd = vt + Ev * kBc, *ds = pd + kBr * kBc, *delta = ds + kBr * kBc, *q_scaled = delta + L;
  bool keep[kBr][kBc];
  for (int64_t i = 0; i < L; ++i)  // the forward's scaled queries, so the scores match it bit for bit
    for (int64_t e = 0; e < E; ++e) q_scaled[i * E + e] = sl.q[i * qs + e] * T(a.scale);
  // delta_i = sum_e dO_ie O_ie, the softmax backward's row term, by the same FMA chain that forms
  // dP_ij = sum_e dO_ie v_je below: with one visible key (O_i = v_j) dP - delta is then exactly 0.
  for (int64_t i = 0; i < L; ++i) small_gemm<T>(1, go + i * Ev, Ev, 1, out + i * Ev, 1, 1, Ev, delta + i);
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t j0 = 0; j0 < a.S; j0 += kBc) {
    const int64_t nb = std::min(kBc, a.S - j0);
    pack_transposed(kt, sl.k, ks, j0, nb, E);
    pack_transposed(vt, sl.v, a.v_strides[2], j0, nb, Ev);
    const int64_t first_i = a.causal ? j0 / kBr * kBr : 0;  // earlier queries see none of these keys
    for (int64_t i0 = first_i; i0 < L; i0 += kBr) {
      const int64_t nr = std::min(kBr, L - i0);
      score_tile(a, sl, q_scaled, kt, i0, nr, j0, nb, p);
      for (int64_t r = 0; r < nr; ++r) {  // p = exp(s - lse): the softmax, recomputed
        T* row = p + r * nb;
        const T m = lse[i0 + r];
        if (m == ninf) std::fill(row, row + nb, T(0));
        else exp_shifted(row, nb, m);
        std::memcpy(pd + r * nb, row, size_t(nb) * sizeof(T));
        if (a.dropout_p > 0) {
          dropout_keep(a, b, h, i0 + r, j0, nb, keep[r]);
          apply_dropout(a, pd + r * nb, keep[r], nb);
        }
      }
      // dv += pd^T dO
      small_gemm<T, true>(nb, pd, 1, nb, go + i0 * Ev, Ev, Ev, nr, gv + j0 * Ev);
      // ds = dO v^T (the gradient of pd), then through dropout and the softmax, times the scale
      small_gemm<T>(nr, go + i0 * Ev, Ev, 1, vt, nb, nb, Ev, ds);
      const T scale = T(a.scale);
      for (int64_t r = 0; r < nr; ++r) {
        T* row = ds + r * nb;
        if (a.dropout_p > 0) apply_dropout(a, row, keep[r], nb);
        const T* pr = p + r * nb;
        const T dr = delta[i0 + r];
        for (int64_t c = 0; c < nb; ++c) row[c] = pr[c] * (row[c] - dr) * scale;
      }
      small_gemm<T, true>(nr, ds, nb, 1, sl.k + j0 * ks, ks, E, nb, gq + i0 * E);  // dq += ds k
      small_gemm<T, true>(nb, ds, 1, nb, sl.q + i0 * qs, qs, E, nr, gk + j0 * E);  // dk += ds^T q
    }
  }
}

template <class T>
void backward(const AttentionArgs& a, const Grads& g) {
  const int64_t group = a.heads / a.kv_heads;
  guarded_parallel_for(0, a.batch * a.kv_heads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / a.kv_heads, hk = t % a.kv_heads;
      T* gk = static_cast<T*>(g.gk) + t * a.S * a.E;
      T* gv = static_cast<T*>(g.gv) + t * a.S * a.Ev;
      std::fill(gk, gk + a.S * a.E, T(0));
      std::fill(gv, gv + a.S * a.Ev, T(0));
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        T* gq = static_cast<T*>(g.gq) + (b * a.heads + h) * a.L * a.E;
        std::fill(gq, gq + a.L * a.E, T(0));
        backward_head<T>(a, g, b, h, gk, gv);
      }
    }
  });
}

void attention_kernel(const AttentionArgs& a) {
  if (a.dtype == DType::Float64) forward<double>(a);
  else forward<float>(a);
}

void attention_backward_kernel(const AttentionArgs& a, const void* grad_out, void* gq, void* gk, void* gv) {
  const Grads g{grad_out, gq, gk, gv};
  if (a.dtype == DType::Float64) backward<double>(a, g);
  else backward<float>(a, g);
}

}  // namespace

void register_attention(KernelTable& table) {
  table.attention = attention_kernel;
  table.attention_backward = attention_backward_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
