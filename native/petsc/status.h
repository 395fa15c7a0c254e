// Per-solve status codes of the PETSc engine (Python reads them as `STATUS_*` from nativax._petsc_ext).
// 0-5 mean what they mean for the direct engines (common/status.h); 7-9 are iterative/multi-process outcomes.
#pragma once
#include <cstdint>

namespace nativax::petsc {

enum Status : int32_t {
  kOk = 0,
  kSingular = 1,             // a zero pivot in the factorization (MUMPS/SuperLU_DIST), or singular PC
  kNonFiniteMatrix = 2,      // NaN or Inf among the matrix values (on any rank)
  kNonFiniteRhs = 3,         // NaN or Inf in the right-hand side (on any rank)
  kFailed = 4,               // PETSc returned an error code, or the factorization ran out of memory
  kNotPositiveDefinite = 5,  // CG met an indefinite matrix or preconditioner
  kNotConverged = 7,         // the Krylov method reached its iteration cap
  kDiverged = 8,             // the Krylov method diverged or broke down
  kRankMismatch = 9,         // the ranks did not make the same call (options, sizes, batch) at the same time
};

}  // namespace nativax::petsc
