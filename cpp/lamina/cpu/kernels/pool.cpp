// Pooling and separable resampling over contiguous (P, H, W) planes. Forward kernels split the
// work by output rows (every output element is written once, so the split cannot change bits);
// backward kernels scatter-add into the input gradient and give each task whole planes, so every
// element receives its contributions in one fixed order whatever the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vec.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kPoolGrain = 16384;  // window reads (or elements) per parallel task

int64_t grain_for(int64_t work_per_item) { return std::max<int64_t>(1, kPoolGrain / std::max<int64_t>(work_per_item, 1)); }

struct Planes {
  int64_t P, H, W, OH, OW;
};
Planes planes_of(const Tensor& in, const Tensor& out) {
  return {in.shape()[0], in.shape()[1], in.shape()[2], out.shape()[1], out.shape()[2]};
}

// ---- max pooling ----------------------------------------------------------------------------

// The start value of a max: -inf for floats, the smallest value for integers.
template <class T>
constexpr T lowest() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}

// Floats and the integer types PyTorch also pools (max_pool2d, avg_pool on int32 / int64).
template <class F>
void dispatch_pool(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Int32: f(TypeTag<int32_t>{}); break;
    case DType::Int64: f(TypeTag<int64_t>{}); break;
    default: dispatch_float(dtype, f);
  }
}

// The max of one window; NaN wins (the last NaN seen), ties keep the first position.
template <class T>
inline void window_max(const T* plane, int64_t W, int64_t h0, int64_t h1, int64_t dh, int64_t w0, int64_t w1,
                       int64_t dw, T* out, int64_t* index) {
  T best = lowest<T>();
  int64_t at = h0 * W + w0;
  for (int64_t y = h0; y < h1; y += dh) {
    const T* row = plane + y * W;
    for (int64_t x = w0; x < w1; x += dw) {
      // Selects, not a branch: which tap wins is data-dependent and mispredicts half the time.
      const T v = row[x];
      const bool take = (v > best) | (v != v);
      best = take ? v : best;
      at = take ? y * W + x : at;
    }
  }
  *out = best;
  *index = at;
}

// First tap >= 0 of a window starting at `start` with dilation d, and the end bound (exclusive).
inline void clip_taps(int64_t start, int64_t k, int64_t d, int64_t size, int64_t& lo, int64_t& hi) {
  lo = start;
  if (lo < 0) lo += ((-lo + d - 1) / d) * d;
  hi = std::min(start + (k - 1) * d + 1, size);
}

// kLanes<T> taps row[x], row[x + sw], ...: one load for stride 1, two loads and an even-lane
// shuffle for stride 2 when both stay inside the row, else element by element.
template <class V, size_t... I>
inline V even_lanes(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, int(2 * I)...);
}
template <class T>
inline Vec<T> load_taps(const T* row, int64_t x, int64_t sw, int64_t W) {
  constexpr int64_t L = kLanes<T>;
  if (sw == 1) return vload(row + x);
  if (sw == 2 && x + 2 * L <= W)
    return even_lanes(vload(row + x), vload(row + x + L), std::make_index_sequence<size_t(L)>{});
  alignas(64) T buf[L];
  for (int64_t i = 0; i < L; ++i) buf[i] = row[x + i * sw];
  return vload(buf);
}

// Runs block(o) over [ow, ow_end) in blocks of L; a last partial block is redone as a full block
// ending at ow_end (recomputing a few columns, with the same bits). Returns the first column not done.
template <int64_t L, class Block>
inline int64_t run_blocks(int64_t ow, int64_t ow_end, const Block& block) {
  const int64_t start = ow;
  for (; ow + L <= ow_end; ow += L) block(ow);
  if (ow < ow_end && ow_end - L >= start) {
    block(ow_end - L);
    ow = ow_end;
  }
  return ow;
}

// Index lanes as wide as T's, so a mask from comparing T vectors selects them directly.
template <class T>
using IndexLane = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;

