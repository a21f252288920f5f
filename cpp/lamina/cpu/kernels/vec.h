// SIMD vectors for per-ISA kernel files, as GCC/Clang vector extensions: Vec<float> is 16, 32 or
// 64 bytes wide depending on the ISA this file is compiled for, and the compiler lowers the
// operators to SSE2/NEON, AVX2 or AVX-512. Elementwise math is written once as templates over
// V = T (the scalar tail) or V = Vec<T> (the body). Everything lives in lamina::cpu::<isa>.
#pragma once

#ifndef LAMINA_ISA_NS
#error "vec.h is only for the per-ISA kernel files in cpu/kernels/"
#endif

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace lamina::cpu::LAMINA_ISA_NS {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes)));
};
template <class T>
using Vec = typename VecOf<T>::type;
// A vector of N lanes of T, whatever its width (the compiler splits what a register cannot hold).
template <class T, size_t N>
struct VecOfN {
  typedef T type __attribute__((vector_size(N * sizeof(T))));
};
template <class T>
constexpr int64_t kLanes = kVecBytes / int64_t(sizeof(T));

template <class T>
inline Vec<T> vload(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void vstore(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// Traits that let one template serve scalars and vectors.
template <class V>
constexpr bool is_scalar_v = std::is_arithmetic_v<V>;
template <class V, class = void>
struct ElemOf {
  using type = V;
};
template <class V>
struct ElemOf<V, std::enable_if_t<!std::is_arithmetic_v<V>>> {
  using type = std::remove_cv_t<std::remove_reference_t<decltype(std::declval<V>()[0])>>;
};
template <class V>
using elem_t = typename ElemOf<V>::type;

// V with a different element type of the same size (float -> uint32_t), scalar or vector.
// One lane (V a scalar) or a whole vector at p: one kernel body serves the vector loop and its tail.
template <class V, class T>
inline V load(const T* p) {
  if constexpr (is_scalar_v<V>) return *p;
  else return vload(p);
}
template <class V, class T>
inline void store(T* p, V v) {
  if constexpr (is_scalar_v<V>) *p = v;
  else vstore(p, v);
}

template <class V, class E>
using rebind_t = std::conditional_t<is_scalar_v<V>, E, Vec<E>>;

template <class V>
inline V splat(elem_t<V> x) {
  if constexpr (is_scalar_v<V>) return x;
  else return x - V{};  // not V{} + x, which would turn -0.0 into +0.0
}

template <class To, class From>
inline To bitcast(From x) {
  static_assert(sizeof(To) == sizeof(From), "bitcast between different sizes");
  To y;
  std::memcpy(&y, &x, sizeof y);
  return y;
}

// Two's-complement wrapping arithmetic on integer scalars or vectors: computed on the unsigned
// type, since signed overflow is undefined behaviour (for vector lanes too).
template <class V>
using UnsignedLanes = rebind_t<V, std::make_unsigned_t<elem_t<V>>>;
template <class V>
inline V wrapping_add(V a, V b) {
  return bitcast<V>(UnsignedLanes<V>(bitcast<UnsignedLanes<V>>(a) + bitcast<UnsignedLanes<V>>(b)));
}
template <class V>
inline V wrapping_sub(V a, V b) {
  return bitcast<V>(UnsignedLanes<V>(bitcast<UnsignedLanes<V>>(a) - bitcast<UnsignedLanes<V>>(b)));
}
template <class V>
inline V wrapping_mul(V a, V b) {
  return bitcast<V>(UnsignedLanes<V>(bitcast<UnsignedLanes<V>>(a) * bitcast<UnsignedLanes<V>>(b)));
}

// Numeric conversion (int <-> float) lane by lane.
template <class To, class From>
inline To convert(From x) {
  if constexpr (is_scalar_v<From>) return To(x);
  else return __builtin_convertvector(x, To);
}

// cond ? a : b for a scalar bool or a vector mask.
template <class M, class V>
inline V select(M cond, V a, V b) {
  return cond ? a : b;
}

// Applies a scalar function to each lane (for functions without a vector version).
template <class V, class F>
inline V map_lanes(V x, F f) {
  if constexpr (is_scalar_v<V>) {
    return f(x);
  } else {
    for (int i = 0; i < int(sizeof(V) / sizeof(elem_t<V>)); ++i) x[i] = f(x[i]);
    return x;
  }
}

// The lower or upper half of a vector, and two halves joined (register shuffles, no memory).
template <class T, size_t N>
using HalfOf = typename VecOfN<T, N / 2>::type;
template <size_t Offset, class V, size_t... I>
inline auto half_lanes(V v, std::index_sequence<I...>) {
  return __builtin_shufflevector(v, v, (Offset + I)...);
}
template <bool Upper, class V>
inline auto half(V v) {
  constexpr size_t n = sizeof(V) / sizeof(elem_t<V>);
  return half_lanes<Upper ? n / 2 : 0>(v, std::make_index_sequence<n / 2>{});
}
template <class H, size_t... I>
inline auto join_lanes(H lo, H hi, std::index_sequence<I...>) {
  return __builtin_shufflevector(lo, hi, I...);
}
template <class H>
inline auto join(H lo, H hi) {
  return join_lanes(lo, hi, std::make_index_sequence<2 * sizeof(H) / sizeof(elem_t<H>)>{});
}

// Whether any lane of a comparison result is true (a scalar bool is its own answer). Lets
// vector code skip work that only rare lanes need; each lane's value must not depend on it.
template <class W>
inline uint64_t or_lanes(W w) {  // W: a vector of uint64_t; halving shuffles, no memory
  if constexpr (sizeof(W) == 8) return w[0];
  else return or_lanes(half<false>(w) | half<true>(w));
}
template <class M>
inline bool any_lane(M mask) {
  if constexpr (std::is_same_v<M, bool>) {
    return mask;
  } else {
    return or_lanes(bitcast<typename VecOfN<uint64_t, sizeof(M) / 8>::type>(mask)) != 0;
  }
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
