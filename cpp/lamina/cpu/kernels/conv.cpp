// Convolution kernels (ConvArgs in core/kernel_table.h). Kernels with several taps and k =
// C_in / groups * kH * kW >= 64 run as an implicit GEMM (conv_implicit_gemm.cpp), forward and,
// with stride 1, the input gradient too (a convolution with the flipped weights). The rest are
// built on the `gemm` table entry: im2col and col2im work on column blocks of bounded size (never
// the whole batch); 1x1 stride-1 convs hand the input to gemm directly; depthwise convs use a
// direct kernel. The weight gradient sums gemms with beta = 1 over images and column blocks in a
// fixed order, per fixed batch chunk, and adds the chunks' partial sums in chunk order. Tasks,
// chunks and block sizes depend only on shapes, so the bits never depend on the thread count.
#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "lamina/core/kernel_table.h"
#include "lamina/core/storage.h"
#include "lamina/cpu/kernels/conv_implicit_gemm.h"
#include "lamina/cpu/kernels/scratch.h"
#include "lamina/cpu/kernels/task_guard.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kColBytes = 1024 * 1024;  // im2col block budget (best measured on a 1 MiB L2)

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Geo {
  ConvArgs a;
  int64_t kk, L, HW, cig, cog;
  explicit Geo(const ConvArgs& args)
      : a(args), kk(args.k_h * args.k_w), L(args.out_h * args.out_w), HW(args.in_h * args.in_w),
        cig(args.c_in / args.groups), cog(args.c_out / args.groups) {}
  // 1x1, stride 1, no padding: the input planes are the column matrix.
  bool pointwise() const {
    return kk == 1 && a.stride_h == 1 && a.stride_w == 1 && a.pad_h == 0 && a.pad_w == 0 &&
           a.out_h == a.in_h && a.out_w == a.in_w;
  }
  bool depthwise() const { return a.groups > 1 && cig == 1; }
};

// Columns per im2col block for `rows` rows of T: fills the budget, a multiple of 16, at most L.
int64_t block_cols(int64_t rows, size_t size, int64_t L) {
  int64_t lb = rows > 0 ? kColBytes / (rows * int64_t(size)) : L;
  lb = std::max<int64_t>(16, lb / 16 * 16);
  if (lb >= L) return std::max<int64_t>(1, L);
  // Equal blocks (a multiple of 16) rather than full ones and a short tail.
  int64_t nb = ceil_div(L, lb);
  return std::min(L, ceil_div(ceil_div(L, nb), 16) * 16);
}

// The output columns [lo, hi) of a kernel column whose input column is ow * stride + off lies in
// [0, in_w).
void valid_cols(int64_t off, int64_t stride, int64_t in_w, int64_t out_w, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : ceil_div(-off, stride);
  hi = in_w - off > 0 ? std::min(out_w, ceil_div(in_w - off, stride)) : 0;
  lo = std::min(lo, out_w);
  hi = std::max(hi, lo);
}

// Visits the column matrix of channels [c0, c1) and output positions [l0, l1) of one image, one
// output-row segment at a time: f(col_row_segment, x_row_or_null, lo, hi, n, sw) where the valid
// part is [lo, hi) of the n-element segment and x_row[ow * sw] is the input of column ow.
template <class T, class X, class F>
void walk_columns(const Geo& g, X* x, int64_t c0, int64_t c1, int64_t l0, int64_t l1, T* col, int64_t ld,
                  const F& f) {
  const ConvArgs& a = g.a;
  for (int64_t c = c0; c < c1; ++c) {
    X* xc = x + c * g.HW;
    for (int64_t ka = 0; ka < a.k_h; ++ka) {
      for (int64_t kb = 0; kb < a.k_w; ++kb) {
        T* row = col + ((c - c0) * g.kk + ka * a.k_w + kb) * ld;
        int64_t off_w = kb * a.dil_w - a.pad_w, lo, hi;
        valid_cols(off_w, a.stride_w, a.in_w, a.out_w, lo, hi);
        for (int64_t l = l0, oh = l0 / a.out_w, ow0 = l0 % a.out_w; l < l1; ++oh, ow0 = 0) {
          int64_t ow1 = std::min(a.out_w, ow0 + (l1 - l)), n = ow1 - ow0;
          int64_t ih = oh * a.stride_h - a.pad_h + ka * a.dil_h;
          T* seg = row + (l - l0);
          if (ih < 0 || ih >= a.in_h) {
            f(seg, static_cast<X*>(nullptr), int64_t(0), int64_t(0), n);
          } else {
            int64_t s_lo = std::clamp(lo, ow0, ow1) - ow0, s_hi = std::clamp(hi, ow0, ow1) - ow0;
            f(seg, xc + ih * a.in_w + off_w + ow0 * a.stride_w, s_lo, std::max(s_hi, s_lo), n);
          }
          l += n;
        }
      }
    }
  }
}

