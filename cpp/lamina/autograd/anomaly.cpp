// Anomaly mode: flags, the thread-local module-path stack, per-node records and the NaN/Inf scans.
#include "lamina/autograd/anomaly.h"

#include <cctype>
#include <cmath>
#include <optional>
#include <sstream>

#include "lamina/autograd/node.h"
#include "lamina/cpu/parallel.h"
#include "lamina/ops/ops.h"

namespace lamina::autograd::anomaly {

std::atomic<bool> g_enabled{false};

namespace {

std::atomic<bool> g_check_nan{true};
thread_local std::vector<std::shared_ptr<const std::string>> t_modules;
thread_local const Node* t_backward_node = nullptr;

// NaN/Inf have an all-ones exponent: (bits & exponent_mask) + lowest_exponent_bit then carries
// into the sign bit. Integer and/or/add vectorise without -ffast-math: one pass over the data.
template <class U>
bool any_non_finite(const U* __restrict p, int64_t n, U exponent_mask, U lowest_exponent_bit) {
  U hit = 0;
  for (int64_t i = 0; i < n; ++i) hit |= (p[i] & exponent_mask) + lowest_exponent_bit;
  return (hit >> (sizeof(U) * 8 - 1)) != 0;
}

template <class U>
bool all_finite_bits(const void* data, int64_t n, U exponent_mask, U lowest_exponent_bit) {
  const U* p = static_cast<const U*>(data);
  std::atomic<bool> bad{false};
  cpu::parallel_for(0, n, int64_t(1) << 18, [&](int64_t b, int64_t e) {
    if (!bad.load(std::memory_order_relaxed) && any_non_finite<U>(p + b, e - b, exponent_mask, lowest_exponent_bit))
      bad.store(true, std::memory_order_relaxed);
  });
  return !bad.load();
}

// Exact scan of a contiguous float tensor; nullopt for other layouts.
std::optional<bool> all_finite_contiguous(const Tensor& t) {
  if (!t.is_contiguous() || !t.device().is_cpu()) return std::nullopt;
  if (t.dtype() == DType::Float32) return all_finite_bits<uint32_t>(t.raw_data(), t.numel(), 0x7f800000u, 0x00800000u);
  if (t.dtype() == DType::Float64)
    return all_finite_bits<uint64_t>(t.raw_data(), t.numel(), 0x7ff0000000000000ull, 0x0010000000000000ull);
  return std::nullopt;
}

// Small tensors: the bit scan (no op dispatch). Large ones: the per-ISA sum kernel, several times
// faster (NaN and Inf propagate through a sum); a non-finite sum is confirmed by the exact scan,
// since a sum of large finite values can overflow.
bool all_finite(const Tensor& t) {
  constexpr int64_t kSumFrom = int64_t(1) << 15;
  if (t.numel() < kSumFrom) {
    if (auto r = all_finite_contiguous(t)) return *r;
  }
  GradModeGuard no_grad(false);
  Tensor s = sum(t);
  double v = t.dtype() == DType::Float32 ? double(*s.data<float>()) : *s.data<double>();
  if (std::isfinite(v)) return true;
  if (auto r = all_finite_contiguous(t)) return *r;
  return *all(isfinite(t)).data<bool>();
}

// "nan", "inf" or "" (all finite).
const char* non_finite_kind(const Tensor& t) {
  if (!t.defined() || t.numel() == 0 || !t.is_floating_point()) return "";
  if (all_finite(t)) return "";
  GradModeGuard no_grad(false);
  return *any(isnan(t)).data<bool>() ? "nan" : "inf";
}

// "LogSoftmaxBackward0" -> "log_softmax".
std::string forward_name(const std::string& node_name) {
  std::string base = node_name;
  auto pos = base.rfind("Backward");
  if (pos != std::string::npos) base = base.substr(0, pos);
  std::string out;
  for (size_t i = 0; i < base.size(); ++i) {
    char c = base[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0) out += '_';
      out += char(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out.empty() ? node_name : out;
}

void write_shapes(std::ostream& os, const std::vector<Shape>& shapes) {
  if (shapes.empty()) {
    os << "none";
    return;
  }
  for (size_t i = 0; i < shapes.size(); ++i) os << (i ? ", " : "") << str(shapes[i]);
}

// The record of `node`, or one rebuilt from its input metadata (nodes made before the mode was on).
Record record_of(const Node& node) {
  if (node.anomaly_record) return *node.anomaly_record;
  Record r;
  for (const TensorMeta& m : node.input_meta) r.input_shapes.push_back(m.shape);
  return r;
}

std::string current_module() {
  return t_modules.empty() ? std::string("none (called outside a module)") : *t_modules.back();
}

}  // namespace

bool check_nan_enabled() { return g_check_nan.load(std::memory_order_relaxed); }

void set_enabled(bool enabled, bool check_nan) {
  g_check_nan.store(check_nan, std::memory_order_relaxed);
  g_enabled.store(enabled, std::memory_order_relaxed);
}

void push_module(std::string path) { t_modules.push_back(std::make_shared<const std::string>(std::move(path))); }
void pop_module() {
  if (!t_modules.empty()) t_modules.pop_back();
}

void on_node_created(Node& node) {
  node.anomaly_record = std::make_unique<Record>();
  if (!t_modules.empty()) node.anomaly_record->module = t_modules.back();
}

void on_node_input(Node& node, const Tensor& input) {
  node.anomaly_record->input_shapes.push_back(input.defined() ? input.shape() : Shape{});
}

void check_forward(const Tensor& out, const Node& node) {
  if (!check_nan_enabled() || t_backward_node != nullptr) return;
  if (out.impl()->view_base) return;  // a view produces no new values
  const char* kind = non_finite_kind(out);
  if (!*kind) return;
  std::ostringstream msg;
  msg << "Anomaly detected in forward: op '" << forward_name(node.name()) << "' (grad_fn " << node.name()
      << ") produced " << kind << " values in its output " << node.output_meta.size() - 1 << " of shape "
      << str(out.shape());
  msg << "; module: " << current_module();
  msg << "; input shapes: ";
  write_shapes(msg, record_of(node).input_shapes);
  throw Error(msg.str());
}

void check_backward(const Node& node, const std::vector<Tensor>& grads) {
  if (!check_nan_enabled()) return;
  for (size_t i = 0; i < grads.size(); ++i) {
    const char* kind = non_finite_kind(grads[i]);
    if (!*kind) continue;
    Record r = record_of(node);
    std::ostringstream msg;
    msg << "Function '" << node.name() << "' returned " << kind << " values in its " << i << "th output.";
    msg << " Forward op '" << forward_name(node.name()) << "' ran in module: "
        << (r.module ? *r.module : std::string("none (or anomaly mode was off during forward)"));
    msg << "; forward input shapes: ";
    write_shapes(msg, r.input_shapes);
    throw Error(msg.str());
  }
}

BackwardScope::BackwardScope(const Node* node) : prev_(t_backward_node) { t_backward_node = node; }
BackwardScope::~BackwardScope() { t_backward_node = prev_; }

}  // namespace lamina::autograd::anomaly
