// The batched solve driver shared by every KLU solve handler: broadcasts value sets against right-hand
// sides, factors (or finds) one numeric per value set in parallel, and solves all right-hand sides that
// share a factorization in a single multi-column KLU call.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "klu/factorization.h"

namespace nativax::klu {

// Maps each output batch element to its value-set index and rhs index (numpy-style broadcasting of the
// leading batch dims). Returns false with *err set when the shapes do not broadcast to `out`.
bool broadcast_indices(const std::vector<int64_t>& v_batch, const std::vector<int64_t>& b_batch,
                       const std::vector<int64_t>& out_batch, std::vector<int64_t>* v_index,
                       std::vector<int64_t>* b_index, std::string* err);

// Provides the factorization for value set `vi` (status kOk or an error status).
using NumericProvider = std::function<int32_t(int64_t vi, std::shared_ptr<Numeric>* out)>;

// b and x: element type T, batch-major (batch, n, k) row-major; status: int32 per output batch element.
template <typename T>
void solve_batched(const NumericProvider& provider, int64_t n_value_sets, const std::vector<int64_t>& v_index,
                   const std::vector<int64_t>& b_index, const T* b, T* x, int32_t* status, int64_t n,
                   int64_t k, int mode);

}  // namespace nativax::klu