// Output columns [ow, ow_end) whose windows lie inside the row, kLanes<T> at a time, visiting taps
// in the scalar order (so NaN and tie rules agree). Returns the first column not done.
template <class T>
int64_t max_row_vec(const T* plane, int64_t W, int64_t h0, int64_t h1, const Pool2dParams& p, int64_t ow,
                    int64_t ow_end, T* yo, int64_t* io) {
  using V = Vec<T>;
  using I = Vec<IndexLane<T>>;
  constexpr int64_t L = kLanes<T>;
  I lane;
  for (int64_t i = 0; i < L; ++i) lane[i] = IndexLane<T>(i * p.sw);
  auto block = [&](int64_t ow) {
    const int64_t x0 = ow * p.sw - p.pw;
    V best = splat<V>(lowest<T>());
    I at = splat<I>(IndexLane<T>(h0 * W + x0)) + lane;
    for (int64_t y = h0; y < h1; y += p.dh) {
      const T* row = plane + y * W;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t x = x0 + kx * p.dw;
        V v = load_taps(row, x, p.sw, W);
        auto m = (v > best) | (v != v);
        best = m ? v : best;
        at = m ? splat<I>(IndexLane<T>(y * W + x)) + lane : at;
      }
    }
    vstore(yo + ow, best);
    for (int64_t i = 0; i < L; ++i) io[ow + i] = int64_t(at[i]);
  };
  return run_blocks<L>(ow, ow_end, block);
}

template <class T>
void max_pool_typed(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) {
  const Planes g = planes_of(in, out);
  const T* x = in.data<T>();
  T* y = out.data<T>();
  int64_t* ix = indices.data<int64_t>();
  // Columns whose window lies inside [0, W): [ow_lo, ow_hi).
  const int64_t ow_lo = std::min((p.pw + p.sw - 1) / p.sw, g.OW);
  const int64_t last_start = g.W - 1 - (p.kw - 1) * p.dw + p.pw;  // largest ow * sw allowed
  const int64_t ow_hi = last_start < 0 ? ow_lo : std::max(ow_lo, std::min(last_start / p.sw + 1, g.OW));
  const bool vectorise = g.H * g.W < (int64_t(1) << 31);
  parallel_for(0, g.P * g.OH, grain_for(g.OW * p.kh * p.kw), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t plane = r / g.OH, oh = r % g.OH;
      const T* src = x + plane * g.H * g.W;
      int64_t h0, h1;
      clip_taps(oh * p.sh - p.ph, p.kh, p.dh, g.H, h0, h1);
      T* yo = y + r * g.OW;
      int64_t* io = ix + r * g.OW;
      auto scalar = [&](int64_t ow) {
        int64_t w0, w1;
        clip_taps(ow * p.sw - p.pw, p.kw, p.dw, g.W, w0, w1);
        window_max(src, g.W, h0, h1, p.dh, w0, w1, p.dw, yo + ow, io + ow);
      };
      int64_t ow = 0;
      for (; ow < ow_lo; ++ow) scalar(ow);
      if (vectorise) ow = max_row_vec(src, g.W, h0, h1, p, ow, ow_hi, yo, io);
      for (; ow < g.OW; ++ow) scalar(ow);
    }
  });
}

void max_pool2d_kernel(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) {
  dispatch_pool(in.dtype(), [&](auto tag) { max_pool_typed<typename decltype(tag)::type>(out, indices, in, p); });
}

// Adaptive windows: output o of n covers [floor(o * size / n), ceil((o + 1) * size / n)).
inline int64_t adaptive_start(int64_t o, int64_t n, int64_t size) { return (o * size) / n; }
inline int64_t adaptive_end(int64_t o, int64_t n, int64_t size) { return ((o + 1) * size + n - 1) / n; }

template <class T>
void adaptive_max_typed(const Tensor& out, const Tensor& indices, const Tensor& in) {
  const Planes g = planes_of(in, out);
  const T* x = in.data<T>();
  T* y = out.data<T>();
  int64_t* ix = indices.data<int64_t>();
  const int64_t kh = (g.H + g.OH - 1) / g.OH + 1, kw = (g.W + g.OW - 1) / g.OW + 1;
  parallel_for(0, g.P * g.OH, grain_for(g.OW * kh * kw), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t plane = r / g.OH, oh = r % g.OH;
      const int64_t h0 = adaptive_start(oh, g.OH, g.H), h1 = adaptive_end(oh, g.OH, g.H);
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.OW, g.W), w1 = adaptive_end(ow, g.OW, g.W);
        window_max(x + plane * g.H * g.W, g.W, h0, h1, 1, w0, w1, 1, y + r * g.OW + ow, ix + r * g.OW + ow);
      }
    }
  });
}

