// Refcounted bytes. A Storage uniquely owns its data pointer (or, for memory borrowed from numpy
// or DLPack, a release callback that keeps the lender alive). CPU allocations are 64-byte aligned.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "lamina/core/device.h"

namespace lamina {

class Storage {
 public:
  // Throws std::bad_alloc (MemoryError in Python) when the memory cannot be had.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device, bool zeroed = false);
  // Wraps memory owned elsewhere; `release` runs when the last tensor using it dies.
  static std::shared_ptr<Storage> borrow(void* data, size_t nbytes, Device device,
                                         std::function<void()> release);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Moves the bytes into `data` (nbytes() of them, owned from now on: `release` frees them) in
  // place, so every tensor and view on this storage sees the new memory (share_memory_). The old
  // block is freed, or kept until the storage dies if it was exported (numpy, DLPack), since
  // arrays over it may still read it. Not safe while another thread uses the storage.
  void replace_data(void* data, std::function<void()> release);
  // Records that the bytes are reachable outside lamina (a numpy array or DLPack capsule).
  void mark_exported() { exported_ = true; }

  Storage(void* data, size_t nbytes, Device device, std::function<void()> release)
      : data_(data), nbytes_(nbytes), device_(device), borrowed_release_(std::move(release)) {}
  // Memory from a device allocator: released with allocator_release(base, nbytes) (no
  // std::function, which would cost an extra heap allocation per tensor).
  Storage(void* data, size_t nbytes, Device device, void (*allocator_release)(void*, size_t), void* base)
      : data_(data), nbytes_(nbytes), device_(device), allocator_release_(allocator_release), base_(base) {}

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void()> borrowed_release_;
  void (*allocator_release_)(void*, size_t) = nullptr;
  void* base_ = nullptr;
  bool exported_ = false;
  std::vector<std::function<void()>> retired_;  // exported blocks replaced by replace_data
};

// Device allocators, registered by each backend (the CPU one is built in).
struct Allocator {
  void* (*allocate)(size_t nbytes, bool zeroed, void** base);  // returns aligned ptr, *base to free
  void (*release)(void* base, size_t nbytes);
};
void register_allocator(DeviceType type, Allocator allocator);

// The CPU allocator keeps large freed blocks for reuse (see storage.cpp).
size_t cpu_cached_bytes();
void cpu_empty_cache();

}  // namespace lamina
