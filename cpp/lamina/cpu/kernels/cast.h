// Value conversion between element types, defined for every input: float -> int saturates
// NaN and out-of-range values to the integer minimum (what x86 produces) instead of being
// undefined behaviour; anything -> bool is "!= 0".
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

namespace lamina::cpu::LAMINA_ISA_NS {

template <class To, class From>
inline To cast_value(From x) {
  if constexpr (std::is_same_v<To, bool>) {
    return x != From(0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    // The upper bound 2^(bits-1) is exact in From; anything outside the range saturates.
    const From lo = From(std::numeric_limits<To>::min());
    const From hi = -lo;
    return (x >= lo && x < hi) ? To(x) : std::numeric_limits<To>::min();
  } else {
    return To(x);
  }
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
