// The binary kernel: inputs arrive expanded to the output shape in one dtype. Contiguous runs
// and runs where one side is a broadcast scalar (stride 0) take the vector path.
#include "lamina/cpu/kernels/binary_ops.h"
#include "lamina/cpu/kernels/loops.h"

namespace lamina::cpu {

namespace baseline {
// The baseline copy of this file's kernel, for what higher levels do not compile (loops.h).
void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
}  // namespace baseline

namespace LAMINA_ISA_NS {

namespace {

template <class T, class Out, class F>
void run_binary(const Tensor& out, const Tensor& a, const Tensor& b, const F& f) {
  const Tensor* ts[3] = {&out, &a, &b};
  for_each(ts, [&](char** p, const int64_t* s, int64_t n) {
    Out* o = reinterpret_cast<Out*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    const int64_t L = kLanes<T>;
    if (s[0] == sizeof(Out)) {
      int64_t i = 0;
      if constexpr (std::is_same_v<T, Out> && F::kVector) {
        if (s[1] == sizeof(T) && s[2] == sizeof(T)) {
          for (; i + L <= n; i += L) vstore(o + i, f(vload(x + i), vload(y + i)));
        } else if (s[1] == 0 && s[2] == sizeof(T)) {
          const Vec<T> xv = splat<Vec<T>>(*x);
          for (; i + L <= n; i += L) vstore(o + i, f(xv, vload(y + i)));
        } else if (s[1] == sizeof(T) && s[2] == 0) {
          const Vec<T> yv = splat<Vec<T>>(*y);
          for (; i + L <= n; i += L) vstore(o + i, f(vload(x + i), yv));
        }
      } else {
        if (s[1] == sizeof(T) && s[2] == sizeof(T)) {
          for (; i < n; ++i) o[i] = Out(f(x[i], y[i]));
        } else if (s[2] == 0) {
          const T yv = *y;
          for (; i < n; ++i) o[i] = Out(f(*reinterpret_cast<const T*>(p[1] + i * s[1]), yv));
        }
      }
      for (; i < n; ++i)
        o[i] = Out(f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2])));
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Out*>(p[0] + i * s[0]) =
            Out(f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2])));
    }
  });
}

template <BinaryOp Op>
void binary_op(const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!compiled_at_this_isa<T>(is_vector_binary<Op>() || is_comparison<Op>()))
      baseline::binary_kernel(Op, out, a, b);
    else if constexpr (std::is_same_v<T, bool> && !supports_bool<Op>()) return;  // rejected by the op
    else if constexpr (is_bool_binary<Op>()) run_binary<T, bool>(out, a, b, ScalarBinaryFn<Op, T>{});
    else if constexpr (is_vector_binary<Op>()) run_binary<T, T>(out, a, b, VectorBinaryFn<Op, T>{});
    else run_binary<T, T>(out, a, b, ScalarBinaryFn<Op, T>{});
  });
}

}  // namespace

void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  switch (op) {
#define LAMINA_BINARY_CASE(name) \
  case BinaryOp::name: return binary_op<BinaryOp::name>(out, a, b);
    LAMINA_BINARY_CASE(Add)
    LAMINA_BINARY_CASE(Sub)
    LAMINA_BINARY_CASE(Mul)
    LAMINA_BINARY_CASE(Div)
    LAMINA_BINARY_CASE(FloorDivide)
    LAMINA_BINARY_CASE(TruncDivide)
    LAMINA_BINARY_CASE(Remainder)
    LAMINA_BINARY_CASE(Fmod)
    LAMINA_BINARY_CASE(Pow)
    LAMINA_BINARY_CASE(Minimum)
    LAMINA_BINARY_CASE(Maximum)
    LAMINA_BINARY_CASE(Atan2)
    LAMINA_BINARY_CASE(Eq)
    LAMINA_BINARY_CASE(Ne)
    LAMINA_BINARY_CASE(Lt)
    LAMINA_BINARY_CASE(Le)
    LAMINA_BINARY_CASE(Gt)
    LAMINA_BINARY_CASE(Ge)
    LAMINA_BINARY_CASE(LogicalAnd)
    LAMINA_BINARY_CASE(LogicalOr)
    LAMINA_BINARY_CASE(LogicalXor)
    LAMINA_BINARY_CASE(BitwiseAnd)
    LAMINA_BINARY_CASE(BitwiseOr)
    LAMINA_BINARY_CASE(BitwiseXor)
#undef LAMINA_BINARY_CASE
  }
}

namespace {

// out = cond ? a : b, without a branch (a data-dependent branch mispredicts on about half of the
// elements of a ReLU mask: 30x slower than a multiply). Contiguous runs with each value side
// contiguous or a broadcast scalar are written as plain loops the compiler vectorizes (blends).
// The select is on the bits (a mask from the bool), so the compiler cannot turn it into a branch.
template <class T, bool ScalarA, bool ScalarB>
inline void select_run(T* o, const bool* c, const T* a, const T* b, int64_t n) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t,
                               std::conditional_t<sizeof(T) == 4, uint32_t, std::conditional_t<sizeof(T) == 2, uint16_t, uint8_t>>>;
  static_assert(sizeof(U) == sizeof(T));
  const U* ua = reinterpret_cast<const U*>(a);
  const U* ub = reinterpret_cast<const U*>(b);
  U* uo = reinterpret_cast<U*>(o);
  const uint8_t* cb = reinterpret_cast<const uint8_t*>(c);
  for (int64_t i = 0; i < n; ++i) {
    const U mask = U(0) - U(cb[i] != 0);
    uo[i] = U((ScalarA ? ua[0] : ua[i]) & mask) | U((ScalarB ? ub[0] : ub[i]) & U(~mask));
  }
}

void where_kernel(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Tensor* ts[4] = {&out, &cond, &a, &b};
    for_each(ts, [&](char** p, const int64_t* s, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const bool* c = reinterpret_cast<const bool*>(p[1]);
      const T *x = reinterpret_cast<const T*>(p[2]), *y = reinterpret_cast<const T*>(p[3]);
      constexpr int64_t z = sizeof(T);
      if (s[0] == z && s[1] == 1 && (s[2] == z || s[2] == 0) && (s[3] == z || s[3] == 0)) {
        if (s[2] == z && s[3] == z) return select_run<T, false, false>(o, c, x, y, n);
        if (s[2] == 0 && s[3] == z) return select_run<T, true, false>(o, c, x, y, n);
        if (s[2] == z && s[3] == 0) return select_run<T, false, true>(o, c, x, y, n);
        return select_run<T, true, true>(o, c, x, y, n);
      }
      for (int64_t i = 0; i < n; ++i) {
        const T av = *reinterpret_cast<const T*>(p[2] + i * s[2]), bv = *reinterpret_cast<const T*>(p[3] + i * s[3]);
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1]) ? av : bv;
      }
    });
  });
}

}  // namespace

void register_binary(KernelTable& table) {
  table.binary = binary_kernel;
  table.where = where_kernel;
}

}  // namespace LAMINA_ISA_NS

}  // namespace lamina::cpu
