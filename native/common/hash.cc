#include "common/hash.h"

#include <cstring>

namespace nativax {
namespace {

inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  // Four independent lanes keep the multiply latency off the critical path.
  uint64_t h[4] = {seed, seed ^ 0x6A09E667F3BCC909ull, seed ^ 0xBB67AE8584CAA73Bull,
                   seed ^ 0x3C6EF372FE94F82Bull};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      h[l] = (h[l] ^ w) * 0x9FB21C651E98DF25ull;
      h[l] ^= h[l] >> 29;
    }
  }
  uint64_t tail = 0;
  size_t rem = size - i;
  std::memcpy(&tail, p + i, rem < 8 ? rem : 8);
  uint64_t acc = mix(h[0]) ^ mix(h[1] + 1) ^ mix(h[2] + 2) ^ mix(h[3] + 3);
  acc = mix(acc ^ tail ^ (static_cast<uint64_t>(size) << 3));
  for (i += (rem < 8 ? rem : 8); i < size; i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, (size - i) < 8 ? (size - i) : 8);
    acc = mix(acc ^ w);
  }
  return acc;
}

}  // namespace nativax
