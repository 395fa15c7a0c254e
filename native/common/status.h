// Per-solve status codes and solve modes of every direct engine. Python reads them from the native module
// (`STATUS_*`, `MODE_*` constants), so there is one definition.
#pragma once
#include <cstdint>

namespace nativax {

enum Status : int32_t {
  kOk = 0,
  kSingular = 1,             // zero pivot / structurally singular
  kNonFiniteMatrix = 2,      // NaN or Inf among the matrix values
  kNonFiniteRhs = 3,         // NaN or Inf in the right-hand side
  kFailed = 4,               // the library reported an error (out of memory, too large)
  kNotPositiveDefinite = 5,  // Cholesky met a non-positive pivot
  kNotSymmetric = 6,         // a Cholesky engine was given a matrix that is not symmetric / Hermitian
};
constexpr int32_t kStatusMax = kNotSymmetric;

// op(A) in a solve: A, A^T, A^H.
enum Mode : int32_t { kModeA = 0, kModeT = 1, kModeH = 2 };

}  // namespace nativax