void adaptive_max_pool2d_kernel(const Tensor& out, const Tensor& indices, const Tensor& in) {
  dispatch_float(in.dtype(), [&](auto tag) { adaptive_max_typed<typename decltype(tag)::type>(out, indices, in); });
}

template <class T>
void max_pool_backward_typed(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  const int64_t P = grad_in.shape()[0], HW = grad_in.shape()[1], O = grad_out.shape()[1];
  T* gi = grad_in.data<T>();
  const T* go = grad_out.data<T>();
  const int64_t* ix = indices.data<int64_t>();
  parallel_for(0, P, grain_for(HW + O), [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      T* dst = gi + plane * HW;
      std::fill(dst, dst + HW, T(0));
      const T* g = go + plane * O;
      const int64_t* at = ix + plane * O;
      // A window that lies entirely in the padding (possible with dilation) has no maximum; its
      // index (PyTorch's, past the plane) receives nothing.
      for (int64_t j = 0; j < O; ++j)
        if (uint64_t(at[j]) < uint64_t(HW)) dst[at[j]] += g[j];
    }
  });
}

void max_pool_backward_kernel(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  dispatch_float(grad_in.dtype(), [&](auto tag) {
    max_pool_backward_typed<typename decltype(tag)::type>(grad_in, grad_out, indices);
  });
}

// ---- average pooling ------------------------------------------------------------------------

// PyTorch's window: the divisor counts padding up to the padded border unless excluded.
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  double divisor;
};
inline AvgWindow avg_window(int64_t oh, int64_t ow, int64_t H, int64_t W, const Pool2dParams& p) {
  int64_t h0 = oh * p.sh - p.ph, w0 = ow * p.sw - p.pw;
  int64_t h1 = std::min(h0 + p.kh, H + p.ph), w1 = std::min(w0 + p.kw, W + p.pw);
  const int64_t padded = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, H);
  w1 = std::min(w1, W);
  double divisor = p.divisor_override ? double(p.divisor_override)
                   : p.count_include_pad ? double(padded)
                                         : double((h1 - h0) * (w1 - w0));
  return {h0, h1, w0, w1, divisor};
}

// Interior output columns [ow, ow_end) of one row, kLanes<T> at a time, summing taps in the
// scalar order so both paths give the same bits. Returns the first column not done.
template <class T>
int64_t avg_row_vec(const T* plane, int64_t W, int64_t h0, int64_t h1, T divisor, const Pool2dParams& p, int64_t ow,
                    int64_t ow_end, T* yo) {
  using V = Vec<T>;
  constexpr int64_t L = kLanes<T>;
  auto block = [&](int64_t ow) {
    const int64_t x0 = ow * p.sw - p.pw;
    V sum = splat<V>(T(0));
    for (int64_t y = h0; y < h1; ++y) {
      const T* row = plane + y * W;
      for (int64_t kx = 0; kx < p.kw; ++kx) sum += load_taps(row, x0 + kx, p.sw, W);
    }
    vstore(yo + ow, sum / splat<V>(divisor));
  };
  return run_blocks<L>(ow, ow_end, block);
}

// The type a window sum accumulates in: T, or for integers its unsigned twin (wraps, never UB).
template <class T, bool = std::is_integral_v<T>>
struct WrappingSum {
  using type = T;
};
template <class T>
struct WrappingSum<T, true> {
  using type = std::make_unsigned_t<T>;
};

