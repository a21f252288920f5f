// sort and topk along the middle dim of a 3-D (outer, n, inner) view. Each row is copied into
// (key, index) pairs and ordered by a total order (NaN above every number, equal keys by input
// position), so the result is unique: stable, and the same for any thread count or algorithm.
#include <algorithm>
#include <cmath>
#include <vector>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/parallel.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int64_t kSortGrain = 16384;  // elements of work per parallel task

template <class T>
struct Item {
  T key;
  int64_t index;
};

template <class T>
inline bool key_less(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return a < b || (std::isnan(b) && !std::isnan(a));
  else return a < b;
}

template <class T>
struct Order {
  bool descending;
  bool operator()(const Item<T>& a, const Item<T>& b) const {
    if (descending ? key_less(b.key, a.key) : key_less(a.key, b.key)) return true;
    if (descending ? key_less(a.key, b.key) : key_less(b.key, a.key)) return false;
    return a.index < b.index;
  }
};

// Orders every row of `in` and writes the first k entries of each to values/indices, which are
// contiguous (outer, k, inner).
template <class T>
void order_rows(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool descending) {
  const int64_t outer = in.shape()[0], n = in.shape()[1], inner = in.shape()[2];
  const int64_t s0 = in.strides()[0], s1 = in.strides()[1], s2 = in.strides()[2];
  const T* x = in.data<T>();
  T* v = values.data<T>();
  int64_t* ix = indices.data<int64_t>();
  const Order<T> order{descending};
  parallel_for(0, outer * inner, std::max<int64_t>(1, kSortGrain / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    std::vector<Item<T>> items(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / inner, i = r % inner;
      const T* row = x + o * s0 + i * s2;
      for (int64_t j = 0; j < n; ++j) items[size_t(j)] = {row[j * s1], j};
      if (k < n / 8) std::partial_sort(items.begin(), items.begin() + k, items.end(), order);
      else std::sort(items.begin(), items.end(), order);
      for (int64_t j = 0; j < k; ++j) {
        int64_t at = (o * k + j) * inner + i;
        v[at] = items[size_t(j)].key;
        ix[at] = items[size_t(j)].index;
      }
    }
  });
}

void sort_kernel(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) {
  dispatch(in.dtype(), [&](auto tag) {
    order_rows<typename decltype(tag)::type>(values, indices, in, in.shape()[1], descending);
  });
}

void topk_kernel(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest) {
  dispatch(in.dtype(), [&](auto tag) { order_rows<typename decltype(tag)::type>(values, indices, in, k, largest); });
}

}  // namespace

void register_sort(KernelTable& table) {
  table.sort = sort_kernel;
  table.topk = topk_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
