// The op profiler behind lamina.profiler: while a session is active, every op (LAMINA_PROFILE_OP
// at the top of the public op functions), every backward node the engine runs, every
// record_function range and every worker thread's share of a parallel region is recorded as an
// event with its name, start/end, thread, input shapes and the bytes allocated while it ran.
//
// Why this shape: the disabled path must cost next to nothing, because the guard sits in every
// op. An OpRange is one relaxed load of a global bool and a predictable branch on construction
// (plus a null test on destruction); everything else lives in out-of-line, cold functions. Each
// thread appends to its own buffer (its mutex is only contended while a session starts or is
// collected), so recording threads never wait for each other.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lamina/core/tensor.h"

namespace lamina::profiler {

// Hidden: everything that reads it is linked into the one extension module, so the load is
// RIP-relative instead of going through the GOT (one load and a branch per op).
extern std::atomic<bool> g_enabled __attribute__((visibility("hidden")));
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

enum class EventKind : uint8_t { Op = 0, Backward = 1, UserScope = 2, Worker = 3 };

struct Event {
  std::string name;
  EventKind kind = EventKind::Op;
  int64_t thread = 0;      // OS thread id (what threading.get_native_id() returns)
  int64_t start_ns = 0;    // since the session started (steady clock)
  int64_t end_ns = -1;     // -1 while open
  int64_t parent = -1;     // index of the enclosing event in the same thread's list, or -1
  int64_t mem_bytes = 0;   // net bytes allocated (minus freed) on this thread while it was open
  std::vector<std::vector<int64_t>> shapes;  // one per input when shapes are recorded
};

struct Options {
  bool record_shapes = false;
  bool profile_memory = false;
};

// Starts a session (ValueError if one is active: sessions do not nest, as in PyTorch).
void start(const Options& options);
// Ends the session and returns its events, grouped by thread, each thread's in start order.
// Events still open (a range entered before stop and left after) get end = stop time.
std::vector<Event> stop();
bool active();

// The bytes of storage allocated (positive) or freed (negative) on this thread; called by the
// allocator only while enabled().
void record_memory(int64_t bytes);

// The name of the innermost event open on this thread ("" when none): a parallel region's
// workers are labelled with the op that started it.
std::string current_name();

namespace detail {
// Opens an event on this thread; returns its handle (>= 0), or -1 when no session is active.
int64_t open(const char* name, EventKind kind);
int64_t open(std::string name, EventKind kind);
void close(int64_t handle);
bool recording_shapes();
void add_shape(int64_t handle, const Shape& shape);
inline void add_input(int64_t handle, const Tensor& t) {
  add_shape(handle, t.defined() ? t.shape() : Shape{});
}
inline void add_input(int64_t handle, const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) add_input(handle, t);
}
inline void add_input(int64_t handle, const std::optional<Tensor>& t) {
  add_shape(handle, t && t->defined() ? t->shape() : Shape{});
}

template <class... Ts>
[[gnu::noinline, gnu::cold]] int64_t open_op(const char* name, const Ts&... inputs) {
  int64_t h = open(name, EventKind::Op);
  if (h >= 0 && recording_shapes()) (add_input(h, inputs), ...);
  return h;
}
}  // namespace detail

// Records one op on this thread for its scope; `inputs` are Tensors (or vectors of them) whose
// shapes are recorded when the session asked for them.
class OpRange {
 public:
  template <class... Ts>
  explicit OpRange(const char* name, const Ts&... inputs) {
    if (__builtin_expect(enabled(), 0)) handle_ = detail::open_op(name, inputs...);
  }
  ~OpRange() {
    if (__builtin_expect(handle_ >= 0, 0)) detail::close(handle_);
  }
  OpRange(const OpRange&) = delete;
  OpRange& operator=(const OpRange&) = delete;

 private:
  int64_t handle_ = -1;
};

// A named range of another kind (a backward node, a record_function scope, a worker's share of
// a parallel region), opened only while enabled.
class Range {
 public:
  Range() = default;
  Range(std::string name, EventKind kind) {
    if (enabled()) handle_ = detail::open(std::move(name), kind);
  }
  ~Range() {
    if (handle_ >= 0) detail::close(handle_);
  }
  Range(const Range&) = delete;
  Range& operator=(const Range&) = delete;
  int64_t handle() const { return handle_; }

 private:
  int64_t handle_ = -1;
};

}  // namespace lamina::profiler

#define LAMINA_PROFILE_CAT2(a, b) a##b
#define LAMINA_PROFILE_CAT(a, b) LAMINA_PROFILE_CAT2(a, b)
// LAMINA_PROFILE_OP("add", a, b): records the enclosing op function while a session is active.
#define LAMINA_PROFILE_OP(...) \
  ::lamina::profiler::OpRange LAMINA_PROFILE_CAT(lamina_profile_range_, __LINE__)(__VA_ARGS__)