template <class T>
void avg_pool_typed(const Tensor& out, const Tensor& in, const Pool2dParams& p) {
  const Planes g = planes_of(in, out);
  const T* x = in.data<T>();
  T* y = out.data<T>();
  // Columns whose window lies inside [0, W) share one divisor per row: [ow_lo, ow_hi).
  const int64_t ow_lo = std::min((p.pw + p.sw - 1) / p.sw, g.OW);
  const int64_t last_start = g.W - p.kw + p.pw;
  const int64_t ow_hi = last_start < 0 ? ow_lo : std::max(ow_lo, std::min(last_start / p.sw + 1, g.OW));
  parallel_for(0, g.P * g.OH, grain_for(g.OW * p.kh * p.kw), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t plane = r / g.OH, oh = r % g.OH;
      const T* src = x + plane * g.H * g.W;
      T* yo = y + r * g.OW;
      auto scalar = [&](int64_t ow) {
        const AvgWindow a = avg_window(oh, ow, g.H, g.W, p);
        // Integer sums wrap (in unsigned arithmetic, as the vector path does): signed overflow is undefined.
        using Acc = typename WrappingSum<T>::type;
        Acc sum = 0;
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) sum += Acc(src[h * g.W + w]);
        // An empty window (all padding) averages to 0, as in PyTorch.
        yo[ow] = a.h0 < a.h1 && a.w0 < a.w1 ? T(T(sum) / T(a.divisor)) : T(0);
      };
      int64_t ow = 0;
      for (; ow < ow_lo; ++ow) scalar(ow);
      if (ow < ow_hi) {
        const AvgWindow a = avg_window(oh, ow, g.H, g.W, p);
        if (a.h0 < a.h1) ow = avg_row_vec(src, g.W, a.h0, a.h1, T(a.divisor), p, ow, ow_hi, yo);
      }
      for (; ow < g.OW; ++ow) scalar(ow);
    }
  });
}

void avg_pool2d_kernel(const Tensor& out, const Tensor& in, const Pool2dParams& p) {
  dispatch_pool(in.dtype(), [&](auto tag) { avg_pool_typed<typename decltype(tag)::type>(out, in, p); });
}

// Backward of a box-window average: every output spreads grad_out / divisor over its window.
// The windows are rectangles, so this runs separably: each output row's gradients are spread
// along W into one buffer row, which is then added to every input row the window covers.
template <class T, class Window>
void box_backward(const Tensor& grad_in, const Tensor& grad_out, const Window& window) {
  const Planes g = planes_of(grad_in, grad_out);
  T* gi = grad_in.data<T>();
  const T* go = grad_out.data<T>();
  parallel_for(0, g.P, grain_for(g.OH * (g.OW * 2 + g.W) + g.H * g.W), [&](int64_t p0, int64_t p1) {
    std::vector<T> rows(size_t(g.OH * g.W));
    for (int64_t plane = p0; plane < p1; ++plane) {
      T* dst = gi + plane * g.H * g.W;
      std::fill(dst, dst + g.H * g.W, T(0));
      std::fill(rows.begin(), rows.end(), T(0));
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* row = rows.data() + oh * g.W;
        const T* src = go + (plane * g.OH + oh) * g.OW;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow a = window(oh, ow);
          const T v = T(src[ow] / T(a.divisor));
          for (int64_t w = a.w0; w < a.w1; ++w) row[w] += v;
        }
      }
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const T* row = rows.data() + oh * g.W;
        const AvgWindow a = window(oh, 0);  // the rows of a window do not depend on ow
        for (int64_t h = a.h0; h < a.h1; ++h) {
          T* d = dst + h * g.W;
          for (int64_t w = 0; w < g.W; ++w) d[w] += row[w];
        }
      }
    }
  });
}

template <class T>
void avg_pool_backward_typed(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) {
  const int64_t H = grad_in.shape()[1], W = grad_in.shape()[2];
  box_backward<T>(grad_in, grad_out, [&](int64_t oh, int64_t ow) { return avg_window(oh, ow, H, W, p); });
}

void avg_pool2d_backward_kernel(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) {
  dispatch_float(grad_in.dtype(), [&](auto tag) {
    avg_pool_backward_typed<typename decltype(tag)::type>(grad_in, grad_out, p);
  });
}

