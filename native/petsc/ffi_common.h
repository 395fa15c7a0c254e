// Shared checks of the PETSc FFI handlers: leading (vmap) batch sizes, the local CSR, and the one allreduce
// by which all ranks agree on a call before any collective PETSc work.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <petscsys.h>

#include "common/hash.h"
#include "xla/ffi/api/ffi.h"

namespace nativax::petsc {

namespace ffi = xla::ffi;

inline ffi::Error invalid(const std::string& msg) { return ffi::Error::InvalidArgument("nativax.PETSc: " + msg); }

// Product of all but the last dimension (the vmap batch folded by expand_dims).
template <typename B>
int64_t leading(const B& buf) {
  auto d = buf.dimensions();
  int64_t p = 1;
  for (size_t i = 0; i + 1 < d.size(); ++i) p *= d[i];
  return p;
}

template <typename B>
int64_t last(const B& buf) {
  auto d = buf.dimensions();
  return d.size() == 0 ? 1 : d.back();
}

inline bool all_finite(const double* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return false;
  }
  return true;
}

// Empty when row_ptr (m + 1) / col_ind (nnz) are a valid local CSR block of an n_global-column matrix.
inline std::string check_csr(const int32_t* row_ptr, int64_t m, const int32_t* col_ind, int64_t nnz,
                             int64_t n_global) {
  if (row_ptr[0] != 0) return "row_ptr[0] must be 0";
  for (int64_t i = 0; i < m; ++i) {
    if (row_ptr[i + 1] < row_ptr[i]) return "row_ptr must be nondecreasing";
  }
  if (row_ptr[m] != nnz) return "row_ptr[-1] must equal the number of local entries";
  for (int64_t k = 0; k < nnz; ++k) {
    if (col_ind[k] < 0 || col_ind[k] >= n_global) return "a column index is out of range [0, n_global)";
  }
  return {};
}

// A 62-bit signature of what this rank is about to do; ranks agree iff max(sig) == -max(-sig).
inline int64_t signature(uint64_t h) { return static_cast<int64_t>(h & ((uint64_t{1} << 62) - 1)); }

}  // namespace nativax::petsc
