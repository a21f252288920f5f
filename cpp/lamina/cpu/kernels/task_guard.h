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

// Inside the ISA namespace: the instantiations hold vector code of that ISA only.
namespace lamina::cpu::LAMINA_ISA_NS {

// parallel_for's chunks (begin + c * grain), run through run_tasks directly: a wrapper lambda
// handed to parallel_for would give symbols that objdump cannot demangle (tests/test_isa_build.py).
template <class F>
void guarded_parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
  struct Ctx {
    const F* fn;
    int64_t begin, end, grain;
    std::atomic<bool> failed{false};
    std::exception_ptr error;
  } ctx{&fn, begin, end, grain, {false}, nullptr};
  auto call = [](void* p, int64_t c) {
    auto* x = static_cast<Ctx*>(p);
    if (x->failed.load(std::memory_order_acquire)) return;
    const int64_t b = x->begin + c * x->grain;
    try {
      (*x->fn)(b, b + x->grain < x->end ? b + x->grain : x->end);
    } catch (...) {
      if (!x->failed.exchange(true, std::memory_order_acq_rel)) x->error = std::current_exception();
    }
  };
  const int64_t nchunks = (end - begin + grain - 1) / grain;
  if (nchunks == 1 || get_num_threads() == 1 || in_parallel_region()) {
    for (int64_t c = 0; c < nchunks; ++c) call(&ctx, c);
  } else {
    run_tasks(nchunks, call, &ctx);
  }
  if (ctx.failed.load(std::memory_order_acquire)) {
    if (ctx.error) std::rethrow_exception(ctx.error);
    throw std::bad_alloc();
  }
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