// The sum of a window, vector lanes along each row plus a scalar tail, combined in a fixed order
// (the same bits for any thread count; global pooling reads whole planes this way).
template <class T>
inline T window_sum(const T* plane, int64_t W, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  using V = Vec<T>;
  constexpr int64_t L = kLanes<T>;
  V acc = splat<V>(T(0)), acc2 = acc, acc3 = acc, acc4 = acc;  // independent chains hide add latency
  T tail = 0;
  for (int64_t h = h0; h < h1; ++h) {
    const T* row = plane + h * W;
    int64_t w = w0;
    for (; w + 4 * L <= w1; w += 4 * L) {
      acc += vload(row + w);
      acc2 += vload(row + w + L);
      acc3 += vload(row + w + 2 * L);
      acc4 += vload(row + w + 3 * L);
    }
    for (; w + L <= w1; w += L) acc += vload(row + w);
    for (; w < w1; ++w) tail += row[w];
  }
  acc = (acc + acc2) + (acc3 + acc4);
  T sum = 0;
  for (int64_t i = 0; i < L; ++i) sum += acc[i];
  return sum + tail;
}

template <class T>
void adaptive_avg_typed(const Tensor& out, const Tensor& in) {
  const Planes g = planes_of(in, out);
  const T* x = in.data<T>();
  T* y = out.data<T>();
  const int64_t kh = (g.H + g.OH - 1) / g.OH + 1, kw = (g.W + g.OW - 1) / g.OW + 1;
  parallel_for(0, g.P * g.OH, grain_for(g.OW * kh * kw), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t plane = r / g.OH, oh = r % g.OH;
      const int64_t h0 = adaptive_start(oh, g.OH, g.H), h1 = adaptive_end(oh, g.OH, g.H);
      const T* src = x + plane * g.H * g.W;
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.OW, g.W), w1 = adaptive_end(ow, g.OW, g.W);
        y[r * g.OW + ow] = window_sum(src, g.W, h0, h1, w0, w1) / T((h1 - h0) * (w1 - w0));
      }
    }
  });
}

void adaptive_avg_pool2d_kernel(const Tensor& out, const Tensor& in) {
  dispatch_float(in.dtype(), [&](auto tag) { adaptive_avg_typed<typename decltype(tag)::type>(out, in); });
}

template <class T>
void adaptive_avg_backward_typed(const Tensor& grad_in, const Tensor& grad_out) {
  const Planes g = planes_of(grad_in, grad_out);
  box_backward<T>(grad_in, grad_out, [&](int64_t oh, int64_t ow) {
    const int64_t h0 = adaptive_start(oh, g.OH, g.H), h1 = adaptive_end(oh, g.OH, g.H);
    const int64_t w0 = adaptive_start(ow, g.OW, g.W), w1 = adaptive_end(ow, g.OW, g.W);
    return AvgWindow{h0, h1, w0, w1, double((h1 - h0) * (w1 - w0))};
  });
}

void adaptive_avg_pool2d_backward_kernel(const Tensor& grad_in, const Tensor& grad_out) {
  dispatch_float(grad_in.dtype(), [&](auto tag) {
    adaptive_avg_backward_typed<typename decltype(tag)::type>(grad_in, grad_out);
  });
}

// ---- separable resampling (nearest, linear, bilinear) -----------------------------------------
// Per output row, the two source rows are first blended along H into a contiguous buffer (a
// vectorisable loop), then sampled along W; backward runs the same two steps in reverse.

// dst[x] = sum over the W taps of src (a blended or plain source row).
template <class T>
inline void sample_row(const T* src, const ResampleAxis& w, int64_t OW, T* dst) {
  if (!w.w0) {
    for (int64_t x = 0; x < OW; ++x) dst[x] = src[w.i0[x]];
    return;
  }
  for (int64_t x = 0; x < OW; ++x) dst[x] = T(w.w0[x]) * src[w.i0[x]] + T(w.w1[x]) * src[w.i1[x]];
}

