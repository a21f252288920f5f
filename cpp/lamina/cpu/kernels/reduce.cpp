// Reductions of a 2-D view (M, K) along K, plus arg-reductions and cumsum/cumprod.
//
// Determinism: a row is always reduced as blocks of kBlock elements, each block with the same
// vector accumulators, and the block results are combined left to right. Whether the blocks of
// one long row or the rows of a tall matrix are spread over threads, every output element is
// computed by the same sequence of operations, so the bits never depend on the thread count.
#include <limits>
#include <vector>

#include "lamina/cpu/kernels/binary_ops.h"
#include "lamina/cpu/kernels/loops.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kBlock = 16384;  // elements per block of a row
constexpr int64_t kGrain = 32768;  // elements of work per parallel task

template <class T>
T identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: case ReduceOp::Any: return T(0);
    case ReduceOp::Prod: case ReduceOp::All: return T(1);
    case ReduceOp::Max:
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    case ReduceOp::Min:
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
  }
  return T(0);
}

// Combines two partial results (scalars or vectors).
template <ReduceOp Op, class T, class V>
inline V combine(V a, V b) {
  if constexpr (Op == ReduceOp::Sum) return VectorBinaryFn<BinaryOp::Add, T>{}(a, b);
  if constexpr (Op == ReduceOp::Prod) return VectorBinaryFn<BinaryOp::Mul, T>{}(a, b);
  if constexpr (Op == ReduceOp::Max) return VectorBinaryFn<BinaryOp::Maximum, T>{}(a, b);
  if constexpr (Op == ReduceOp::Min) return VectorBinaryFn<BinaryOp::Minimum, T>{}(a, b);
  return a;
}

// Reduces n contiguous elements with 4 vector accumulators, then the lanes in order.
// max/min of floats: plain compare-and-select in the loop, with NaNs tracked in a separate mask
// (cheaper than propagating NaN through every step); a NaN anywhere makes the result NaN.
template <ReduceOp Op, class V>
inline V pick(V acc, V x) {
  return Op == ReduceOp::Max ? select(x > acc, x, acc) : select(x < acc, x, acc);
}

// Reduces n contiguous elements with 4 vector accumulators, then the lanes in order.
template <ReduceOp Op, class T>
T reduce_contiguous(const T* x, int64_t n) {
  const int64_t L = kLanes<T>;
  const T init = identity<T>(Op);
  constexpr bool kMinMaxFloat = std::is_floating_point_v<T> && (Op == ReduceOp::Max || Op == ReduceOp::Min);
  int64_t i = 0;
  T result = init;
  if constexpr (!std::is_same_v<T, bool>) {
    if (n >= 4 * L) {
      Vec<T> acc[4] = {splat<Vec<T>>(init), splat<Vec<T>>(init), splat<Vec<T>>(init), splat<Vec<T>>(init)};
      if constexpr (kMinMaxFloat) {
        using M = decltype(acc[0] != acc[0]);
        M nan = M{};
        for (; i + 4 * L <= n; i += 4 * L)
          for (int k = 0; k < 4; ++k) {
            Vec<T> v = vload(x + i + k * L);
            nan |= v != v;
            acc[k] = pick<Op>(acc[k], v);
          }
        bool any_nan = false;
        for (int64_t l = 0; l < L; ++l) any_nan |= nan[l] != 0;
        if (any_nan) return std::numeric_limits<T>::quiet_NaN();
      } else {
        for (; i + 4 * L <= n; i += 4 * L)
          for (int k = 0; k < 4; ++k) acc[k] = combine<Op, T>(acc[k], vload(x + i + k * L));
      }
      Vec<T> v = combine<Op, T>(combine<Op, T>(acc[0], acc[1]), combine<Op, T>(acc[2], acc[3]));
      for (int64_t l = 0; l < L; ++l) result = combine<Op, T>(result, T(v[l]));
    }
  }
  for (; i < n; ++i) result = combine<Op, T>(result, x[i]);
  return result;
}

template <ReduceOp Op, class T>
T reduce_strided(const char* p, int64_t stride, int64_t n) {
  T result = identity<T>(Op);
  for (int64_t i = 0; i < n; ++i) result = combine<Op, T>(result, *reinterpret_cast<const T*>(p + i * stride));
  return result;
}

