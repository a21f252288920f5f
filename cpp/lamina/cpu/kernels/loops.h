// The strided N-operand loop behind every elementwise kernel. Operands share one shape (inputs
// arrive broadcast, with 0 strides); dims of size 1 are dropped and dims that are contiguous
// with their neighbour for every operand are merged, so most calls become one flat run. The
// flat index space is cut into fixed chunks for parallel_for; `inner` sees 1-D runs of
// (pointers, byte strides, length) and picks a contiguous / broadcast fast path itself.
#pragma once

#include <algorithm>
#include <type_traits>

#include "lamina/core/tensor.h"
#include "lamina/cpu/kernels/vec.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

// Elements per parallel chunk for cheap elementwise work: below this an op runs on one thread.
constexpr int64_t kElementwiseGrain = 32768;

// The unary and binary kernels are the heaviest files to compile (ops x dtypes instantiations),
// and each higher ISA level compiles them again. Above the baseline they are compiled only where
// wider vectors pay: floating-point dtypes, and integer dtypes for arithmetic with a vector form
// (add, neg, ...) and comparisons. The other (op, dtype) pairs (integer division, remainder, pow,
// bitwise and logical ops, bool tensors) go to the baseline kernel, which compiles everything.
constexpr bool kBaselineIsa = LAMINA_ISA_IS_BASELINE;

template <class T>
constexpr bool compiled_at_this_isa(bool has_vector_form) {
  return kBaselineIsa || std::is_floating_point_v<T> || (has_vector_form && !std::is_same_v<T, bool>);
}

template <int N>
struct StridedOperands {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims][N];  // bytes
  char* data[N];
};

// Builds the loop state for operands of identical shape (operand 0's).
template <int N>
StridedOperands<N> make_operands(const Tensor* const (&ts)[N]) {
  StridedOperands<N> op;
  for (int k = 0; k < N; ++k) op.data[k] = ts[k]->raw_data();
  const Shape& shape = ts[0]->shape();
  // Walk dims from innermost to outermost, merging into the current innermost kept dim.
  int64_t rshape[kMaxDims], rstrides[kMaxDims][N];
  int n = 0;
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool merge = n > 0;
    for (int k = 0; k < N && merge; ++k)
      merge = ts[k]->strides()[d] * int64_t(ts[k]->itemsize()) == rstrides[n - 1][k] * rshape[n - 1];
    if (merge) {
      rshape[n - 1] *= shape[d];
      continue;
    }
    rshape[n] = shape[d];
    for (int k = 0; k < N; ++k) rstrides[n][k] = ts[k]->strides()[d] * int64_t(ts[k]->itemsize());
    ++n;
  }
  if (n == 0) {  // a single element
    rshape[0] = 1;
    for (int k = 0; k < N; ++k) rstrides[0][k] = 0;
    n = 1;
  }
  op.ndim = n;
  for (int i = 0; i < n; ++i) {  // back to outermost-first order
    op.shape[i] = rshape[n - 1 - i];
    for (int k = 0; k < N; ++k) op.strides[i][k] = rstrides[n - 1 - i][k];
  }
  return op;
}

// Calls inner(char* ptrs[N], const int64_t strides[N], int64_t n) over every element.
template <int N, class Inner>
void for_each_strided(const StridedOperands<N>& op, int64_t grain, const Inner& inner) {
  int64_t total = 1;
  for (int i = 0; i < op.ndim; ++i) total *= op.shape[i];
  if (total == 0) return;
  const int last = op.ndim - 1;
  parallel_for(0, total, grain, [&](int64_t begin, int64_t end) {
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    for (int i = last; i >= 0; --i) {
      idx[i] = rem % op.shape[i];
      rem /= op.shape[i];
    }
    char* ptrs[N];
    while (begin < end) {
      for (int k = 0; k < N; ++k) {
        ptrs[k] = op.data[k];
        for (int i = 0; i <= last; ++i) ptrs[k] += idx[i] * op.strides[i][k];
      }
      int64_t n = std::min(op.shape[last] - idx[last], end - begin);
      inner(ptrs, op.strides[last], n);
      begin += n;
      idx[last] += n;
      for (int i = last; i > 0 && idx[i] == op.shape[i]; --i) {
        idx[i] = 0;
        ++idx[i - 1];
      }
    }
  });
}

// The common case: run `inner` over tensors of the same shape.
template <int N, class Inner>
void for_each(const Tensor* const (&ts)[N], const Inner& inner, int64_t grain = kElementwiseGrain) {
  for_each_strided(make_operands(ts), grain, inner);
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
