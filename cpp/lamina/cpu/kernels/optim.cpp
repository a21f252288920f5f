// Fused optimizer steps (see FusedOptimArgs in optim/fused.h): all tensors of a param group are
// laid end to end and cut into fixed chunks, so one parallel pass updates the whole group. Each
// element's update is a template over V = T (scalar tail) or Vec<T> (body) that follows the
// order of operations of PyTorch's single-tensor formulas in the parameter's dtype. Elements are
// independent and chunks depend only on the sizes, so results never depend on the thread count.
#include <algorithm>
#include <cmath>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/vec.h"
#include "lamina/cpu/parallel.h"
#include "lamina/optim/fused.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

// Elements per parallel chunk: an update reads and writes several arrays per element.
constexpr int64_t kOptimGrain = 16384;

// Lane-wise sqrt: GCC turns this into one vsqrtps/vsqrtpd (-fno-math-errno) at every ISA level.
template <class V>
inline V vsqrt(V x) {
  using T = elem_t<V>;
  return map_lanes(x, [](T v) { return std::sqrt(v); });
}

// |x| by clearing the sign bit.
template <class V>
inline V vabs(V x) {
  using T = elem_t<V>;
  if constexpr (is_scalar_v<V>) {
    return std::fabs(x);
  } else {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    using UV = rebind_t<V, U>;
    return bitcast<V>(UV(bitcast<UV>(x) & splat<UV>(~(U(1) << (8 * sizeof(T) - 1)))));
  }
}

// torch.maximum: NaN if either side is NaN.
template <class V>
inline V vmaximum(V a, V b) {
  V r = select(a > b, a, b);
  return select(a != a, a, r);
}

// torch.lerp(a, b, w) for a uniform weight (the branch is chosen once per call).
template <class V, class T>
inline V lerp(V a, V b, T w, bool small_weight) {
  if (small_weight) return a + splat<V>(w) * (b - a);
  return b - (b - a) * splat<V>(T(1) - w);
}

// The moments of Adam, NAdam and RAdam: m = lerp(m, grad, 1 - beta1) and
// v = beta2 v + (1 - beta2) grad^2, stored back and returned.
template <class T>
struct Moments {
  T w1, beta2, w2;
  bool small;
  explicit Moments(const OptimHyper& h)
      : w1(T(1 - h.beta1)), beta2(T(h.beta2)), w2(T(1 - h.beta2)), small(std::fabs(w1) < T(0.5)) {}
  template <class V>
  void update(T* m, T* v, int64_t i, V grad, V& mi, V& vi) const {
    mi = lerp(load<V>(m + i), grad, w1, small);
    vi = load<V>(v + i) * splat<V>(beta2) + splat<V>(w2) * (grad * grad);
    store(m + i, mi);
    store(v + i, vi);
  }
};

template <class T, class F>
inline void lanes(int64_t begin, int64_t end, const F& f) {
  int64_t i = begin;
  for (; i + kLanes<T> <= end; i += kLanes<T>) f(Vec<T>{}, i);
  for (; i < end; ++i) f(T{}, i);
}

// The gradient as the update sees it: negated for maximize, plus weight decay unless decoupled.
template <class V, class T>
inline V effective_grad(const OptimHyper& h, const T* g, V param, int64_t i) {
  V grad = load<V>(g + i);
  if (h.maximize) grad = -grad;
  if (h.weight_decay != 0 && !h.decoupled_weight_decay) grad = grad + splat<V>(T(h.weight_decay)) * param;
  return grad;
}

// Each update takes the hyper-parameters by value: stores through T* cannot alias a local copy,
// so its flags and factors stay in registers across the loop.
template <class T>
void sgd(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T* buf = static_cast<T*>(s.state[0]);
  const T lr = T(h.lr), mom = T(h.momentum), damp1 = T(1 - h.dampening);
  const bool init = s.init;
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    V grad = effective_grad<V>(h, g, pv, i);
    if (h.momentum != 0) {
      V m = init ? grad : load<V>(buf + i) * splat<V>(mom) + splat<V>(damp1) * grad;
      store(buf + i, m);
      grad = h.nesterov ? grad + splat<V>(mom) * m : m;
    }
    store(p + i, pv + splat<V>(-lr) * grad);
  });
}