// One output element: blocks of kBlock reduced independently, combined in order. `parallel`
// spreads the blocks over threads (same bits either way).
template <ReduceOp Op, class T>
T reduce_row(const char* row, int64_t stride, int64_t K, bool parallel) {
  const int64_t nblocks = (K + kBlock - 1) / kBlock;
  auto block = [&](int64_t b) {
    int64_t begin = b * kBlock, n = std::min(kBlock, K - begin);
    const char* p = row + begin * stride;
    return stride == int64_t(sizeof(T)) ? reduce_contiguous<Op, T>(reinterpret_cast<const T*>(p), n)
                                        : reduce_strided<Op, T>(p, stride, n);
  };
  if (nblocks == 1) return block(0);
  std::vector<T> partial(size_t(nblocks), identity<T>(Op));
  auto run = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) partial[size_t(b)] = block(b);
  };
  if (parallel) parallel_for(0, nblocks, std::max<int64_t>(1, kGrain / kBlock), run);
  else run(0, nblocks);
  T result = partial[0];
  for (int64_t b = 1; b < nblocks; ++b) result = combine<Op, T>(result, partial[size_t(b)]);
  return result;
}

// out[m] = reduce_k in[m, k] where the kept dim is the contiguous one: vectorize across m and
// walk k in order (each output still sees its elements left to right). Four vectors of columns
// per walk read 4 cache lines of each row, so far fewer pages are touched per byte than with one.
template <ReduceOp Op, class T>
void reduce_columns(T* out, const char* in, int64_t M, int64_t K, int64_t sK) {
  const int64_t L = kLanes<T>, W = 4 * L;
  int64_t grain = std::max<int64_t>(W, (kGrain / std::max<int64_t>(K, 1)) / W * W);
  auto row = [&](int64_t k) { return reinterpret_cast<const T*>(in + k * sK); };
  parallel_for(0, M, grain, [&](int64_t m0, int64_t m1) {
    int64_t m = m0;
    if constexpr (!std::is_same_v<T, bool>) {
      const Vec<T> init = splat<Vec<T>>(identity<T>(Op));
      for (; m + W <= m1; m += W) {
        Vec<T> acc[4] = {init, init, init, init};
        for (int64_t k = 0; k < K; ++k)
          for (int j = 0; j < 4; ++j) acc[j] = combine<Op, T>(acc[j], vload(row(k) + m + j * L));
        for (int j = 0; j < 4; ++j) vstore(out + m + j * L, acc[j]);
      }
      for (; m + L <= m1; m += L) {
        Vec<T> acc = init;
        for (int64_t k = 0; k < K; ++k) acc = combine<Op, T>(acc, vload(row(k) + m));
        vstore(out + m, acc);
      }
    }
    for (; m < m1; ++m) out[m] = reduce_strided<Op, T>(in + m * int64_t(sizeof(T)), sK, K);
  });
}

template <ReduceOp Op, class T>
void reduce_typed(const Tensor& out, const Tensor& in) {
  const int64_t M = in.shape()[0], K = in.shape()[1];
  const int64_t sM = in.strides()[0] * int64_t(sizeof(T)), sK = in.strides()[1] * int64_t(sizeof(T));
  T* o = out.data<T>();
  const char* base = in.raw_data();
  if (M == 0) return;
  if (K == 0) {
    for (int64_t m = 0; m < M; ++m) o[m] = identity<T>(Op);
    return;
  }
  if (sM == int64_t(sizeof(T)) && sK != int64_t(sizeof(T)) && M > 1) {
    reduce_columns<Op, T>(o, base, M, K, sK);
    return;
  }
  if (M == 1) {
    o[0] = reduce_row<Op, T>(base, sK, K, true);
    return;
  }
  parallel_for(0, M, std::max<int64_t>(1, kGrain / K), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) o[m] = reduce_row<Op, T>(base + m * sM, sK, K, false);
  });
}

// All / Any: reduce `x != 0` into bool.
template <ReduceOp Op, class T>
void reduce_logical(const Tensor& out, const Tensor& in) {
  const int64_t M = in.shape()[0], K = in.shape()[1];
  const int64_t sM = in.strides()[0] * int64_t(sizeof(T)), sK = in.strides()[1] * int64_t(sizeof(T));
  bool* o = out.data<bool>();
  const char* base = in.raw_data();
  parallel_for(0, M, std::max<int64_t>(1, kGrain / std::max<int64_t>(K, 1)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      bool r = Op == ReduceOp::All;
      for (int64_t k = 0; k < K && r == (Op == ReduceOp::All); ++k)
        r = *reinterpret_cast<const T*>(base + m * sM + k * sK) != T(0);
      o[m] = r;
    }
  });
}

