// The thread pool behind parallel_for (see parallel.h for why it is not OpenMP).
//
// One job at a time. The job's progress is a single 64-bit word (job id | next task | ntasks),
// so a worker claims a task with one compare-and-swap that also proves the job is still the
// current one; a worker that wakes up late finds nothing to claim and the caller never waits
// for it. A second caller (another Python thread) that finds the pool busy runs its job inline.
#include "lamina/cpu/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "lamina/core/error.h"
#include "lamina/core/profiler.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LAMINA_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define LAMINA_PAUSE() asm volatile("yield")
#else
#define LAMINA_PAUSE() ((void)0)
#endif

namespace lamina::cpu {

namespace {

thread_local bool t_in_parallel = false;

constexpr int kTaskBits = 20;
constexpr uint64_t kTaskMask = (uint64_t(1) << kTaskBits) - 1;
constexpr int64_t kMaxTasks = int64_t(kTaskMask);
// How long an idle worker keeps polling for the next job before sleeping. Short enough that a
// busy neighbour process is not starved, long enough to cover the gap between consecutive ops.
constexpr auto kSpin = std::chrono::microseconds(50);
constexpr int kMaxThreads = 1024;

uint64_t pack(uint64_t job, uint64_t next, uint64_t ntasks) {
  return (job << (2 * kTaskBits)) | (next << kTaskBits) | ntasks;
}
uint64_t job_of(uint64_t s) { return s >> (2 * kTaskBits); }
uint64_t next_of(uint64_t s) { return (s >> kTaskBits) & kTaskMask; }
uint64_t ntasks_of(uint64_t s) { return s & kTaskMask; }

class ThreadPool {
 public:
  explicit ThreadPool(int nthreads) : requested_(nthreads) {
    for (int i = 1; i < nthreads; ++i) {
      try {
        workers_.emplace_back([this] { worker_loop(); });
      } catch (const std::system_error&) {
        break;  // the OS refused more threads: run with the ones we have
      }
    }
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int requested() const { return requested_; }

  // Runs the job on the pool; false if another thread's job is running (caller runs inline).
  bool try_run(int64_t ntasks, void (*call)(void*, int64_t), void* ctx) {
    std::unique_lock<std::mutex> submit(submit_mutex_, std::try_to_lock);
    if (!submit.owns_lock()) return false;
    call_ = call;
    ctx_ = ctx;
    // Workers label their share of the job with the op that started it (lamina.profiler).
    if (profiler::enabled()) region_name_ = profiler::current_name();
    done_.store(0, std::memory_order_relaxed);
    uint64_t job = job_of(state_.load(std::memory_order_relaxed)) + 1;
    state_.store(pack(job, 0, uint64_t(ntasks)), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      wake_.notify_all();
    }
    work_on(job, false);
    // Wait only for tasks that workers have claimed and not finished.
    for (int spins = 0; done_.load(std::memory_order_acquire) < ntasks; ++spins) {
      if (spins < 2000) LAMINA_PAUSE();
      else std::this_thread::yield();
    }
    return true;
  }

 private:
  // Claims and runs tasks of `job` until none are left.
  // A worker's share of a job is one profiler event on its thread while a session is active.
  void work_on(uint64_t job, bool worker) {
    bool was = t_in_parallel;
    t_in_parallel = true;
    std::optional<profiler::Range> range;
    uint64_t s = state_.load(std::memory_order_acquire);
    while (job_of(s) == job && next_of(s) < ntasks_of(s)) {
      if (!state_.compare_exchange_weak(s, s + (uint64_t(1) << kTaskBits), std::memory_order_acq_rel,
                                        std::memory_order_acquire))
        continue;
      if (worker && !range && profiler::enabled()) range.emplace(region_name_, profiler::EventKind::Worker);
      call_(ctx_, int64_t(next_of(s)));
      done_.fetch_add(1, std::memory_order_release);
      s = state_.load(std::memory_order_acquire);
    }
    t_in_parallel = was;
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t job = wait_for_job(seen);
      if (job == 0) return;
      seen = job;
      work_on(job, true);
    }
  }

  // Returns the id of a job newer than `seen`, or 0 when the pool stops.
  uint64_t wait_for_job(uint64_t seen) {
    auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0;; ++i) {
      uint64_t job = job_of(state_.load(std::memory_order_acquire));
      if (job != seen) return job;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) break;
      LAMINA_PAUSE();
    }
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    uint64_t job = 0;
    wake_.wait(lock, [&] {
      job = job_of(state_.load(std::memory_order_seq_cst));
      return stop_ || job != seen;
    });
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return stop_ ? 0 : job;
  }

  int requested_;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> done_{0};
  void (*call_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  std::string region_name_;  // the caller's innermost profiler event, read by workers
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  bool stop_ = false;
};

int default_num_threads() {
  if (const char* env = std::getenv("LAMINA_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return std::min(n, kMaxThreads);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

std::mutex g_pool_mutex;
// Heap-held and never destroyed at exit: workers may still be asleep on the condition variable.
auto* g_pool = new std::shared_ptr<ThreadPool>();
std::atomic<int> g_num_threads{0};

// After fork() only the forking thread exists in the child: forget (leak) the parent's pool,
// whose threads are gone.
void after_fork_in_child() {
  g_pool = new std::shared_ptr<ThreadPool>();
  new (&g_pool_mutex) std::mutex();
}

// The pool for the current thread count; a caller keeps its pool alive while using it, so a
// concurrent set_num_threads cannot destroy it mid-job.
std::shared_ptr<ThreadPool> pool() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  static bool atfork = (pthread_atfork(nullptr, nullptr, after_fork_in_child), true);
  (void)atfork;
  if (!*g_pool || (*g_pool)->requested() != get_num_threads())
    *g_pool = std::make_shared<ThreadPool>(get_num_threads());
  return *g_pool;
}

}  // namespace

int get_num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = default_num_threads();
    g_num_threads.store(n);
  }
  return n;
}

void set_num_threads(int n) {
  LAMINA_CHECK_VALUE(n >= 1 && n <= kMaxThreads, "set_num_threads: expected a number of threads in [1, ",
                     kMaxThreads, "], got ", n);
  g_num_threads.store(n);
}

bool in_parallel_region() { return t_in_parallel; }

void run_tasks(int64_t ntasks, void (*call)(void*, int64_t), void* ctx) {
  if (ntasks > kMaxTasks || get_num_threads() == 1 || t_in_parallel || !pool()->try_run(ntasks, call, ctx)) {
    bool was = t_in_parallel;
    t_in_parallel = true;
    for (int64_t t = 0; t < ntasks; ++t) call(ctx, t);
    t_in_parallel = was;
  }
}

}  // namespace lamina::cpu
