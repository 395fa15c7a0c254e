// Fast 64-bit content hash used as the first-stage key of the native caches.
// Equality is always confirmed with memcmp; the hash only narrows the search.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nativax {

// Hash `size` bytes starting at `data`, chained from `seed`.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0x9E3779B97F4A7C15ull);

}  // namespace nativax