// A 1x1 kernel without padding reads x[c, oh * stride_h, ow * stride_w], always inside the image:
// f(col_row_segment, x_row, n) per output row segment, with no bounds work.
template <class T, class X, class F>
bool walk_subsample(const Geo& g, X* x, int64_t c0, int64_t c1, int64_t l0, int64_t l1, T* col, int64_t ld,
                    const F& f) {
  const ConvArgs& a = g.a;
  if (g.kk != 1 || a.pad_h != 0 || a.pad_w != 0) return false;
  for (int64_t c = c0; c < c1; ++c) {
    X* xc = x + c * g.HW;
    T* row = col + (c - c0) * ld;
    for (int64_t l = l0, oh = l0 / a.out_w, ow0 = l0 % a.out_w; l < l1; ++oh, ow0 = 0) {
      int64_t n = std::min(a.out_w - ow0, l1 - l);
      f(row + (l - l0), xc + oh * a.stride_h * a.in_w + ow0 * a.stride_w, n);
      l += n;
    }
  }
  return true;
}

template <class T>
void im2col_block(const Geo& g, const T* x, int64_t c0, int64_t c1, int64_t l0, int64_t l1, T* col, int64_t ld) {
  const int64_t sw = g.a.stride_w;
  if (walk_subsample(g, x, c0, c1, l0, l1, col, ld, [sw](T* seg, const T* xr, int64_t n) {
        if (sw == 2) {
          for (int64_t i = 0; i < n; ++i) seg[i] = xr[2 * i];
        } else {
          for (int64_t i = 0; i < n; ++i) seg[i] = xr[i * sw];
        }
      }))
    return;
  walk_columns(g, x, c0, c1, l0, l1, col, ld, [sw](T* seg, const T* xr, int64_t lo, int64_t hi, int64_t n) {
    for (int64_t i = 0; i < lo; ++i) seg[i] = T(0);
    if (sw == 1) {
      for (int64_t i = lo; i < hi; ++i) seg[i] = xr[i];  // short rows: a loop beats memcpy's call
    } else {
      for (int64_t i = lo; i < hi; ++i) seg[i] = xr[i * sw];
    }
    for (int64_t i = hi; i < n; ++i) seg[i] = T(0);
  });
}

// The adjoint: adds the column block back into the image's channels [c0, c1).
template <class T>
void col2im_block(const Geo& g, T* x, int64_t c0, int64_t c1, int64_t l0, int64_t l1, const T* col, int64_t ld) {
  const int64_t sw = g.a.stride_w;
  if (walk_subsample(g, x, c0, c1, l0, l1, col, ld, [sw](const T* seg, T* xr, int64_t n) {
        if (sw == 2) {
          for (int64_t i = 0; i < n; ++i) xr[2 * i] += seg[i];
        } else {
          for (int64_t i = 0; i < n; ++i) xr[i * sw] += seg[i];
        }
      }))
    return;
  walk_columns(g, x, c0, c1, l0, l1, col, ld, [sw](const T* seg, T* xr, int64_t lo, int64_t hi, int64_t) {
    if (sw == 1) {
      for (int64_t i = lo; i < hi; ++i) xr[i] += seg[i];
    } else {
      for (int64_t i = lo; i < hi; ++i) xr[i * sw] += seg[i];
    }
  });
}

template <class T>
GemmArgs gemm_args(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, MutMatrixView c, double beta) {
  GemmArgs ga;
  ga.dtype = sizeof(T) == 8 ? DType::Float64 : DType::Float32;
  ga.m = m;
  ga.n = n;
  ga.k = k;
  ga.a = a;
  ga.b = b;
  ga.c = c;
  ga.beta = beta;
  return ga;
}

void (*active_gemm())(const GemmArgs&) { return kernel_table(Device{}).gemm; }