template <class T>
void resample_typed(const Tensor& out, const Tensor& in, const ResampleAxis& h, const ResampleAxis& w) {
  const Planes g = planes_of(in, out);
  const T* x = in.data<T>();
  T* y = out.data<T>();
  parallel_for(0, g.P * g.OH, grain_for(g.OW * 3 + (h.w0 ? g.W : 0)), [&](int64_t r0, int64_t r1) {
    std::vector<T> blend(h.w0 ? size_t(g.W) : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t plane = r / g.OH, oh = r % g.OH;
      const T* row0 = x + (plane * g.H + h.i0[oh]) * g.W;
      if (!h.w0) {
        sample_row(row0, w, g.OW, y + r * g.OW);
        continue;
      }
      const T* row1 = x + (plane * g.H + h.i1[oh]) * g.W;
      const T a0 = T(h.w0[oh]), a1 = T(h.w1[oh]);
      T* b = blend.data();
      for (int64_t i = 0; i < g.W; ++i) b[i] = a0 * row0[i] + a1 * row1[i];
      sample_row(b, w, g.OW, y + r * g.OW);
    }
  });
}

void resample2d_kernel(const Tensor& out, const Tensor& in, const ResampleAxis& h, const ResampleAxis& w) {
  dispatch_float(in.dtype(), [&](auto tag) { resample_typed<typename decltype(tag)::type>(out, in, h, w); });
}

// acc[taps of x] += weights * src[x] along W (the adjoint of sample_row).
template <class T>
inline void spread_row(const T* src, const ResampleAxis& w, int64_t OW, T* acc) {
  if (!w.w0) {
    for (int64_t x = 0; x < OW; ++x) acc[w.i0[x]] += src[x];
    return;
  }
  for (int64_t x = 0; x < OW; ++x) {
    acc[w.i0[x]] += T(w.w0[x]) * src[x];
    acc[w.i1[x]] += T(w.w1[x]) * src[x];
  }
}

template <class T>
void resample_backward_typed(const Tensor& grad_in, const Tensor& grad_out, const ResampleAxis& h,
                             const ResampleAxis& w) {
  const Planes g = planes_of(grad_in, grad_out);
  T* gi = grad_in.data<T>();
  const T* go = grad_out.data<T>();
  parallel_for(0, g.P, grain_for(g.OH * (g.OW * 3 + (h.w0 ? 2 * g.W : 0)) + g.H * g.W), [&](int64_t p0, int64_t p1) {
    std::vector<T> acc(h.w0 ? size_t(g.W) : 0);
    for (int64_t plane = p0; plane < p1; ++plane) {
      T* dst = gi + plane * g.H * g.W;
      std::fill(dst, dst + g.H * g.W, T(0));
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const T* src = go + (plane * g.OH + oh) * g.OW;
        T* row0 = dst + h.i0[oh] * g.W;
        if (!h.w0) {
          spread_row(src, w, g.OW, row0);
          continue;
        }
        T* row1 = dst + h.i1[oh] * g.W;
        const T a0 = T(h.w0[oh]), a1 = T(h.w1[oh]);
        T* a = acc.data();
        std::fill(a, a + g.W, T(0));
        spread_row(src, w, g.OW, a);
        for (int64_t i = 0; i < g.W; ++i) row0[i] += a0 * a[i];
        for (int64_t i = 0; i < g.W; ++i) row1[i] += a1 * a[i];
      }
    }
  });
}

void resample2d_backward_kernel(const Tensor& grad_in, const Tensor& grad_out, const ResampleAxis& h,
                                const ResampleAxis& w) {
  dispatch_float(grad_in.dtype(), [&](auto tag) {
    resample_backward_typed<typename decltype(tag)::type>(grad_in, grad_out, h, w);
  });
}

}  // namespace

void register_pool(KernelTable& table) {
  table.max_pool2d = max_pool2d_kernel;
  table.avg_pool2d = avg_pool2d_kernel;
  table.avg_pool2d_backward = avg_pool2d_backward_kernel;
  table.adaptive_avg_pool2d = adaptive_avg_pool2d_kernel;
  table.adaptive_avg_pool2d_backward = adaptive_avg_pool2d_backward_kernel;
  table.adaptive_max_pool2d = adaptive_max_pool2d_kernel;
  table.max_pool_backward = max_pool_backward_kernel;
  table.resample2d = resample2d_kernel;
  table.resample2d_backward = resample2d_backward_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
