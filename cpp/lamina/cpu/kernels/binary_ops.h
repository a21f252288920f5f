// The math of each binary op. Arithmetic and min/max have a vector form (V = T or Vec<T>);
// division-like ops on integers follow Python (floor) or C (trunc) rounding and never trap:
// the op has rejected zero divisors, and x / -1 is computed as a wrapping negation.
#pragma once

#include <cmath>
#include <type_traits>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vmath.h"

namespace lamina::cpu::LAMINA_ISA_NS {

template <class T>
using UnsignedOf = std::make_unsigned_t<std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>>;

// Ops that work on whole vectors.
template <BinaryOp Op, class T>
struct VectorBinaryFn {
  static constexpr bool kVector = !std::is_same_v<T, bool>;
  template <class V>
  V operator()(V a, V b) const {
    if constexpr (std::is_same_v<V, bool>) {  // add = or, mul = and (sub is rejected by the op)
      if constexpr (Op == BinaryOp::Add) return a || b;
      if constexpr (Op == BinaryOp::Mul) return a && b;
      if constexpr (Op == BinaryOp::Sub) return a != b;
    } else if constexpr (std::is_integral_v<T>) {  // wrap instead of overflowing
      if constexpr (Op == BinaryOp::Add) return wrapping_add(a, b);
      if constexpr (Op == BinaryOp::Sub) return wrapping_sub(a, b);
      if constexpr (Op == BinaryOp::Mul) return wrapping_mul(a, b);
    } else {
      if constexpr (Op == BinaryOp::Add) return a + b;
      if constexpr (Op == BinaryOp::Sub) return a - b;
      if constexpr (Op == BinaryOp::Mul) return a * b;
    }
    if constexpr (Op == BinaryOp::Div && !std::is_same_v<V, bool>) return a / b;
    if constexpr (Op == BinaryOp::Minimum || Op == BinaryOp::Maximum) {
      V m = Op == BinaryOp::Minimum ? select(a < b, a, b) : select(a > b, a, b);
      if constexpr (std::is_floating_point_v<T>) m = select(a != a, a, select(b != b, b, m));  // NaN wins
      return m;
    }
    return a;
  }
};

template <class T>
inline T int_div_trunc(T a, T b) {
  if (b == T(-1)) return T(UnsignedOf<T>(0) - UnsignedOf<T>(a));
  return b == 0 ? T(0) : T(a / b);
}
template <class T>
inline T int_mod_trunc(T a, T b) {
  return (b == T(-1) || b == 0) ? T(0) : T(a % b);
}

// Element-by-element ops (scalar only).
template <BinaryOp Op, class T>
struct ScalarBinaryFn {
  static constexpr bool kVector = false;
  auto operator()(T a, T b) const {
    constexpr bool kFloat = std::is_floating_point_v<T>;
    if constexpr (Op == BinaryOp::Eq) return a == b;
    else if constexpr (Op == BinaryOp::Ne) return a != b;
    else if constexpr (Op == BinaryOp::Lt) return a < b;
    else if constexpr (Op == BinaryOp::Le) return a <= b;
    else if constexpr (Op == BinaryOp::Gt) return a > b;
    else if constexpr (Op == BinaryOp::Ge) return a >= b;
    else if constexpr (Op == BinaryOp::LogicalAnd) return a != T(0) && b != T(0);
    else if constexpr (Op == BinaryOp::LogicalOr) return a != T(0) || b != T(0);
    else if constexpr (Op == BinaryOp::LogicalXor) return (a != T(0)) != (b != T(0));
    else if constexpr (Op == BinaryOp::BitwiseAnd || Op == BinaryOp::BitwiseOr || Op == BinaryOp::BitwiseXor) {
      if constexpr (kFloat) return a;  // rejected by the op
      else if constexpr (std::is_same_v<T, bool>)
        return Op == BinaryOp::BitwiseAnd ? (a && b) : Op == BinaryOp::BitwiseOr ? (a || b) : (a != b);
      else return T(Op == BinaryOp::BitwiseAnd ? (a & b) : Op == BinaryOp::BitwiseOr ? (a | b) : (a ^ b));
    } else if constexpr (Op == BinaryOp::Atan2) {
      return T(std::atan2(a, b));
    } else if constexpr (Op == BinaryOp::Fmod) {
      if constexpr (kFloat) return std::fmod(a, b);
      else return int_mod_trunc(a, b);
    } else if constexpr (Op == BinaryOp::TruncDivide) {
      if constexpr (kFloat) return std::trunc(a / b);
      else return int_div_trunc(a, b);
    } else if constexpr (Op == BinaryOp::Remainder) {
      if constexpr (kFloat) {
        T r = std::fmod(a, b);
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        T r = int_mod_trunc(a, b);
        return (r != 0 && ((r < 0) != (b < 0))) ? T(r + b) : r;
      }
    } else if constexpr (Op == BinaryOp::FloorDivide) {
      if constexpr (kFloat) {
        // Python's float floor division: consistent with the remainder above.
        if (b == 0) return a / b;
        T mod = std::fmod(a, b);
        T div = (a - mod) / b;
        if (mod != 0 && ((b < 0) != (mod < 0))) div -= T(1);
        if (div == 0) return std::copysign(T(0), a / b);
        T floordiv = std::floor(div);
        if (div - floordiv > T(0.5)) floordiv += T(1);
        return floordiv;
      } else {
        T q = int_div_trunc(a, b);
        T r = int_mod_trunc(a, b);
        return (r != 0 && ((r < 0) != (b < 0))) ? T(q - 1) : q;
      }
    } else if constexpr (Op == BinaryOp::Pow) {
      if constexpr (kFloat) {
        return std::pow(a, b);
      } else if constexpr (std::is_same_v<T, bool>) {
        return a || !b;
      } else {
        if (b < 0) return T(a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0);
        using U = UnsignedOf<T>;
        U result = 1, base = U(a);
        for (T e = b; e > 0; e >>= 1) {
          if (e & 1) result *= base;
          base *= base;
        }
        return T(result);
      }
    } else {
      return VectorBinaryFn<Op, T>{}(a, b);
    }
  }
};

template <BinaryOp Op>
constexpr bool is_vector_binary() {
  return Op == BinaryOp::Add || Op == BinaryOp::Sub || Op == BinaryOp::Mul || Op == BinaryOp::Div ||
         Op == BinaryOp::Minimum || Op == BinaryOp::Maximum;
}
// Ops the elementwise layer may send bool tensors to (the others reject bool first).
template <BinaryOp Op>
constexpr bool supports_bool() {
  return !(Op == BinaryOp::Sub || Op == BinaryOp::Div || Op == BinaryOp::FloorDivide || Op == BinaryOp::TruncDivide ||
           Op == BinaryOp::Remainder || Op == BinaryOp::Fmod || Op == BinaryOp::Atan2);
}
template <BinaryOp Op>
constexpr bool is_comparison() {
  return Op == BinaryOp::Eq || Op == BinaryOp::Ne || Op == BinaryOp::Lt || Op == BinaryOp::Le ||
         Op == BinaryOp::Gt || Op == BinaryOp::Ge;
}
template <BinaryOp Op>
constexpr bool is_bool_binary() {
  return is_comparison<Op>() || Op == BinaryOp::LogicalAnd || Op == BinaryOp::LogicalOr || Op == BinaryOp::LogicalXor;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
