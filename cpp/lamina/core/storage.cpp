#include "lamina/core/storage.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#include "lamina/core/error.h"

namespace lamina {

namespace {
constexpr size_t kAlignment = 64;

// calloc for zeroed memory: large blocks come from fresh zero pages without a memset.
void* cpu_allocate(size_t nbytes, bool zeroed, void** base) {
  if (nbytes > SIZE_MAX - kAlignment) throw std::bad_alloc();
  size_t padded = nbytes + kAlignment;
  void* raw = zeroed ? std::calloc(1, padded) : std::malloc(padded);
  if (!raw) throw std::bad_alloc();
  *base = raw;
  uintptr_t p = (reinterpret_cast<uintptr_t>(raw) + kAlignment) & ~uintptr_t(kAlignment - 1);
  return reinterpret_cast<void*>(p);
}
void cpu_release(void* base) { std::free(base); }

Allocator g_allocators[kNumDeviceTypes] = {{cpu_allocate, cpu_release}, {nullptr, nullptr}};
}  // namespace

void register_allocator(DeviceType type, Allocator allocator) { g_allocators[int(type)] = allocator; }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device, bool zeroed) {
  const Allocator& a = g_allocators[int(device.type)];
  LAMINA_CHECK(a.allocate != nullptr, "lamina was built without support for device ", device.str());
  void* base = nullptr;
  void* data = a.allocate(nbytes, zeroed, &base);
  auto release = a.release;
  return std::make_shared<Storage>(data, nbytes, device, [release, base] { release(base); });
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t nbytes, Device device,
                                         std::function<void()> release) {
  return std::make_shared<Storage>(data, nbytes, device, std::move(release));
}

Storage::~Storage() {
  if (release_) release_();
}

}  // namespace lamina
