// The public C++ API of lamina: every op, plus operators for writing backward formulas.
#pragma once

#include "lamina/ops/binary.h"
#include "lamina/ops/copy.h"
#include "lamina/ops/creation.h"
#include "lamina/ops/index.h"
#include "lamina/ops/nn.h"
#include "lamina/ops/pool.h"
#include "lamina/ops/random.h"
#include "lamina/ops/reduce.h"
#include "lamina/ops/shape_ops.h"
#include "lamina/ops/unary.h"
#include "lamina/ops/view.h"
#include "lamina/ops/matmul.h"
#include "lamina/ops/conv.h"
#include "lamina/ops/rnn.h"

namespace lamina {

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, Scalar b) { return add(a, wrapped_scalar(b, a.device())); }
inline Tensor operator-(const Tensor& a, Scalar b) { return sub(a, wrapped_scalar(b, a.device())); }
inline Tensor operator*(const Tensor& a, Scalar b) { return mul(a, wrapped_scalar(b, a.device())); }
inline Tensor operator/(const Tensor& a, Scalar b) { return div(a, wrapped_scalar(b, a.device())); }
inline Tensor operator*(Scalar a, const Tensor& b) { return mul(wrapped_scalar(a, b.device()), b); }
inline Tensor operator-(Scalar a, const Tensor& b) { return sub(wrapped_scalar(a, b.device()), b); }
inline Tensor operator+(Scalar a, const Tensor& b) { return add(wrapped_scalar(a, b.device()), b); }
inline Tensor operator/(Scalar a, const Tensor& b) { return div(wrapped_scalar(a, b.device()), b); }

}  // namespace lamina
