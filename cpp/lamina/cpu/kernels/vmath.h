// Vectorized float32 math written once for V = float or Vec<float>; float64 and the functions
// without a vector version go lane by lane through <cmath>. Accurate over the whole float range,
// subnormal results included (tests/ops/test_numerics.py; max error measured on 44M inputs):
// exp 1.0 ulp, log 0.8, log1p 1.4, tanh 1.3, erf 1.3, sigmoid 2.3, softplus 1.9, silu 3.1,
// gelu_tanh 3.1, gelu 3.6. Tails that underflow keep exp's 2^n apart and apply it last; gelu's
// erfc tail uses exp(-x^2/2) with x^2 split exactly, gelu_tanh reduces its exp argument in float64.
// exp/log/tanh use the classic Cephes minimax fits; the erf/erfc polynomials were fitted for lamina.
#pragma once

#include <cmath>
#include <limits>

#include "lamina/cpu/kernels/vec.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace detail {

template <class V>
using U32 = rebind_t<V, uint32_t>;
template <class V>
using I32 = rebind_t<V, int32_t>;

template <class V>
inline V abs_f32(V x) {
  return bitcast<V>(bitcast<U32<V>>(x) & splat<U32<V>>(0x7fffffffu));
}

// exp(x + x_lo) = y * 2^n with y in [sqrt(1/2), sqrt(2)], x clamped to [lo, 89]. lo >= -170
// keeps n within what ldexp_f32 can apply. NaN gives a NaN y.
template <class V>
struct ExpSplit {
  V y;
  I32<V> n;
};
// exp(r) for |r| <= ln2 / 2 (+ rounding slack): the Cephes minimax polynomial.
template <class V>
inline V exp_reduced(V r) {
  V z = r * r;
  V p = splat<V>(1.9875691500E-4f);
  p = p * r + splat<V>(1.3981999507E-3f);
  p = p * r + splat<V>(8.3334519073E-3f);
  p = p * r + splat<V>(4.1665795894E-2f);
  p = p * r + splat<V>(1.6666665459E-1f);
  p = p * r + splat<V>(5.0000001201E-1f);
  return p * z + r + splat<V>(1.0f);
}

template <class V>
inline ExpSplit<V> exp_split(V x, float lo, V x_lo = V{}) {
  using I = I32<V>;
  V xc = select(x > splat<V>(89.0f), splat<V>(89.0f), x);
  xc = select(xc < splat<V>(lo), splat<V>(lo), xc);
  // n = round(x / ln2) via the 1.5 * 2^23 trick: no float->int conversion, NaN-safe.
  const float kMagic = 12582912.0f;
  V t = xc * splat<V>(1.44269504088896341f) + splat<V>(kMagic);
  V n = t - splat<V>(kMagic);
  I ni = bitcast<I>(t) - splat<I>(bitcast<int32_t>(kMagic));
  // x_lo: the low part of a double-float argument (x + x_lo), added after the exact reduction.
  V r = xc - n * splat<V>(0.693359375f) - n * splat<V>(-2.12194440e-4f) + x_lo;
  return {exp_reduced(r), ni};
}

// v * 2^n for n in [-252, 254], as two normal powers of two; the less extreme factor is
// applied first so that a subnormal result is (nearly always) rounded only once.
template <class V>
inline V ldexp_f32(V v, I32<V> n) {
  using I = I32<V>;
  using U = U32<V>;
  I low = n >> 1, high = n - low;  // low <= high
  // Shifted as unsigned: a NaN input gives a garbage n, which must not be undefined behaviour.
  V f_low = bitcast<V>(bitcast<U>(low + splat<I>(127)) << 23);
  V f_high = bitcast<V>(bitcast<U>(high + splat<I>(127)) << 23);
  return v * f_high * f_low;
}

template <class V>
inline V exp_f32(V x) {
  ExpSplit<V> e = exp_split(x, -104.0f);  // exp(-104) already rounds to 0
  V y = ldexp_f32(e.y, e.n);
  return select(x != x, x, y);
}