// ---- depthwise (groups == c_in): direct loops over output rows -----------------------------

// Width of an input row padded so that every tap of every output column lies inside it.
int64_t padded_width(const ConvArgs& a) { return (a.out_w - 1) * a.stride_w + (a.k_w - 1) * a.dil_w + 1; }

// Copies an input plane into rows of width wp with pad_w zeros in front (and zeros behind), so
// the tap loops run over whole output rows without bounds checks (whole vectors, no tails).
template <class T>
void pad_plane(const ConvArgs& a, const T* xc, int64_t wp, T* dst) {
  for (int64_t ih = 0; ih < a.in_h; ++ih) {
    T* d = dst + ih * wp;
    const T* src = xc + ih * a.in_w;
    for (int64_t j = 0; j < wp; ++j) {
      int64_t iw = j - a.pad_w;
      d[j] = iw >= 0 && iw < a.in_w ? src[iw] : T(0);
    }
  }
}

template <class T>
void depthwise_forward(const Geo& g, const T* x, const T* w, const T* bias, T* y) {
  const ConvArgs& a = g.a;
  const int64_t wp = padded_width(a);
  guarded_parallel_for(0, a.batch * a.c_out, 1, [&](int64_t begin, int64_t end) {
    T* plane = scratch<T>(a.in_h * wp);
    for (int64_t p = begin; p < end; ++p) {
      int64_t o = p % a.c_out, n = p / a.c_out;
      pad_plane(a, x + (n * a.c_in + o / g.cog) * g.HW, wp, plane);
      const T* wo = w + o * g.kk;
      T* yo = y + p * g.L;
      for (int64_t i = 0; i < g.L; ++i) yo[i] = bias ? bias[o] : T(0);
      for (int64_t oh = 0; oh < a.out_h; ++oh) {
        T* yr = yo + oh * a.out_w;
        for (int64_t ka = 0; ka < a.k_h; ++ka) {
          int64_t ih = oh * a.stride_h - a.pad_h + ka * a.dil_h;
          if (ih < 0 || ih >= a.in_h) continue;
          for (int64_t kb = 0; kb < a.k_w; ++kb) {
            const T* xr = plane + ih * wp + kb * a.dil_w;
            const T wv = wo[ka * a.k_w + kb];
            if (a.stride_w == 1) {
              for (int64_t ow = 0; ow < a.out_w; ++ow) yr[ow] += wv * xr[ow];
            } else {
              for (int64_t ow = 0; ow < a.out_w; ++ow) yr[ow] += wv * xr[ow * a.stride_w];
            }
          }
        }
      }
    }
  });
}

// The adjoint of depthwise_forward: taps scatter whole output rows into a zero-padded plane (no
// bounds per row), whose interior is then the input gradient.
template <class T>
void depthwise_input_grad(const Geo& g, const T* gy, const T* w, T* gx) {
  const ConvArgs& a = g.a;
  const int64_t wp = std::max(padded_width(a), a.pad_w + a.in_w);
  guarded_parallel_for(0, a.batch * a.c_in, 1, [&](int64_t begin, int64_t end) {
    T* plane = scratch<T>(a.in_h * wp);
    for (int64_t p = begin; p < end; ++p) {
      int64_t c = p % a.c_in, n = p / a.c_in;
      std::fill(plane, plane + a.in_h * wp, T(0));
      for (int64_t j = 0; j < g.cog; ++j) {
        int64_t o = c * g.cog + j;
        const T* go = gy + (n * a.c_out + o) * g.L;
        for (int64_t oh = 0; oh < a.out_h; ++oh) {
          const T* gr = go + oh * a.out_w;
          for (int64_t ka = 0; ka < a.k_h; ++ka) {
            int64_t ih = oh * a.stride_h - a.pad_h + ka * a.dil_h;
            if (ih < 0 || ih >= a.in_h) continue;
            for (int64_t kb = 0; kb < a.k_w; ++kb) {
              T* xr = plane + ih * wp + kb * a.dil_w;
              const T wv = w[o * g.kk + ka * a.k_w + kb];
              if (a.stride_w == 1) {
                for (int64_t ow = 0; ow < a.out_w; ++ow) xr[ow] += wv * gr[ow];
              } else {
                for (int64_t ow = 0; ow < a.out_w; ++ow) xr[ow * a.stride_w] += wv * gr[ow];
              }
            }
          }
        }
      }
      T* xc = gx + p * g.HW;
      for (int64_t ih = 0; ih < a.in_h; ++ih)
        std::copy(plane + ih * wp + a.pad_w, plane + ih * wp + a.pad_w + a.in_w, xc + ih * a.in_w);
    }
  });
}

