// The math of each unary op, written once for V = T (scalar) or V = Vec<T>. Integer ops wrap
// on overflow (computed in unsigned arithmetic), as in PyTorch.
#pragma once

#include <cmath>
#include <type_traits>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vmath.h"

namespace lamina::cpu::LAMINA_ISA_NS {

template <class V>
inline V wrap_neg(V x) {
  if constexpr (std::is_integral_v<elem_t<V>>) return wrapping_sub(splat<V>(0), x);
  else return -x;
}

// Functors with a vector path: `op(V)` for both scalars and vectors of T.
template <UnaryOp Op, class T>
struct UnaryFn {
  UnaryParams params;
  static constexpr bool kVector = std::is_floating_point_v<T> || Op == UnaryOp::Neg ||
                                  Op == UnaryOp::Abs || Op == UnaryOp::Square || Op == UnaryOp::Relu ||
                                  Op == UnaryOp::Clamp || Op == UnaryOp::Sign;

  template <class V>
  V operator()(V x) const {
    constexpr bool kFloat = std::is_floating_point_v<T>;
    const V zero = splat<V>(T(0)), one = splat<V>(T(1));
    if constexpr (Op == UnaryOp::Neg) return wrap_neg(x);
    if constexpr (Op == UnaryOp::Abs) {
      if constexpr (kFloat) {  // clear the sign bit: abs(-0.0) = abs(+0.0) = +0.0, NaN stays NaN
        using U = rebind_t<V, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;
        return bitcast<V>(bitcast<U>(x) & splat<U>(~(elem_t<U>(1) << (8 * sizeof(T) - 1))));
      } else {
        return select(x < zero, wrap_neg(x), x);
      }
    }
    if constexpr (Op == UnaryOp::Sign) return select(x > zero, one, select(x < zero, splat<V>(T(-1)), zero));
    if constexpr (Op == UnaryOp::Square) {
      if constexpr (kFloat) return x * x;
      else return wrapping_mul(x, x);
    }
    if constexpr (Op == UnaryOp::Relu) return select(x < zero, zero, x);  // NaN stays NaN
    if constexpr (Op == UnaryOp::Clamp) {
      // min(max(x, lo), hi) as in PyTorch: NaN in x or in a bound gives NaN, lo > hi gives hi.
      const T lo = params.p0.to<T>(), hi = params.p1.to<T>();
      if constexpr (kFloat) {
        if ((params.has_p0 && lo != lo) || (params.has_p1 && hi != hi)) return splat<V>(lo != lo ? lo : hi);
      }
      if (params.has_p0) x = select(x < splat<V>(lo), splat<V>(lo), x);
      if (params.has_p1) x = select(x > splat<V>(hi), splat<V>(hi), x);
      return x;
    }
    if constexpr (kFloat) {
      if constexpr (Op == UnaryOp::Exp) return vexp(x);
      if constexpr (Op == UnaryOp::Log) return vlog(x);
      if constexpr (Op == UnaryOp::Log1p) return vlog1p(x);
      if constexpr (Op == UnaryOp::Expm1) return map_lanes(x, [](T v) { return std::expm1(v); });
      if constexpr (Op == UnaryOp::Sqrt) return map_lanes(x, [](T v) { return std::sqrt(v); });
      if constexpr (Op == UnaryOp::Rsqrt) return one / map_lanes(x, [](T v) { return std::sqrt(v); });
      if constexpr (Op == UnaryOp::Sin) return map_lanes(x, [](T v) { return std::sin(v); });
      if constexpr (Op == UnaryOp::Cos) return map_lanes(x, [](T v) { return std::cos(v); });
      // The rarer trigonometric and hyperbolic functions: libm per lane.
      if constexpr (Op == UnaryOp::Tan) return map_lanes(x, [](T v) { return std::tan(v); });
      if constexpr (Op == UnaryOp::Asin) return map_lanes(x, [](T v) { return std::asin(v); });
      if constexpr (Op == UnaryOp::Acos) return map_lanes(x, [](T v) { return std::acos(v); });
      if constexpr (Op == UnaryOp::Atan) return map_lanes(x, [](T v) { return std::atan(v); });
      if constexpr (Op == UnaryOp::Sinh) return map_lanes(x, [](T v) { return std::sinh(v); });
      if constexpr (Op == UnaryOp::Cosh) return map_lanes(x, [](T v) { return std::cosh(v); });
      if constexpr (Op == UnaryOp::Asinh) return map_lanes(x, [](T v) { return std::asinh(v); });
      if constexpr (Op == UnaryOp::Acosh) return map_lanes(x, [](T v) { return std::acosh(v); });
      if constexpr (Op == UnaryOp::Atanh) return map_lanes(x, [](T v) { return std::atanh(v); });
      if constexpr (Op == UnaryOp::Tanh) return vtanh(x);
      if constexpr (Op == UnaryOp::Sigmoid) return vsigmoid(x);
      if constexpr (Op == UnaryOp::Gelu) return vgelu(x);
      if constexpr (Op == UnaryOp::GeluTanh) return vgelu_tanh(x);
      if constexpr (Op == UnaryOp::Silu) return vsilu(x);
      if constexpr (Op == UnaryOp::Softplus) {
        const T beta = params.p0.to<T>(), threshold = params.p1.to<T>();
        V z = x * splat<V>(beta);
        return select(z > splat<V>(threshold), x, vlog1p(vexp(z)) / splat<V>(beta));
      }
      if constexpr (Op == UnaryOp::Erf) return verf(x);
      if constexpr (Op == UnaryOp::Reciprocal) return one / x;
      if constexpr (Op == UnaryOp::Floor) return map_lanes(x, [](T v) { return std::floor(v); });
      if constexpr (Op == UnaryOp::Ceil) return map_lanes(x, [](T v) { return std::ceil(v); });
      if constexpr (Op == UnaryOp::Round) return map_lanes(x, [](T v) { return std::nearbyint(v); });
      if constexpr (Op == UnaryOp::Trunc) return map_lanes(x, [](T v) { return std::trunc(v); });
    }
    return x;  // integer rounding ops are the identity
  }
};

}  // namespace lamina::cpu::LAMINA_ISA_NS
