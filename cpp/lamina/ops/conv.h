// Convolutions (NCHW / NCL) and F.unfold / F.fold, with autograd. Size arguments take one value
// (used for every spatial dim) or one per spatial dim. An undefined bias means no bias.
#pragma once

#include <string>
#include <vector>

#include "lamina/core/tensor.h"

namespace lamina {

using IntList = std::vector<int64_t>;

// input (N, C_in, L) or (C_in, L); weight (C_out, C_in / groups, k).
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups);
// padding "same" (stride 1 only) or "valid".
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const std::string& padding, const IntList& dilation, int64_t groups);
// input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in / groups, kH, kW).
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups);
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const std::string& padding, const IntList& dilation, int64_t groups);
// weight (C_in, C_out / groups, k...); the adjoint of conv with the same arguments.
Tensor conv_transpose1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation);
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation);
// F.unfold: (N, C, H, W) -> (N, C * kH * kW, L) sliding blocks.
Tensor im2col(const Tensor& input, const IntList& kernel_size, const IntList& dilation, const IntList& padding,
              const IntList& stride);
// F.fold: (N, C * kH * kW, L) -> (N, C, output_size), summing overlapping blocks.
Tensor col2im(const Tensor& input, const IntList& output_size, const IntList& kernel_size,
              const IntList& dilation, const IntList& padding, const IntList& stride);

}  // namespace lamina