// Dot product in 8 fixed lanes (vectorisable, and the same order on every ISA of one width).
template <class T>
T strided_dot(const T* u, const T* v, int64_t sv, int64_t n) {
  T s[8] = {};
  int64_t i = 0;
  if (sv == 1) {
    for (; i + 8 <= n; i += 8)
      for (int r = 0; r < 8; ++r) s[r] += u[i + r] * v[i + r];
  } else {
    for (; i + 8 <= n; i += 8)
      for (int r = 0; r < 8; ++r) s[r] += u[i + r] * v[(i + r) * sv];
  }
  for (; i < n; ++i) s[0] += u[i] * v[i * sv];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <class T>
void depthwise_weight_grad(const Geo& g, const T* x, const T* gy, T* gw) {
  const ConvArgs& a = g.a;
  guarded_parallel_for(0, a.c_out, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      int64_t c = o / g.cog;
      for (int64_t ka = 0; ka < a.k_h; ++ka) {
        for (int64_t kb = 0; kb < a.k_w; ++kb) {
          int64_t off = kb * a.dil_w - a.pad_w, lo, hi;
          valid_cols(off, a.stride_w, a.in_w, a.out_w, lo, hi);
          T acc = T(0);
          for (int64_t n = 0; n < a.batch; ++n) {
            const T* xc = x + (n * a.c_in + c) * g.HW;
            const T* go = gy + (n * a.c_out + o) * g.L;
            for (int64_t oh = 0; oh < a.out_h; ++oh) {
              int64_t ih = oh * a.stride_h - a.pad_h + ka * a.dil_h;
              if (ih < 0 || ih >= a.in_h || hi <= lo) continue;
              acc += strided_dot(go + oh * a.out_w + lo, xc + ih * a.in_w + off + lo * a.stride_w, a.stride_w, hi - lo);
            }
          }
          gw[o * g.kk + ka * a.k_w + kb] = acc;
        }
      }
    }
  });
}

// ---- gemm-based paths --------------------------------------------------------------------------

// y[n] (c_out, L) = w (c_out, K) @ col[n] (K, L) + bias, per group, per column block.
template <class T>
void conv_forward(const ConvArgs& args, const T* x, const T* w, const T* bias, T* y) {
  const Geo g(args);
  if (g.depthwise()) return depthwise_forward(g, x, w, bias, y);
  if (!g.pointwise() && conv_implicit_suits(args)) return conv_forward_implicit(args, x, w, bias, y);
  const auto gemm = active_gemm();
  const int64_t K = g.cig * g.kk, L = g.L;
  const bool pw = g.pointwise();
  const int64_t lb = pw ? std::min<int64_t>(L, 1024) : block_cols(K, sizeof(T), L), nlb = ceil_div(L, lb);
  guarded_parallel_for(0, args.batch * nlb, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t n = t / nlb, l0 = (t % nlb) * lb, l1 = std::min(L, l0 + lb);
      const T* xn = x + n * args.c_in * g.HW;
      T* yn = y + n * args.c_out * L;
      T* col = pw ? nullptr : scratch<T>(K * (l1 - l0));
      for (int64_t gi = 0; gi < args.groups; ++gi) {
        MatrixView b{xn + gi * g.cig * g.HW + l0, g.HW, 1, 0};
        if (!pw) {
          im2col_block(g, xn, gi * g.cig, (gi + 1) * g.cig, l0, l1, col, l1 - l0);
          b = MatrixView{col, l1 - l0, 1, 0};
        }
        GemmArgs ga = gemm_args<T>(g.cog, l1 - l0, K, {w + gi * g.cog * K, K, 1, 0}, b,
                                   {yn + gi * g.cog * L + l0, L, 1, 0}, 0.0);
        if (bias) ga.epilogue = GemmEpilogue{bias + gi * g.cog, 1, 0, Activation::None};
        gemm(ga);
      }
    }
  });
}

