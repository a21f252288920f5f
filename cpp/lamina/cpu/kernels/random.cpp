// Random fills. Element i (in row-major order of `out`) uses Philox block (first_block + i), so
// a value depends only on the seed, the generator offset and i, never on the thread split.
#include <cmath>
#include <cstring>

#include "lamina/core/generator.h"
#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/cast.h"
#include "lamina/cpu/kernels/loops.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

inline double uniform53(uint32_t hi, uint32_t lo) {  // [0, 1)
  return double(((uint64_t(hi) << 32) | lo) >> 11) * 0x1.0p-53;
}
inline float uniform24(uint32_t r) { return float(r >> 8) * 0x1.0p-24f; }  // [0, 1)

// RandInt's bounds arrive bit-cast into the double parameters (see ops/random.cpp).
inline int64_t int_bits(double d) {
  int64_t v;
  std::memcpy(&v, &d, sizeof v);
  return v;
}

template <class T>
T draw(RandomOp op, const std::array<uint32_t, 4>& r, double a, double b) {
  switch (op) {
    case RandomOp::Uniform:
      if constexpr (std::is_same_v<T, float>) return float(a) + uniform24(r[0]) * float(b - a);
      else return T(a + uniform53(r[0], r[1]) * (b - a));
    case RandomOp::Normal: {
      // Box-Muller; u1 in (0, 1] keeps the log finite.
      double u1 = 1.0 - uniform53(r[0], r[1]), u2 = uniform53(r[2], r[3]);
      return T(a + b * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
    }
    case RandomOp::Bernoulli:
      return T(uniform53(r[0], r[1]) < a ? 1 : 0);
    case RandomOp::RandInt: {  // a = low, b = high - low (as uint64, >= 1)
      uint64_t range = uint64_t(int_bits(b));
      uint64_t bits = (uint64_t(r[0]) << 32) | r[1];
      return T(int64_t(uint64_t(int_bits(a)) + bits % range));  // wraps instead of overflowing
    }
  }
  return T(0);
}

void random_kernel(RandomOp op, const Tensor& out, uint64_t seed, uint64_t first_block, double a, double b) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.data<T>();  // contiguous, allocated by the op
    parallel_for(0, out.numel(), 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        auto r = philox_block(seed, first_block + uint64_t(i));
        if constexpr (std::is_same_v<T, bool>) o[i] = draw<int64_t>(op, r, a, b) != 0;
        else o[i] = draw<T>(op, r, a, b);
      }
    });
  });
}

}  // namespace

void register_random(KernelTable& table) { table.random = random_kernel; }

}  // namespace lamina::cpu::LAMINA_ISA_NS