template <class V>
inline V log_f32(V x) {
  using U = U32<V>;
  using I = I32<V>;
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
  // When y rounds to 1 the answer is u itself; at y = 0 (u = -1) and y = inf keep log's result.
  V r = select(d == splat<V>(0.0f), u, corrected);
  auto edge = (y == splat<V>(std::numeric_limits<float>::infinity())) | (y == splat<V>(0.0f));
  return select(edge, l, r);
}

template <class V>
inline V tanh_f32(V x) {
  V ax = abs_f32(x);
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
  V r = select(ax < splat<V>(0.625f), small, big);
  return select(x == splat<V>(0.0f), x, r);  // keeps the sign of -0
}

// Horner evaluation of c[0] + c[1] s + ... + c[N-1] s^(N-1).
template <class V, int N>
inline V poly(V s, const float (&c)[N]) {
  V p = splat<V>(c[N - 1]);
  for (int k = N - 2; k >= 0; --k) p = p * s + splat<V>(c[k]);
  return p;
}

// scale * sigmoid(x) given es = exp(-|x|) as y 2^n: 1 / (1 + e) for x >= 0, e / (1 + e) for
// x < 0. Where the result is subnormal (x < -80), e / (1 + e) is computed as y / (1 + e) with 2^n
// applied last, so it is rounded once; below x = -170 it is (signed) zero (|scale| exp(-170)
// underflows for |scale| < 2^70).
template <class V>
inline V sigmoid_from_split(V x, V scale, ExpSplit<V> es) {
  auto neg = x < splat<V>(0.0f);
  V e = ldexp_f32(es.y, es.n);
  V den = splat<V>(1.0f) + e;
  V r = scale * select(neg, e, splat<V>(1.0f)) / den;
  auto deep = x < splat<V>(-80.0f);
  if (any_lane(deep)) {  // rare
    r = select(deep, ldexp_f32(scale * es.y / den, es.n), r);
    r = select(x < splat<V>(-170.0f), scale * splat<V>(0.0f), r);
  }
  return select(x != x, x, r);
}

template <class V>
inline V scaled_sigmoid_f32(V x, V scale) {
  return sigmoid_from_split(x, scale, exp_split(-abs_f32(x), -170.0f));
}

// sigmoid alone needs no special tail: when e = exp(-|x|) is subnormal, 1 + e rounds to 1 and
// e / (1 + e) = e, rounded once (by ldexp).
template <class V>
inline V sigmoid_f32(V x) {
  ExpSplit<V> es = exp_split(-abs_f32(x), -104.0f);
  V e = ldexp_f32(es.y, es.n);
  V r = select(x < splat<V>(0.0f), e, splat<V>(1.0f)) / (splat<V>(1.0f) + e);
  return select(x != x, x, r);
}

// x * sigmoid(x); -inf gives -0 (the limit).
template <class V>
inline V silu_f32(V x) {
  V r = scaled_sigmoid_f32(x, select(x < splat<V>(-1e20f), splat<V>(-1e20f), x));
  // silu(-inf) = -inf * 0 is NaN, as PyTorch gives.
  return select(x == splat<V>(-std::numeric_limits<float>::infinity()), splat<V>(std::numeric_limits<float>::quiet_NaN()), r);
}

// erf(x) for |x| <= 1 as x + x R(x^2), R a degree-7 fit (the leading term stays exact).
template <class V>
inline V erf_small_f32(V x) {
  const float c[8] = {0.12837916612625122f, -0.3761262893676758f,   0.11283627897500992f,
                      -0.0268560778349638f, 0.00519415270537138f,   -0.0008088098838925362f,
                      8.375915058422834e-05f, -1.38590439746622e-06f};
  return x + x * poly(x * x, c);
}

// erfc(z) e^(z^2) on [1, 3.95], a degree-11 fit in z - 2.5 (relative error 5e-8).
template <class V>
inline V erfcx_mid_f32(V z) {
  const float c[12] = {0.21080635488033295f,   -0.0743473470211029f,    0.024938272312283516f,
                       -0.008001627400517464f, 0.0024656965397298336f,  -0.0007332587847486138f,
                       0.0002133781963493675f, -5.947277895756997e-05f, 1.4123262189968955e-05f,
                       -3.7461045394593384e-06f, 1.7167724308819743e-06f, -4.30155068897875e-07f};
  return poly(z - splat<V>(2.5f), c);
}