// gx[n] = col2im(w^T @ gy[n]) per group; tasks are (image, group, channel block), each walking its
// column blocks in order, so every gx element is summed by one task in a fixed order.
template <class T>
void conv_input_grad(const ConvArgs& args, const T* gy, const T* w, T* gx) {
  const Geo g(args);
  if (g.depthwise()) return depthwise_input_grad(g, gy, w, gx);
  if (!g.pointwise() && args.stride_h == 1 && args.stride_w == 1) {
    // With stride 1 the input gradient is itself a convolution: of gy with the weights flipped
    // in both kernel axes and their in/out channels swapped, padded by dil * (k - 1) - pad.
    ConvArgs t = args;
    std::swap(t.c_in, t.c_out);
    t.in_h = args.out_h;
    t.in_w = args.out_w;
    t.out_h = args.in_h;
    t.out_w = args.in_w;
    t.pad_h = args.dil_h * (args.k_h - 1) - args.pad_h;
    t.pad_w = args.dil_w * (args.k_w - 1) - args.pad_w;
    if (t.pad_h >= 0 && t.pad_w >= 0 && conv_implicit_suits(t)) {
      // From the tensor allocator's cache: a fresh multi-MiB block per call would page-fault.
      const auto flipped = Storage::allocate(size_t(args.c_in * g.cog * g.kk) * sizeof(T), Device{});
      T* wf = static_cast<T*>(flipped->data());
      for (int64_t gi = 0; gi < args.groups; ++gi)
        for (int64_t o = 0; o < g.cog; ++o)
          for (int64_t c = 0; c < g.cig; ++c)
            for (int64_t r = 0; r < g.kk; ++r)
              wf[((gi * g.cig + c) * g.cog + o) * g.kk + g.kk - 1 - r] = w[((gi * g.cog + o) * g.cig + c) * g.kk + r];
      return conv_forward_implicit(t, gy, static_cast<const T*>(wf), static_cast<const T*>(nullptr), gx);
    }
  }
  const auto gemm = active_gemm();
  const int64_t K = g.cig * g.kk, L = g.L;
  // w^T per group, (K, c_out / groups) row-major, so gemm packs its A operand from contiguous rows.
  std::vector<T> wt(size_t(args.c_out * K));
  for (int64_t gi = 0; gi < args.groups; ++gi)
    for (int64_t o = 0; o < g.cog; ++o)
      for (int64_t r = 0; r < K; ++r) wt[size_t((gi * K + r) * g.cog + o)] = w[(gi * g.cog + o) * K + r];
  if (g.pointwise()) {
    const int64_t lb = std::min<int64_t>(L, 1024), nlb = ceil_div(L, lb);
    guarded_parallel_for(0, args.batch * nlb, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        int64_t n = t / nlb, l0 = (t % nlb) * lb, l1 = std::min(L, l0 + lb);
        for (int64_t gi = 0; gi < args.groups; ++gi)
          gemm(gemm_args<T>(g.cig, l1 - l0, g.cog, {wt.data() + gi * K * g.cog, g.cog, 1, 0},
                            {gy + (n * args.c_out + gi * g.cog) * L + l0, L, 1, 0},
                            {gx + (n * args.c_in + gi * g.cig) * g.HW + l0, g.HW, 1, 0}, 0.0));
      }
    });
    return;
  }
  // Enough tasks for a few threads even at batch 1; block sizes depend only on shapes.
  const int64_t per = args.batch * args.groups;
  const int64_t nc = per >= 8 ? 1 : std::min<int64_t>(std::max<int64_t>(g.cig, 1), ceil_div(8, per));
  const int64_t cb = ceil_div(std::max<int64_t>(g.cig, 1), nc);
  const int64_t lb = block_cols(cb * g.kk, sizeof(T), L);
  guarded_parallel_for(0, per * nc, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t n = t / (args.groups * nc), gi = (t / nc) % args.groups;
      int64_t c0 = gi * g.cig + (t % nc) * cb, c1 = std::min(gi * g.cig + g.cig, c0 + cb);
      if (c1 <= c0) continue;
      T* xn = gx + n * args.c_in * g.HW;
      std::fill(xn + c0 * g.HW, xn + c1 * g.HW, T(0));
      T* col = scratch<T>((c1 - c0) * g.kk * lb);
      for (int64_t l0 = 0; l0 < L; l0 += lb) {
        int64_t l1 = std::min(L, l0 + lb);
        gemm(gemm_args<T>((c1 - c0) * g.kk, l1 - l0, g.cog, {wt.data() + (gi * K + (c0 - gi * g.cig) * g.kk) * g.cog, g.cog, 1, 0},
                          {gy + (n * args.c_out + gi * g.cog) * L + l0, L, 1, 0}, {col, l1 - l0, 1, 0}, 0.0));
        col2im_block(g, xn, c0, c1, l0, l1, col, l1 - l0);
      }
    }
  });
}

