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
  kNumericallySingular = 7,  // singular to working precision: rcond estimate below the solver's threshold,
                             // or a finite matrix and right-hand side gave a non-finite solution
};
constexpr int32_t kStatusMax = kNumericallySingular;

// Per-solve diagnostics every solve handler returns next to the status (float64, kInfoFields per batch
// element; NaN where the engine has no such number or the factorization failed).
enum Info : int32_t {
  kInfoRcond = 0,       // the engine's reciprocal condition estimate (KLU/UMFPACK: min|u_ii| / max|u_ii|;
                        // CHOLMOD: (min l_jj / max l_jj)^2)
  kInfoCondest = 1,     // a 1-norm condition number estimate (KLU klu_condest; only when asked: it costs solves)
  kInfoRgrowth = 2,     // reciprocal pivot growth min_j max|A(:,j)| / max|U(:,j)| (KLU klu_rgrowth)
  kInfoFactorNnz = 3,   // entries in the factors
  kInfoCacheHit = 4,    // 1: the factorization came from the cache (or a held handle), 0: it was computed
  kInfoFields = 5,
};

// op(A) in a solve: A, A^T, A^H.
enum Mode : int32_t { kModeA = 0, kModeT = 1, kModeH = 2 };

}  // namespace nativax
