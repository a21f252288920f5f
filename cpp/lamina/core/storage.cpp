#include "lamina/core/storage.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "lamina/core/error.h"
#include "lamina/core/profiler.h"

namespace lamina {

namespace {
constexpr size_t kAlignment = 64;

// Large CPU blocks are kept after release and handed out again for the same rounded size.
// Training loops allocate the same shapes every step, and fresh pages from the OS cost a page
// fault each: writing a new 40 MB tensor takes ~8x longer than writing a reused one.
class BlockCache {
 public:
  // Below 64 KiB glibc serves blocks from its own free lists without page faults.
  static constexpr size_t kMinBytes = size_t(1) << 16;
  static constexpr size_t kGranule = size_t(1) << 12;    // sizes are rounded up to whole pages

  static size_t rounded(size_t nbytes) { return (nbytes + kGranule - 1) / kGranule * kGranule; }

  void* take(size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end()) return nullptr;
    void* block = it->second;
    free_.erase(it);
    cached_ -= size;
    return block;
  }
  // Keeps the block unless the cache is full; false means the caller frees it.
  bool put(void* block, size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + size > limit()) return false;
    free_.emplace(size, block);
    cached_ += size;
    return true;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, block] : free_) std::free(block);
    free_.clear();
    cached_ = 0;
  }
  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }
  void reset_after_fork() { new (&mutex_) std::mutex(); }

 private:
  // At most a quarter of physical memory (and 4 GiB) sits in the cache.
  static size_t limit() {
    static const size_t value = [] {
      long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
      size_t quarter = pages > 0 && page > 0 ? size_t(pages) * size_t(page) / 4 : size_t(1) << 30;
      return std::min(quarter, size_t(4) << 30);
    }();
    return value;
  }
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

BlockCache& block_cache() {
  static BlockCache* cache = [] {
    auto* c = new BlockCache();  // never destroyed: storages may be released at exit
    pthread_atfork(nullptr, nullptr, [] { block_cache().reset_after_fork(); });
    return c;
  }();
  return *cache;
}

void* align(void* raw) {
  uintptr_t p = (reinterpret_cast<uintptr_t>(raw) + kAlignment) & ~uintptr_t(kAlignment - 1);
  return reinterpret_cast<void*>(p);
}

// calloc for zeroed memory: fresh blocks come from zero pages without a memset.
void* fresh_block(size_t size, bool zeroed) {
  void* raw = zeroed ? std::calloc(1, size) : std::malloc(size);
  if (!raw) {
    block_cache().clear();  // memory is tight: give the cached blocks back and try once more
    raw = zeroed ? std::calloc(1, size) : std::malloc(size);
  }
  if (!raw) throw std::bad_alloc();
  return raw;
}

void* cpu_allocate(size_t nbytes, bool zeroed, void** base) {
  if (nbytes > SIZE_MAX - kAlignment - BlockCache::kGranule) throw std::bad_alloc();
  size_t padded = nbytes + kAlignment;
  void* raw = nullptr;
  if (padded >= BlockCache::kMinBytes) {
    padded = BlockCache::rounded(padded);
    raw = block_cache().take(padded);
    if (raw && zeroed) std::memset(raw, 0, padded);
  }
  if (!raw) raw = fresh_block(padded, zeroed);
  *base = raw;
  return align(raw);
}

void cpu_release(void* base, size_t nbytes) {
  size_t padded = nbytes + kAlignment;
  if (padded >= BlockCache::kMinBytes && block_cache().put(base, BlockCache::rounded(padded))) return;
  std::free(base);
}

Allocator g_allocators[kNumDeviceTypes] = {{cpu_allocate, cpu_release}, {nullptr, nullptr}};
}  // namespace

size_t cpu_cached_bytes() { return block_cache().cached_bytes(); }
void cpu_empty_cache() { block_cache().clear(); }

void register_allocator(DeviceType type, Allocator allocator) { g_allocators[int(type)] = allocator; }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device, bool zeroed) {
  const Allocator& a = g_allocators[int(device.type)];
  LAMINA_CHECK(a.allocate != nullptr, "lamina was built without support for device ", device.str());
  void* base = nullptr;
  void* data = a.allocate(nbytes, zeroed, &base);
  if (profiler::enabled()) profiler::record_memory(int64_t(nbytes));  // lamina.profiler's memory columns
  return std::make_shared<Storage>(data, nbytes, device, a.release, base);
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t nbytes, Device device,
                                         std::function<void()> release) {
  return std::make_shared<Storage>(data, nbytes, device, std::move(release));
}

void Storage::replace_data(void* data, std::function<void()> release) {
  if (nbytes_ > 0 && data != data_) std::memcpy(data, data_, nbytes_);
  std::function<void()> old;
  if (allocator_release_) {
    old = [fn = allocator_release_, base = base_, n = nbytes_] {
      if (profiler::enabled()) profiler::record_memory(-int64_t(n));
      fn(base, n);
    };
  } else {
    old = std::move(borrowed_release_);  // borrowed memory stays valid for its lender
  }
  data_ = data;
  borrowed_release_ = std::move(release);
  allocator_release_ = nullptr;
  base_ = nullptr;
  if (!old) return;
  if (exported_) retired_.push_back(std::move(old));
  else old();
}

Storage::~Storage() {
  for (auto& release : retired_) release();
  if (allocator_release_) {
    if (profiler::enabled()) profiler::record_memory(-int64_t(nbytes_));
    allocator_release_(base_, nbytes_);
  } else if (borrowed_release_) borrowed_release_();
}

}  // namespace lamina
