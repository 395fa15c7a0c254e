// XLA FFI handler `nativax_petsc_solve` (CPU): x = op(A)^{-1} b with PETSc KSP/PC, A given as this rank's
// rows in CSR with global column indices (row_ptr int32 [m+1], col_ind int32 [nnz]), values float64
// [..., nnz], b float64 [..., m] (leading dims: a vmap batch, values and b each 1 or the full batch).
// Outputs: x float64 [..., m] and info int32 [..., 3] = (status, KSPConvergedReason, iterations) per member.
// Attributes: `options` (PETSc options, unprefixed), `n_global` (global size), `transposed` (0: KSPSolve,
// 1: KSPSolveTranspose on the same factorization/preconditioner).
//
// Called once per process with the same arguments' shapes (the JAX program is the same on every rank and the
// call is marked side-effecting, so XLA keeps it in order). Everything runs under one process-wide lock. Before
// any collective PETSc work all ranks exchange one allreduce (signature, cache miss, bad input), so a cache
// miss on any rank rebuilds on every rank, bad input fails on every rank, and mismatched calls fail instead of
// hanging. Per member, a second allreduce agrees on non-finite input and on new values, and a third on the
// status.
#include <cstring>
#include <limits>
#include <memory>
#include <string_view>

#include "petsc/ffi_common.h"
#include "petsc/runtime.h"
#include "petsc/status.h"
#include "petsc/system.h"