template <class V>
inline V erf_f32(V x) {
  V ax = abs_f32(x);
  V z = select(ax > splat<V>(3.95f), splat<V>(3.95f), ax);  // erf rounds to +-1 from 3.92 on
  // |x| >= 1: 1 - erfc(|x|); exp(-x^2) needs no exact split here (erfc < 0.16 is subtracted).
  V big = splat<V>(1.0f) - erfcx_mid_f32(z) * exp_f32(-(z * z));
  big = select(x < splat<V>(0.0f), -big, big);
  V r = select(ax < splat<V>(1.0f), erf_small_f32(x), big);
  return select(x != x, x, r);
}

// Phi(-a) e^(a^2/2) for a >= 0.7 (Phi the normal CDF, times 2): a degree-11 fit in a - 1.8 on
// [0.7, 2.9]; beyond, Q(1/a^2) / a with Q a degree-8 fit on a in [2.9, 14.5].
template <class V>
inline V normal_tail_scaled_f32(V a) {
  const float h[12] = {0.3631182909011841f,     -0.1442716270685196f,     0.05171486362814903f,
                       -0.017061816528439522f,  0.0052496287971735f,      -0.0015214976156130433f,
                       0.00042160434531979263f, -0.00011104081204393879f, 2.4504402972524986e-05f,
                       -5.47977106180042e-06f,  2.7620262699201703e-06f,  -7.836457029952726e-07f};
  const float q[9] = {0.7978845238685608f, -0.7978679537773132f, 2.3910138607025146f,
                      -11.761494636535645f, 74.38556671142578f,  -477.7940979003906f,
                      2472.559814453125f,   -8269.55078125f,     12765.888671875f};
  auto far = a > splat<V>(2.9f);
  V r = poly(select(far, splat<V>(2.9f), a) - splat<V>(1.8f), h);
  if (any_lane(far)) {  // |x| > 2.9 is rare in activations
    V u = splat<V>(1.0f) / select(far, a, splat<V>(2.9f));
    r = select(far, u * poly(u * u, q), r);
  }
  return r;
}

// gelu(x) = x Phi(x). |x| < 0.7: 0.5 x (1 + erf(x / sqrt 2)). Otherwise, with
// q = Phi(-|x|) = 0.5 tail(|x|) exp(-x^2 / 2): x q for x < 0 (2^n of the exp applied last, so
// the tail keeps its precision down to subnormals) and x (1 - q) for x > 0. x^2 is split as
// hi^2 + lo with hi of 12 significant bits (hi^2 exact), and exp takes -hi^2/2 - lo/2 in two parts.
template <class V>
inline V gelu_f32(V x) {
  using U = U32<V>;
  V a = select(abs_f32(x) > splat<V>(14.5f), splat<V>(14.5f), abs_f32(x));  // Phi(-14.5) < 2^-150
  V hi = bitcast<V>(bitcast<U>(a) & splat<U>(0xfffff000u));
  ExpSplit<V> ea = exp_split(splat<V>(-0.5f) * hi * hi, -170.0f, splat<V>(-0.5f) * (a - hi) * (a + hi));
  V q = splat<V>(0.5f) * normal_tail_scaled_f32(a) * ea.y;  // times 2^n
  V q2 = ldexp_f32(q, ea.n);
  V tail = select(x < splat<V>(0.0f), x * q2, x * (splat<V>(1.0f) - q2));
  auto deep = x < splat<V>(-12.0f);  // results near or below the subnormal range: round once
  if (any_lane(deep)) {
    tail = select(deep, ldexp_f32(x * q, ea.n), tail);
    tail = select(x < splat<V>(-14.5f), splat<V>(-0.0f), tail);
  }
  V r = select(a < splat<V>(0.7f), splat<V>(0.5f) * x * (splat<V>(1.0f) +
                                                          erf_small_f32(x * splat<V>(0.70710678118654752f))),
               tail);
  r = select(x == splat<V>(std::numeric_limits<float>::infinity()), x, r);
  // gelu(-inf) = -inf * Phi(-inf) = -inf * 0 is NaN, as PyTorch gives.
  r = select(x == splat<V>(-std::numeric_limits<float>::infinity()), splat<V>(std::numeric_limits<float>::quiet_NaN()), r);
  return select(x != x, x, r);
}

