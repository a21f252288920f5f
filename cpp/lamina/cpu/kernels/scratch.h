// Per-thread scratch memory for kernels: 64-byte aligned (packed GEMM panels are read with aligned
// vector loads), grown on demand and kept across calls so that hot loops do not page-fault on
// fresh allocations. Growing may throw std::bad_alloc, so every task that asks for scratch runs
// under guarded_parallel_for (task_guard.h), which turns it into MemoryError at the caller.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>

namespace lamina::cpu::LAMINA_ISA_NS {

struct AlignedBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(ptr); }
  // Room for `count` values of T; the old contents are not kept when it grows.
  template <class T>
  T* get(int64_t count) {
    if (count < 0 || uint64_t(count) > (std::numeric_limits<size_t>::max() - 64) / sizeof(T)) throw std::bad_alloc();
    size_t need = (size_t(count) * sizeof(T) + 63) / 64 * 64;
    if (need > bytes) {
      std::free(ptr);
      bytes = 0;
      ptr = std::aligned_alloc(64, need);
      if (!ptr) throw std::bad_alloc();
      bytes = need;
    }
    return static_cast<T*>(ptr);
  }
};

// A thread's scratch buffer number `Slot` (separate slots may be live at once) of n values.
template <class T, int Slot = 0>
T* scratch(int64_t n) {
  static thread_local AlignedBuffer buffer;
  return buffer.get<T>(n);
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
