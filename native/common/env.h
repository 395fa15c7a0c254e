// Reading integer settings (cache sizes, thread counts) from the environment.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace nativax {

// The value of environment variable `name` as a non-negative integer, or `fallback` when it is unset, empty,
// negative or not a whole number.
inline int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long long x = std::strtoll(v, &end, 10);
  return (end && *end == '\0' && x >= 0) ? static_cast<int64_t>(x) : fallback;
}

}  // namespace nativax
