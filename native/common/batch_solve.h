// The batched solve driver shared by every direct engine's solve handlers: broadcasts value sets against
// right-hand sides, factors (or finds) one factorization per value set in parallel, and solves all
// right-hand sides that share a factorization in a single multi-column call.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/factorization.h"
#include "common/ffi.h"

namespace nativax {

// For each output batch element, the index of its value set and of its right-hand side.
struct Broadcast {
  std::vector<int64_t> v_index, b_index;
};

// numpy-style broadcasting of the leading batch dims of `values` and `b` to those of the output.
ffi::ErrorOr<Broadcast> broadcast(const std::vector<int64_t>& v_batch, const std::vector<int64_t>& b_batch,
                                  const std::vector<int64_t>& out_batch);

// Provides the factorization for value set `vi` (status kOk or an error status); *hit: whether it was found
// (cache hit or held handle) rather than computed.
using FactorizationProvider =
    std::function<int32_t(int64_t vi, std::shared_ptr<Factorization>* out, bool* hit)>;

// b and x: element type T, batch-major (batch, n, k) row-major; status: int32 per output batch element;
// info: kInfoFields doubles per output batch element (common/status.h), `condest` asks for the condition
// estimate. Several value sets are factored in parallel on the pool with BLAS single-threaded in each worker
// (common/blas_threads.h); a single one keeps the BLAS library's threads.
template <typename T>
void solve_batched(const FactorizationProvider& provider, int64_t n_value_sets, const Broadcast& bc,
                   const T* b, T* x, int32_t* status, double* info, bool condest, int64_t n, int64_t k, int mode);

}  // namespace nativax
