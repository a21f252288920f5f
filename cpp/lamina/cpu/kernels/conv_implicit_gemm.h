// Convolution forward as an implicit GEMM (conv_implicit_gemm.cpp): the column matrix is never
// built; the GEMM's B panels are packed straight from the images.
#pragma once

#include "lamina/core/kernel_table.h"

namespace lamina::cpu::LAMINA_ISA_NS {

// y (batch, c_out, out_h, out_w) = conv(x, w) + bias (bias may be null) for any shape with
// c_in / groups * k_h * k_w > 0 (strides, padding, dilation and groups included).
// Whether conv_forward_implicit is the faster forward for this shape on this ISA (a choice from
// shapes only, so it never depends on the thread count).
bool conv_implicit_suits(const ConvArgs& a);

template <class T>
void conv_forward_implicit(const ConvArgs& a, const T* x, const T* w, const T* bias, T* y);

// gw (c_out, c_in / groups, k_h, k_w) = the weight gradient of that convolution for the output
// gradient gy, same shapes; batch * out_h * out_w > 0.
template <class T>
void conv_weight_grad_implicit(const ConvArgs& a, const T* x, const T* gy, T* gw);

}  // namespace lamina::cpu::LAMINA_ISA_NS
