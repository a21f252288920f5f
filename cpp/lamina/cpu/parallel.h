// Intra-op parallelism on lamina's own thread pool.
//
// parallel_for splits [begin, end) into chunks of `grain` items. Chunk boundaries depend only on
// (begin, end, grain), never on the thread count, so a kernel that writes per-chunk results and
// combines them in chunk order is bitwise identical for any number of threads.
//
// Why not OpenMP: a parallel region ends in a barrier that waits for every thread of the team,
// including one the OS has descheduled because another process wants the core. Here the caller
// also claims chunks and only waits for chunks a worker actually took, and idle workers spin
// only briefly before sleeping, so a loaded machine degrades to roughly single-thread speed.
#pragma once

#include <cstdint>

namespace lamina::cpu {

int get_num_threads();
void set_num_threads(int n);  // ValueError unless n >= 1
bool in_parallel_region();

// Type-erased core: runs call(ctx, task) for task in [0, ntasks), possibly on several threads.
void run_tasks(int64_t ntasks, void (*call)(void* ctx, int64_t task), void* ctx);

// Runs fn(chunk_begin, chunk_end) over [begin, end) in chunks of `grain` items.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
  int64_t nchunks = (end - begin + grain - 1) / grain;
  if (nchunks == 1 || get_num_threads() == 1 || in_parallel_region()) {
    for (int64_t c = 0; c < nchunks; ++c) {
      int64_t b = begin + c * grain;
      fn(b, b + grain < end ? b + grain : end);
    }
    return;
  }
  struct Ctx {
    const F* fn;
    int64_t begin, end, grain;
  } ctx{&fn, begin, end, grain};
  run_tasks(nchunks, [](void* p, int64_t c) {
    auto* x = static_cast<Ctx*>(p);
    int64_t b = x->begin + c * x->grain;
    (*x->fn)(b, b + x->grain < x->end ? b + x->grain : x->end);
  }, &ctx);
}

}  // namespace lamina::cpu
