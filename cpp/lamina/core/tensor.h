// TensorImpl is a view of a Storage (shape, strides, offset in elements, dtype); Tensor is the
// refcounted handle everyone passes around. Views share their storage and version counter, and
// remember their base. Autograd state lives in AutogradMeta, null until a tensor needs it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "lamina/core/device.h"
#include "lamina/core/dtype.h"
#include "lamina/core/shape.h"
#include "lamina/core/storage.h"

namespace lamina {

namespace autograd {
class Node;
struct AutogradMeta;
}  // namespace autograd

// Bumped by every in-place write; saved tensors compare it at backward time.
struct VersionCounter {
  std::atomic<uint32_t> value{0};
};

class TensorImpl {
 public:
  // Live TensorImpl objects, for leak tests.
  static int64_t live_count();

  TensorImpl(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset,
             DType dtype, std::shared_ptr<VersionCounter> version = nullptr);
  ~TensorImpl();

  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  int64_t numel() const { return numel_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  bool is_contiguous() const { return contiguous_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  char* data() const { return static_cast<char*>(storage_->data()) + offset_ * int64_t(itemsize(dtype_)); }

  const std::shared_ptr<VersionCounter>& version_counter() const { return version_; }
  uint32_t version() const { return version_->value.load(std::memory_order_relaxed); }
  void bump_version() { version_->value.fetch_add(1, std::memory_order_relaxed); }

  autograd::AutogradMeta* autograd() const { return autograd_.get(); }
  autograd::AutogradMeta& ensure_autograd();
  void clear_autograd();

  // Replaces storage and geometry in place (Tensor.data = other); keeps autograd state.
  void set_data(const TensorImpl& other);

  // The tensor this one is a view of (null when it owns its storage's layout).
  std::shared_ptr<TensorImpl> view_base;
  // A view made with grad mode off (or a view of one): modifying it in place with grad mode on is
  // refused, since its base's history cannot be rewritten consistently (PyTorch's rule).
  bool view_created_in_no_grad = false;
  // A Python number converted to a 0-d tensor; ranks lowest in type promotion.
  bool is_wrapped_number = false;

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_;
  int64_t numel_;
  DType dtype_;
  bool contiguous_;
  std::shared_ptr<VersionCounter> version_;
  std::unique_ptr<autograd::AutogradMeta> autograd_;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  const Shape& shape() const { return impl_->shape(); }
  const Strides& strides() const { return impl_->strides(); }
  int64_t size(int64_t dim) const;    // dim may be negative
  int64_t stride(int64_t dim) const;  // dim may be negative
  int64_t dim() const { return impl_->dim(); }
  int64_t numel() const { return impl_->numel(); }
  int64_t offset() const { return impl_->offset(); }
  DType dtype() const { return impl_->dtype(); }
  Device device() const { return impl_->device(); }
  bool is_contiguous() const { return impl_->is_contiguous(); }
  bool is_floating_point() const { return lamina::is_floating_point(dtype()); }
  size_t itemsize() const { return lamina::itemsize(dtype()); }
  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(impl_->data());
  }
  char* raw_data() const { return impl_->data(); }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage(); }
  bool shares_storage(const Tensor& other) const { return storage() == other.storage(); }

  uint32_t version() const { return impl_->version(); }
  void bump_version() const { impl_->bump_version(); }

  // autograd state (see autograd/meta.h)
  bool requires_grad() const;
  void set_requires_grad(bool requires_grad) const;  // TypeError-free check lives in ops
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  std::shared_ptr<autograd::Node> grad_fn() const;
  uint32_t output_nr() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A new tensor sharing `base`'s storage and version counter with a different geometry.
Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset);
// A tensor over fresh memory (contiguous); `op` names the caller in shape errors.
// op names the caller in error messages (nullptr: an op's output or scratch tensor, reported as such).
Tensor make_tensor(const Shape& shape, DType dtype, Device device, bool zeroed = false, const char* op = nullptr);

}  // namespace lamina