// gw (c_out, K) = sum over images and column blocks of gy[n] @ col[n]^T, accumulated with beta = 1
// in that fixed order. Tasks are (batch chunk, group): chunk 0 writes gw, the others write partial
// sums that are added afterwards in chunk order. The chunks depend only on shapes.
template <class T>
void conv_weight_grad(const ConvArgs& args, const T* x, const T* gy, T* gw) {
  const Geo g(args);
  if (g.depthwise()) return depthwise_weight_grad(g, x, gy, gw);
  const auto gemm = active_gemm();
  const int64_t K = g.cig * g.kk, L = g.L, size = args.c_out * K;
  if (args.batch == 0 || L == 0) return std::fill(gw, gw + size, T(0));
  if (conv_implicit_suits(args)) return conv_weight_grad_implicit(args, x, gy, gw);
  const bool pw = g.pointwise();
  const int64_t lb = pw ? L : block_cols(K, sizeof(T), L);
  // When gw_g is too big to stay in cache (over half an L2) and several images' columns fit the
  // block budget, each gemm takes several images side by side: fewer passes over gw.
  const int64_t budget_cols = K > 0 ? kColBytes / (K * int64_t(sizeof(T))) : L;
  const bool big_out = g.cog * K * int64_t(sizeof(T)) > kColBytes / 2;
  const int64_t jb = !pw && big_out && budget_cols >= 2 * L ? budget_cols / L : 1, cols = jb > 1 ? jb * L : lb;
  // Up to 4 chunks (enough for a few threads) while the partial sums stay under 64 MiB.
  const int64_t nq = std::max<int64_t>(1, std::min<int64_t>({args.batch, 4, (int64_t(64) << 20) / std::max<int64_t>(1, size * int64_t(sizeof(T)))}));
  const int64_t per = ceil_div(args.batch, nq);
  std::vector<T> partial(size_t((nq - 1) * size));
  guarded_parallel_for(0, nq * args.groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t q = t / args.groups, gi = t % args.groups;
      T* out = (q == 0 ? gw : partial.data() + (q - 1) * size) + gi * g.cog * K;
      int64_t n0 = q * per, n1 = std::min(args.batch, n0 + per);
      if (n1 <= n0) {
        std::fill(out, out + g.cog * K, T(0));
        continue;
      }
      T* col = pw ? nullptr : scratch<T>((K + (jb > 1 ? g.cog : 0)) * cols);
      bool first = true;
      // gw_g += gy block (cog, k; row stride sg) @ column block (K, k; row stride sc)^T.
      auto accumulate = [&](const T* gyb, int64_t sg, const T* cm, int64_t sc, int64_t k) {
        double beta = first ? 0.0 : 1.0;
        first = false;
        // The longer side goes to gemm's n (the vectorised side of its micro-kernels).
        if (K >= g.cog) {
          gemm(gemm_args<T>(g.cog, K, k, {gyb, sg, 1, 0}, {cm, 1, sc, 0}, {out, K, 1, 0}, beta));
        } else {
          gemm(gemm_args<T>(K, g.cog, k, {cm, sc, 1, 0}, {gyb, 1, sg, 0}, {out, 1, K, 0}, beta));
        }
      };
      for (int64_t na = n0; na < n1; na += jb) {
        if (jb > 1) {  // small images side by side, so that each gemm sums over more columns
          int64_t nb = std::min(n1, na + jb), ld = (nb - na) * L;
          T* gbuf = col + K * cols;
          for (int64_t n = na; n < nb; ++n) {
            im2col_block(g, x + n * args.c_in * g.HW, gi * g.cig, (gi + 1) * g.cig, 0, L, col + (n - na) * L, ld);
            for (int64_t o = 0; o < g.cog; ++o) {
              const T* src = gy + (n * args.c_out + gi * g.cog + o) * L;
              std::copy(src, src + L, gbuf + o * ld + (n - na) * L);
            }
          }
          accumulate(gbuf, ld, col, ld, ld);
          continue;
        }
        const T* xn = x + na * args.c_in * g.HW;
        for (int64_t l0 = 0; l0 < L; l0 += lb) {
          int64_t l1 = std::min(L, l0 + lb);
          const T* gyn = gy + (na * args.c_out + gi * g.cog) * L + l0;
          if (pw) {
            accumulate(gyn, L, xn + gi * g.cig * g.HW + l0, g.HW, l1 - l0);
          } else {
            im2col_block(g, xn, gi * g.cig, (gi + 1) * g.cig, l0, l1, col, l1 - l0);
            accumulate(gyn, L, col, l1 - l0, l1 - l0);
          }
        }
      }
    }
  });
  if (nq == 1) return;
  guarded_parallel_for(0, size, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t q = 1; q < nq; ++q) {
      const T* p = partial.data() + (q - 1) * size;
      for (int64_t i = begin; i < end; ++i) gw[i] += p[i];
    }
  });
}

