// Gathers and puts through precomputed element offsets (behind advanced indexing, gather/scatter,
// index_select/index_add), and nonzero.
//
// Determinism of puts: dims where dst has a nonzero stride ("slice" dims) address distinct
// elements, so chunks of them run in parallel; dims where dst has stride 0 carry the indices and
// may hit one element several times, so every chunk walks them in row-major order. Each element
// thus receives its updates in the same order for any thread count.
#include <cstring>
#include <vector>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/loops.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kIndexGrain = 16384;
constexpr int64_t kSliceRun = 16;  // slice positions per put task, at least (see put_typed)

template <class T>
void gather_typed(const Tensor& out, const Tensor& src, const Tensor& offset) {
  const Tensor* ts[3] = {&out, &src, &offset};
  const int64_t size = int64_t(sizeof(T));
  for_each(ts, [&](char** p, const int64_t* s, int64_t n) {
    if (s[2] == 0) {  // one offset for the whole run: a plain (strided) copy
      const char* from = p[1] + *reinterpret_cast<const int64_t*>(p[2]) * size;
      if (s[0] == size && s[1] == size) {
        if (n * size <= 256) {  // short rows (index_select along a middle dim): a loop beats memcpy's call
          T* to = reinterpret_cast<T*>(p[0]);
          const T* src = reinterpret_cast<const T*>(from);
          for (int64_t i = 0; i < n; ++i) to[i] = src[i];
        } else {
          std::memcpy(p[0], from, size_t(n * size));
        }
      } else {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const T*>(from + i * s[1]);
      }
      return;
    }
    if (s[0] == size && s[1] == 0 && s[2] == int64_t(sizeof(int64_t))) {
      // index_select along the last dim: a gather from one row (vectorisable as such)
      T* to = reinterpret_cast<T*>(p[0]);
      const T* row = reinterpret_cast<const T*>(p[1]);
      const int64_t* off = reinterpret_cast<const int64_t*>(p[2]);
      for (int64_t i = 0; i < n; ++i) to[i] = row[off[i]];
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      int64_t off = *reinterpret_cast<const int64_t*>(p[2] + i * s[2]);
      *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const T*>(p[1] + i * s[1] + off * size);
    }
  }, kIndexGrain);
}

void index_gather_kernel(const Tensor& out, const Tensor& src, const Tensor& offset) {
  dispatch(out.dtype(), [&](auto tag) { gather_typed<typename decltype(tag)::type>(out, src, offset); });
}

// A group of dims (outermost first) with the byte strides of the three put operands.
struct DimGroup {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims][3];

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  // Calls f(byte offsets[3], run length) over positions [begin, end) in row-major order, in runs
  // along the last dim (whose strides are strides[ndim - 1]).
  template <class F>
  void for_each_run(int64_t begin, int64_t end, const F& f) const {
    if (ndim == 0) {
      const int64_t zero[3] = {0, 0, 0};
      if (begin < end) f(zero, int64_t(1));
      return;
    }
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    for (int i = ndim - 1; i >= 0; --i) {
      idx[i] = rem % shape[i];
      rem /= shape[i];
    }
    const int last = ndim - 1;
    while (begin < end) {
      int64_t offs[3] = {0, 0, 0};
      for (int i = 0; i < ndim; ++i)
        for (int k = 0; k < 3; ++k) offs[k] += idx[i] * strides[i][k];
      int64_t n = std::min(shape[last] - idx[last], end - begin);
      f(offs, n);
      begin += n;
      idx[last] += n;
      for (int i = last; i > 0 && idx[i] == shape[i]; --i) {
        idx[i] = 0;
        ++idx[i - 1];
      }
    }
  }
};

template <class T, bool Accumulate>
void put_run(char* dst, const char* values, const char* offset, const int64_t* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = *reinterpret_cast<const int64_t*>(offset + i * s[2]);
    T* target = reinterpret_cast<T*>(dst + i * s[0] + off * int64_t(sizeof(T)));
    T v = *reinterpret_cast<const T*>(values + i * s[1]);
    if constexpr (Accumulate) *target = T(*target + v);
    else *target = v;
  }
}