// For gelu_tanh: 2u = 2 sqrt(2/pi) (x + 0.044715 x^3) and the reduction of exp(-|2u|) to
// 2^n exp(r), in float64 (D = double or Vec<double>), so that only the exp polynomial is float32.
template <class D>
inline void gelu_tanh_reduce_f64(D x, D& u2, D& r, D& n) {
  u2 = splat<D>(2 * 0.7978845608028654) * (x + splat<D>(0.044715) * x * x * x);
  D t = select(u2 < splat<D>(0.0), u2, -u2);  // -|2u|
  t = select(t < splat<D>(-170.0), splat<D>(-170.0), t);
  const double kMagic = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  n = (t * splat<D>(1.4426950408889634) + splat<D>(kMagic)) - splat<D>(kMagic);
  r = t - n * splat<D>(0.6931471805599453);
}

// 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation for x < 0. sigmoid(2u) has condition
// number ~|2u| (up to ~170 before it underflows), hence the float64 reduction above; a float
// vector goes through it as two native double vectors. x is capped so that 2u stays finite.
template <class V>
inline V gelu_tanh_f32(V x) {
  using I = I32<V>;
  V xc = select(x < splat<V>(-1e4f), splat<V>(-1e4f), x);
  V u2, r, n;
  if constexpr (is_scalar_v<V>) {
    double u2d, rd, nd;
    gelu_tanh_reduce_f64(double(xc), u2d, rd, nd);
    u2 = float(u2d), r = float(rd), n = float(nd);
  } else {
    using Half = decltype(half<false>(xc));
    Vec<double> u2d[2], rd[2], nd[2];
    gelu_tanh_reduce_f64(__builtin_convertvector(half<false>(xc), Vec<double>), u2d[0], rd[0], nd[0]);
    gelu_tanh_reduce_f64(__builtin_convertvector(half<true>(xc), Vec<double>), u2d[1], rd[1], nd[1]);
    auto narrow = [](const Vec<double>(&d)[2]) {
      return join(__builtin_convertvector(d[0], Half), __builtin_convertvector(d[1], Half));
    };
    u2 = narrow(u2d), r = narrow(rd), n = narrow(nd);
  }
  ExpSplit<V> es{exp_reduced(r), convert<I>(n)};
  V res = sigmoid_from_split(u2, xc, es);
  res = select(x == splat<V>(-std::numeric_limits<float>::infinity()), splat<V>(std::numeric_limits<float>::quiet_NaN()), res);
  return select(x > splat<V>(1e4f), x, res);  // -inf * 0 is NaN, as in PyTorch
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

// float64: e = exp(-|x|), sigmoid = 1/(1+e) or e/(1+e), so no exp overflow and no 1 - s loss.
inline double sigmoid_f64(double x) {
  double e = std::exp(-std::fabs(x)), s = 1.0 / (1.0 + e);
  return x < 0 ? e * s : s;
}

template <class V>
inline V vsigmoid(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::sigmoid_f32(x);
  else return map_lanes(x, [](double v) { return sigmoid_f64(v); });
}
template <class V>
inline V vsilu(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::silu_f32(x);
  else return map_lanes(x, [](double v) {
    return std::isinf(v) && v < 0 ? std::numeric_limits<double>::quiet_NaN() : v < -1e300 ? -0.0 : v * sigmoid_f64(v);
  });
}
template <class V>
inline V vgelu(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) return detail::gelu_f32(x);
  else return map_lanes(x, [](double v) { return 0.5 * v * std::erfc(-v * M_SQRT1_2); });
}
template <class V>
inline V vgelu_tanh(V x) {
  if constexpr (std::is_same_v<elem_t<V>, float>) {
    return detail::gelu_tanh_f32(x);
  } else {
    return map_lanes(x, [](double v) {
      double u2 = 2 * 0.7978845608028654 * (v + 0.044715 * v * v * v);
      return std::isinf(v) ? (v > 0 ? v : std::numeric_limits<double>::quiet_NaN()) : v * sigmoid_f64(u2);
    });
  }
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
