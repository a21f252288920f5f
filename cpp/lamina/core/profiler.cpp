// The op profiler's recorder (see profiler.h). Each thread owns one buffer for its lifetime;
// buffers of exited threads are freed once their events have been collected.
#include "lamina/core/profiler.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <new>

#include "lamina/core/error.h"

namespace lamina::profiler {

std::atomic<bool> g_enabled{false};

namespace {

// A handle is (session generation << kIndexBits) | event index, so a range closed after its
// session ended (or after a new one started) is recognised and ignored.
constexpr int kIndexBits = 40;
constexpr int64_t kIndexMask = (int64_t(1) << kIndexBits) - 1;

struct ThreadBuffer {
  std::mutex mutex;
  int64_t thread = 0;
  uint64_t generation = 0;         // the session `events` belong to
  std::vector<Event> events;       // open ones hold their opening memory counter in mem_bytes
  std::vector<int64_t> open;       // indices of the open events, innermost last
  std::atomic<int64_t> memory{0};  // running net bytes allocated on this thread
  bool exited = false;             // the thread is gone; free after collection
};

std::mutex g_registry_mutex;
// Never destroyed: threads may still record while the process exits.
auto* g_buffers = new std::vector<ThreadBuffer*>();
std::mutex g_session_mutex;
bool g_active = false;  // guarded by g_session_mutex
std::atomic<uint64_t> g_generation{0};
std::atomic<int64_t> g_start_ns{0};
std::atomic<bool> g_record_shapes{false};
std::atomic<bool> g_profile_memory{false};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Marks the thread's buffer as exited when the thread ends (thread_local destructor).
struct BufferOwner {
  ThreadBuffer* buffer = nullptr;
  ~BufferOwner() {
    if (!buffer) return;
    std::lock_guard<std::mutex> lock(buffer->mutex);
    buffer->exited = true;
  }
};
thread_local BufferOwner t_owner;

// A child forked during a session (a DataLoader worker) records nothing: its events could never
// be collected, and locks held by the parent's other threads at the fork would never be released.
void after_fork_in_child() {
  g_enabled.store(false, std::memory_order_relaxed);
  new (&g_registry_mutex) std::mutex();
  new (&g_session_mutex) std::mutex();
  g_active = false;
  g_buffers = new std::vector<ThreadBuffer*>();  // the parent's threads are gone (leaked, not freed)
  t_owner.buffer = nullptr;  // its mutex may have been copied locked: start afresh
}
[[maybe_unused]] const bool g_atfork_registered = (pthread_atfork(nullptr, nullptr, after_fork_in_child), true);

ThreadBuffer& buffer() {
  if (!t_owner.buffer) {
    auto* b = new ThreadBuffer();
    b->thread = int64_t(::syscall(SYS_gettid));
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    g_buffers->push_back(b);
    t_owner.buffer = b;
  }
  return *t_owner.buffer;
}

int64_t open_event(ThreadBuffer& b, Event&& e) {
  uint64_t gen = g_generation.load(std::memory_order_acquire);
  if (!enabled()) return -1;  // the session ended between the caller's check and here
  if (b.generation != gen) {
    b.events.clear();
    b.open.clear();
    b.generation = gen;
  }
  e.thread = b.thread;
  e.start_ns = now_ns() - g_start_ns.load(std::memory_order_relaxed);
  e.parent = b.open.empty() ? -1 : b.open.back();
  e.mem_bytes = b.memory.load(std::memory_order_relaxed);
  int64_t index = int64_t(b.events.size());
  b.events.push_back(std::move(e));
  b.open.push_back(index);
  return int64_t(gen << kIndexBits) | index;
}

}  // namespace

void start(const Options& options) {
  std::lock_guard<std::mutex> session(g_session_mutex);
  LAMINA_CHECK(!g_active, "lamina.profiler: a profiling session is already active (sessions do not nest)");
  g_record_shapes.store(options.record_shapes, std::memory_order_relaxed);
  g_profile_memory.store(options.profile_memory, std::memory_order_relaxed);
  g_start_ns.store(now_ns(), std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  g_active = true;
  g_enabled.store(true, std::memory_order_release);
}

bool active() {
  std::lock_guard<std::mutex> session(g_session_mutex);
  return g_active;
}

std::vector<Event> stop() {
  std::lock_guard<std::mutex> session(g_session_mutex);
  LAMINA_CHECK(g_active, "lamina.profiler: no profiling session is active");
  g_enabled.store(false, std::memory_order_seq_cst);
  g_active = false;
  int64_t stop_ns = now_ns() - g_start_ns.load(std::memory_order_relaxed);
  uint64_t gen = g_generation.load(std::memory_order_relaxed);
  std::vector<Event> out;
  std::lock_guard<std::mutex> registry(g_registry_mutex);
  for (ThreadBuffer*& b : *g_buffers) {
    bool free_it = false;
    {
      std::lock_guard<std::mutex> lock(b->mutex);
      if (b->generation == gen) {
        int64_t offset = int64_t(out.size());
        int64_t memory = b->memory.load(std::memory_order_relaxed);
        for (Event& e : b->events) {
          if (e.end_ns < 0) {
            e.end_ns = stop_ns;
            e.mem_bytes = memory - e.mem_bytes;
          }
          if (e.parent >= 0) e.parent += offset;
          out.push_back(std::move(e));
        }
        b->events.clear();
        b->open.clear();
      }
      free_it = b->exited;
    }
    if (free_it) {
      delete b;
      b = nullptr;
    }
  }
  g_buffers->erase(std::remove(g_buffers->begin(), g_buffers->end(), nullptr), g_buffers->end());
  return out;
}

void record_memory(int64_t bytes) {
  if (!g_profile_memory.load(std::memory_order_relaxed)) return;
  buffer().memory.fetch_add(bytes, std::memory_order_relaxed);
}

std::string current_name() {
  ThreadBuffer& b = buffer();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (b.open.empty() || b.generation != g_generation.load(std::memory_order_acquire)) return {};
  return b.events[size_t(b.open.back())].name;
}

namespace detail {

int64_t open(const char* name, EventKind kind) { return open(std::string(name), kind); }

int64_t open(std::string name, EventKind kind) {
  ThreadBuffer& b = buffer();
  Event e;
  e.name = std::move(name);
  e.kind = kind;
  std::lock_guard<std::mutex> lock(b.mutex);
  return open_event(b, std::move(e));
}

void close(int64_t handle) {
  int64_t end = now_ns() - g_start_ns.load(std::memory_order_relaxed);
  ThreadBuffer& b = buffer();
  std::lock_guard<std::mutex> lock(b.mutex);
  uint64_t gen = uint64_t(handle) >> kIndexBits;
  int64_t index = handle & kIndexMask;
  if (b.generation != gen || index >= int64_t(b.events.size())) return;  // its session was collected
  Event& e = b.events[size_t(index)];
  if (e.end_ns >= 0) return;
  e.end_ns = end;
  e.mem_bytes = b.memory.load(std::memory_order_relaxed) - e.mem_bytes;
  // Ranges close innermost first; a record_function left out of order is taken off where it is.
  auto it = std::find(b.open.rbegin(), b.open.rend(), index);
  if (it != b.open.rend()) b.open.erase(std::next(it).base());
}

bool recording_shapes() { return g_record_shapes.load(std::memory_order_relaxed); }

void add_shape(int64_t handle, const Shape& shape) {
  ThreadBuffer& b = buffer();
  std::lock_guard<std::mutex> lock(b.mutex);
  int64_t index = handle & kIndexMask;
  if (b.generation != (uint64_t(handle) >> kIndexBits) || index >= int64_t(b.events.size())) return;
  b.events[size_t(index)].shapes.emplace_back(shape.begin(), shape.end());
}

}  // namespace detail
}  // namespace lamina::profiler