template <class T, bool Accumulate>
void put_typed(const Tensor& dst, const Tensor& values, const Tensor& offset) {
  const Tensor* ts[3] = {&dst, &values, &offset};
  StridedOperands<3> op = make_operands(ts);
  DimGroup slice, index;  // split by whether dst moves along the dim
  for (int i = 0; i < op.ndim; ++i) {
    DimGroup& g = op.strides[i][0] != 0 ? slice : index;
    g.shape[g.ndim] = op.shape[i];
    for (int k = 0; k < 3; ++k) g.strides[g.ndim][k] = op.strides[i][k];
    ++g.ndim;
  }
  const int64_t nslice = slice.numel(), nindex = index.numel();
  if (nslice == 0 || nindex == 0) return;
  const int64_t* slice_step = slice.ndim ? slice.strides[slice.ndim - 1] : nullptr;
  const int64_t* index_step = index.ndim ? index.strides[index.ndim - 1] : nullptr;
  // At least kSliceRun slice positions per chunk: with many indices, one position per chunk would
  // read and write a single element of each destination row (a cache line per element).
  parallel_for(0, nslice, std::max<int64_t>(kSliceRun, kIndexGrain / nindex), [&](int64_t b, int64_t e) {
    // Index positions outermost, in order; the chunk's slice positions innermost.
    index.for_each_run(0, nindex, [&](const int64_t* ioff, int64_t icount) {
      for (int64_t j = 0; j < icount; ++j) {
        int64_t base[3];
        for (int k = 0; k < 3; ++k) base[k] = ioff[k] + (index_step ? j * index_step[k] : 0);
        slice.for_each_run(b, e, [&](const int64_t* soff, int64_t n) {
          const int64_t zero[3] = {0, 0, 0};
          put_run<T, Accumulate>(op.data[0] + base[0] + soff[0], op.data[1] + base[1] + soff[1],
                                 op.data[2] + base[2] + soff[2], slice_step ? slice_step : zero, n);
        });
      }
    });
  });
}

void index_put_kernel(const Tensor& dst, const Tensor& values, const Tensor& offset, bool accumulate) {
  dispatch(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (accumulate) put_typed<T, true>(dst, values, offset);
    else put_typed<T, false>(dst, values, offset);
  });
}

// Visits the coordinates of the nonzero elements of in's flat range [begin, end), in order.
template <class T, class F>
void walk_nonzero(const Tensor& in, int64_t begin, int64_t end, const F& visit) {
  const int nd = int(in.dim());
  int64_t idx[kMaxDims], step[kMaxDims];
  int64_t rem = begin;
  const char* p = in.raw_data();
  for (int d = nd - 1; d >= 0; --d) {
    step[d] = in.strides()[size_t(d)] * int64_t(sizeof(T));
    idx[d] = rem % in.shape()[size_t(d)];
    rem /= in.shape()[size_t(d)];
    p += idx[d] * step[d];
  }
  for (int64_t i = begin; i < end; ++i) {
    if (*reinterpret_cast<const T*>(p) != T(0)) visit(idx);
    for (int d = nd - 1; d >= 0; --d) {
      p += step[d];
      if (++idx[d] < in.shape()[size_t(d)]) break;
      p -= idx[d] * step[d];
      idx[d] = 0;
    }
  }
}

// Two passes over fixed chunks: count per chunk, then write each chunk at its prefix offset.
void nonzero_kernel(const Tensor& out, const Tensor& in) {
  dispatch(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t total = in.numel(), nd = in.dim();
    const int64_t nchunks = (total + kIndexGrain - 1) / kIndexGrain;
    std::vector<int64_t> start(size_t(nchunks + 1), 0);
    auto chunk_range = [&](int64_t c) { return std::make_pair(c * kIndexGrain, std::min(total, (c + 1) * kIndexGrain)); };
    parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        auto [b, e] = chunk_range(c);
        int64_t count = 0;
        walk_nonzero<T>(in, b, e, [&](const int64_t*) { ++count; });
        start[size_t(c + 1)] = count;
      }
    });
    for (int64_t c = 0; c < nchunks; ++c) start[size_t(c + 1)] += start[size_t(c)];
    // The op sized out from its own count; never write past it (another thread may write `in`).
    LAMINA_CHECK(start[size_t(nchunks)] == out.shape()[0], "nonzero: the input changed while it was read");
    int64_t* o = out.data<int64_t>();
    parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        auto [b, e] = chunk_range(c);
        int64_t* w = o + start[size_t(c)] * nd;
        walk_nonzero<T>(in, b, e, [&](const int64_t* idx) {
          for (int64_t d = 0; d < nd; ++d) *w++ = idx[d];
        });
      }
    });
  });
}

}  // namespace

void register_index(KernelTable& table) {
  table.index_gather = index_gather_kernel;
  table.index_put = index_put_kernel;
  table.nonzero = nonzero_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
