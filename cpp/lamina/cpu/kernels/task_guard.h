// parallel_for for kernels whose tasks may throw (std::bad_alloc from a scratch buffer): an
// exception must never leave a task, since it would terminate the process on a worker thread and
// unwind past a running job on the calling thread. The first exception is kept, the remaining
// chunks are skipped, and it is rethrown on the calling thread once the job is over, where the
// bindings turn std::bad_alloc into MemoryError. The output is then unspecified (the op fails).
#pragma once

#include <atomic>
#include <exception>
#include <new>

#include "lamina/cpu/parallel.h"

namespace lamina::cpu {

template <class F>
void guarded_parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    if (failed.load(std::memory_order_acquire)) return;
    try {
      fn(b, e);
    } catch (...) {
      if (!failed.exchange(true, std::memory_order_acq_rel)) error = std::current_exception();
    }
  });
  if (failed.load(std::memory_order_acquire)) {
    if (error) std::rethrow_exception(error);
    throw std::bad_alloc();
  }
}

}  // namespace lamina::cpu