template <class T>
void unfold_planes(const ConvArgs& args, const T* x, T* col) {
  const Geo g(args);
  guarded_parallel_for(0, args.batch * args.c_in, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      int64_t n = p / args.c_in, c = p % args.c_in;
      im2col_block(g, x + n * args.c_in * g.HW, c, c + 1, 0, g.L, col + p * g.kk * g.L, g.L);
    }
  });
}

template <class T>
void fold_planes(const ConvArgs& args, const T* col, T* x) {
  const Geo g(args);
  guarded_parallel_for(0, args.batch * args.c_in, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      int64_t n = p / args.c_in, c = p % args.c_in;
      T* xn = x + n * args.c_in * g.HW;
      std::fill(xn + c * g.HW, xn + (c + 1) * g.HW, T(0));
      col2im_block(g, xn, c, c + 1, 0, g.L, col + p * g.kk * g.L, g.L);
    }
  });
}

#define LAMINA_CONV_DISPATCH(fn, ...)                                  \
  do {                                                                 \
    if (args.dtype == DType::Float64) fn<double>(args, __VA_ARGS__); \
    else fn<float>(args, __VA_ARGS__);                                 \
  } while (0)

template <class T>
void forward_t(const ConvArgs& args, const void* x, const void* w, const void* bias, void* y) {
  conv_forward<T>(args, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                  static_cast<T*>(y));
}
template <class T>
void input_grad_t(const ConvArgs& args, const void* gy, const void* w, void* gx) {
  conv_input_grad<T>(args, static_cast<const T*>(gy), static_cast<const T*>(w), static_cast<T*>(gx));
}
template <class T>
void weight_grad_t(const ConvArgs& args, const void* x, const void* gy, void* gw) {
  conv_weight_grad<T>(args, static_cast<const T*>(x), static_cast<const T*>(gy), static_cast<T*>(gw));
}
template <class T>
void unfold_t(const ConvArgs& args, const void* x, void* col) {
  unfold_planes<T>(args, static_cast<const T*>(x), static_cast<T*>(col));
}
template <class T>
void fold_t(const ConvArgs& args, const void* col, void* x) {
  fold_planes<T>(args, static_cast<const T*>(col), static_cast<T*>(x));
}

void conv2d_kernel(const ConvArgs& args, const void* x, const void* w, const void* bias, void* y) {
  LAMINA_CONV_DISPATCH(forward_t, x, w, bias, y);
}
void conv2d_input_grad_kernel(const ConvArgs& args, const void* gy, const void* w, void* gx) {
  LAMINA_CONV_DISPATCH(input_grad_t, gy, w, gx);
}
void conv2d_weight_grad_kernel(const ConvArgs& args, const void* x, const void* gy, void* gw) {
  LAMINA_CONV_DISPATCH(weight_grad_t, x, gy, gw);
}
void im2col_kernel(const ConvArgs& args, const void* x, void* col) { LAMINA_CONV_DISPATCH(unfold_t, x, col); }
void col2im_kernel(const ConvArgs& args, const void* col, void* x) { LAMINA_CONV_DISPATCH(fold_t, col, x); }

}  // namespace

void register_conv(KernelTable& table) {
  table.conv2d = conv2d_kernel;
  table.conv2d_input_grad = conv2d_input_grad_kernel;
  table.conv2d_weight_grad = conv2d_weight_grad_kernel;
  table.im2col = im2col_kernel;
  table.col2im = col2im_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
