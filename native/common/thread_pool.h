// A process-wide worker pool for batched native calls. XLA may call our handlers from several threads at
// once; each call waits only for its own work items, and nested calls from a worker run inline.
#pragma once
#include <cstdint>
#include <functional>

namespace nativax {

// NATIVAX_NUM_THREADS is clamped to this many threads per hardware thread.
inline constexpr int64_t kMaxThreadsPerCore = 4;

// Run fn(0..n-1) across the pool and the calling thread; returns when all are done.
// fn must not throw.
void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

// Number of threads that parallel_for may use (workers + caller).
int pool_concurrency();

}  // namespace nativax
