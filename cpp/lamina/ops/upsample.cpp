// Resampling (F.interpolate's nearest, nearest-exact, linear and bilinear modes) as a separable
// linear map: per output row and column, two source taps and their weights, computed here with
// PyTorch's CPU index formulas (in the tensor's precision). The kernels apply
// the map and its adjoint (pooling::PlaneMap), which gives every derivative order.
#include <cmath>
#include <functional>
#include <mutex>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

namespace {

enum class Mode { Nearest, NearestExact, Linear };

struct AxisTable {
  std::vector<int64_t> i0, i1;
  std::vector<double> w0, w1;  // empty for nearest modes
  ResampleAxis view() const {
    return {i0.data(), i1.data(), w0.empty() ? nullptr : w0.data(), w1.empty() ? nullptr : w1.data()};
  }
};

// PyTorch's compute_scales_value: the user's scale (as 1/scale) when given (> 0), else in/out.
template <class T>
T scale_value(double scale, int64_t in, int64_t out) {
  return scale > 0 ? T(1.0 / scale) : T(in) / T(out);
}

// PyTorch's CPU nearest indices. 1-d resampling uses the generic kernel (HelperInterpNearest /
// NearestExact: the position in the tensor's precision, floored through float); 2-d uses
// nearest_idx / nearest_exact_idx (a float scale, with copy and halving shortcuts for nearest).
template <class T>
AxisTable nearest_axis(int64_t in, int64_t out, double scale, bool exact, bool two_d) {
  AxisTable t;
  t.i0.resize(size_t(out));
  const T s = scale_value<T>(scale, in, out);
  const float sf = scale_value<float>(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t src;
    if (two_d && !exact && out == in) src = o;
    else if (two_d && !exact && out == 2 * in) src = o >> 1;
    else if (two_d && exact) src = int64_t(std::floor(float((double(o) + 0.5) * double(sf))));
    else if (two_d) src = int64_t(std::floor(float(o) * sf));
    else if (exact) src = int64_t(std::floor(float(double(std::max(s * (T(o) + T(0.5)) - T(0.5), T(0))) + 0.5)));
    else src = int64_t(std::floor(float(s * T(o))));
    t.i0[size_t(o)] = std::min(src, in - 1);
  }
  t.i1 = t.i0;
  return t;
}

template <class T>
AxisTable linear_axis(int64_t in, int64_t out, double scale, bool align_corners) {
  AxisTable t;
  t.i0.resize(size_t(out)), t.i1.resize(size_t(out)), t.w0.resize(size_t(out)), t.w1.resize(size_t(out));
  const T s = align_corners ? (out > 1 ? T(in - 1) / T(out - 1) : T(0)) : scale_value<T>(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i0 = o, i1 = o;
    T l1 = 0;
    if (out != in) {
      T real = align_corners ? s * T(o) : std::max(s * (T(o) + T(0.5)) - T(0.5), T(0));
      // PyTorch's guard_index_and_lambda (floorf, so float64 inputs round through float too).
      i0 = std::min(int64_t(std::floor(float(real))), in - 1);
      i1 = i0 + (i0 < in - 1 ? 1 : 0);
      l1 = std::min(std::max(real - T(i0), T(0)), T(1));
    }
    t.i0[size_t(o)] = i0, t.i1[size_t(o)] = i1;
    t.w0[size_t(o)] = double(T(1) - l1), t.w1[size_t(o)] = double(l1);
  }
  return t;
}

// The identity axis of a 1-d resample's H dim.
AxisTable unit_axis() {
  AxisTable t;
  t.i0 = t.i1 = {0};
  return t;
}

// Built on first use, inside the map, i.e. after the output was allocated: a huge requested size
// fails in that allocation (MemoryError) before tables of that size exist, and an empty output
// never builds them.
struct Tables {
  AxisTable h, w;
  std::function<void(Tables&)> build;
  std::once_flag built;
  const Tables& get() {
    std::call_once(built, [this] { build(*this); });
    return *this;
  }
};

}  // namespace

