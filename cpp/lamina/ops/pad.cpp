// F.pad, written with differentiable lamina ops so every derivative order works: constant mode
// crops with narrow and pads with cat; reflect, replicate and circular pick source positions with
// index_select along each padded dim (negative pads crop in every mode).
#include <algorithm>

#include "lamina/ops/elementwise.h"
#include "lamina/ops/nn_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

namespace {

enum class PadMode { Constant, Reflect, Replicate, Circular };

PadMode parse_mode(const std::string& mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "replicate") return PadMode::Replicate;
  if (mode == "circular") return PadMode::Circular;
  throw NotImplementedError(detail::cat("pad: Unrecognised padding mode ", mode,
                                        " (expected constant, reflect, replicate or circular)"));
}

// Source position of output position j along a dim of size n padded by (lo, hi). Reflect and
// replicate map j - lo in the input's coordinates; circular (like PyTorch) crops negative pads
// first and wraps around what is left.
int64_t source_index(PadMode mode, int64_t j, int64_t lo, int64_t hi, int64_t n) {
  int64_t s = j - lo;
  switch (mode) {
    case PadMode::Reflect:
      if (s < 0) s = -s;
      if (s >= n) s = 2 * (n - 1) - s;
      return s;
    case PadMode::Replicate: return std::min(std::max<int64_t>(s, 0), n - 1);
    case PadMode::Circular: {
      const int64_t crop_lo = std::max<int64_t>(-lo, 0), kept = n - crop_lo - std::max<int64_t>(-hi, 0);
      const int64_t t = j - std::max<int64_t>(lo, 0);
      return crop_lo + ((t % kept) + kept) % kept;
    }
    case PadMode::Constant: break;
  }
  return s;
}

Tensor index_tensor(const std::vector<int64_t>& v, Device device) {
  Tensor t = make_tensor({int64_t(v.size())}, DType::Int64, device);
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

void check_mode_args(const Tensor& x, const IntList& pad, PadMode mode, const std::string& name,
                     std::optional<double> value) {
  LAMINA_CHECK(!value || *value == 0.0, "pad: Padding mode \"", name, "\" doesn't take in value argument");
  const int64_t k = int64_t(pad.size()) / 2;
  bool ok = (k >= 1 && k <= 3) && (x.dim() == k + 1 || x.dim() == k + 2);
  LAMINA_CHECK_AS(NotImplementedError, ok, "pad: only 2D, 3D, 4D, 5D padding with non-constant padding are ",
                  "supported for now (padding length ", pad.size(), " for an input of shape ", str(x.shape()),
                  " in mode ", name, ")");
  if (mode == PadMode::Reflect || mode == PadMode::Replicate)
    nn_detail::check_only_batch_empty(x, k + 1, "pad", " in " + name + " mode");
  // Like PyTorch, reflect and replicate refuse a result that is empty along every padded dim.
  bool any_nonempty = false;
  Shape out_sizes;
  for (int64_t i = k - 1; i >= 0; --i) {
    int64_t n = x.shape()[size_t(x.dim() - 1 - i)], size = n + pad[size_t(2 * i)] + pad[size_t(2 * i + 1)];
    out_sizes.push_back(size);
    any_nonempty = any_nonempty || size >= 1;
  }
  LAMINA_CHECK(mode == PadMode::Circular || any_nonempty, "pad: input ", str(x.shape()), " is too small for padding ",
               shape_string(Shape(pad.begin(), pad.end())), ": calculated output size ", str(out_sizes));
  for (int64_t i = 0; i < k; ++i) {
    int64_t d = x.dim() - 1 - i, n = x.shape()[size_t(d)], lo = pad[size_t(2 * i)], hi = pad[size_t(2 * i + 1)];
    if (mode == PadMode::Reflect)
      LAMINA_CHECK(lo < n && hi < n, "pad: Padding size should be less than the corresponding input dimension, but got: ",
                   "padding (", lo, ", ", hi, ") at dimension ", d, " of input ", str(x.shape()));
    if (mode == PadMode::Circular)
      LAMINA_CHECK(n + lo + hi == 0 || n - std::max<int64_t>(-lo, 0) - std::max<int64_t>(-hi, 0) > 0,
                   "pad: circular padding (", lo, ", ", hi, ") crops all of dimension ", d, " of input ",
                   str(x.shape()), " but asks for ", n + lo + hi, " elements");
    // Checked against what is left after cropping (PyTorch checks the input size, then reads
    // memory it has not written yet when a pad exceeds the cropped size).
    const int64_t kept = n - std::max<int64_t>(-lo, 0) - std::max<int64_t>(-hi, 0);
    if (mode == PadMode::Circular)
      LAMINA_CHECK(n + lo + hi == 0 || (lo <= kept && hi <= kept),
                   "pad: Padding value causes wrapping around more than once: padding (", lo, ", ", hi,
                   ") at dimension ", d, " of input ", str(x.shape()));
  }
}

}  // namespace