// Adam / AdamW. coef: step_size = lr / bias_correction1, sqrt(bias_correction2).
template <class T>
void adam(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T *m = static_cast<T*>(s.state[0]), *v = static_cast<T*>(s.state[1]), *vmax = static_cast<T*>(s.state[2]);
  const Moments<T> moments(h);
  const T eps = T(h.eps), decay = T(1 - h.lr * h.weight_decay), neg_step = T(-s.coef[0]), bc2_sqrt = T(s.coef[1]);
  const bool decoupled = h.weight_decay != 0 && h.decoupled_weight_decay;
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    if (decoupled) pv = pv * splat<V>(decay);
    V grad = effective_grad<V>(h, g, pv, i), mi, vi;
    moments.update(m, v, i, grad, mi, vi);
    if (h.amsgrad) {
      vi = vmaximum(load<V>(vmax + i), vi);
      store(vmax + i, vi);
    }
    V denom = vsqrt(vi) / splat<V>(bc2_sqrt) + splat<V>(eps);
    store(p + i, pv + splat<V>(neg_step) * (mi / denom));
  });
}

template <class T>
void rmsprop(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T *sq = static_cast<T*>(s.state[0]), *ga = static_cast<T*>(s.state[1]), *buf = static_cast<T*>(s.state[2]);
  const T alpha = T(h.beta2), w = T(1 - h.beta2), eps = T(h.eps), lr = T(h.lr), mom = T(h.momentum);
  const bool small = std::fabs(w) < T(0.5);
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    V grad = effective_grad<V>(h, g, pv, i);
    V sqi = load<V>(sq + i) * splat<V>(alpha) + splat<V>(w) * (grad * grad);
    store(sq + i, sqi);
    V avg;
    if (h.centered) {
      V gai = lerp(load<V>(ga + i), grad, w, small);
      store(ga + i, gai);
      avg = vsqrt(sqi + splat<V>(T(-1)) * (gai * gai));
    } else {
      avg = vsqrt(sqi);
    }
    avg = avg + splat<V>(eps);
    if (h.momentum > 0) {
      V bi = load<V>(buf + i) * splat<V>(mom) + grad / avg;
      store(buf + i, bi);
      store(p + i, pv + splat<V>(-lr) * bi);
    } else {
      store(p + i, pv + splat<V>(-lr) * (grad / avg));
    }
  });
}

// coef: clr = lr / (1 + (step - 1) * lr_decay).
template <class T>
void adagrad(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T* sum = static_cast<T*>(s.state[0]);
  const T eps = T(h.eps), neg_clr = T(-s.coef[0]);
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    V grad = effective_grad<V>(h, g, pv, i);
    V si = load<V>(sum + i) + grad * grad;
    store(sum + i, si);
    store(p + i, pv + splat<V>(neg_clr) * (grad / (vsqrt(si) + splat<V>(eps))));
  });
}

template <class T>
void adadelta(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T *sq = static_cast<T*>(s.state[0]), *acc = static_cast<T*>(s.state[1]);
  const T rho = T(h.beta2), w = T(1 - h.beta2), eps = T(h.eps), lr = T(h.lr);
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    V grad = effective_grad<V>(h, g, pv, i);
    V sqi = load<V>(sq + i) * splat<V>(rho) + splat<V>(w) * (grad * grad);
    store(sq + i, sqi);
    V std_ = vsqrt(sqi + splat<V>(eps));
    V ai = load<V>(acc + i);
    V delta = vsqrt(ai + splat<V>(eps)) / std_ * grad;
    store(acc + i, ai * splat<V>(rho) + splat<V>(w) * (delta * delta));
    store(p + i, pv + splat<V>(-lr) * delta);
  });
}

// coef: clr = lr / bias_correction1.
template <class T>
void adamax(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T *m = static_cast<T*>(s.state[0]), *u = static_cast<T*>(s.state[1]);
  const T w1 = T(1 - h.beta1), beta2 = T(h.beta2), eps = T(h.eps), neg_clr = T(-s.coef[0]);
  const bool small = std::fabs(w1) < T(0.5);
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    V grad = effective_grad<V>(h, g, pv, i);
    V mi = lerp(load<V>(m + i), grad, w1, small);
    V ui = vmaximum(load<V>(u + i) * splat<V>(beta2), vabs(grad) + splat<V>(eps));
    store(m + i, mi);
    store(u + i, ui);
    store(p + i, pv + splat<V>(neg_clr) * (mi / ui));
  });
}

