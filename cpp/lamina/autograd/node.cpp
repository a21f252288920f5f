#include "lamina/autograd/node.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "lamina/autograd/anomaly.h"
#include "lamina/ops/ops.h"

namespace lamina::autograd {

static void refresh_view_history(const Tensor& t);

namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_next_sequence_nr{0};
std::mutex g_accumulate_mutex;  // leaves may receive gradients from several threads

// Guards AutogradMeta::accumulator: held for a few instructions on every op that takes a leaf,
// so a spin lock (no call into pthreads) rather than a mutex.
class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
  }
  void unlock() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};
SpinLock g_accumulator_lock;
std::atomic<int64_t> g_live_nodes{0};
}  // namespace

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool enabled) { t_grad_enabled = enabled; }

Node::Node() : sequence_nr(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {
  g_live_nodes.fetch_add(1, std::memory_order_relaxed);
  if (anomaly::enabled()) anomaly::on_node_created(*this);
}
Node::~Node() { g_live_nodes.fetch_sub(1, std::memory_order_relaxed); }
int64_t Node::live_count() { return g_live_nodes.load(std::memory_order_relaxed); }

void SavedTensor::save(const Tensor& t, bool is_output) {
  was_defined_ = t.defined();
  if (!was_defined_) return;
  version_ = t.version();
  is_output_ = is_output;
  if (is_output) {
    // Keep the data, not the grad_fn (that would be a reference cycle through the owner).
    output_nr_ = t.output_nr();
    data_ = make_view(t, t.shape(), t.strides(), t.offset());
    data_.impl()->view_base = t.impl()->view_base;
  } else {
    data_ = t;
  }
}

Tensor SavedTensor::unpack(const std::shared_ptr<Node>& owner, const std::string& op) const {
  if (!was_defined_) return Tensor();
  LAMINA_CHECK(!released_,
               "Trying to backward through the graph a second time (or directly access saved "
               "tensors after they have already been freed). Saved intermediate values of the graph "
               "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
               "you need to backward through the graph a second time or if you need to access saved "
               "tensors after calling backward.");
  LAMINA_CHECK(data_.version() == version_,
               "one of the variables needed for gradient computation has been modified by an "
               "inplace operation: [", dtype_name(data_.dtype()), " ", str(data_.shape()),
               "], which is output 0 of ", op, ", is at version ", data_.version(),
               "; expected version ", version_, " instead.");
  if (!is_output_) return data_;
  Tensor t = make_view(data_, data_.shape(), data_.strides(), data_.offset());
  t.impl()->view_base = data_.impl()->view_base;
  auto& m = t.impl()->ensure_autograd();
  m.grad_fn = owner;
  m.output_nr = output_nr_;
  return t;
}

void SavedTensor::release() {
  data_ = Tensor();
  released_ = was_defined_;
}

void Node::release_saved() {
  for (SavedTensor* s : saved_) s->release();
}

void Node::save(SavedTensor& slot, const Tensor& t, bool is_output) {
  slot.save(t, is_output);
  saved_.push_back(&slot);
}

TensorMeta meta_of(const Tensor& t) { return TensorMeta{t.shape(), t.dtype(), t.device()}; }

void Node::add_input(const Tensor& t) {
  next_edges.push_back(gradient_edge(t));
  // Only inputs that receive a gradient need their metadata (saves a copy per wrapped number).
  input_meta.push_back(next_edges.back().valid() ? meta_of(t) : TensorMeta{});
  if (anomaly_record) anomaly::on_node_input(*this, t);
}

bool needs_grad(const Tensor& t) {
  if (!t.defined() || !GradMode::is_enabled()) return false;
  refresh_view_history(t);
  return t.requires_grad();
}

// A view whose base was written in place after the view's history was recorded (through the base
// or another view) has a stale grad_fn: its history is now the region of the base's new history.
static void refresh_view_history(const Tensor& t) {
  const auto& base_impl = t.impl()->view_base;
  if (!base_impl) return;
  Tensor base(base_impl);
  auto* m = t.impl()->autograd();
  uint32_t recorded = m ? m->history_version : 0;
  if (!base.requires_grad() || t.version() == recorded || !base.grad_fn()) return;
  Tensor region;
  {
    GradModeGuard grad(true);
    region = as_strided(base, t.shape(), t.strides(), t.offset());
  }
  auto& meta = t.impl()->ensure_autograd();
  meta.grad_fn = region.grad_fn();
  meta.output_nr = region.output_nr();
  meta.history_version = t.version();
}

std::shared_ptr<Node> current_grad_fn(const Tensor& t) {
  refresh_view_history(t);
  return t.grad_fn();
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined()) return Edge{};
  refresh_view_history(t);
  if (!t.requires_grad()) return Edge{};
  auto& m = t.impl()->ensure_autograd();
  if (m.grad_fn) return Edge{m.grad_fn, m.output_nr};
  std::lock_guard<SpinLock> lock(g_accumulator_lock);
  std::shared_ptr<Node> acc = m.accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    acc->output_meta.push_back(meta_of(t));
    m.accumulator = acc;
  }
  return Edge{std::move(acc), 0};
}