Tensor pad(const Tensor& x, const IntList& pad, const std::string& mode_name, std::optional<double> value) {
  LAMINA_PROFILE_OP("pad", x);
  PadMode mode = parse_mode(mode_name);
  LAMINA_CHECK(pad.size() % 2 == 0, "pad: Padding length must be divisible by 2, got ", pad.size());
  LAMINA_CHECK(int64_t(pad.size()) / 2 <= x.dim(), "pad: Padding length should be less than or equal to two times the ",
               "input dimension but got padding length ", pad.size(), " and input of dimension ", x.dim());
  if (mode != PadMode::Constant) check_mode_args(x, pad, mode, mode_name, value);
  const int64_t k = int64_t(pad.size()) / 2;
  for (int64_t i = 0; i < k; ++i) {
    int64_t d = x.dim() - 1 - i, n = x.shape()[size_t(d)], lo = pad[size_t(2 * i)], hi = pad[size_t(2 * i + 1)];
    int64_t size = 0;
    bool fits = !__builtin_add_overflow(n, lo, &size) && !__builtin_add_overflow(size, hi, &size);
    LAMINA_CHECK(fits, "pad: padding (", lo, ", ", hi, ") of dimension ", d, " is too large");
    LAMINA_CHECK(size >= 0, "pad: The input size ", n, ", plus negative padding ", lo, " and ", hi,
                 " resulted in a negative output size, which is invalid. Check dimension ", d, " of your input.");
  }
  Shape out_shape = x.shape();
  for (int64_t i = 0; i < k; ++i) out_shape[size_t(x.dim() - 1 - i)] += pad[size_t(2 * i)] + pad[size_t(2 * i + 1)];
  check_shape(out_shape, x.itemsize(), "pad");
  Tensor out = x;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t d = x.dim() - 1 - i, n = x.shape()[size_t(d)], lo = pad[size_t(2 * i)], hi = pad[size_t(2 * i + 1)];
    if (lo == 0 && hi == 0) continue;
    if (mode == PadMode::Constant) {
      int64_t crop_lo = std::max<int64_t>(-lo, 0), crop_hi = std::max<int64_t>(-hi, 0);
      if (crop_lo || crop_hi) out = narrow(out, d, crop_lo, n - crop_lo - crop_hi);
      std::vector<Tensor> parts;
      Scalar fill_value(value.value_or(0.0));
      for (int64_t side = 0; side < 2; ++side) {
        int64_t amount = side == 0 ? lo : hi;
        if (amount <= 0) continue;
        Shape shape = out.shape();
        shape[size_t(d)] = amount;
        parts.push_back(full(shape, fill_value, {x.dtype(), x.device()}));
        if (side == 0) parts.push_back(out);
      }
      if (lo <= 0) parts.insert(parts.begin(), out);
      if (parts.size() > 1) out = cat(parts, d);
      continue;
    }
    std::vector<int64_t> src(size_t(n + lo + hi));
    for (int64_t j = 0; j < int64_t(src.size()); ++j) src[size_t(j)] = source_index(mode, j, lo, hi, n);
    out = index_select(out, d, index_tensor(src, x.device()));
  }
  // Like PyTorch, the result never aliases the input.
  return out.is_same(x) || out.shares_storage(x) ? clone(out) : out;
}

}  // namespace lamina