// coef: the gradient's and the average's step factors, bias_correction2.
template <class T>
void nadam(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T *m = static_cast<T*>(s.state[0]), *v = static_cast<T*>(s.state[1]);
  const Moments<T> moments(h);
  const T eps = T(h.eps), decay = T(1 - h.lr * h.weight_decay), c_grad = T(s.coef[0]), c_avg = T(s.coef[1]);
  const T bc2 = T(s.coef[2]);
  const bool decoupled = h.weight_decay != 0 && h.decoupled_weight_decay;
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    if (decoupled) pv = pv * splat<V>(decay);
    V grad = effective_grad<V>(h, g, pv, i), mi, vi;
    moments.update(m, v, i, grad, mi, vi);
    V denom = vsqrt(vi / splat<V>(bc2)) + splat<V>(eps);
    pv = pv + splat<V>(c_grad) * (grad / denom);
    store(p + i, pv + splat<V>(c_avg) * (mi / denom));
  });
}

// coef: bias_correction1, sqrt(bias_correction2), the rectification factor, 1 if rectified.
template <class T>
void radam(const OptimHyper h, const OptimSlot& s, int64_t b, int64_t e) {
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T *m = static_cast<T*>(s.state[0]), *v = static_cast<T*>(s.state[1]);
  const Moments<T> moments(h);
  const T eps = T(h.eps), lr = T(h.lr), decay = T(1 - h.lr * h.weight_decay), bc1 = T(s.coef[0]);
  const T bc2_sqrt = T(s.coef[1]), rect = T(s.coef[2]);
  const bool decoupled = h.weight_decay != 0 && h.decoupled_weight_decay, rectified = s.coef[3] != 0;
  lanes<T>(b, e, [&](auto tag, int64_t i) {
    using V = decltype(tag);
    V pv = load<V>(p + i);
    if (decoupled) pv = pv * splat<V>(decay);
    V grad = effective_grad<V>(h, g, pv, i), mi, vi;
    moments.update(m, v, i, grad, mi, vi);
    V update = mi / splat<V>(bc1) * splat<V>(lr);
    if (rectified) update = update * (splat<V>(bc2_sqrt) / (vsqrt(vi) + splat<V>(eps))) * splat<V>(rect);
    store(p + i, pv + splat<V>(T(-1)) * update);
  });
}

template <class T>
void update_range(const FusedOptimArgs& a, const OptimSlot& s, int64_t b, int64_t e) {
  switch (a.algo) {
    case OptimAlgo::SGD: return sgd<T>(a.hyper, s, b, e);
    case OptimAlgo::Adam: return adam<T>(a.hyper, s, b, e);
    case OptimAlgo::RMSprop: return rmsprop<T>(a.hyper, s, b, e);
    case OptimAlgo::Adagrad: return adagrad<T>(a.hyper, s, b, e);
    case OptimAlgo::Adadelta: return adadelta<T>(a.hyper, s, b, e);
    case OptimAlgo::Adamax: return adamax<T>(a.hyper, s, b, e);
    case OptimAlgo::NAdam: return nadam<T>(a.hyper, s, b, e);
    case OptimAlgo::RAdam: return radam<T>(a.hyper, s, b, e);
  }
}

void fused_optim_kernel(const FusedOptimArgs& a) {
  // Prefix sums of the sizes: chunk c covers [c * grain, (c + 1) * grain) of the concatenation.
  const size_t n = a.slots.size();
  std::vector<int64_t> start(n + 1, 0);
  for (size_t k = 0; k < n; ++k) start[k + 1] = start[k] + a.slots[k].numel;
  parallel_for(0, start[n], kOptimGrain, [&](int64_t cb, int64_t ce) {
    size_t k = size_t(std::upper_bound(start.begin(), start.end(), cb) - start.begin()) - 1;
    for (; k < n && start[k] < ce; ++k) {
      const OptimSlot& s = a.slots[k];
      int64_t b = std::max(cb, start[k]) - start[k], e = std::min(ce, start[k + 1]) - start[k];
      if (b >= e) continue;
      if (s.dtype == DType::Float64) update_range<double>(a, s, b, e);
      else update_range<float>(a, s, b, e);
    }
  });
}

}  // namespace

void register_optim(KernelTable& table) { table.fused_optim = fused_optim_kernel; }

}  // namespace lamina::cpu::LAMINA_ISA_NS