Tensor upsample(const Tensor& x, const std::string& mode_name, const IntList& output_size,
                const std::vector<std::optional<double>>& scales, bool align_corners) {
  LAMINA_PROFILE_OP("upsample", x);
  const int nd = int(output_size.size());
  Mode mode;
  if (mode_name == "nearest") mode = Mode::Nearest;
  else if (mode_name == "nearest-exact") mode = Mode::NearestExact;
  else if ((mode_name == "linear" && nd == 1) || (mode_name == "bilinear" && nd == 2)) mode = Mode::Linear;
  else
    throw NotImplementedError(detail::cat("upsample: mode ", mode_name, " is not supported for ", nd,
                                          " spatial dims (nearest, nearest-exact, linear for 1, bilinear for 2)"));
  const std::string op = std::string("upsample_") + (mode == Mode::Linear ? mode_name : mode == Mode::Nearest ? "nearest" : "nearest_exact") + std::to_string(nd) + "d";
  LAMINA_CHECK(nd == 1 || nd == 2, op, ": expected 1 or 2 output sizes, got ", output_size.size());
  LAMINA_CHECK(x.dim() == nd + 2, op, ": expected a ", nd + 2, "-d input (N, C, ", nd == 2 ? "H, W" : "L",
               "), got shape ", str(x.shape()));
  if (!x.is_floating_point()) elementwise::fail_dtype(op.c_str(), x.dtype());
  LAMINA_CHECK(scales.empty() || scales.size() == size_t(nd), op, ": expected ", nd, " scales, got ", scales.size());
  const Shape& s = x.shape();
  bool positive = true;
  for (int i = 0; i < nd; ++i) positive = positive && s[size_t(2 + i)] > 0 && output_size[size_t(i)] > 0;
  LAMINA_CHECK(positive, op, ": input and output sizes should be greater than 0, but got input ", str(s),
               " and output size ", shape_string(Shape(output_size.begin(), output_size.end())));
  auto tables = std::make_shared<Tables>();
  const bool is_double = x.dtype() == DType::Float64;
  const Shape in_shape = s;
  tables->build = [=](Tables& t) {
    for (int i = 0; i < nd; ++i) {
      int64_t in = in_shape[size_t(2 + i)], out = output_size[size_t(i)];
      double scale = scales.empty() ? 0.0 : scales[size_t(i)].value_or(0.0);
      const bool exact = mode == Mode::NearestExact;
      AxisTable axis = mode != Mode::Linear ? (is_double ? nearest_axis<double>(in, out, scale, exact, nd == 2)
                                                         : nearest_axis<float>(in, out, scale, exact, nd == 2))
                       : is_double ? linear_axis<double>(in, out, scale, align_corners)
                                   : linear_axis<float>(in, out, scale, align_corners);
      (nd == 2 && i == 0 ? t.h : t.w) = std::move(axis);
    }
    if (nd == 1) t.h = unit_axis();
  };
  auto map = std::make_shared<pooling::PlaneMap>();
  const char* names[3][2] = {{"UpsampleNearest1DBackward0", "UpsampleNearest2DBackward0"},
                             {"UpsampleNearestExact1DBackward0", "UpsampleNearestExact2DBackward0"},
                             {"UpsampleLinear1DBackward0", "UpsampleBilinear2DBackward0"}};
  map->name = names[int(mode)][nd - 1];
  map->nd = nd;
  map->H = nd == 2 ? s[2] : 1, map->W = s.back();
  map->OH = nd == 2 ? output_size[0] : 1, map->OW = output_size.back();
  map->forward = [tables, op](const Tensor& out, const Tensor& in) {
    const Tables& t = tables->get();
    LAMINA_KERNEL(in.device(), resample2d, op.c_str())(out, in, t.h.view(), t.w.view());
  };
  map->adjoint = [tables, op](const Tensor& gi, const Tensor& go) {
    const Tables& t = tables->get();
    LAMINA_KERNEL(go.device(), resample2d_backward, op.c_str())(gi, go, t.h.view(), t.w.view());
  };
  return pooling::apply_plane_map(map, x, false);
}

}  // namespace lamina