void reduce_kernel(ReduceOp op, const Tensor& out, const Tensor& in) {
  dispatch(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (op) {
      case ReduceOp::All: return reduce_logical<ReduceOp::All, T>(out, in);
      case ReduceOp::Any: return reduce_logical<ReduceOp::Any, T>(out, in);
      default: break;
    }
    if constexpr (!std::is_same_v<T, bool>) {
      switch (op) {
        case ReduceOp::Sum: return reduce_typed<ReduceOp::Sum, T>(out, in);
        case ReduceOp::Prod: return reduce_typed<ReduceOp::Prod, T>(out, in);
        case ReduceOp::Max: return reduce_typed<ReduceOp::Max, T>(out, in);
        case ReduceOp::Min: return reduce_typed<ReduceOp::Min, T>(out, in);
        default: break;
      }
    } else {
      // In bool, sum and max are any, prod and min all (sum(dtype=bool) left out wrote nothing).
      if (op == ReduceOp::Max || op == ReduceOp::Sum) return reduce_logical<ReduceOp::Any, T>(out, in);
      if (op == ReduceOp::Min || op == ReduceOp::Prod) return reduce_logical<ReduceOp::All, T>(out, in);
    }
  });
}

// First index of the max (min) of each row; a NaN beats every number, the first NaN wins.
template <class T>
void arg_reduce_typed(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in) {
  const int64_t M = in.shape()[0], K = in.shape()[1];
  const int64_t sM = in.strides()[0], sK = in.strides()[1];
  const T* base = in.data<T>();
  int64_t* idx = indices.data<int64_t>();
  T* val = values.defined() ? values.data<T>() : nullptr;
  parallel_for(0, M, std::max<int64_t>(1, kGrain / std::max<int64_t>(K, 1)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const T* row = base + m * sM;
      T best = row[0];
      int64_t best_k = 0;
      for (int64_t k = 1; k < K; ++k) {
        T x = row[k * sK];
        if constexpr (std::is_floating_point_v<T>) {
          if (best != best) break;
          if (x != x) {
            best = x;
            best_k = k;
            break;
          }
        }
        if (is_max ? x > best : x < best) {
          best = x;
          best_k = k;
        }
      }
      idx[m] = best_k;
      if (val) val[m] = best;
    }
  });
}

void arg_reduce_kernel(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& in) {
  dispatch(in.dtype(), [&](auto tag) {
    arg_reduce_typed<typename decltype(tag)::type>(op == ReduceOp::Max, values, indices, in);
  });
}

// (outer, n, inner): running sums or products along n, in order. float32 accumulates in float64
// and rounds each output, as PyTorch (a product may pass float32's range and come back); integers
// wrap.
template <class T, BinaryOp Op>
void cumulative_typed(const Tensor& out, const Tensor& in) {
  using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;
  const int64_t outer = in.shape()[0], n = in.shape()[1], inner = in.shape()[2];
  const int64_t s0 = in.strides()[0], s1 = in.strides()[1], s2 = in.strides()[2];
  const T* x = in.data<T>();
  T* o = out.data<T>();  // contiguous
  const VectorBinaryFn<Op, Acc> combine;
  parallel_for(0, outer * inner, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t i = t / inner, j = t % inner;
      Acc acc = Op == BinaryOp::Add ? Acc(0) : Acc(1);
      for (int64_t k = 0; k < n; ++k) {
        acc = combine(acc, Acc(x[i * s0 + k * s1 + j * s2]));
        o[(i * n + k) * inner + j] = T(acc);
      }
    }
  });
}

void cumulative_kernel(ReduceOp op, const Tensor& out, const Tensor& in) {
  dispatch(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      if (op == ReduceOp::Prod) cumulative_typed<T, BinaryOp::Mul>(out, in);
      else cumulative_typed<T, BinaryOp::Add>(out, in);
    }
  });
}

}  // namespace

void register_reduce(KernelTable& table) {
  table.reduce = reduce_kernel;
  table.arg_reduce = arg_reduce_kernel;
  table.cumulative = cumulative_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