namespace nativax::petsc {

namespace {

int32_t status_of(KSPConvergedReason reason, PC pc) {
  if (reason > 0) return kOk;
  switch (reason) {
    case KSP_DIVERGED_ITS:
      return kNotConverged;
    case KSP_DIVERGED_INDEFINITE_PC:
    case KSP_DIVERGED_INDEFINITE_MAT:
      return kNotPositiveDefinite;
    case KSP_DIVERGED_NANORINF:
      return kSingular;
    case KSP_DIVERGED_PC_FAILED: {
      PCFailedReason why = PC_NOERROR;
      PCGetFailedReason(pc, &why);
      if (why == PC_FACTOR_STRUCT_ZEROPIVOT || why == PC_FACTOR_NUMERIC_ZEROPIVOT) return kSingular;
      return kFailed;  // out of memory, other factorization failure
    }
    default:
      return kDiverged;
  }
}

ffi::Error SolveImpl(ffi::Buffer<ffi::S32> row_ptr, ffi::Buffer<ffi::S32> col_ind, ffi::Buffer<ffi::F64> values,
                     ffi::Buffer<ffi::F64> b, ffi::ResultBuffer<ffi::F64> x, ffi::ResultBuffer<ffi::S32> info,
                     std::string_view options, int64_t n_global, int64_t transposed) {
  const int64_t m = static_cast<int64_t>(row_ptr.element_count()) - 1;
  const int64_t nnz = static_cast<int64_t>(col_ind.element_count());
  if (m < 0 || leading(row_ptr) != 1 || leading(col_ind) != 1) {
    return invalid("row_ptr/col_ind must be 1-D and not batched (the pattern is static)");
  }
  if (last(values) != nnz || last(b) != m) return invalid("values must have nnz and b m entries (last axis)");
  const int64_t L = leading(*x), Lv = leading(values), Lb = leading(b);
  if ((Lv != 1 && Lv != L) || (Lb != 1 && Lb != L) || last(*x) != m || leading(*info) * 3 != L * 3) {
    return invalid("batch sizes of values, b and x do not broadcast (nested vmap over both is not supported)");
  }

  std::lock_guard<std::mutex> lock(library_mutex());
  if (std::string err = ensure_initialized_locked(); !err.empty()) return ffi::Error::Internal("nativax.PETSc: " + err);

  SystemKey key;
  key.m = m;
  key.n_global = n_global;
  key.options.assign(options.data(), options.size());
  key.row_ptr.assign(row_ptr.typed_data(), row_ptr.typed_data() + m + 1);
  key.col_ind.assign(col_ind.typed_data(), col_ind.typed_data() + nnz);
  key.hash = hash_bytes(key.row_ptr.data(), key.row_ptr.size() * sizeof(PetscInt),
                        hash_bytes(key.col_ind.data(), key.col_ind.size() * sizeof(PetscInt),
                                   hash_bytes(options.data(), options.size(), static_cast<uint64_t>(m))));
  const std::string bad = check_csr(row_ptr.typed_data(), m, col_ind.typed_data(), nnz, n_global);
  Cache& c = cache();
  std::shared_ptr<System> sys = bad.empty() ? c.find_system(key) : nullptr;

  // Agree: same call on every rank (options, n_global, mode, batch), hit/miss, input validity, sum of m.
  uint64_t call = hash_bytes(options.data(), options.size(), static_cast<uint64_t>(n_global) * 31 + transposed);
  call = hash_bytes(&L, sizeof(L), call);
  int64_t agree[4] = {signature(call), -signature(call), sys ? 0 : 1, bad.empty() ? 0 : 1};
  int64_t rows = m;
  PetscErrorCode ierr = allreduce_max(agree, 4);
  if (!ierr) ierr = allreduce_sum(&rows);
  if (ierr) return ffi::Error::Internal("nativax.PETSc: " + error_text(ierr));
  if (!bad.empty()) return invalid(bad);
  if (agree[3]) return invalid("another rank was given an invalid local CSR block");
  int32_t* out_info = info->typed_data();
  double* out_x = x->typed_data();
  if (agree[0] != -agree[1]) {
    for (int64_t i = 0; i < L; ++i) out_info[3 * i] = kRankMismatch, out_info[3 * i + 1] = 0, out_info[3 * i + 2] = 0;
    std::fill(out_x, out_x + L * m, std::numeric_limits<double>::quiet_NaN());
    return ffi::Error::Success();
  }
  if (rows != n_global) {
    return invalid("the ranks' local row counts sum to " + std::to_string(rows) + ", not n_global = " +
                   std::to_string(n_global));
  }

  const double* vals = values.typed_data();
  const double* rhs = b.typed_data();
  auto& st = c.stats();
  bool broken = false;
  bool need_build = agree[2] != 0;  // some rank missed: every rank (re)builds, in the same order
  for (int64_t i = 0; i < L; ++i) {
    const double* v = vals + (Lv == 1 ? 0 : i) * nnz;
    const double* bi = rhs + (Lb == 1 ? 0 : i) * m;
    double* xi = out_x + i * m;
    int32_t status = kOk, reason = 0, its = 0;
    int64_t flags[3] = {all_finite(v, nnz) ? 0 : 1, all_finite(bi, m) ? 0 : 1,
                        (!need_build && sys && std::memcmp(sys->values.data(), v, nnz * sizeof(double)) != 0) ? 1 : 0};
    ierr = allreduce_max(flags, 3);
    if (ierr || broken) {
      status = kFailed;
    } else if (flags[0]) {
      status = kNonFiniteMatrix;
    } else if (flags[1]) {
      status = kNonFiniteRhs;
    } else {
      if (need_build) {
        if (sys) c.drop_system(key);
        sys = std::make_shared<System>();
        ierr = sys->create(key, v);
        if (!ierr) {
          c.put_system(sys);
          ++st.misses;
          ++st.setups;
        }
        need_build = false;
      } else if (flags[2]) {
        ierr = sys->update(v);
        ++st.numeric_updates;
        if (i == 0) ++st.hits;
      } else {
        ++st.reuses;
        if (i == 0) ++st.hits;
      }
      if (!ierr) ierr = VecPlaceArray(sys->b, bi);
      if (!ierr) ierr = VecPlaceArray(sys->x, xi);
      KSP used = sys->ksp;
      if (!ierr) ierr = sys->solve(transposed != 0, &used);
      if (sys && sys->b) VecResetArray(sys->b);
      if (sys && sys->x) VecResetArray(sys->x);
      ++(transposed ? st.transpose_solves : st.solves);
      if (ierr) {
        status = kFailed;
      } else {
        KSPConvergedReason r;
        PetscInt n_its = 0;
        PC pc;
        KSPGetConvergedReason(used, &r);
        KSPGetIterationNumber(used, &n_its);
        KSPGetPC(used, &pc);
        reason = static_cast<int32_t>(r);
        its = static_cast<int32_t>(n_its);
        status = status_of(r, pc);
      }
    }
    int64_t agreed[1] = {status};
    if (allreduce_max(agreed, 1)) agreed[0] = kFailed;
    status = static_cast<int32_t>(agreed[0]);
    if (status == kFailed && !broken) {
      // PETSc returned an error: the objects may be half set up; rebuild next time (on every rank).
      if (sys) c.drop_system(key);
      sys = nullptr;
      broken = true;
    }
    if (status != kOk) std::fill(xi, xi + m, std::numeric_limits<double>::quiet_NaN());
    out_info[3 * i] = status;
    out_info[3 * i + 1] = reason;
    out_info[3 * i + 2] = its;
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(PetscSolve, SolveImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<std::string_view>("options")
                                  .Attr<int64_t>("n_global")
                                  .Attr<int64_t>("transposed"));

}  // namespace nativax::petsc