void set_history(const Tensor& out, const std::shared_ptr<Node>& node) {
  auto& m = out.impl()->ensure_autograd();
  m.grad_fn = node;
  m.output_nr = uint32_t(node->output_meta.size());
  m.history_version = out.version();
  node->output_meta.push_back(meta_of(out));
  if (anomaly::enabled()) anomaly::check_forward(out, *node);  // the forward NaN/Inf check
}

void rebase_history(const Tensor& t, const Tensor& result) {
  auto& m = t.impl()->ensure_autograd();
  m.grad_fn = result.grad_fn();
  m.output_nr = result.output_nr();
  m.history_version = t.version();
  std::lock_guard<SpinLock> lock(g_accumulator_lock);
  m.accumulator.reset();
}

void check_inplace(const Tensor& t, const char* op) {
  if (!GradMode::is_enabled()) return;
  LAMINA_CHECK(!(t.requires_grad() && t.is_leaf()), op,
               ": a leaf Variable that requires grad is being used in an in-place operation.");
  const auto& base = t.impl()->view_base;
  LAMINA_CHECK(!(base && Tensor(base).requires_grad()), op,
               ": in-place operation on a view of a tensor that requires grad is not supported; "
               "apply the operation to the base tensor or use an out-of-place op");
}

Tensor run_grad_hooks(const std::map<int, GradHook>& hooks, Tensor g) {
  for (auto& [id, hook] : std::map<int, GradHook>(hooks)) {  // a copy: a hook may remove itself
    Tensor r = hook(g);
    if (!r.defined()) continue;
    LAMINA_CHECK(r.shape() == g.shape(), "backward: hook has changed the size of value: expected ", str(g.shape()),
                 ", got ", str(r.shape()));
    LAMINA_CHECK(r.dtype() == g.dtype() && r.device() == g.device(), "backward: hook has changed the type of "
                 "value: expected ", dtype_name(g.dtype()), ", got ", dtype_name(r.dtype()));
    g = r;
  }
  return g;
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor g = std::move(grads[0]);
  auto* m = leaf.impl()->autograd();
  if (!g.defined() || !m) return {};
  g = run_grad_hooks(m->hooks, std::move(g));
  std::lock_guard<std::mutex> lock(g_accumulate_mutex);
  if (!m->requires_grad) return {};
  if (!m->grad.defined()) {
    // Keep the incoming tensor only when nothing else can see it; otherwise copy, so that a later
    // in-place accumulation cannot write into another tensor's gradient.
    bool exclusive = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous();
    m->grad = GradMode::is_enabled() ? g : exclusive ? detach(g) : clone(detach(g));
  } else if (GradMode::is_enabled() || m->grad.requires_grad()) {
    m->grad = add(m->grad, g);  // create_graph: keep the accumulation differentiable
  } else {
    add_(m->grad, g);
  }
  return {};
}

}  // namespace lamina::autograd
