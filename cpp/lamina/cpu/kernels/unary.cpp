// The unary kernel: picks the functor for (op, dtype) and runs it over contiguous runs with
// vectors, or element by element over strided ones. Predicates (isnan, ...) write bool.
#include "lamina/cpu/kernels/cast.h"
#include "lamina/cpu/kernels/loops.h"
#include "lamina/cpu/kernels/unary_ops.h"

namespace lamina::cpu {

namespace baseline {
// The baseline copy of this file's kernel, for what higher levels do not compile (loops.h).
void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& in, const UnaryParams& params);
}  // namespace baseline

namespace LAMINA_ISA_NS {

namespace {

// Transcendental ops cost more per element, so smaller tensors are worth splitting.
constexpr int64_t kHeavyGrain = 8192;

template <class T, class Out, class F>
void run_unary(const Tensor& out, const Tensor& in, const F& f, int64_t grain) {
  const Tensor* ts[2] = {&out, &in};
  for_each(ts, [&](char** p, const int64_t* s, int64_t n) {
    Out* o = reinterpret_cast<Out*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    if (s[0] == sizeof(Out) && s[1] == sizeof(T)) {
      int64_t i = 0;
      if constexpr (std::is_same_v<T, Out> && F::kVector) {
        for (; i + kLanes<T> <= n; i += kLanes<T>) vstore(o + i, f(vload(x + i)));
      }
      for (; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Out*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]));
    }
  }, grain);
}

// Scalar-only functors producing bool or needing integer semantics.
template <UnaryOp Op, class T>
struct PredicateFn {
  static constexpr bool kVector = false;
  bool operator()(T x) const {
    if constexpr (Op == UnaryOp::LogicalNot) return x == T(0);
    if constexpr (std::is_floating_point_v<T>) {
      if constexpr (Op == UnaryOp::IsNan) return std::isnan(x);
      if constexpr (Op == UnaryOp::IsInf) return std::isinf(x);
      if constexpr (Op == UnaryOp::IsFinite) return std::isfinite(x);
    }
    return Op == UnaryOp::IsFinite;  // integers are finite, never nan or inf
  }
};
template <class T>
struct BitwiseNotFn {
  static constexpr bool kVector = false;
  T operator()(T x) const {
    if constexpr (std::is_same_v<T, bool>) return !x;
    else if constexpr (std::is_integral_v<T>) return T(~x);
    else return x;  // rejected by the op for floats
  }
};

template <UnaryOp Op>
void unary_op(const Tensor& out, const Tensor& in, const UnaryParams& params, int64_t grain) {
  dispatch(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!compiled_at_this_isa<T>(UnaryFn<Op, T>::kVector)) baseline::unary_kernel(Op, out, in, params);
    else if constexpr (Op == UnaryOp::LogicalNot || Op == UnaryOp::IsNan || Op == UnaryOp::IsInf ||
                       Op == UnaryOp::IsFinite) {
      run_unary<T, bool>(out, in, PredicateFn<Op, T>{}, grain);
    } else if constexpr (Op == UnaryOp::BitwiseNot) {
      run_unary<T, T>(out, in, BitwiseNotFn<T>{}, grain);
    } else if constexpr (!std::is_same_v<T, bool>) {
      run_unary<T, T>(out, in, UnaryFn<Op, T>{params}, grain);
    }
  });
}

}  // namespace

void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& in, const UnaryParams& params) {
  const int64_t cheap = kElementwiseGrain, heavy = kHeavyGrain;
  switch (op) {
#define LAMINA_UNARY_CASE(name, grain) \
  case UnaryOp::name: return unary_op<UnaryOp::name>(out, in, params, grain);
    LAMINA_UNARY_CASE(Neg, cheap)
    LAMINA_UNARY_CASE(Abs, cheap)
    LAMINA_UNARY_CASE(Sign, cheap)
    LAMINA_UNARY_CASE(Exp, heavy)
    LAMINA_UNARY_CASE(Log, heavy)
    LAMINA_UNARY_CASE(Log1p, heavy)
    LAMINA_UNARY_CASE(Expm1, heavy)
    LAMINA_UNARY_CASE(Sqrt, cheap)
    LAMINA_UNARY_CASE(Rsqrt, cheap)
    LAMINA_UNARY_CASE(Sin, heavy)
    LAMINA_UNARY_CASE(Cos, heavy)
    LAMINA_UNARY_CASE(Tanh, heavy)
    LAMINA_UNARY_CASE(Sigmoid, heavy)
    LAMINA_UNARY_CASE(Relu, cheap)
    LAMINA_UNARY_CASE(Gelu, heavy)
    LAMINA_UNARY_CASE(GeluTanh, heavy)
    LAMINA_UNARY_CASE(Silu, heavy)
    LAMINA_UNARY_CASE(Softplus, heavy)
    LAMINA_UNARY_CASE(Erf, heavy)
    LAMINA_UNARY_CASE(Reciprocal, cheap)
    LAMINA_UNARY_CASE(Square, cheap)
    LAMINA_UNARY_CASE(Floor, cheap)
    LAMINA_UNARY_CASE(Ceil, cheap)
    LAMINA_UNARY_CASE(Round, cheap)
    LAMINA_UNARY_CASE(Trunc, cheap)
    LAMINA_UNARY_CASE(LogicalNot, cheap)
    LAMINA_UNARY_CASE(BitwiseNot, cheap)
    LAMINA_UNARY_CASE(IsNan, cheap)
    LAMINA_UNARY_CASE(IsInf, cheap)
    LAMINA_UNARY_CASE(IsFinite, cheap)
    LAMINA_UNARY_CASE(Clamp, cheap)
    LAMINA_UNARY_CASE(Tan, heavy)
    LAMINA_UNARY_CASE(Asin, heavy)
    LAMINA_UNARY_CASE(Acos, heavy)
    LAMINA_UNARY_CASE(Atan, heavy)
    LAMINA_UNARY_CASE(Sinh, heavy)
    LAMINA_UNARY_CASE(Cosh, heavy)
    LAMINA_UNARY_CASE(Asinh, heavy)
    LAMINA_UNARY_CASE(Acosh, heavy)
    LAMINA_UNARY_CASE(Atanh, heavy)
#undef LAMINA_UNARY_CASE
  }
}

void register_unary(KernelTable& table) { table.unary = unary_kernel; }

}  // namespace LAMINA_ISA_NS

}  // namespace lamina::cpu
