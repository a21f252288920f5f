// Vectorized float32 math (exp, log, log1p, tanh, erf) written once for V = float or Vec<float>;
// float64 and the functions without a vector version go lane by lane through <cmath>.
// The polynomials are the classic Cephes minimax fits (about 1 ulp for exp/log/tanh); erf uses a
// Taylor series below 1 and Abramowitz-Stegun 7.1.26 above (absolute error < 2e-7).
#pragma once

#include <cmath>
#include <limits>

#include "lamina/cpu/kernels/vec.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace detail {

template <class V>
using U32 = rebind_t<V, uint32_t>;

template <class V>
inline V exp_f32(V x) {
  using U = U32<V>;
  V xc = select(x > splat<V>(89.0f), splat<V>(89.0f), x);
  xc = select(xc < splat<V>(-104.0f), splat<V>(-104.0f), xc);
  // n = round(x / ln2) via the 1.5 * 2^23 trick: no float->int conversion, NaN-safe.
  const float kMagic = 12582912.0f;
  V t = xc * splat<V>(1.44269504088896341f) + splat<V>(kMagic);
  V n = t - splat<V>(kMagic);
  U ni = bitcast<U>(t) - splat<U>(bitcast<uint32_t>(kMagic));  // n as two's complement
  V r = xc - n * splat<V>(0.693359375f) - n * splat<V>(-2.12194440e-4f);
  V z = r * r;
  V p = splat<V>(1.9875691500E-4f);
  p = p * r + splat<V>(1.3981999507E-3f);
  p = p * r + splat<V>(8.3334519073E-3f);
  p = p * r + splat<V>(4.1665795894E-2f);
  p = p * r + splat<V>(1.6666665459E-1f);
  p = p * r + splat<V>(5.0000001201E-1f);
  V y = p * z + r + splat<V>(1.0f);
  // Multiply by 2^n as 2^(n/2) * 2^(n - n/2) so that both factors are normal floats.
  U half = bitcast<U>(bitcast<rebind_t<V, int32_t>>(ni) >> 1);
  U rest = ni - half;
  V f1 = bitcast<V>((half + splat<U>(127u)) << 23);
  V f2 = bitcast<V>((rest + splat<U>(127u)) << 23);
  y = y * f1 * f2;
  return select(x != x, x, y);
}

template <class V>
inline V log_f32(V x) {
  using U = U32<V>;
  using I = rebind_t<V, int32_t>;
  // Scale denormals into the normal range first.
  auto tiny = x < splat<V>(1.17549435e-38f);
  V xs = select(tiny, x * splat<V>(8388608.0f), x);
  V ebias = select(tiny, splat<V>(-23.0f), splat<V>(0.0f));
  U bits = bitcast<U>(xs);
  V e = convert<V>(bitcast<I>((bits >> 23) & splat<U>(0xffu)) - splat<I>(126)) + ebias;
  V m = bitcast<V>((bits & splat<U>(0x007fffffu)) | splat<U>(0x3f000000u));  // in [0.5, 1)
  auto small = m < splat<V>(0.707106781186547524f);
  e = select(small, e - splat<V>(1.0f), e);
  m = select(small, m + m - splat<V>(1.0f), m - splat<V>(1.0f));
  V z = m * m;
  V p = splat<V>(7.0376836292E-2f);
  p = p * m + splat<V>(-1.1514610310E-1f);
  p = p * m + splat<V>(1.1676998740E-1f);
  p = p * m + splat<V>(-1.2420140846E-1f);
  p = p * m + splat<V>(1.4249322787E-1f);
  p = p * m + splat<V>(-1.6668057665E-1f);
  p = p * m + splat<V>(2.0000714765E-1f);
  p = p * m + splat<V>(-2.4999993993E-1f);
  p = p * m + splat<V>(3.3333331174E-1f);
  V y = p * m * z;
  y = y + e * splat<V>(-2.12194440e-4f) - splat<V>(0.5f) * z;
  V r = m + y + e * splat<V>(0.693359375f);
  const float inf = std::numeric_limits<float>::infinity();
  r = select(x == splat<V>(0.0f), splat<V>(-inf), r);
  r = select(x == splat<V>(inf), x, r);
  r = select(x < splat<V>(0.0f), splat<V>(std::numeric_limits<float>::quiet_NaN()), r);
  return select(x != x, x, r);
}

