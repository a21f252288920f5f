#include "lamina/core/tensor.h"

#include <atomic>
#include <iomanip>
#include <sstream>

#include "lamina/autograd/grad_mode.h"
#include "lamina/autograd/meta.h"
#include "lamina/autograd/node.h"

namespace lamina {

static std::atomic<int64_t> g_live_tensors{0};
int64_t TensorImpl::live_count() { return g_live_tensors.load(std::memory_order_relaxed); }

TensorImpl::TensorImpl(std::shared_ptr<Storage> storage, Shape shape, Strides strides,
                       int64_t offset, DType dtype, std::shared_ptr<VersionCounter> version)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      numel_(lamina::numel(shape_)),
      dtype_(dtype),
      contiguous_(lamina::is_contiguous(shape_, strides_)),
      version_(version ? std::move(version) : std::make_shared<VersionCounter>()) {
  g_live_tensors.fetch_add(1, std::memory_order_relaxed);
}

TensorImpl::~TensorImpl() { g_live_tensors.fetch_sub(1, std::memory_order_relaxed); }

autograd::AutogradMeta& TensorImpl::ensure_autograd() {
  if (!autograd_) autograd_ = std::make_unique<autograd::AutogradMeta>();
  return *autograd_;
}

void TensorImpl::clear_autograd() { autograd_.reset(); }

void TensorImpl::set_data(const TensorImpl& other) {
  storage_ = other.storage_;
  shape_ = other.shape_;
  strides_ = other.strides_;
  offset_ = other.offset_;
  numel_ = other.numel_;
  dtype_ = other.dtype_;
  contiguous_ = other.contiguous_;
  view_base = other.view_base;
  view_created_in_no_grad = other.view_created_in_no_grad;
}

// A 0-d tensor has no size or stride to index (wrap_dim would accept 0 and -1 for it).
static void check_has_dims(const Tensor& t, int64_t dim, const char* op) {
  LAMINA_CHECK_INDEX(t.dim() > 0, op, ": dimension specified as ", dim, " but tensor has no dimensions");
}
int64_t Tensor::size(int64_t dim) const {
  check_has_dims(*this, dim, "size");
  return shape()[size_t(wrap_dim(dim, this->dim(), "size"))];
}
int64_t Tensor::stride(int64_t dim) const {
  check_has_dims(*this, dim, "stride");
  return strides()[size_t(wrap_dim(dim, this->dim(), "stride"))];
}

bool Tensor::requires_grad() const {
  auto* m = impl_->autograd();
  return m && (m->requires_grad || m->grad_fn);
}

void Tensor::set_requires_grad(bool requires_grad) const {
  if (requires_grad) impl_->ensure_autograd().requires_grad = true;
  else if (auto* m = impl_->autograd()) m->requires_grad = false;
}

bool Tensor::is_leaf() const {
  auto* m = impl_->autograd();
  return !m || !m->grad_fn;
}

Tensor Tensor::grad() const {
  auto* m = impl_->autograd();
  return m ? m->grad : Tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  if (!grad.defined() && !impl_->autograd()) return;
  impl_->ensure_autograd().grad = grad;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  auto* m = impl_->autograd();
  return m ? m->grad_fn : nullptr;
}

uint32_t Tensor::output_nr() const {
  auto* m = impl_->autograd();
  return m ? m->output_nr : 0;
}

Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>(base.storage(), std::move(shape), std::move(strides),
                                           offset, base.dtype(), base.impl()->version_counter());
  impl->view_base = base.impl()->view_base ? base.impl()->view_base : base.impl_ptr();
  impl->view_created_in_no_grad = !autograd::GradMode::is_enabled() || base.impl()->view_created_in_no_grad;
  return Tensor(std::move(impl));
}

Tensor make_tensor(const Shape& shape, DType dtype, Device device, bool zeroed, const char* op) {
  check_shape(shape, itemsize(dtype), op ? op : "empty");
  size_t nbytes = size_t(numel(shape)) * itemsize(dtype);
  std::shared_ptr<Storage> storage;
  try {
    storage = Storage::allocate(nbytes, device, zeroed);
  } catch (const std::bad_alloc&) {
    std::ostringstream msg;
    msg << (op ? op : "allocating an op's result") << ": not enough memory: tried to allocate " << nbytes << " bytes (" << std::fixed
        << std::setprecision(2) << double(nbytes) / double(1ull << 30) << " GiB) for a " << dtype_name(dtype)
        << " tensor of shape " << str(shape) << " on " << device.str();
    throw OutOfMemoryError(msg.str());
  }
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), shape, contiguous_strides(shape),
                                             0, dtype));
}

}  // namespace lamina
