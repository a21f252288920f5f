// Pooling, padding and resampling of (N, C, *spatial) tensors (PyTorch's NCHW / NCL layouts; the
// batch dim may be left out). Window arguments take one value per spatial dim, or one for all;
// an empty stride means stride = kernel_size.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "lamina/core/tensor.h"

namespace lamina {

using IntList = std::vector<int64_t>;

// (values, int64 indices of each maximum within its input plane, h * W + w).
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const IntList& kernel_size, const IntList& stride = {},
                                                   const IntList& padding = {0}, const IntList& dilation = {1},
                                                   bool ceil_mode = false);
std::tuple<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, const IntList& kernel_size, const IntList& stride = {},
                                                   const IntList& padding = {0}, const IntList& dilation = {1},
                                                   bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, const IntList& kernel_size, const IntList& stride = {}, const IntList& padding = {0},
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);
Tensor avg_pool1d(const Tensor& x, const IntList& kernel_size, const IntList& stride = {}, const IntList& padding = {0},
                  bool ceil_mode = false, bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, const IntList& output_size);
Tensor adaptive_avg_pool1d(const Tensor& x, const IntList& output_size);
std::tuple<Tensor, Tensor> adaptive_max_pool2d(const Tensor& x, const IntList& output_size);
std::tuple<Tensor, Tensor> adaptive_max_pool1d(const Tensor& x, const IntList& output_size);

// F.pad: pairs (before, after) for the last dims, last dim first; negative entries crop. mode is
// constant (any rank), reflect, replicate or circular (1 to 3 padded dims after 1 or 2 others).
Tensor pad(const Tensor& x, const IntList& pad, const std::string& mode = "constant",
           std::optional<double> value = std::nullopt);

// Resampling of the last output_size.size() (1 or 2) dims: mode nearest, nearest-exact, linear
// (1 dim) or bilinear (2 dims). scales[i] (when set) replaces in/out as the source step of dim i,
// as PyTorch does for a user scale_factor without recompute_scale_factor.
Tensor upsample(const Tensor& x, const std::string& mode, const IntList& output_size,
                const std::vector<std::optional<double>>& scales = {}, bool align_corners = false);

namespace pooling {

// A linear map between the planes of (..., H, W) and (..., OH, OW) tensors (avg pooling,
// resampling): `forward` fills out (P, OH, OW) from in (P, H, W), `adjoint` fills grad_in from
// grad_out. Each direction's gradient is the other, so every derivative order works.
struct PlaneMap {
  std::string name;  // the forward op's backward node, e.g. "AvgPool2DBackward0"
  int nd = 2;        // spatial dims of the user-facing tensors (1: H == OH == 1)
  int64_t H = 1, W = 1, OH = 1, OW = 1;
  std::function<void(const Tensor& out, const Tensor& in)> forward;
  std::function<void(const Tensor& grad_in, const Tensor& grad_out)> adjoint;
};

// Applies the map (or its adjoint) to x, whose last nd dims are the source plane.
Tensor apply_plane_map(const std::shared_ptr<const PlaneMap>& map, const Tensor& x, bool adjoint);

// The (P, H, W) view of a contiguous tensor of P planes.
Tensor planes(const Tensor& t, int64_t H, int64_t W);

}  // namespace pooling

}  // namespace lamina