// log(1 + u) without losing u when it is tiny: corrects log(y) by the rounding of y = 1 + u.
template <class V>
inline V log1p_f32(V u) {
  V y = u + splat<V>(1.0f);
  V d = y - splat<V>(1.0f);
  V l = log_f32(y);
  V corrected = l - (d - u) / y;
  // When y rounds to 1 the answer is u itself; for infinities keep log's result.
  V r = select(d == splat<V>(0.0f), u, corrected);
  return select(y == splat<V>(std::numeric_limits<float>::infinity()), l, r);
}

template <class V>
inline V tanh_f32(V x) {
  V ax = select(x < splat<V>(0.0f), -x, x);
  V z = x * x;
  V p = splat<V>(-5.70498872745E-3f);
  p = p * z + splat<V>(2.06390887954E-2f);
  p = p * z + splat<V>(-5.37397155531E-2f);
  p = p * z + splat<V>(1.33314422036E-1f);
  p = p * z + splat<V>(-3.33332819422E-1f);
  V small = p * z * x + x;
  V e = exp_f32(ax + ax);
  V big = splat<V>(1.0f) - splat<V>(2.0f) / (e + splat<V>(1.0f));
  big = select(x < splat<V>(0.0f), -big, big);
  return select(ax < splat<V>(0.625f), small, big);
}

template <class V>
inline V erf_f32(V x) {
  V ax = select(x < splat<V>(0.0f), -x, x);
  // |x| < 1: 2/sqrt(pi) * sum_k (-1)^k x^(2k+1) / (k! (2k+1)), Horner in x^2 (12 terms).
  V z = x * x;
  const float c[12] = {1.0f, -1.0f / 3, 1.0f / 10, -1.0f / 42, 1.0f / 216, -1.0f / 1320,
                       1.0f / 9360, -1.0f / 75600, 1.0f / 685440, -1.0f / 6894720,
                       1.0f / 76204800, -1.0f / 918086400};
  V p = splat<V>(c[11]);
  for (int k = 10; k >= 0; --k) p = p * z + splat<V>(c[k]);
  V small = splat<V>(1.1283791670955126f) * x * p;
  // |x| >= 1: Abramowitz-Stegun 7.1.26.
  V t = splat<V>(1.0f) / (splat<V>(1.0f) + splat<V>(0.3275911f) * ax);
  V q = splat<V>(1.061405429f);
  q = q * t + splat<V>(-1.453152027f);
  q = q * t + splat<V>(1.421413741f);
  q = q * t + splat<V>(-0.284496736f);
  q = q * t + splat<V>(0.254829592f);
  V big = splat<V>(1.0f) - q * t * exp_f32(-z);
  big = select(x < splat<V>(0.0f), -big, big);
  V r = select(ax < splat<V>(1.0f), small, big);
  return select(x != x, x, r);
}

}  // namespace detail

// Public entry points: float32 (scalar or vector) uses the polynomials, float64 uses <cmath>.
template <class V>
inline V vexp(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::exp_f32(x);
  else return map_lanes(x, [](elem_t<V> v) { return std::exp(v); });
}
template <class V>
inline V vlog(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::log_f32(x);
  else return map_lanes(x, [](elem_t<V> v) { return std::log(v); });
}
template <class V>
inline V vlog1p(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::log1p_f32(x);
  else return map_lanes(x, [](elem_t<V> v) { return std::log1p(v); });
}
template <class V>
inline V vtanh(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::tanh_f32(x);
  else return map_lanes(x, [](elem_t<V> v) { return std::tanh(v); });
}
template <class V>
inline V verf(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::erf_f32(x);
  else return map_lanes(x, [](elem_t<V> v) { return std::erf(v); });
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
