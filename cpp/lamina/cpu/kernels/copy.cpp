// fill and copy (with dtype conversion) over arbitrary strides.
#include <cmath>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/cast.h"
#include "lamina/cpu/kernels/loops.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

void fill_kernel(const Tensor& out, Scalar value) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = value.to<T>();
    const Tensor* ts[1] = {&out};
    for_each(ts, [&](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

template <class To, class From>
void copy_typed(const Tensor& out, const Tensor& src) {
  const Tensor* ts[2] = {&out, &src};
  for_each(ts, [&](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(To) && s[1] == sizeof(From)) {
      To* o = reinterpret_cast<To*>(p[0]);
      const From* x = reinterpret_cast<const From*>(p[1]);
      if constexpr (std::is_same_v<To, From>) {
        std::memmove(o, x, size_t(n) * sizeof(To));
      } else {
        for (int64_t i = 0; i < n; ++i) o[i] = cast_value<To>(x[i]);
      }
    } else if (s[1] == 0) {
      const To v = cast_value<To>(*reinterpret_cast<const From*>(p[1]));
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<To*>(p[0] + i * s[0]) = v;
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<To*>(p[0] + i * s[0]) = cast_value<To>(*reinterpret_cast<const From*>(p[1] + i * s[1]));
    }
  });
}

void copy_kernel(const Tensor& out, const Tensor& src) {
  dispatch(out.dtype(), [&](auto to) {
    dispatch(src.dtype(), [&](auto from) {
      copy_typed<typename decltype(to)::type, typename decltype(from)::type>(out, src);
    });
  });
}

void arange_kernel(const Tensor& out, Scalar start, Scalar step) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.data<T>();
    parallel_for(0, out.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if constexpr (std::is_floating_point_v<T>) o[i] = T(start.to_double() + double(i) * step.to_double());
        else o[i] = cast_value<T>(int64_t(uint64_t(start.to_int()) + uint64_t(i) * uint64_t(step.to_int())));
      }
    });
  });
}

void linspace_kernel(const Tensor& out, double start, double end) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.data<T>();
    const int64_t n = out.numel();
    const double step = (end - start) / double(n - 1);
    parallel_for(0, n, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        double v = i < n / 2 ? start + step * double(i) : end - step * double(n - 1 - i);
        o[i] = cast_value<T>(v);
      }
    });
  });
}

}  // namespace

void register_copy(KernelTable& table) {
  table.fill = fill_kernel;
  table.copy = copy_kernel;
  table.arange = arange_kernel;
  table.linspace = linspace_kernel;
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
