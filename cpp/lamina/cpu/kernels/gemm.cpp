// GEMM (see GemmArgs in core/kernel_table.h). This is the straightforward reference: one output
// row per task, k accumulated in order, epilogue applied at the store. The packed, blocked GEMM
// replaces it as the fast path and keeps it as the oracle for its own tests.
#include <cmath>
#include <vector>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

template <class T>
T activate(Activation act, T x) {
  switch (act) {
    case Activation::None: return x;
    case Activation::Relu: return x > T(0) ? x : T(0);
    case Activation::Gelu: return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
    case Activation::GeluTanh: {
      const T c = T(0.7978845608028654);  // sqrt(2 / pi)
      return T(0.5) * x * (T(1) + std::tanh(c * (x + T(0.044715) * x * x * x)));
    }
  }
  return x;
}

template <class T>
void gemm_reference(const GemmArgs& g) {
  const T* A = static_cast<const T*>(g.a.data);
  const T* B = static_cast<const T*>(g.b.data);
  const T* bias = static_cast<const T*>(g.epilogue.bias);
  T* C = static_cast<T*>(g.c.data);
  const T alpha = T(g.alpha), beta = T(g.beta);
  parallel_for(0, g.batch * g.m, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> acc(size_t(g.n));
    for (int64_t row = begin; row < end; ++row) {
      int64_t bi = row / g.m, i = row % g.m;
      std::fill(acc.begin(), acc.end(), T(0));
      const T* a = A + bi * g.a.batch + i * g.a.rows;
      const T* b = B + bi * g.b.batch;
      for (int64_t p = 0; p < g.k; ++p) {
        T ap = a[p * g.a.cols];
        const T* bp = b + p * g.b.rows;
        for (int64_t j = 0; j < g.n; ++j) acc[size_t(j)] += ap * bp[j * g.b.cols];
      }
      T* c = C + bi * g.c.batch + i * g.c.rows;
      for (int64_t j = 0; j < g.n; ++j) {
        T v = alpha * acc[size_t(j)];
        if (beta != T(0)) v += beta * c[j * g.c.cols];
        if (bias) v += bias[i * g.epilogue.bias_rows + j * g.epilogue.bias_cols];
        c[j * g.c.cols] = activate(g.epilogue.act, v);
      }
    }
  });
}

void gemm_kernel(const GemmArgs& g) {
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  if (g.dtype == DType::Float64) gemm_reference<double>(g);
  else gemm_reference<float>(g);
}

}  // namespace

void register_gemm(KernelTable& table) { table.gemm = gemm_kernel; }

}  // namespace lamina::cpu::LAMINA_ISA_NS
