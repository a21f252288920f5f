// The random generator: Philox4x32-10, counter-based. A draw of n values reserves n counter
// blocks; element i is a pure function of (seed, first block + i), so results do not depend on
// how many threads fill the tensor.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

namespace lamina {

// One Philox4x32-10 block: 4 random 32-bit words for a 128-bit counter and 64-bit key.
inline std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(kM0) * ctr[0], p1 = uint64_t(kM1) * ctr[2];
    ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           uint32_t(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

// The words of block `counter` for a given seed.
inline std::array<uint32_t, 4> philox_block(uint64_t seed, uint64_t counter) {
  return philox4x32_10({uint32_t(counter), uint32_t(counter >> 32), 0u, 0u},
                       {uint32_t(seed), uint32_t(seed >> 32)});
}

class Generator {
 public:
  explicit Generator(uint64_t seed = kDefaultSeed) : seed_(seed) {}
  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  uint64_t offset() const;
  void set_state(uint64_t seed, uint64_t offset);
  // Reserves n consecutive blocks and returns the first one. Thread-safe.
  uint64_t reserve(uint64_t n);

  static constexpr uint64_t kDefaultSeed = 67280421310721ull;

 private:
  mutable std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();

}  // namespace lamina
